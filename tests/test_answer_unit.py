"""The answer path's parts on hand-made passages: no model, no index (the quick loop).

The passages are short synthetic texts written for these tests (not policy text).
"""

from __future__ import annotations

from typing import Any

from langchain_core.documents import Document

from assistant.answer import ANSWERERS, get_answerer
from assistant.answer.base import AnswerRequest, ComposedAnswer, Delta, compose
from assistant.answer.conversation import Conversation, is_follow_up, resolve
from assistant.answer.evidence import coverage, term_weights
from assistant.answer.extractive import ExtractiveAnswerer, quote_article
from assistant.documents import DocumentMeta, document_id
from assistant.errors import AssistantError, BadQuestionError, NotFoundError, UnauthorizedError
from assistant.indexing.snapshot import IndexSnapshot
from assistant.retrieve.query import parse_query
from assistant.store.keyword import tokenize
from assistant.text import cited_parts, sentences
from assistant.types import citation

# Synthetic passages (obviously invented for the tests).
PLATFORM = ("（测试用虚构文本）示例市已布局建设概念验证平台25家。示例市支持企业建设中试基地，"
            "对认定的中试基地给予一次性奖励。融资方面，设立示例基金为中试项目提供贷款贴息。")
WEATHER_FREE = "（测试用虚构文本）本办法所称孵化器，是指为初创企业提供场地和服务的机构。"
ARTICLES = "第一条 为了测试，制定本办法。\n第二条 本办法适用于示例市。示例企业可以申请。\n第三条 本办法自发布之日起施行。"


def passage(text: str, source: str = "demo.txt", title: str = "示例市测试文件", **extra: Any) -> Document:
    meta = {"chunk_id": f"{source}-0", "source": source, "title": title, "doc_number": "", "issuer": "示例局",
            "date": "2024-01-01", "status": "", "superseded_by": "", "in_force": True, "locator": "一、总体要求",
            "articles": "", "ordinal": 0, "score": 1.0}
    meta.update(extra)
    return Document(page_content=text, metadata=meta)


def request(question: str, *docs: Document, query: str | None = None, article: str | None = None) -> AnswerRequest:
    return AnswerRequest(question=question, query=query or question, passages=list(docs), article=article)


def grounded(composed: ComposedAnswer, docs: list[Document]) -> None:
    """Every cited part is verbatim in its passage, at its highlight offsets."""
    parts = cited_parts(composed.text)
    assert parts
    for part in parts:
        body, n = part.rsplit("[", 1)
        index = composed.cited[int(n.rstrip("]")) - 1]
        text = docs[index].page_content
        assert body in text
        assert any(text[s:e] == body for s, e in composed.highlights[index])


# --- the extractive answerer -------------------------------------------------------------------------

def test_extractive_answer_quotes_the_sentence_with_the_figure() -> None:
    docs = [passage(PLATFORM)]
    composed = ExtractiveAnswerer().compose(request("示例市建设了多少家概念验证平台？", *docs))
    assert "25家" in composed.text and composed.text.endswith("[1]")
    assert composed.cited == [0]
    grounded(composed, docs)


def test_stream_yields_the_parts_then_the_whole_answer() -> None:
    docs = [passage(PLATFORM)]
    events = list(ExtractiveAnswerer().stream(request("中试基地有什么奖励和贷款贴息？", *docs)))
    final = events[-1]
    assert isinstance(final, ComposedAnswer)
    deltas = [e for e in events[:-1] if isinstance(e, Delta)]
    assert deltas and "".join(d.text for d in deltas) == final.text


def test_nothing_in_the_passages_gives_an_empty_answer() -> None:
    composed = ExtractiveAnswerer().compose(request("明天会下雨吗？", passage(WEATHER_FREE)))
    assert composed.text == "" and composed.cited == []


def test_cites_the_second_passage_as_1_when_only_it_answers() -> None:
    docs = [passage(WEATHER_FREE, source="a.txt"), passage(PLATFORM, source="b.txt")]
    composed = compose(ExtractiveAnswerer(), request("示例基金提供什么贷款贴息？", *docs))
    assert composed.cited == [1] and "[1]" in composed.text and "[2]" not in composed.text
    grounded(composed, docs)


def test_named_article_is_quoted_whole_and_alone() -> None:
    doc = passage(ARTICLES, exact=True, articles="第一条、第二条、第三条")
    composed = ExtractiveAnswerer().compose(request("示例办法第二条是怎么规定的？", doc, article="第二条"))
    assert composed.text.startswith("第二条") and "示例企业可以申请" in composed.text
    assert "第一条" not in composed.text and "第三条" not in composed.text
    direct = quote_article(doc, "第二条")
    assert direct.text == composed.text


