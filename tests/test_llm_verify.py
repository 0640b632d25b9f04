"""The support rule and the sentence-by-sentence verification of model output, on hand-made passages."""

from __future__ import annotations

from langchain_core.documents import Document

from assistant.answer.base import AnswerRequest
from assistant.answer.prompt import messages
from assistant.answer.support import bodies, figures, has_figure, sentence_support
from assistant.answer.verify import SentenceStream, Verifier

PASSAGE = ("布局建设中关村硬创空间等25家行业概念验证平台，重点在生物医药领域。市科技局会同市发展改革委负责，"
           "资金规模达两亿元，占比百分之四十。")
OTHER = "在各高校院所设置服务专员249名。"


def doc(text: str, **meta: str) -> Document:
    return Document(page_content=text, metadata={"title": "测试文件", "locator": "一、总则", **meta})


def test_figures_and_bodies_must_be_in_a_cited_passage() -> None:
    def weak(sentence: str) -> str | None:
        return sentence_support(sentence, [1], {1: PASSAGE}, 0.6).reason

    assert weak("布局建设了25家行业概念验证平台。") is None
    assert "30" in str(weak("布局建设了30家行业概念验证平台。"))  # a changed figure
    assert "三亿" in str(weak("资金规模达三亿元。"))  # amounts in Chinese numerals too
    assert weak("资金规模达2亿元。") is None  # 2 = 两
    assert "市工信局" in str(weak("市工信局负责概念验证平台建设。"))  # a body the passage does not name
    assert weak("市科技局负责概念验证平台建设。") is None
    assert weak("出国旅游需要护照。") == "low support"
    assert figures("2020年2月10日起，占比25.5%，共三百家。") == ["2020", "2", "10", "25.5", "三百"]
    assert has_figure("共300家", "三百") and has_figure("二十五家", "25") and not has_figure("250家", "25")
    assert bodies("国务院办公厅印发通知，市发展改革委负责。") == ["国务院办公厅", "改革委"]
    assert bodies("绝大部分企业全部参加内部会议。") == []


def test_citations_must_exist_and_the_context_counts() -> None:
    assert sentence_support("布局建设了25家行业概念验证平台。", [3], {1: PASSAGE}, 0.6).reason == \
        "cites no such passage: [3]"
    assert sentence_support("布局建设了25家行业概念验证平台。", [], {1: PASSAGE}, 0.6).reason == "no citation"
    dated = "依据国办发〔2020〕6号文件，布局建设25家行业概念验证平台。"
    assert sentence_support(dated, [1], {1: PASSAGE}, 0.6).weak  # 2020 and 6 are in no passage text
    verdict = sentence_support(dated, [1], {1: PASSAGE}, 0.6, {1: "国办发〔2020〕6号"})  # but in its 文号
    assert not verdict.weak and verdict.passages[0].highlights  # highlights stay in the passage text
    echo = sentence_support("《测试文件》（位置：一、总则）", [1], {1: PASSAGE}, 0.6, {1: "测试文件 一、总则"})
    assert echo.weak and echo.support == 0  # a passage's heading repeated backs nothing
    heading = sentence_support("位置：一、总则）", [1], {1: f"一、总则\n{PASSAGE}"}, 0.6, {1: "测试文件 一、总则"})
    assert heading.reason == "repeats a heading"  # even when the passage text starts with it
    other = sentence_support("《生物医药领域概念验证平台》（位置：第1段）", [1], {1: PASSAGE}, 0.6, {1: "测试文件 一、总则"})
    assert other.reason == "repeats a heading"  # a title alone says nothing, whichever passage it cites


def test_sentences_are_complete_only_with_their_marks() -> None:
    stream = SentenceStream()
    assert stream.feed("布局建设了25家平台。[") == []  # the mark may still be arriving
    assert stream.feed("1][2]") == []
    assert stream.feed("服务专员") == ["布局建设了25家平台。[1][2]"]
    assert stream.feed("249名。[2]\n第三句没有写完") == ["服务专员249名。[2]", "\n"]
    assert stream.close() == ["第三句没有写完"]


def test_the_verifier_keeps_backed_sentences_renumbered_and_counts_the_rest() -> None:
    verifier = Verifier([doc(PASSAGE), doc(OTHER)], 0.6)
    assert verifier.check("**在各高校院所设置服务专员249名。**[2]") == "在各高校院所设置服务专员249名。[1]"
    assert verifier.check("布局建设了30家行业概念验证平台。[1]") is None
    assert verifier.check("布局建设中关村硬创空间等25家行业概念验证平台。[1]") == \
        "布局建设中关村硬创空间等25家行业概念验证平台。[2]"
    assert verifier.check("未找到相关内容。") is None and verifier.not_found
    assert verifier.check("重点在生物医药领", last=True) is None  # cut off by max_tokens: left out, not counted
    composed = verifier.composed("llm")
    assert composed.cited == [1, 0] and composed.dropped == 1 and composed.answerer == "llm"
    (start, end), = composed.highlights[1]
    assert OTHER[start:end] == OTHER  # the whole sentence, quoted


def test_a_mark_leading_a_line_cites_the_line() -> None:
    verifier = Verifier([doc(PASSAGE), doc(OTHER)], 0.6)
    kept = [verifier.check(p) for p in ("[2] 在各高校院所设置服务专员249名。", "重点在生物医药领域。", "\n",
                                        "重点在生物医药领域。")]
    assert kept == ["在各高校院所设置服务专员249名。[1]", None, None, None]  # the line cites [2], which lacks it
    assert verifier.dropped == 2  # the next line cites nothing


def test_the_prompt_numbers_passages_and_stays_bounded() -> None:
    passages = [doc(PASSAGE * 20, doc_number="津政函〔2024〕1号", date="2024-04-25"), doc(OTHER)]
    request = AnswerRequest("有多少家概念验证平台？", "概念验证平台 多少家", passages)
    (_, system), (_, user) = messages(request, passages, 600)
    assert "[1]" in system and "未找到相关内容" in system
    assert user.startswith("资料：\n[1] 《测试文件》（文号：津政函〔2024〕1号；日期：2024-04-25；位置：一、总则）")
    assert f"[2] 《测试文件》（位置：一、总则）\n{OTHER}" in user  # the short passage whole
    assert len(user) < 600 + 300 and "问题：有多少家概念验证平台？" in user and "概念验证平台 多少家" in user
