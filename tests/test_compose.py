"""The composer and the answerability signals on hand-made passages (no model, no index).

Passage texts are synthetic and say so; they imitate the shape of policy texts (numbered leads,
figures with units, dates, a section heading path).
"""

from __future__ import annotations

import re

from langchain_core.documents import Document

from assistant.answer.answerability import probability, signals
from assistant.answer.extractive import compose, split_sentences
from assistant.answer.question import question_type
from assistant.store.keyword import tokenize

TITLE = "某市关于支持示范平台建设的若干措施（合成示例）"


def passage(text: str, locator: str = "第1段", title: str = TITLE, ordinal: int = 0, **meta: float) -> Document:
    return Document(page_content=text, metadata={"title": title, "locator": locator, "source": "synthetic.txt",
                                                 "ordinal": ordinal, **meta})


MEASURES = passage(
    "一、工作进展 一是推动示范平台建设。全市布局建设示范平台25家，其中生物领域12家。"
    "二是加强人才服务。在各园区设置服务专员249名，开展对接活动80余场。"
    "三是强化金融支持。截至2023年末，全市科技担保余额23.3亿元，支持企业直接融资。",
    locator="一、工作进展",
)
NEXT = passage(
    "一是推动示范平台升级。落实实施意见，推动龙头企业平台能力升级。二是完善服务体系。建立合作机制，引导银行为企业贷款提供支持。",
    locator="二、下一步工作安排", ordinal=1,
)
DEADLINE = passage(
    "申报单位应当具有独立法人资格，近三年无不良信用记录。申报材料于2024年6月30日前报送市科技局，逾期不予受理。",
    locator="三、申报要求", ordinal=2,
)


def ask(question: str, docs: list[Document], focus: str | None = None) -> tuple[str, list[tuple[str, int]]]:
    composed = compose(question, docs, focus=focus)
    parts = [(text, int(n)) for text, n in re.findall(r"(.+?)\[(\d+)\]", composed.text, re.S)]
    # The guarantee: every part is a verbatim span of the passage it cites, at the highlighted offsets.
    for text, n in parts:
        doc = docs[composed.cited[n - 1]]
        assert any(doc.page_content[s:e] == text for s, e in composed.highlights[composed.cited[n - 1]]), text
    return composed.text, parts


def test_how_many_gets_the_figure_with_what_it_counts_first() -> None:
    _, parts = ask("全市布局建设了多少家示范平台？", [MEASURES, NEXT, DEADLINE])
    assert parts[0][0].startswith("全市布局建设示范平台25家")
    assert len(parts[0][0]) < 30  # the clause, not the paragraph


def test_a_figure_and_its_running_total_stay_together() -> None:
    text, _ = ask("全市科技担保余额是多少？", [MEASURES])
    assert "23.3亿元" in text and "一是" not in text


def test_when_gets_the_date() -> None:
    _, parts = ask("申报材料什么时候之前报送？", [MEASURES, DEADLINE])
    assert question_type("申报材料什么时候之前报送？") == "date"
    assert "2024年6月30日前" in parts[0][0]
    assert not parts[0][0].startswith("申报单位应当")


def test_no_bare_heading_opens_an_answer() -> None:
    for question in ("示范平台建设有哪些进展？", "人才服务方面做了什么？", "金融支持有哪些？"):
        _, parts = ask(question, [MEASURES, NEXT])
        first = parts[0][0]
        assert not re.fullmatch(r"[一二三四五六七八九十]+是[^。]{2,20}。", first), first
        assert len(first) > 15


def test_question_naming_a_section_gets_its_items_in_order() -> None:
    _, parts = ask("下一步工作安排是什么？", [MEASURES, NEXT])
    assert parts[0][0].startswith("一是推动示范平台升级。") and parts[1][0].startswith("二是完善服务体系。")


def test_spaces_between_paragraphs_end_sentences() -> None:
    spans = [t for _, _, t in split_sentences("一、总体要求 各地要加强领导。 二、主要措施 加大支持力度。")]
    assert spans == ["一、总体要求", "各地要加强领导。", "二、主要措施", "加大支持力度。"]


def test_unrelated_passages_give_no_answer() -> None:
    text, parts = ask("出国旅游怎么办理护照？", [MEASURES, NEXT])
    assert text == "" and parts == []


def _signals(question: str, docs: list[Document], vocabulary: set[str]):  # type: ignore[no-untyped-def]
    every = " ".join(d.page_content for d in docs)
    return signals(question, docs, lambda t: (every.count(t) or 1) if t in vocabulary else 0, 100)


def test_words_found_nowhere_in_the_index_lower_answerability() -> None:
    docs = [passage("天津市推动示范平台建设，布局建设示范平台25家。", dense=0.8, keyword=6.0)]
    vocabulary = set(tokenize(docs[0].page_content + TITLE))
    on_topic = _signals("天津布局建设了多少家示范平台", docs, vocabulary)
    weather = _signals("明天天津天气怎么样", docs, vocabulary)
    assert weather.unknown > 0.5 > on_topic.unknown + 0.3
    assert on_topic.coverage > weather.coverage
    assert probability(on_topic) > probability(weather)


