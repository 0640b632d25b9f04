"""Answers on the seed document with the real model and index: off-topic questions refused, figures
first, follow-ups that change aspect or ask for a detail."""

from __future__ import annotations

import re

import pytest

from assistant.service import Assistant
from assistant.settings import Settings
from assistant.types import Answer


@pytest.fixture(scope="module")
def assistant(seed_index: Settings) -> Assistant:
    return Assistant(seed_index.model_copy(update={"review_log": False}))


def parts(answer: Answer) -> list[str]:
    return re.findall(r"(.+?)\[\d+\]", answer.answer, re.S)


def grounded(answer: Answer) -> None:
    by_n = {c.n: c for c in answer.citations}
    for text, n in re.findall(r"(.+?)\[(\d+)\]", answer.answer, re.S):
        citation = by_n[int(n)]
        assert any(citation.text[s:e] == text for s, e in citation.highlights), text


@pytest.mark.parametrize("question", ["明天天津天气怎么样", "北京的天气怎么样", "天津市的房价多少",
                                      "天津地铁几点停运", "北京烤鸭哪家好吃"])
def test_off_topic_questions_sharing_words_are_refused(assistant: Assistant, question: str) -> None:
    answer = assistant.ask(question)
    assert answer.refused, answer.answer
    assert answer.citations == [] and not re.search(r"\[\d+\]", answer.answer)
    assert "1份文件" in answer.answer and "服务专员" in answer.answer  # what the index covers; the hand-off
    if "天气" in question:
        assert answer.related == []  # nothing clears the relevance floor


@pytest.mark.parametrize("question", ["南开大学怎么报考研究生", "天津大学录取分数线是多少", "天津的公园门票多少钱"])
def test_off_topic_questions_naming_what_the_index_names_are_refused_with_more_documents(
        library_index: Settings, question: str) -> None:
    """On the seed plus a law, a name the seed mentions (南开大学) must not carry a question about
    something none of them covers (报考研究生)."""
    answer = Assistant(library_index.model_copy(update={"review_log": False})).ask(question)
    assert answer.refused, answer.answer


@pytest.mark.parametrize(("question", "figure"), [
    ("天津布局建设了多少家概念验证平台？", "25家"),
    ("在各高校院所等设置了多少名服务专员？", "249名"),
    ("全市累计有多少家科技企业孵化器？", "95家"),
    ("科技担保余额是多少？", "23.3亿元"),
    ("孵化机构场地面积有多大？", "180万平米"),  # 面积 is nowhere in the text: stated by its unit
])
def test_how_many_opens_with_the_figure(assistant: Assistant, question: str, figure: str) -> None:
    answer = assistant.ask(question)
    assert not answer.refused, answer.answer
    first = parts(answer)[0]
    assert figure in first and len(first) < 60, first
    grounded(answer)


def test_no_bare_heading_in_answers(assistant: Assistant) -> None:
    for question in ("中试平台建设有什么支持政策？", "如何推动校企对接？", "概念验证平台重点布局在哪些领域？"):
        answer = assistant.ask(question)
        assert not answer.refused, question
        for part in parts(answer):
            assert not re.fullmatch(r"[一二三四五六七八九十]+是[^。，,]{2,20}。", part), part
        grounded(answer)


def test_new_aspect_keeps_the_subject_and_uses_the_financing_paragraph(assistant: Assistant) -> None:
    first = assistant.ask("中试平台建设有什么支持政策？")
    follow = assistant.ask("那融资方面呢？", first.conversation_id)
    assert "中试平台" in follow.query and "融资" in follow.query and "支持政策" not in follow.query
    assert not follow.refused and follow.answer != first.answer
    assert re.search(r"融资|金融|担保|上市", parts(follow)[0]), follow.answer
    grounded(follow)


def test_next_steps_after_a_question_about_focus_areas(assistant: Assistant) -> None:
    first = assistant.ask("概念验证平台重点在哪些领域？")
    assert "领域" in first.answer and not first.refused
    follow = assistant.ask("那下一步呢？", first.conversation_id)
    assert "下一步" in follow.query and not follow.refused
    assert all(c.locator == "二、下一步工作安排" for c in follow.citations), [c.locator for c in follow.citations]
    grounded(follow)


def test_conditions_follow_up_and_a_detail_that_narrows(assistant: Assistant) -> None:
    first = assistant.ask("中试平台建设有什么支持政策？")
    conditions = assistant.ask("申请条件呢？", first.conversation_id)
    assert "中试平台" in conditions.query and "申请条件" in conditions.query
    # The seed states no application conditions (no 条件 anywhere in it): a sentence about 中试平台 is
    # no answer to 申请条件, so the follow-up is refused, its subject's passages listed as related only.
    assert "条件" not in "".join(c.text for c in first.citations + conditions.related)
    assert conditions.refused and conditions.citations == [], conditions.answer
    assert not re.search(r"\[\d+\]", conditions.answer) and "没有找到" in conditions.answer
    assert conditions.related and all("中试" in c.text for c in conditions.related)

    platforms = assistant.ask("天津布局建设了多少家概念验证平台？")
    detail = assistant.ask("其中重点在哪个领域？", platforms.conversation_id)
    assert "概念验证平台" in detail.query and "重点" in detail.query
    assert not detail.refused and "生物医药" in detail.answer


@pytest.mark.parametrize("question", ["科技担保余额是多少？", "天津的科技担保余额是多少？"])
def test_naming_the_issuing_city_changes_nothing(assistant: Assistant, question: str) -> None:
    """天津 is in the issuer (天津市人民政府), not in the reply's text: the question is still about it."""
    answer = assistant.ask(question)
    assert not answer.refused, answer.answer
    assert "23.3亿元" in parts(answer)[0]
    grounded(answer)


def test_which_bodies_the_reply_was_drafted_with(assistant: Assistant) -> None:
    answer = assistant.ask("这份答复是会同哪些部门研究答复的？")
    assert not answer.refused, answer.answer
    assert "市金融局" in parts(answer)[0] and "市发展改革委" in parts(answer)[0], answer.answer
    grounded(answer)


def test_an_answer_stops_before_the_next_numbered_item(assistant: Assistant) -> None:
    answer = assistant.ask("华熙生物医药级原料中试平台开展哪些中试研发？")
    assert not answer.refused and "多肽" in parts(answer)[0], answer.answer
    assert "三是" not in answer.answer and "校企" not in answer.answer, answer.answer
    grounded(answer)
