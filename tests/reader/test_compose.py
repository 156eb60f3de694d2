"""Quoted answers (bot/reader/compose.py): verbatim evidence, cut to its best clauses, never carrying phantom citations."""

from __future__ import annotations

from bot.reader.answer_types import has_type, unasked
from bot.reader.compose import attributed, quote_answer, supplement, trim, words
from bot.reader.evidence import Evidence
from bot.reader.speakers import Speaker


def evidence(text: str) -> Evidence:
    return Evidence("d1", "Title", "d1.txt", "c1", 0, 0, len(text), text, 0, score=1.0)


def test_a_sources_own_footnote_markers_are_not_quoted_as_citations():
    item = evidence("The programme began in 2016 under the lead of one country[3][4], with a partner investing.")
    (text, cited), = quote_answer("When did the programme begin?", [], [item])
    assert "[3]" not in text and "[4]" not in text and "2016" in text and cited == [1]
    assert item.prompt_line(1) == "[1] The programme began in 2016 under the lead of one country, with a partner investing."


def test_a_long_sentence_is_cut_to_its_clauses_but_never_loses_the_kind_of_answer_asked_for():
    items = ", ".join(f"item number {i} of the plan" for i in range(1, 9))
    sentence = f"The plan names eight measures: {items}, and a final review."
    cut = trim(sentence, {"plan"}, 20)
    assert words(cut) < words(sentence) and "…" in cut
    whole = trim(sentence, {"plan"}, 20, wanted=lambda t: t.count("item number") == 8)
    assert whole == sentence  # the cut would drop list items the question asks for: the sentence is quoted whole


def test_a_quote_from_a_named_chinese_speaker_is_attributed_in_chinese():
    from bot.reader.speakers import chinese_speaker

    speaker = chinese_speaker("市卫生健康委员会副主任张建国在发布会上表示，全市将新增床位。")
    assert speaker == Speaker("张建国", "市卫生健康委员会副主任")
    item = evidence("全市将新增床位两千张。")
    item.speaker = speaker
    assert attributed(item, item.text) == "张建国表示：\u201c全市将新增床位两千张。\u201d"
    assert chinese_speaker("会议指出，要加快发展。") is None  # no person named: nobody to attribute it to


def test_a_cut_never_drops_the_negation_or_the_condition_that_governs_the_clause_it_keeps():
    sentence = ("The agency will not sell, rent, trade or share your email address with advertisers or marketing "
                "partners of any kind, except when a court orders it in writing.")
    cut = trim(sentence, {"share", "email", "address"}, 10)
    assert cut == sentence  # "share your email address with advertisers …" alone would say the opposite
    unguarded = ("Visitors can read every page, and the office keeps the address of each visitor for two years, "
                 "and it publishes a yearly summary of the visits.")
    assert "…" in trim(unguarded, {"keep", "address", "visitor"}, 12)  # no cue reaches over the kept clause


def test_a_document_numbers_bracketed_year_is_kept_but_never_read_as_a_citation():
    item = evidence("根据国家税务总局公告[2020]10号的规定，相关物资免征个人所得税。")
    (text, _), = quote_answer("相关物资如何征税？", [], [item])
    assert "〔2020〕10号" in text and "[2020]" not in text
    assert "(2021)" in evidence("The court ruling [2021] EWHC 7 stands.").prompt_line(1)


def test_a_cut_keeps_the_semicolon_that_ends_a_kept_clause_so_the_next_kept_clause_stays_its_own():
    sentence = ("We may use your records (i) for internal administration of the service and its accounts; (ii) to "
                "meet our legal duties in every country where we operate; and (iii) to study service quality; "
                "every such use for internal administration is logged and reviewed by our auditors each year.")
    cut = trim(sentence, {"internal", "administration", "record"}, 30)
    assert "…" in cut and "(ii)" not in cut
    assert "accounts; …" in cut  # the clause boundary of the source, not "accounts … every such use"