def test_a_place_the_passage_does_not_name_lowers_answerability() -> None:
    docs = [passage("天津市对受疫情影响的企业给予房租减免。", title="天津市支持企业的若干措施（合成示例）", dense=0.8, keyword=5.0)]
    vocabulary = set(tokenize(docs[0].page_content + docs[0].metadata["title"])) | {"北京市", "北京"}
    same = _signals("天津市对企业房租有什么减免", docs, vocabulary)
    other = _signals("北京市对企业房租有什么减免", docs, vocabulary)
    assert same.coverage > other.coverage
    assert probability(same) > probability(other)


def test_a_measure_stated_by_its_unit_counts_as_found() -> None:
    """场地达到180万平米 answers 场地面积有多大 although 面积 is nowhere in the index; a passage on
    the same 场地 without a figure in an area unit does not."""
    stated = passage("孵化机构场地达到180万平米，聚集创业团队超过1万个。", dense=0.7, keyword=4.0)
    unstated = passage("孵化机构场地正在扩建，聚集创业团队超过1万个。", dense=0.7, keyword=4.0)
    vocabulary = set(tokenize(stated.page_content + unstated.page_content + TITLE))
    with_unit = _signals("孵化机构场地面积有多大", [stated], vocabulary)
    without = _signals("孵化机构场地面积有多大", [unstated], vocabulary)
    assert with_unit.coverage == 1.0 and with_unit.unknown == 0.0
    assert without.coverage < 0.8 and without.unknown > 0.2
    assert probability(with_unit) > probability(without)


def test_agreement_is_a_share_of_what_the_smaller_side_found() -> None:
    """On an index of a few documents the keyword side may find a single passage: the dense side
    ranking that one too is full agreement, not one in five."""
    found = passage("本合成文件的示范补助申请截止日期为每年六月三十日。", dense=0.84, keyword=6.2)
    others = [passage(f"合成示例的其他段落{i}。", dense=0.7 - i / 100, ordinal=i + 1) for i in range(4)]
    vocabulary = set(tokenize(found.page_content))
    agreeing = _signals("示范补助申请截止日期是哪天", [found, *others], vocabulary)
    assert agreeing.agreement == 1.0
    alone = passage(found.page_content, keyword=6.2)  # found by keywords only
    assert _signals("示范补助申请截止日期是哪天", [alone, *others], vocabulary).agreement == 0.0
    assert probability(agreeing) >= 0.5


def test_the_title_repeated_as_a_line_and_the_addressees_are_never_the_answer() -> None:
    """A notice opens with its (long) title, issuer and addressees; the answer is the measure below them."""
    title = "某市人民政府办公厅关于应对疫情影响促进中小微企业持续健康发展若干措施的有关事项办理流程（合成示例）"
    opening = passage(
        f"某市科技局（合成示例）\n{title}\n各区科技部门，各有关单位：\n"
        "对新建示范平台的中小微企业，给予最高200万元补助。\n申报材料由区科技部门汇总后报送。",
        title=title,
    )
    answer = compose("某市办公厅促进中小微企业持续健康发展有哪些措施", [opening]).text
    assert answer.startswith("对新建示范平台的中小微企业，给予最高200万元补助。[1]")
    assert title not in answer and "各区科技部门" not in answer


def test_a_question_in_the_text_is_answered_by_what_follows_it() -> None:
    """A Q&A text: the 问 line matches the question best, but the answer is the 答 after it, and the
    next Q&A item is not quoted with it."""
    faq = passage(
        "问：示范平台的认定材料需要提供什么？答：需要提供平台运营报告和场地证明（合成示例）。"
        "问：示范平台的认定多久完成？答：受理后20个工作日内完成。"
    )
    text, parts = ask("示范平台的认定材料需要提供什么？", [faq])
    assert parts[0][0] == "答：需要提供平台运营报告和场地证明（合成示例）。"
    assert "？" not in text and "20个工作日" not in text


def test_a_how_answer_runs_on_to_the_end_of_its_paragraph_but_not_into_the_next() -> None:
    """The best sentence, the one after it, and one more of the same paragraph; the next paragraph
    is another thought."""
    steps = "申请单位先在线提交材料（合成示例）。区科技部门在10个工作日内出具初审意见。"
    one = passage(f"示范平台如何申请认定？{steps}市科技局组织专家评审并公示结果。\n示范平台的年度考核另行规定。")
    _, parts = ask("示范平台如何申请认定", [one])
    assert [p for p, _ in parts] == ["申请单位先在线提交材料（合成示例）。", "区科技部门在10个工作日内出具初审意见。",
                                     "市科技局组织专家评审并公示结果。"]
    two = passage(f"示范平台如何申请认定？{steps}\n市科技局另行组织年度考核。")
    _, parts = ask("示范平台如何申请认定", [two])
    assert not any("年度考核" in p for p, _ in parts)
