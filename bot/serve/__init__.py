"""Serving: one FastAPI process with the chat page, the HTTP API and the chat webhooks over one pipeline.

Takes in HTTP requests; gives out pages, JSON, server-sent events and chat replies, with limits and feedback.
Read ``app`` (what is mounted where) first, then ``api``, ``chat`` and ``page``.
"""
