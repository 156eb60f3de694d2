"""Ingest: documents in ``docs/`` become an index generation (Chroma vectors + BM25 + manifest).

Takes in a folder of files (txt, md, html, pdf, docx); gives out a versioned, atomically switched index.
Read ``build`` (the ingest run), then ``loaders``, ``chunking``, ``index`` and ``store``.
"""
