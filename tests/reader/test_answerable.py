"""What kind of answer a question asks for, and when retrieved text holds one (bot.reader.answerable, bot.reader.evidence)."""

from __future__ import annotations

import pytest

from bot.reader import answer_heads, answer_types, answerable
from bot.reader.evidence import Evidence, needs_next, query_terms, restates, successor
from bot.reader.speakers import Speaker


def _sentence(text: str, start: int = 0, chunk: str = "c1", speaker: Speaker | None = None) -> Evidence:
    return Evidence("doc", "Doc", "doc.txt", chunk, 0, start, start + len(text), text, 0, speaker=speaker)


@pytest.mark.parametrize(("question", "kind"), [
    ("How long has he held that post?", "duration"),
    ("新闻发布会是在哪一天举行的？", "date"),
    ("Which reporters wrote the story?", "person"),
    ("Which municipalities power the supply chain?", "place"),
    ("Which region is the core of the pattern?", "place"),
    ("What are the five future industry clusters?", "list"),
    ("What are the 2030 goals of the clusters?", "open"),  # a year is not a list size
    ("Why were these five industries chosen?", "open"),
    ("Does the website collect any information when I visit it?", "open"),  # yes or no: "when" opens a clause
    ("Will you share my data with a partner who runs ads?", "open"),
    ("Is my information shared with others? If yes, then with whom?", "person"),  # the second question asks
    # "what is the <noun>" names the kind by its noun; a search-box question by its last noun
    ("What is the opening date of the new library?", "date"),
    ("What was the agency's revenue in 2020?", "money"),
    ("What are the fees for a permit?", "money"),
    ("What is the venue of the annual forum?", "place"),
    ("annual forum 2024 location", "place"),
    ("Which player scored the most goals?", "person"),
    ("What is the year-end review about?", "open"),  # "year-end" is not a year
    ("What is the cost-sharing rule?", "open"),
    ("Do partners see my exact location?", "open"),  # yes or no, even though it ends with a kind's noun
    # a Chinese question often ends with the noun it asks for, and no question word
    ("新馆的开放时间？", "date"),
    ("项目建设需要多长时间？", "duration"),
    ("去年全省的粮食产量", "number"),
    ("三月份的失业率是多少？", "number"),
    ("这条隧道多长", "number"),
    ("这部纪录片的导演", "person"),
    ("年会的举办地", "place"),
    ("哪些国家签署了协定？", "place"),
    ("如何保证产品质量？", "open"),  # 质量 is quality, not a quantity
    ("规划的主要内容是什么？", "open"),
])
def test_questions_are_typed_by_the_answer_they_ask_for(question: str, kind: str) -> None:
    assert answer_types.answer_type(question) == kind


@pytest.mark.parametrize(("question", "head"), [
    ("How many strategic industrial clusters do the future industries build on?", "cluster"),
    ("How many other ministries issued the opinions?", "ministri"),
    ("How many parks will be built?", "park"),
    ("How much money is there?", ""),
])
def test_how_many_counts_the_head_of_its_noun_phrase(question: str, head: str) -> None:
    assert answer_heads.head_term(question) == head


def test_a_count_must_count_the_thing_asked_about_and_a_year_is_not_a_count() -> None:
    assert answer_heads.counts("fully connecting 20 strategic industry clusters", "cluster")
    assert answer_heads.counts("create five future industrial science and technology parks", "park")
    assert not answer_heads.counts("In 2030 the clusters will grow", "cluster")
    modifiers = answer_heads.head_modifiers("How many strategic industrial clusters are there?")
    assert answer_heads.counts("the 20 strategic industry clusters", "cluster", modifiers)
    assert not answer_heads.counts("these five major industrial clusters", "cluster", modifiers)


