"""PolicyBot: offline, grounded, cited answers over policy documents.

Follow a question: ``cli``/``web``/``webhook``/``evaluate`` -> ``pipeline.Pipeline.stream`` ->
``retrieve`` (``store`` + ``keyword``) -> ``evidence`` -> ``prompts`` + ``llm`` -> ``ground`` -> ``answer.Answer``.
"""

__version__ = "0.1.0"
