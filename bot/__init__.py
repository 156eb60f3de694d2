"""PolicyBot: offline, grounded, cited answers over policy documents.

The sub-packages are the stages a question goes down, in order: ``lang`` (text rules every stage shares),
``ingest`` (documents -> index), ``retrieve`` (question -> passages), ``reader`` (passages -> cited answer, with
``reader.pipeline.Pipeline.stream`` as the one entry every front end calls), ``llm`` (the model), ``serve`` (page,
API, webhooks), ``evaluate`` (eval runner and gate) and ``bench`` (measured figures). ``answer`` is the contract,
``settings`` the one typed config, ``errors`` the errors that name their fix, ``cli`` the command.
"""

__version__ = "0.1.0"
