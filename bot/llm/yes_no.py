"""A model's yes/no judgement read from its own first-token distribution, not from the text it writes.

``p_yes`` turns the log-probabilities of the reply's first token into P("yes") / (P("yes") + P("no")); the
reader's answerability judgement and the eval's model judge both ask a question answered by one such token.
"""

from __future__ import annotations

import math

YES, NO = ("yes", "Yes", "YES"), ("no", "No", "NO")


def p_yes(logprobs: dict[str, float]) -> float:
    """P("yes") against P("no") from first-token log-probabilities (0.5 when neither was given a chance)."""
    yes = sum(math.exp(v) for k, v in logprobs.items() if k in YES and v > float("-inf"))
    no = sum(math.exp(v) for k, v in logprobs.items() if k in NO and v > float("-inf"))
    return yes / (yes + no) if yes + no > 0 else 0.5