@pytest.mark.parametrize(("kind", "question", "answer", "not_answer"), [
    ("person", "谁将担任代表团旗手？", "李明、王芳将担任代表团旗手。", "代表团由运动员和教练员组成。"),
    ("place", "大会在哪举办？", "大会将在成都举办。", "大会将于明年举办，规模更大。"),
    ("org", "哪家机构负责实施该项目？", "该项目由清华大学负责实施。", "该项目将于明年开始实施。"),
])
def test_chinese_names_places_and_organisations_are_read_from_part_of_speech_tags(
        kind: str, question: str, answer: str, not_answer: str) -> None:
    """No suffix such as 市 or 公司 is needed: jieba tags the name itself (nr, ns, nt)."""
    assert answer_types.answer_type(question) == kind
    assert answer_types.has_type(kind, answer, question)
    assert not answer_types.has_type(kind, not_answer, question)


@pytest.mark.parametrize(("kind", "question", "answer", "not_answer"), [
    ("person", "球队的主教练是谁？", "球队的主教练由彼得罗维奇担任。", "球队的主教练将于下月公布。"),
    ("place", "比赛在哪里举行？", "比赛将在阿德莱德举行。", "比赛将于下月举行。"),
])
def test_transliterated_foreign_names_count_as_names(kind: str, question: str, answer: str, not_answer: str) -> None:
    """jieba tags a transliterated name nrt (or nz when it does not know it), not nr / ns: still a name."""
    assert answer_types.answer_type(question) == kind
    assert answer_types.has_type(kind, answer, question)
    assert not answer_types.has_type(kind, not_answer, question)


def test_a_chinese_who_question_needs_the_role_it_asks_about_not_just_someone_named() -> None:
    q = "谁是代表团旗手？"
    assert answer_types.has_type("person", "李明、王芳将担任代表团旗手。", q)
    assert not answer_types.has_type("person", "李明是代表团的教练，王芳是领队。", q)  # someone, not the flag-bearer
    assert answer_types.has_type("person", "The team is led by Li Ming.", q)  # over English text, names suffice


def test_an_answer_must_say_more_than_the_question_names_itself() -> None:
    q = "When did the Harbour Film Awards 2020 take place?"
    assert not answer_types.has_type("date", "These are the winners of the 2020 Harbour Film Awards.", q)
    assert answer_types.has_type("date", "The 2020 Harbour Film Awards took place on 5 January.", q)
    q = "Who is the director of the Lantern Festival?"
    assert not answer_types.has_type("person", "The director said the Lantern Festival would move indoors.", q)
    assert answer_types.has_type("person", "Festival director Mara Quint said it would move indoors.", q)
    q = "How many stations did Northline open in 2019?"
    assert not answer_types.has_type("number", "Northline's plans for 2019 were published.", q)
    assert answer_types.has_type("number", "Northline opened 14 stations in 2019.", q)


def test_a_chinese_answer_must_say_more_than_the_questions_own_title_and_figures() -> None:
    q = "《星河远航》什么时候上映？"
    assert not answer_types.has_type("date", "《星河远航》是一部科幻片。", q)
    assert answer_types.has_type("date", "《星河远航》将于2023年1月22日上映。", q)
    assert not answer_types.has_type("date", "2023年的新片", "2023年哪部新片什么时候上映？")
    assert answer_types.unasked("没有提到", q) == "没有提到"  # nothing of the question's: unchanged


def test_a_chinese_who_question_about_a_listed_role_is_answered_by_a_name_beside_that_role() -> None:
    q = "新任局长是谁？"  # 局长 is one of the roles masked out of a candidate: the role test reads the sentence itself
    assert answer_types.has_type("person", "张伟被任命为局长。", q)
    assert not answer_types.has_type("person", "局长表示将加快建设。", q)


def test_a_duration_question_is_not_answered_by_a_bare_date() -> None:
    q = "How long has he held that post?"
    assert not answer_types.has_type("duration", "He said that in May last year the group was set up.", q)
    assert answer_types.has_type("duration", "He has held the post for three years.", q)


def test_by_name_needs_a_persons_name_not_a_capitalised_word_or_an_institution() -> None:
    q = "Which provincial leader, by name, is in charge of the cluster?"
    assert not answer_types.has_type("person", "Each cluster will have a designated provincial leader to "
                                             "cultivate qualified High-growth start-ups.", q)
    assert not answer_types.has_type("person", "It was set up by the Planning Department of the province.", q)
    assert answer_types.has_type("person", "The cluster is led by vice governor Wang Xiaoming this year.", q)


