"""The sentence model (bot/reader/sentence_model.py): which candidate sentence holds the answer, learned from dev data."""

from __future__ import annotations

import numpy as np

from bot.evaluate.runner import Case
from bot.reader.calibrate import holds_answer
from bot.reader.calibration import Calibration
from bot.reader.evidence import Evidence
from bot.reader.fitting import fit_listwise, fit_sentences
from bot.reader.sentence_model import (
    SENTENCE_FEATURES,
    SENTENCE_FILE,
    Question,
    SentenceModel,
    entity_words,
    load_sentence_model,
    sentence_features,
)


def item(text: str, meaning: float, words: float, rank: int = 0, typed: bool = False) -> Evidence:
    e = Evidence("d1", "Title", "d1.txt", f"c{rank}", 0, 0, len(text), text, rank, score=meaning, meaning=meaning,
                 words=words, typed=typed)
    return e


def test_names_come_from_part_of_speech_tags_in_chinese_and_capitals_in_latin_script():
    zh = entity_words("李明在北京市政府工作。")
    assert any("李明" in w for w in zh) and any("北京" in w for w in zh)
    en = entity_words("The report was written by Ana Silva in Lisbon.")
    assert "ana silva" in en and "lisbon" in en and "the" not in en


def test_every_candidate_gets_one_row_of_every_feature_relative_to_the_others():
    q = Question.of("When did the scheme start?", "date", {"scheme", "start"})
    items = [item("The scheme started in 2019.", 0.8, 0.9, typed=True), item("Parks are green.", 0.2, 0.0, 1)]
    rows = sentence_features(q, items, [])
    assert len(rows) == 2 and all(len(r) == len(SENTENCE_FEATURES) for r in rows)
    gap = SENTENCE_FEATURES.index("meaning_gap")
    assert rows[0][gap] == 0.0 and rows[1][gap] < 0.0  # the closest sentence has no gap to the best
    typed = SENTENCE_FEATURES.index("typed")
    assert rows[0][typed] == 1.0 and rows[1][typed] == 0.0


def test_the_listwise_fit_learns_which_signal_picks_the_answer_within_a_question():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    question = np.repeat(np.arange(40), 10)
    y = np.zeros(400)
    for q in range(40):  # in each question the candidate with the highest second signal is the answer
        idx = np.flatnonzero(question == q)
        y[idx[np.argmax(x[idx, 1])]] = 1
    w = fit_listwise(x, question.tolist(), y, np.ones(400), l2=0.01, steps=300)
    assert w[1] > 1.0 and abs(w[0]) < 0.5 * w[1] and abs(w[2]) < 0.5 * w[1]


def test_the_fitted_model_reorders_evidence_and_gives_each_a_share_of_the_chance():
    rng = np.random.default_rng(1)
    rows, labels, question, groups = [], [], [], []
    meaning = SENTENCE_FEATURES.index("meaning")
    for q in range(30):
        for k in range(5):
            row = list(rng.normal(size=len(SENTENCE_FEATURES)))
            row[meaning] = 1.0 if k == q % 5 else 0.0
            rows.append(row)
            labels.append(int(k == q % 5))
            question.append(q)
            groups.append("a" if q < 15 else "b")
    cal = fit_sentences(rows, labels, question, groups)
    assert cal.fitted_on["per_corpus"]["a"]["top1_holds_answer"] == 1.0
    model = SentenceModel(cal)
    asked = Question.of("What is it?", "open", {"it"})
    ranked, top = model.rerank(asked, [item("Unrelated words here.", 0.1, 0.1, 0), item("The answer is here.", 0.9, 0.9, 1)],
                               [])
    assert ranked[0].text == "The answer is here." and top == max(model.logits(sentence_features(asked, ranked, [])))
    assert abs(sum(e.p_answer or 0.0 for e in ranked) - 1.0) < 1e-9


def test_a_sentence_is_labelled_as_the_answer_when_it_holds_a_gold_answer():
    case = Case(id="x", question="Where?", answers=[["Tampa, Florida"]], answerable=True, lang="en")
    assert holds_answer("The game was played in Tampa, Florida.", case)
    assert not holds_answer("The game was played in Miami.", case)
    long_gold = Case(id="y", question="What?", answers=[["We collect data when you register on the site or "
                                                         "place an order with us"]], answerable=True, lang="en")
    assert holds_answer("We collect data when you register on the site", long_gold)  # a part of a long span
    assert not holds_answer("The game was played in Tampa, Florida.",
                            Case(id="z", question="Where?", answers=[], answerable=False, lang="en"))


def test_the_shipped_sentence_model_says_what_it_was_fitted_on():
    model = load_sentence_model("shipped")
    assert model is not None and Calibration.load(SENTENCE_FILE, SENTENCE_FEATURES).features == SENTENCE_FEATURES
    fitted = model.calibration.fitted_on
    assert fitted["split"] == "dev" and fitted["data_hash"] and {"seed", "rgb_en"} <= set(fitted["per_corpus"])
    assert load_sentence_model("off") is None


def test_the_models_own_judgement_is_its_first_token_probability_of_yes_or_nothing_when_it_has_none():
    import math
    from pathlib import Path

    from bot.llm.prompts import load_prompt
    from bot.reader.sentence_model import model_judgement

    class Reading:
        def __init__(self) -> None:
            self.asked: list[object] = []

        def next_token_logprobs(self, messages: list[dict[str, str]], options: tuple[str, ...]) -> dict[str, float]:
            self.asked.append(messages)
            return {o: (math.log(0.6) if o == "yes" else math.log(0.2) if o == "no" else float("-inf")) for o in options}

    prompt = load_prompt(Path(__file__).resolve().parents[2] / "prompts", "answerable")
    chosen = [item("The scheme started in 2019.", 0.8, 0.9)]
    reading = Reading()
    p = model_judgement(reading, prompt, "When did the scheme start?", chosen)
    assert p is not None and abs(p - 0.75) < 1e-9
    assert "The scheme started in 2019." in str(reading.asked[0]) and "When did the scheme start?" in str(reading.asked[0])
    assert model_judgement(object(), prompt, "When?", chosen) is None  # a server or test double: no logits
    assert model_judgement(reading, prompt, "When?", []) is None


def test_through_the_model_queue_a_model_without_token_probabilities_gives_no_judgement():
    from pathlib import Path

    import pytest
    from fakes import ScriptedModel

    from bot.errors import ModelError
    from bot.llm.model_queue import ModelQueue
    from bot.llm.prompts import load_prompt
    from bot.reader.sentence_model import model_judgement

    queue = ModelQueue(ScriptedModel(""), queue_size=2, queue_timeout_s=1.0)
    with pytest.raises(ModelError, match="no token probabilities"):
        queue.next_token_logprobs([{"role": "user", "content": "q"}], ("yes", "no"))
    prompt = load_prompt(Path(__file__).resolve().parents[2] / "prompts", "answerable")
    assert model_judgement(queue, prompt, "When?", [item("It began in 2019.", 0.5, 0.5)]) is None
