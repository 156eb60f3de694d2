"""Language rules, one place each: normalisation, sentences, tokens, stems, stopwords, CJK and names.

Takes in raw text (English or Chinese); gives out normalised text, sentence spans, tokens, stems and names.
Every other stage asks this package. Read ``text`` first, then ``words`` and ``cjk``.
"""