def test_answerers_are_chosen_by_name() -> None:
    assert isinstance(get_answerer("extractive"), ExtractiveAnswerer)
    assert set(ANSWERERS) >= {"extractive"}
    try:
        get_answerer("no-such-answerer")
    except AssistantError as err:
        assert "no-such-answerer" in str(err)
    else:
        raise AssertionError("an unknown answerer name must be refused")


# --- evidence, sentences, citations ------------------------------------------------------------------

def test_coverage_weighs_rare_words_over_common_ones() -> None:
    tokens = tokenize("示例市 概念验证 平台 多少")
    weights = term_weights(tokens)
    assert coverage(tokens, PLATFORM, weights) > 0.5
    assert coverage(tokens, WEATHER_FREE, weights) < 0.2


def test_sentences_keep_offsets_and_end_marks() -> None:
    found = sentences(PLATFORM)
    assert [PLATFORM[s:e] for s, e, _ in found] == [t for _, _, t in found]
    assert all(t.endswith("。") for _, _, t in found) and len(found) == 3


def test_citation_carries_the_document_and_the_in_force_rule() -> None:
    live = citation(1, passage(PLATFORM))
    assert live.document.in_force and live.document.doc_number is None and live.document.issuer == "示例局"
    assert live.document.status == "现行有效"  # nothing marks it otherwise: not None beside in_force
    assert live.document.id == document_id(live.document.source) and len(live.document.id) == 12
    replaced = citation(2, passage(PLATFORM, superseded_by="new.txt", in_force=False))
    assert not replaced.document.in_force and replaced.document.status == "被替代"
    repealed = DocumentMeta(title="x", source="x.txt", status="已废止")
    assert not repealed.in_force


def test_errors_carry_their_status_and_chinese_text() -> None:
    assert BadQuestionError("empty").status == 400
    assert NotFoundError("no such answer").status == 404
    assert UnauthorizedError().status == 401
    assert all("\u4e00" <= ch <= "\u9fff" for ch in UnauthorizedError().zh[:2])


# --- the question and the conversation ---------------------------------------------------------------

def fake_snapshot(*docs: Document) -> IndexSnapshot:
    """A snapshot with documents and article tables only: enough for parsing questions."""
    manifest = {"documents": {d.metadata["source"]: {"meta": DocumentMeta.from_dict(d.metadata).to_dict()}
                              for d in docs}}
    return IndexSnapshot("v-test", manifest, list(docs), keyword=None, vectors=None)  # type: ignore[arg-type]


def test_parse_query_finds_the_named_document_and_article() -> None:
    doc = passage(ARTICLES, source="law.txt", title="中华人民共和国示例法", articles="第一条、第二条、第三条")
    snapshot = fake_snapshot(doc)
    parsed = parse_query("请问示例法第2条是怎么规定的？", snapshot)
    assert parsed.source == "law.txt" and parsed.article == "第二条" and parsed.article_exists is True
    missing = parse_query("示例法第九十九条", snapshot)
    assert missing.article == "第九十九条" and missing.article_exists is False
    contextual = parse_query("那第三条呢？", snapshot, context_source="law.txt")
    assert contextual.source == "law.txt" and contextual.article_exists is True


def test_follow_up_carries_the_subject_and_a_new_question_does_not() -> None:
    conversation = Conversation("c1")
    conversation.remember("示例市中试基地有什么支持政策？", "示例市中试基地有什么支持政策？", ["demo.txt"])
    assert is_follow_up("那申请条件呢？")
    resolved = resolve("那申请条件呢？", conversation)
    assert "中试基地" in resolved and "申请条件" in resolved
    assert resolve("孵化器是指什么机构？", conversation) == "孵化器是指什么机构？"
    assert conversation.last_source == "demo.txt"


def test_detail_follow_ups_keep_the_subject_and_stay_within_the_question_limit() -> None:
    """Each detail follow-up narrows the previous query; twelve long ones must not pile up."""
    conversation = Conversation("c2")
    first = "示例市中试基地有什么支持政策？"
    conversation.remember(first, first, ["demo.txt"])
    lengths = []
    for n in range(12):
        question = f"那第{n}项有多少家" + "企业" * 400 + "？"  # synthetic, about 810 characters
        assert is_follow_up(question)
        query = resolve(question, conversation, limit=1000)
        lengths.append(len(query))
        assert query.startswith("示例市中试基地") and query.endswith("？")
        conversation.remember(question, query, ["demo.txt"])
    assert max(lengths) <= 1000
