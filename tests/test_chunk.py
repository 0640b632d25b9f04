"""Chunk: structure-aware chunks of an article-structured synthetic document (and of the seed reply)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from langchain_core.documents import Document

from assistant.chunk import ChunkingConfig, chunk_document, embed_text, sentences, text_hash
from assistant.documents import DocumentMeta
from assistant.load import load_file
from tests.lawdb import SEED

TITLE = "测试促进条例（合成）"
CONFIG = ChunkingConfig(max_chars=600, overlap_chars=80, merge_below_chars=120)
SENTENCE_ENDS = ("。", "；", "！", "？")

# 第十一条: numbered synthetic sentences, long enough to need three windows or more.
LONG_SENTENCES = [
    f"（{n}）测试用合成句子第{n}号，用于检验长条款只在句末切分并且相邻窗口之间保留重叠内容{'；' if n % 3 else '。'}"
    for n in range(1, 41)
]
LONG_ARTICLE = "第十一条 " + "".join(LONG_SENTENCES)

DOC = f"""{TITLE}
（测试用合成文本，并非真实政策）
第一章 总则
第一条 为了测试分块，制定本条例。
第二条 本条例适用于测试。
第二章 促进措施
第十条 市人民政府采取下列措施促进测试：
（一）设立测试专项资金；
（二）建设测试公共服务平台。
{LONG_ARTICLE}
第十二条
本条例自2025年1月1日起施行。
"""


@pytest.fixture(scope="module")
def chunks() -> list[Document]:
    return chunk_document(DocumentMeta(title=TITLE, source="synthetic/测试促进条例.txt"), DOC, CONFIG)


def by_locator(chunks: list[Document], locator: str) -> list[Document]:
    return [c for c in chunks if c.metadata["locator"] == locator]


def test_chunk_boundaries_follow_the_articles(chunks: list[Document]) -> None:
    locators = list(dict.fromkeys(c.metadata["locator"] for c in chunks))
    assert locators == [
        "第1段",  # the preamble line under the title
        "第一章 总则 > 第一条",  # short articles are not merged: one article per chunk
        "第一章 总则 > 第二条",
        "第二章 促进措施 > 第十条",
        "第二章 促进措施 > 第十一条",
        "第二章 促进措施 > 第十二条",
    ]
    assert all(c.metadata["source"] == "synthetic/测试促进条例.txt" and c.metadata["title"] == TITLE for c in chunks)
    assert [c.metadata["ordinal"] for c in chunks] == list(range(len(chunks)))
    assert len({c.metadata["chunk_id"] for c in chunks}) == len(chunks)
    assert all(c.id == c.metadata["chunk_id"] for c in chunks)


def test_enumerated_items_stay_inside_their_article(chunks: list[Document]) -> None:
    [article] = by_locator(chunks, "第二章 促进措施 > 第十条")
    assert article.page_content == "第十条 市人民政府采取下列措施促进测试：\n（一）设立测试专项资金；\n（二）建设测试公共服务平台。"
    assert article.metadata["articles"] == "第十条"
    assert not any("（一）" in c.metadata["locator"] for c in chunks)


def test_a_heading_is_never_separated_from_its_body(chunks: list[Document]) -> None:
    headings = {"第一章 总则", "第二章 促进措施", "第十二条"}
    for chunk in chunks:
        assert chunk.page_content.strip() not in headings  # no chunk is a bare heading
        assert "第一章" not in chunk.page_content and "第二章" not in chunk.page_content  # chapters live in the locator
    # The article whose label stands on its own line: label and body in one chunk, label kept in the text.
    [last] = by_locator(chunks, "第二章 促进措施 > 第十二条")
    assert last.page_content == "第十二条\n本条例自2025年1月1日起施行。"
    assert last.metadata["articles"] == "第十二条"


def test_each_article_is_a_chunk_of_its_own(chunks: list[Document]) -> None:
    """Short neighbouring articles stay apart, so a hit names the one article it is about."""
    [first] = by_locator(chunks, "第一章 总则 > 第一条")
    [second] = by_locator(chunks, "第一章 总则 > 第二条")
    assert first.page_content == "第一条 为了测试分块，制定本条例。"
    assert (first.metadata["articles"], second.metadata["articles"]) == ("第一条", "第二条")


def test_article_with_label_on_its_own_line_keeps_label_and_body() -> None:
    text = f"{TITLE}\n第一章 总则\n第二十条 本条为测试用合成条款。\n第二十一条\n本条例自公布之日起施行（测试）。\n"
    chunks = chunk_document(DocumentMeta(title=TITLE, source="t.txt"), text, CONFIG)
    assert [c.metadata["locator"] for c in chunks] == ["第一章 总则 > 第二十条", "第一章 总则 > 第二十一条"]
    assert chunks[1].page_content.split("\n") == ["第二十一条", "本条例自公布之日起施行（测试）。"]


def test_long_article_splits_only_at_sentence_ends_with_overlap(chunks: list[Document]) -> None:
    windows = [c.page_content for c in by_locator(chunks, "第二章 促进措施 > 第十一条")]
    assert len(windows) >= 3
    assert windows[0].startswith("第十一条 ")
    for i, window in enumerate(windows):
        assert len(window) <= CONFIG.max_chars
        assert window.endswith(SENTENCE_ENDS) or i == len(windows) - 1
    assert all(c.metadata["articles"] == "第十一条" for c in by_locator(chunks, "第二章 促进措施 > 第十一条"))
    assert windows[-1].endswith(LONG_SENTENCES[-1])  # the article's end
    for previous, current in itertools.pairwise(windows):
        last_sentence = sentences(previous)[-1]
        assert current.startswith(last_sentence), "the next window repeats the previous one's last sentence"
        assert len(last_sentence) <= CONFIG.overlap_chars
    # Every sentence is in some window, whole and in order.
    joined = "".join(w if i == 0 else w[len(sentences(windows[i - 1])[-1]):] for i, w in enumerate(windows))
    assert joined == LONG_ARTICLE
    for sentence in LONG_SENTENCES:
        assert any(sentence in w for w in windows)


def test_articles_metadata_is_written_out_in_chinese_numerals() -> None:
    text = f"{TITLE}\n第二章 促进措施\n第10条 本条为测试用合成条款。\n第11条 本条也是测试用合成条款。\n"
    chunks = chunk_document(DocumentMeta(title=TITLE, source="t.txt"), text, CONFIG)
    assert [c.metadata["articles"] for c in chunks] == ["第十条", "第十一条"]
    assert chunks[0].metadata["locator"] == "第二章 促进措施 > 第10条"  # the locator quotes the document


def test_embedded_text_carries_title_and_heading_path(chunks: list[Document]) -> None:
    [article] = by_locator(chunks, "第二章 促进措施 > 第十条")
    etext = embed_text(TITLE, article.metadata["locator"], article.page_content)
    assert etext == f"{TITLE}\n第二章 促进措施 > 第十条\n{article.page_content}"
    assert article.metadata["embed_hash"] == text_hash(etext)
    assert article.metadata["chunk_id"].endswith(text_hash(etext)[:12])
    assert embed_text(TITLE, "", "正文") == f"{TITLE}\n正文"


def test_chunk_metadata_carries_the_citation_fields() -> None:
    meta = DocumentMeta(title=TITLE, source="t.txt", doc_number="津测发〔2025〕1号", issuer="测试机关",
                        date="2025-01-10", status="已废止")
    [chunk, *_] = chunk_document(meta, DOC, CONFIG)
    assert {k: chunk.metadata[k] for k in ("doc_number", "issuer", "date", "status", "in_force")} == {
        "doc_number": "津测发〔2025〕1号", "issuer": "测试机关", "date": "2025-01-10", "status": "已废止",
        "in_force": False}


def test_chunking_is_deterministic_and_a_local_edit_changes_only_local_chunks(chunks: list[Document]) -> None:
    meta = DocumentMeta(title=TITLE, source="synthetic/测试促进条例.txt")
    again = chunk_document(meta, DOC, CONFIG)
    assert [c.metadata["chunk_id"] for c in again] == [c.metadata["chunk_id"] for c in chunks]
    edited = chunk_document(meta, DOC.replace("设立测试专项资金", "设立测试引导资金"), CONFIG)
    changed = {c.metadata["embed_hash"] for c in edited} - {c.metadata["embed_hash"] for c in chunks}
    assert len(changed) == 1


def test_sentences_keep_their_punctuation_and_closing_quotes() -> None:
    assert sentences("第一句。第二句；“第三句！”第四句？尾巴") == ["第一句。", "第二句；", "“第三句！”", "第四句？", "尾巴"]


def test_seed_reply_chunks_by_its_numbered_sections(seed_corpus: Path) -> None:
    doc = load_file(seed_corpus / f"{SEED}.txt", seed_corpus)
    chunks = chunk_document(doc.meta, doc.text, CONFIG)
    locators = [c.metadata["locator"] for c in chunks]
    assert {"一、工作开展情况", "二、下一步工作安排"} <= set(locators)
    hit = [c for c in chunks if "布局建设中关村硬创空间等25家行业概念验证平台" in c.page_content]
    assert [c.metadata["locator"] for c in hit] == ["一、工作开展情况"]
    for chunk in chunks:
        assert len(chunk.page_content) <= CONFIG.max_chars
        assert re.search(r"[。；！？]$|\d$|:$", chunk.page_content), chunk.page_content[-20:]
        assert chunk.metadata["issuer"] == "天津市人民政府" and chunk.metadata["date"] == "2024-04-25"
