"""Retrieve: a question (condensed if it follows up on earlier turns) becomes ranked passages.

Takes in the question, the chat history and a scope; gives out fused passages from vectors and BM25.
Read ``hybrid`` (the retriever) first, then ``followup`` and ``glossary``.
"""
