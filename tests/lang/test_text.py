"""Normalisation, sentences, language and search tokens (English and Chinese)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.lang.cjk import chinese_numeral, detect_lang
from bot.lang.text import normalize, paragraph_spans, sentence_spans
from bot.lang.words import capitalised_names, content_words, numbers, tokenize, without_possessive

# --- normalize -------------------------------------------------------------------------------------


def test_normalize_turns_fullwidth_ascii_into_halfwidth() -> None:
    assert normalize("ＡＩ　２０３０（Ｐｌａｎ）") == "AI 2030(Plan)"


def test_normalize_keeps_chinese_sentence_punctuation() -> None:
    text = "广东，未来产业：五个集群、十个园区！为什么？因为；如此。"
    assert normalize(text) == text


def test_normalize_collapses_spaces_and_strips_lines() -> None:
    assert normalize("  a \t  b  \n   c   ") == "a b\nc"


def test_normalize_separates_paragraphs_by_exactly_one_blank_line() -> None:
    assert normalize("one\n\n\n\n two \r\n\r\n\r\nthree\n\n") == "one\n\ntwo\n\nthree"


def test_normalize_removes_control_and_zero_width_characters_but_keeps_newlines() -> None:
    assert normalize("a\x00b\u200bc\x07\nd\ufeff") == "abc\nd"


def test_normalize_composes_to_nfc() -> None:
    assert normalize("Cafe\u0301") == "Café"


def test_normalize_keeps_curly_quotes() -> None:
    assert normalize("“First Meeting of the New Year”") == "“First Meeting of the New Year”"


@settings(max_examples=300)
@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@given(st.text())
def test_normalize_leaves_no_runs_of_blank_lines_or_padded_lines(text: str) -> None:
    out = normalize(text)
    assert "\n\n\n" not in out
    assert all(line == line.strip() and "  " not in line for line in out.split("\n"))


# --- sentences -------------------------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def test_english_sentences_split_after_terminal_punctuation() -> None:
    assert sentences("Guangdong acts. Why now? Because it can!") == [
        "Guangdong acts.",
        "Why now?",
        "Because it can!",
    ]


def test_closing_quotes_stay_with_their_sentence() -> None:
    text = '"Future industries lead." Wu Dongwen said. He added: “It works.” Then left.'
    assert sentences(text) == [
        '"Future industries lead."',
        "Wu Dongwen said.",
        "He added: “It works.”",
        "Then left.",
    ]


def test_decimals_and_abbreviations_do_not_end_sentences() -> None:
    text = "Mr. Wu and Dr. Zou met U.S. officials about No. 5 and 2.5 billion yuan. Next sentence."
    assert sentences(text) == [
        "Mr. Wu and Dr. Zou met U.S. officials about No. 5 and 2.5 billion yuan.",
        "Next sentence.",
    ]


def test_a_question_in_quotes_followed_by_lowercase_continues_the_sentence() -> None:
    assert sentences('"Why plot?" he asked. Yes.') == ['"Why plot?" he asked.', "Yes."]


def test_chinese_sentences_split_on_full_stops_exclamations_questions_and_semicolons() -> None:
    text = "广东要抢占未来产业高地。为什么？因为机会难得！产业基础好；政策到位"
    assert sentences(text) == [
        "广东要抢占未来产业高地。",
        "为什么？",
        "因为机会难得！",
        "产业基础好；",
        "政策到位",
    ]


def test_chinese_closing_quotes_stay_with_the_sentence() -> None:
    assert sentences("他说：“我们要加快。”然后离开。") == ["他说：“我们要加快。”", "然后离开。"]


def test_mixed_chinese_and_english_sentences() -> None:
    text = "Sora来了。The wave is coming. 广东不能缺席！"
    assert sentences(text) == ["Sora来了。", "The wave is coming.", "广东不能缺席！"]


def test_paragraph_breaks_end_sentences_even_without_punctuation() -> None:
    assert sentences("Why plot\n\nBecause the future matters") == ["Why plot", "Because the future matters"]


def test_single_newlines_do_not_end_sentences() -> None:
    assert sentences("a wrapped\nline of a PDF.") == ["a wrapped\nline of a PDF."]


def test_paragraph_spans_exclude_surrounding_whitespace() -> None:
    text = "\n Title \n\n\n  Body line one\nline two  \n"
    assert [text[s:e] for s, e in paragraph_spans(text)] == ["Title", "Body line one\nline two"]


_SENTENCE_ALPHABET = st.sampled_from(
    list("abcXYZ 12.,!?;:\"'”’)\n\t")
    + list("。！？；，：“”广东产业")
    + ["Mr.", "U.S.", "2.5", " e.g. ", "\n\n"]
)


@settings(max_examples=300)
@given(st.one_of(st.text(), st.lists(_SENTENCE_ALPHABET, max_size=60).map("".join)))
def test_sentence_spans_cover_every_non_space_character_once_in_order(text: str) -> None:
    spans = sentence_spans(text)
    position = 0
    for start, end in spans:
        assert position <= start < end <= len(text)
        assert text[position:start].strip() == ""  # only whitespace between sentences
        assert not text[start].isspace() and not text[end - 1].isspace()
        position = end
    assert text[position:].strip() == ""


# --- language ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("广东选择这五个未来产业的标准是什么", "zh"),
        ("Why were these five industries chosen?", "en"),
        ("Sora 文生视频", "zh"),  # 4 of 8 letters
        ("abcd 文", "zh"),  # exactly 1 of 5
        ("abcde 文", "en"),  # 1 of 6
        ("The Sora model 文生视频 was released by OpenAI in the United States", "en"),
        ("", "en"),
        ("2030 2035 !!!", "en"),
    ],
)
def test_detect_lang_is_zh_when_ideographs_are_at_least_a_fifth_of_letters(text: str, lang: str) -> None:
    assert detect_lang(text) == lang


# --- tokens ------------------------------------------------------------------------------------------


def test_tokenize_chinese_question_into_jieba_words_without_stopwords() -> None:
    tokens = tokenize("广东选择这五个未来产业的标准是什么")
    for word in ("广东", "选择", "未来", "产业", "标准"):
        assert word in tokens
    for stopword in ("的", "是", "什么", "这"):
        assert stopword not in tokens


def test_tokenize_drops_chinese_punctuation() -> None:
    assert not set(tokenize("广东，未来产业。为什么？“链长制”")) & set("，。？“”")


def test_tokenize_english_lowercases_removes_stopwords_and_strips_plurals() -> None:
    assert tokenize("Why were these five Industries chosen?") == ["five", "industry", "chosen"]


def test_tokenize_joins_digit_groups_and_keeps_years_and_decimals() -> None:
    assert tokenize("the 10,000,000,000 talent action by 2030, 2.5%") == [
        "10000000000",
        "talent",
        "action",
        "2030",
        "2.5",
    ]


def test_tokenize_handles_mixed_text_and_fullwidth_letters() -> None:
    tokens = tokenize("ＡＩ终端 and Sora模型")
    assert "ai" in tokens and "终端" in tokens and "sora" in tokens and "模型" in tokens


def test_content_words_are_the_distinct_tokens() -> None:
    assert content_words("The parks and the parks of Guangdong") == {"park", "guangdong"}


def test_numbers_normalises_digit_groups() -> None:
    assert numbers("the “10,000,000,000” talent action, goals for 2030 and 2035, 2.5 percent") == {
        "10000000000",
        "2030",
        "2035",
        "2.5",
    }


def test_numbers_reads_fullwidth_digits_and_chinese_numerals_before_measure_words() -> None:
    assert numbers("２０３０年建成五个园区，培育二十家企业") == {"2030", "5", "20"}


def test_numbers_ignore_words_without_numerals() -> None:
    assert numbers("five future parks") == set()


@pytest.mark.parametrize(
    ("numeral", "value"), [("五", 5), ("十", 10), ("十二", 12), ("三百五十", 350), ("两万", 20000)]
)
def test_chinese_numerals_are_read(numeral: str, value: int) -> None:
    assert chinese_numeral(numeral) == value


def test_capitalised_names_drop_only_the_possessive() -> None:
    names = capitalised_names("The award went to Jones's rival, Ellis’s coach and Thomas.")
    assert names == {"jones", "ellis", "thomas"}


def test_a_possessive_is_dropped_from_a_name_and_nothing_else_is() -> None:
    assert [without_possessive(w) for w in ("Jones's", "Jones’s", "Jones", "Ross", "class")] == [
        "Jones", "Jones", "Jones", "Ross", "class"]