def test_a_list_question_needs_an_enumeration_of_that_many_items() -> None:
    q = "What are the five future industry clusters?"
    assert answer_types.has_type("list", "the electronic information cluster, the intelligent equipment cluster, "
                                       "the life and health cluster, the materials cluster, and the green cluster", q)
    assert not answer_types.has_type("list", "On February 29, in response to questions, the department held a "
                                           "press conference.", q)
    # the head word and commas, but no run of items: clauses are not a list
    assert not answer_types.has_type(
        "list", "Following the release of the five future industry cluster action plan documents at the meeting in "
                "Guangdong, on February 29, in response to questions such as why these five future industries were "
                "selected and how to implement industrial development, the department held a press conference on "
                "the Five Future Industrial Clusters.", q)


def test_which_two_departments_needs_two_departments_named() -> None:
    q = 'Which two provincial departments explained the "operational map"?'
    assert answer_types.answer_type(q) == "list"
    assert answer_types.has_type("list", "The Provincial Department of Industry and Information Technology and the "
                                       "Provincial Department of Science and Technology explain the map", q)
    assert not answer_types.has_type("list", "The Provincial Department of Industry and Information Technology "
                                           "explained the map", q)


def test_what_did_the_x_say_is_refused_when_no_quoted_speaker_is_an_x() -> None:
    quoted = _sentence("Future industries are forward-looking.", speaker=Speaker("Wu Dongwen", "deputy director"))
    q = "What did the commission's spokesperson say at the press conference?"
    verdict = answerable.judge(q, query_terms(q, []), [quoted], [quoted], 0.0, 0.0)
    assert not verdict.answerable and "spokesperson" in verdict.reason
    q2 = "What did the deputy director say about future industries?"
    assert answerable.judge(q2, query_terms(q2, []), [quoted], [quoted], 0.0, 0.0).answerable


def test_a_typed_answer_must_sit_in_a_passage_that_holds_the_questions_own_words() -> None:
    q = "Who won the women's singles title in 2021?"
    men = _sentence("Novak Djokovic won the men's singles in 2021.", chunk="a")
    women = _sentence("In women's singles, the 2019 title went to Simona Halep.", chunk="b")
    assert not answerable.judge(q, query_terms(q, []), [men, women], [men, women], 0.0, 0.0).answerable
    right = _sentence("Ashleigh Barty won the women's singles title in 2021.", chunk="c")
    assert answerable.judge(q, query_terms(q, []), [right, men], [right, men, women], 0.0, 0.0).answerable


def test_the_role_a_who_question_asks_for_is_not_a_subject_the_answer_must_repeat() -> None:
    q = "Who is the Harbour Prize winner in 2012?"
    announced = _sentence("The 2012 Harbour Prize winner will be announced at noon.", chunk="a")
    won = _sentence("Mara Quint won the 2012 Harbour Prize.", chunk="b")
    assert answerable.judge(q, query_terms(q, []), [announced, won], [announced, won], 0.0, 0.0).answerable
    assert not answerable.judge(q, query_terms(q, []), [announced], [announced], 0.0, 0.0).answerable


def test_a_figure_the_question_writes_must_be_in_the_answering_passage() -> None:
    q = "Who won the Harbour Prize in 2021?"
    other_year = _sentence("Mara Quint won the Harbour Prize in 2019.", chunk="a")
    elsewhere = _sentence("The 2021 ceremony was held online.", chunk="b")
    ranked = [other_year, elsewhere]
    assert not answerable.judge(q, query_terms(q, []), ranked, ranked, 0.0, 0.0).answerable
    right = _sentence("Tom Reed won the Harbour Prize in 2021.", chunk="c")
    assert answerable.judge(q, query_terms(q, []), [right, *ranked], [right, *ranked], 0.0, 0.0).answerable


