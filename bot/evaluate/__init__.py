"""Evaluation: eval cases run through the real pipeline and scored by metrics independent of it.

Takes in cases (seed set, shared benchmarks, feedback); gives out reports, the CI gate and baselines.
Read ``cli`` (suites and the gate) first, then ``runner``, ``metrics`` and ``faithfulness``.
"""
