"""Feedback is kept as JSON Lines and becomes eval cases in the eval set format (issue 4)."""

from __future__ import annotations

import json
from pathlib import Path

from bot.answer import Answer, Citation, Trace, Turn
from bot.serve.feedback import FeedbackStore
from bot.settings import Settings

CASE_FIELDS = {"id", "question", "answers", "gold_docs", "answerable", "lang", "split"}


def answer(status: str = "answered", doc_ids: tuple[str, ...] = ("guangdong", "guangdong", "plan")) -> Answer:
    citations = [
        Citation(n=i + 1, doc_id=d, title=d, path=f"{d}.txt", text="passage", start=0, end=7, score=0.5)
        for i, d in enumerate(doc_ids if status != "refused" else ())
    ]
    return Answer(text="Some text [1].", citations=citations, status=status,  # type: ignore[arg-type]
                  trace=Trace(model_id="smol", searched="budget"))


def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore.from_settings(Settings(data_dir=tmp_path / "state"))


def test_entries_round_trip_what_was_recorded(tmp_path: Path) -> None:
    s = store(tmp_path)
    history = [Turn("user", "Why?"), Turn("assistant", "Because [1].")]
    s.record("And then?", answer(), "up", history)
    [entry] = s.entries()
    assert s.path == tmp_path / "state" / "feedback.jsonl"
    assert entry["question"] == "And then?" and entry["rating"] == "up" and entry["status"] == "answered"
    assert entry["history"] == [{"role": "user", "content": "Why?"}, {"role": "assistant", "content": "Because [1]."}]
    assert entry["trace"]["model_id"] == "smol" and len(entry["citations"]) == 3


def test_liked_answer_becomes_an_answerable_case_with_its_cited_documents(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.record("Why were these five industries chosen?", answer(), "up")
    [case] = s.export_cases()
    assert set(case) == CASE_FIELDS
    assert case["gold_docs"] == ["guangdong", "plan"] and case["answerable"] is True
    assert case["answers"] == [] and case["lang"] == "en" and case["split"] == "dev"
    assert case["id"].startswith("feedback-up-")


def test_liked_refusal_is_unanswerable_and_disliked_refusal_is_answerable(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.record("How many yuan were earmarked?", answer("refused"), "up")
    s.record("广东选择这五个未来产业的标准是什么？", answer("refused"), "down")
    liked, disliked = s.export_cases()
    assert liked["answerable"] is False and liked["gold_docs"] == []
    assert disliked["answerable"] is True and disliked["lang"] == "zh"


def test_disliked_answer_does_not_trust_its_citations(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.record("Who is Zou Yongbing?", answer(), "down")
    [case] = s.export_cases()
    assert case["gold_docs"] == [] and case["answerable"] is True


def test_latest_rating_of_the_same_question_and_history_wins(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.record("Who is Zou Yongbing?", answer(), "up")
    s.record("Who is Zou Yongbing?", answer(), "down")
    s.record("Who is Zou Yongbing?", answer(), "up", [Turn("user", "Hi"), Turn("assistant", "Hello")])
    cases = s.export_cases()
    assert [c["id"].split("-")[1] for c in cases] == ["down", "up"]
    assert "history" not in cases[0] and cases[1]["history"][0] == {"role": "user", "content": "Hi"}


def test_export_writes_json_lines_and_skips_damaged_lines(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.record("What goals are set for 2030?", answer(), "up")
    with s.path.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n" + json.dumps({"rating": "up"}) + "\n")
    out = tmp_path / "cases" / "feedback.jsonl"
    cases = s.export_cases(out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == cases and len(cases) == 1


def test_no_feedback_file_means_no_cases(tmp_path: Path) -> None:
    assert store(tmp_path).export_cases() == []
