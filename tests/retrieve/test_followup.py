"""Follow-up detection counts words in both languages (bot/retrieve/followup.py)."""

from __future__ import annotations

from bot.answer import Turn
from bot.retrieve.followup import condense, is_follow_up, question_words

HISTORY = [Turn(role="user", content="What does the notice require of employers?")]


def test_a_standalone_chinese_question_is_not_a_follow_up():
    assert question_words("企业复工需要满足哪些防疫条件") == 7
    assert not is_follow_up("企业复工需要满足哪些防疫条件")
    assert condense("企业复工需要满足哪些防疫条件", HISTORY) == "企业复工需要满足哪些防疫条件"


def test_short_or_referring_questions_are_follow_ups_in_both_languages():
    assert is_follow_up("那补贴呢") and is_follow_up("And by when?") and is_follow_up("它什么时候开始实施")
    assert condense("那补贴呢", HISTORY).endswith("(about: What does the notice require of employers?)")


def test_a_standalone_english_question_is_left_alone():
    assert condense("Which agency publishes the annual report?", HISTORY) == "Which agency publishes the annual report?"
