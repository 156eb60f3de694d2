"""The Gradio chat page: streaming answers with citations, a documents tab, uploads and feedback.

Takes in the page's chat turns and uploads; gives out rendered answers, source panels and document lists.
Read ``page`` first, then ``callbacks``, ``handlers`` and ``render``.
"""
