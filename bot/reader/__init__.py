"""The reader: passages become a short, cited answer or a refusal, each decision from scores fitted on dev data.

Takes in retrieved passages; gives out an ``Answer`` (sentences, citations, trace). Read ``pipeline`` first (the
stages in order), then ``evidence``, ``answerable``, ``compose``, ``ground`` and ``verify``.
"""
