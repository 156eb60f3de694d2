"""The HTTP API (``/api/v1`` and the OpenAI-compatible ``/v1``): bearer tokens, JSON errors, streams, jobs.

Takes in authenticated JSON requests; gives out answers, documents and job states as JSON or SSE.
Read ``routes`` first, then ``auth``, ``errors`` and ``stream``.
"""
