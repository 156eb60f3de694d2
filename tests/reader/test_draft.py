"""The model's draft (bot/reader/draft.py): streamed, stopped when it rambles, never ending in half a sentence."""

from __future__ import annotations

from pathlib import Path

from fakes import ScriptedModel

from bot.answer import Token, Trace
from bot.llm.prompts import load_prompt
from bot.reader.draft import whole_sentences, write_draft
from bot.reader.evidence import Evidence
from bot.settings import Settings

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


def test_only_whole_sentences_are_kept_of_a_draft_the_model_did_not_finish() -> None:
    assert whole_sentences("Data goes to payment processors [1]. They are subject to the third-") == \
        "Data goes to payment processors [1]."
    assert whole_sentences("自2020年起施行[2]。另外，相关") == "自2020年起施行[2]。"
    assert whole_sentences("It costs 3.5 million") == ""  # a decimal point ends no sentence
    assert whole_sentences("Under 5 U.S.C. 552a, records are kept [1]. The Act (5 U.S.C") == \
        "Under 5 U.S.C. 552a, records are kept [1]."
    assert whole_sentences("Records are kept. [1] They are") == "Records are kept. [1]"  # the marker stays


class ReportingModel(ScriptedModel):
    """A scripted model that, like llama.cpp and the OpenAI servers, says why it stopped."""

    def __init__(self, draft: str, finish_reason: str) -> None:
        super().__init__(draft)
        self.finish_reason = finish_reason

    def stream_chat(self, messages, *, max_tokens, temperature=0.0, stop=None):  # type: ignore[no-untyped-def]
        yield from super().stream_chat(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        self.last_usage["finish_reason"] = self.finish_reason


def draft_of(text: str, max_tokens: int, model: ScriptedModel | None = None) -> str:
    settings = Settings(prompts_dir=PROMPTS, max_answer_tokens=max_tokens)
    item = Evidence("d1", "Title", "d1.txt", "c1", 0, 0, 30, "Data goes to payment processors.", 0, score=1.0)
    steps = write_draft(model or ScriptedModel(text), load_prompt(PROMPTS, "answer"), settings, "Who gets my data?",
                        [item], [item.text], Trace(), 0.0)
    tokens: list[str] = []
    while True:
        try:
            event = next(steps)
        except StopIteration as done:
            assert "".join(tokens) == text  # the page saw the stream as the model wrote it
            return str(done.value)
        assert isinstance(event, Token)
        tokens.append(event.text)


def test_a_draft_cut_by_the_token_limit_loses_its_unfinished_sentence_and_a_finished_one_is_whole() -> None:
    text = "Data goes to payment processors [1]. They are subject to the third-"
    assert draft_of(text, max_tokens=11) == "Data goes to payment processors [1]."
    assert draft_of(text, max_tokens=96) == text  # the model stopped by itself: its draft is what it wrote


def test_the_backends_own_finish_reason_decides_when_it_gives_one() -> None:
    text = "Data goes to payment processors [1]. They are subject to the third-"
    assert draft_of(text, 96, ReportingModel(text, "length")) == "Data goes to payment processors [1]."
    assert draft_of(text, 11, ReportingModel(text, "stop")) == text
