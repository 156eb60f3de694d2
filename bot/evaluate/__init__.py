"""Evaluation: eval cases run through the real pipeline and scored by metrics independent of it.

Takes in cases (seed set, shared benchmarks, feedback); gives out reports, the CI gate and baselines.
Read ``suites`` (suites and the gate) first, then ``runner``, ``answer_metrics``, ``metrics`` and
``faithfulness``. Its text rules are its own, not ``bot.lang``'s: the eval must not share the reader's mistakes.
"""