def test_a_cut_never_moves_a_condition_onto_a_clause_it_did_not_follow():
    sentence = ("Letters we receive are generally not kept as permanent records, but it is possible that some "
                "mail we receive may be kept for longer, if the mail is part of a group of records of lasting value.")
    clauses = ["Letters we receive are generally not kept as permanent records,",
               "but it is possible that some mail we receive may be kept for longer,",
               "if the mail is part of a group of records of lasting value."]
    from bot.reader.compose import keeps_meaning

    assert keeps_meaning(clauses, [0, 1, 2])
    assert not keeps_meaning(clauses, [0, 2])  # "not kept … if the mail is part of …": another rule
    assert "not kept as permanent records … if" not in trim(sentence, {"letter", "record", "kept"}, 16)


def test_the_second_sentence_is_quoted_too_when_the_sentence_model_cannot_tell_it_from_the_best():
    best = evidence("该市于2019年启动了第一期工程建设。")
    second = evidence("二期工程于2021年开工，预计三年完成。")
    second.score = 0.3  # far below the best by the hand score: the old rule alone would leave it out
    best.p_answer, second.p_answer = 0.40, 0.30
    question = "二期工程何时开工？"
    assert [n for _, (n,) in quote_answer(question, [], [best, second])] == [1]  # off by default
    assert [n for _, (n,) in quote_answer(question, [], [best, second], runner_up=0.6)] == [1, 2]
    second.p_answer = 0.20  # the model prefers the best by more than the ratio: one sentence
    assert [n for _, (n,) in quote_answer(question, [], [best, second], runner_up=0.6)] == [1]
    best.p_answer = None  # no sentence model: the hand rule alone
    assert [n for _, (n,) in quote_answer(question, [], [best, second], runner_up=0.6)] == [1]


def test_the_runner_up_is_not_quoted_when_the_best_sentence_already_says_all_of_it():
    best = evidence("Applicants must pay a fee of 30 yuan when they apply online.")
    repeat = evidence("Applicants must pay a fee of 30 yuan.")
    best.p_answer, repeat.p_answer = 0.45, 0.44
    assert [n for _, (n,) in quote_answer("What fee must applicants pay?", [], [best, repeat], runner_up=0.6)] == [1]




def test_a_model_answer_is_followed_by_a_quoted_answer_of_the_kind_asked_that_it_does_not_write():
    question = "Who won the award?"

    def wanted(text: str) -> bool:
        return has_type("person", text, question)

    said = evidence("Li Ming won the award this year.")
    said.speaker = Speaker("Zhang Wei", "spokesperson")
    written = [("Li Ming won the award [1].", [1])]
    quoted = [("Li Ming won the award.", [1]), (attributed(said, said.text), [2]),  # "According to Zhang Wei, …"
              ("The jury also named Chen Hua as the runner-up.", [3]), ("李明获得了该奖项。", [4])]
    assert quoted[1][0].startswith("According to Zhang Wei, spokesperson, \u201cLi Ming")
    sentences, added = supplement(written, quoted, wanted)
    assert sentences == [written[0], quoted[2]] and added == 1, (
        "another name is added; not the model's own citation, nor a restatement whose only new name is who said it, "
        "nor a piece in another language than the model's answer")
    assert supplement(written, quoted, None) == (written, 0), "an open question keeps the model's answer"
    assert supplement([], quoted, wanted) == (quoted, 0), "no sentence of the model's: the quote itself"


def test_the_figures_a_model_wrote_are_masked_in_chinese_text_too():
    question = "二期工程何时开工？"

    def wanted(text: str) -> bool:
        return has_type("date", text, question)

    written = [("二期工程于2021年开工。", [2])]
    quoted = [("该市于2019年启动了第一期工程建设。", [1]), ("二期工程于2021年开工，由市政府负责。", [3])]
    assert supplement(written, quoted, wanted) == ([written[0], quoted[0]], 1)
    unended = [("二期工程2021年开工", [2])]  # a model's sentence without its full stop is ended before the piece
    assert supplement(unended, quoted, wanted)[0] == [("二期工程2021年开工。", [2]), quoted[0]]
    assert unasked("全省共建成15个创新中心", "建成15个") == "全省共建成·个创新中心", "a figure beside Chinese characters"