def test_a_date_is_not_the_quantity_a_how_much_question_asks_for() -> None:
    q = "河南2021年的粮食总产量是多少？"
    assert not answer_types.has_type("number", "12月10日，记者获悉，河南正式公布2021年全年粮食总产量。", q)
    assert answer_types.has_type("number", "河南2021年粮食总产量为1308.84亿斤。", q)
    assert answer_types.has_type("number", "全年粮食产量达到一千三百亿斤。", q)
    q = "What was the growth rate in 2021?"
    assert not answer_types.has_type("number", "The figures were published on May 4, 2021.", q)
    assert answer_types.has_type("number", "Output grew 4% in 2021.", q)


def test_an_abbreviated_month_beside_a_day_is_a_date_and_not_a_quantity() -> None:
    q = "When does the new season premiere?"
    for text in ("All episodes debut on Nov 15.", "It opens on 3 Mar.", "Updated Oct. 20."):
        assert answer_types.has_type("date", text, q), text
    assert not answer_types.has_type("date", "The decision was made to mar the event.", q)
    assert not answer_types.has_type("number", "It was published on Sept 9.", "How many were sold?")


def test_a_lead_in_that_restates_the_question_brings_the_sentence_after_it() -> None:
    terms = query_terms("How will the chain leader system be extended to future industries?", [])
    lead = _sentence('Zou Yongbing said that the "chain leader system" will be extended to future industries.')
    nxt = _sentence("Each cluster will have a designated provincial leader.", start=lead.end + 1)
    far = _sentence("Something else entirely.", start=nxt.end + 50)
    assert restates(lead, terms) and needs_next(lead, terms)
    assert successor(lead, [far, nxt]) is nxt
    assert successor(nxt, [far]) is None


def test_glossary_expansions_that_only_lengthen_an_asked_word_are_not_extra_terms() -> None:
    terms = query_terms("What is expected of Guangdong by 2035?", ["Guangdong Province", "广东"])
    assert "province" not in terms and "2035" in terms
    zh = query_terms("广东的目标是什么？", ["Guangdong Province"])
    assert {"guangdong", "province"} <= zh


def test_chinese_questions_score_chinese_passages_by_their_words() -> None:
    from bot.reader.evidence import score

    class Flat:
        def get(self, texts: list[str]):  # type: ignore[no-untyped-def]
            import numpy as np
            return np.ones((len(texts), 3), np.float32) / 3 ** 0.5

    import numpy as np
    q = "北京市对展会项目有何支持政策？"
    label = _sentence("北京市市场监督管理局", start=0)
    answer = _sentence("对因疫情影响暂停举办的展会项目，北京市给予场租补贴支持。", start=20)
    other = _sentence("上海市发布了复工复产的指导意见。", start=80)
    ranked = score(np.ones(3, np.float32) / 3 ** 0.5, query_terms(q, []), [label, answer, other], Flat())  # type: ignore[arg-type]
    assert ranked[0] is answer  # by its words, since meaning is flat here
    assert label not in ranked  # a label line heads what follows; it is not evidence itself


def test_an_answer_in_terms_of_the_questions_own_noun_is_marked_as_anchored() -> None:
    # the count of the very thing asked about, not any count
    q = "How many strategic industrial clusters do the future industries build on?"
    assert answer_types.names_head("number", "It connects the development of 20 strategic industry clusters.", q)
    assert not answer_types.names_head("number", "By 2030, these five major industrial clusters will grow.", q)
    # a list that names the noun once per item, not a sentence that mentions it
    q = "What are the five future industry clusters in Guangdong's action plan?"
    assert answer_types.names_head("list", "the electronic information cluster, the intelligent equipment cluster, "
                                         "the life and health cluster, the materials cluster, and the green cluster", q)
    assert not answer_types.names_head("list", "Guangdong released the five future industry cluster action plans.", q)
    # the role asked about stands next to a name, before or after it
    q = "Which reporters wrote the Yangcheng Evening News story?"
    assert answer_types.names_head("person", "Yangcheng Evening News reporters Xu Zhangchao and Sun Jing reported.", q)
    assert not answer_types.names_head("person", "Wu Dongwen said that the clusters will be built.", q)
    assert answer_types.names_head("person", "Zou Yongbing, director of the Planning Department, said so.",
                                 "Which director spoke about planning?")
    assert not answer_types.names_head("date", "On February 29, 2024.", "When was it held?")
