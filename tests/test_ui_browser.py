"""The Gradio chat page: its citation cards, and the real app driven in headless Chromium.

The browser test starts `create_app` (API + page at /) under uvicorn on a loopback port, asks a
question about the seed document, checks the streamed answer and its citation card, then asks a
follow-up in the same browser session.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.answer.conversation import Conversation
from assistant.service import AnswerEvent, Assistant
from assistant.settings import Settings
from assistant.types import Answer as AskResponse
from assistant.types import Citation, DocumentInfo
from tests.serving import serve_in_thread
from ui.app import SEARCHING, citations_html, highlight

ROOT = Path(__file__).resolve().parents[1]
SEED = "tianjin-pilot-platform-reply-2024-04-25"
SEED_TITLE = "关于以中试平台建设助推新型工业化建设提质增效的提案的答复"
QUESTION = "天津布局建设了多少家概念验证平台？"
FOLLOW_UP = "那下一步有什么安排？"
OFF_TOPIC = "上海的房价是多少？<b>x</b>"
TIMEOUT_MS = 120_000


# --- the cards, without a browser ------------------------------------------------------------------

def _citation(text: str, highlights: list[tuple[int, int]], **document: Any) -> Citation:
    info = DocumentInfo(**{"title": "测试文件", "source": "t.txt", **document})
    return Citation(n=1, document=info, locator="第一条", text=text, highlights=highlights, score=0.5)


def _response(citations: list[Citation], refused: bool = False) -> AskResponse:
    return AskResponse(answer="答复[1]", citations=citations, refused=refused, conversation_id="c",
                       query="q", index_version="v1")


def test_cards_escape_every_field_and_mark_the_cited_sentences() -> None:
    text = "第一句<script>alert(1)</script>。第二句 & 更多。"
    cut = text.index("。") + 1
    card = citations_html(_response([_citation(
        text, [(0, cut), (cut, len(text))], title="<b>标题</b>", doc_number="津政发〔2025〕9号\"><img src=x>",
        issuer="<i>机关</i>", date="2025-01-01",
    )]))
    assert "<script>" not in card and "<b>" not in card and "<img" not in card and "<i>" not in card
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in card and "&lt;b&gt;标题&lt;/b&gt;" in card
    assert "<mark>第一句&lt;script&gt;alert(1)&lt;/script&gt;。</mark><mark>第二句 &amp; 更多。</mark>" in card
    assert 'data-state="done"' in card and "第一条" in card


def test_highlight_clamps_and_merges_overlapping_spans() -> None:
    assert highlight("abcdef", [(4, 99), (1, 3), (2, 4), (5, 5)]) == "a<mark>bcd</mark><mark>ef</mark>"
    assert highlight("a<b", []) == "a&lt;b"


def test_refusal_shows_passages_as_possibly_related_with_the_liaison_hint() -> None:
    panel = citations_html(_response([_citation("某段落。", [])], refused=True))
    assert "可能相关" in panel and "服务专员" in panel and "引用依据" not in panel
    assert "citation-card" in panel and "related" in panel
    assert "服务专员" in citations_html(_response([], refused=True))


def test_repealed_and_superseded_documents_are_marked() -> None:
    repealed = citations_html(_response([_citation("段落。", [], status="已废止", in_force=False)]))
    superseded = citations_html(_response([_citation("段落。", [], status="被替代", in_force=False)]))
    current = citations_html(_response([_citation("段落。", [], status="现行有效")]))
    for panel, label in ((repealed, "已废止"), (superseded, "被替代")):
        assert "not-in-force" in panel and label in panel and "请以现行有效的文件为准" in panel
    assert "not-in-force" not in current and "现行有效" in current


# --- the real app in a browser ---------------------------------------------------------------------

class RecordingAssistant(Assistant):
    """The real assistant, remembering which conversation each question was asked in."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.calls: list[tuple[str, str | None, AskResponse]] = []

    def answer_stream(self, question: str, conversation: Conversation, top_k: int | None = None
                      ) -> Iterator[AnswerEvent]:
        """Records (question, the conversation id when it continues one, the final answer)."""
        continued = conversation.id if conversation.turns else None
        for event in super().answer_stream(question, conversation, top_k):
            if isinstance(event, AskResponse):
                self.calls.append((question, continued, event))
            yield event


@pytest.fixture(scope="module")
def ui_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The shared `seed_index` when conftest provides it, else an indexed copy of the seed document."""
    try:
        settings: Settings = request.getfixturevalue("seed_index")
        return settings
    except pytest.FixtureLookupError:
        pass
    from assistant.indexing.service import run_index

    root = tmp_path_factory.mktemp("ui")
    corpus = root / "corpus"
    corpus.mkdir()
    for path in (ROOT / "corpus").glob(f"{SEED}.*"):
        shutil.copy(path, corpus / path.name)
    settings = Settings(corpus_dir=corpus, index_dir=root / "index", data_dir=root / "data")
    report = run_index(settings)
    assert report.usable
    return settings


@pytest.fixture(scope="module")
def served(ui_settings: Settings) -> Iterator[tuple[str, RecordingAssistant]]:
    """The whole app (API + page) under uvicorn in a background thread on a free loopback port."""
    from assistant.api.app import create_app

    assistant = RecordingAssistant(ui_settings)
    with serve_in_thread(create_app(ui_settings, assistant=assistant)) as url:
        yield url, assistant




# Records every distinct text of the latest bot message, to see the answer arrive part by part.
WATCH_STREAM = """() => {
  window.__partials = [];
  const chat = document.querySelector('#chat');
  new MutationObserver(() => {
    const bots = chat.querySelectorAll('[data-testid="bot"]');
    if (!bots.length) return;
    const text = bots[bots.length - 1].innerText;
    if (window.__partials[window.__partials.length - 1] !== text) window.__partials.push(text);
  }).observe(chat, {subtree: true, childList: true, characterData: true});
}"""


def _ask(page: Any, question: str, turn: int) -> str:
    """Type and send a question; wait until the `turn`-th answer has finished streaming."""
    from playwright.sync_api import expect

    page.locator("#question textarea").fill(question)
    page.locator("#send").click()
    bots = page.locator('#chat [data-testid="bot"]')
    expect(bots).to_have_count(turn, timeout=TIMEOUT_MS)
    expect(bots.nth(turn - 1)).not_to_have_text(SEARCHING, timeout=TIMEOUT_MS)
    expect(page.locator('#citations .citations[data-state="done"]')).to_have_count(1, timeout=TIMEOUT_MS)
    text: str = bots.nth(turn - 1).inner_text()
    return text


@pytest.mark.browser
def test_chat_streams_a_cited_answer_and_keeps_the_conversation(
    served: tuple[str, RecordingAssistant], browser: Any
) -> None:
    from playwright.sync_api import expect

    url, assistant = served
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.locator("#question textarea").wait_for()
    expect(page.locator("#examples")).to_contain_text("？")  # example questions from the corpus
    page.evaluate(WATCH_STREAM)

    answer = _ask(page, QUESTION, 1)
    assert "25" in answer and "[1]" in answer, answer
    partials = [p for p in page.evaluate("window.__partials") if p.strip() and p != SEARCHING]
    assert len(partials) >= min(2, answer.count("[")), partials  # streamed part by part, not all at once
    assert all(answer.startswith(p) and re.search(r"\[\d+\]$", p) for p in partials), partials

    card = page.locator("#citations .citation-card").filter(has_text="一、工作开展情况").first
    expect(card.locator(".title")).to_contain_text(SEED_TITLE)
    expect(card.locator(".locator")).to_contain_text("一、工作开展情况")
    marks = card.locator(".passage mark").all_inner_texts()
    assert marks and any("25" in m for m in marks), marks
    plain = re.sub(r"\[\d+\]", "", answer)
    assert all(m in plain for m in marks), (marks, answer)  # highlighted = the sentences cited

    follow_up = _ask(page, FOLLOW_UP, 2)
    assert [q for q, _, _ in assistant.calls[-2:]] == [QUESTION, FOLLOW_UP]
    (_, first_id, first), (_, second_id, second) = assistant.calls[-2:]
    assert first_id is None and second_id == first.conversation_id  # same browser session, same conversation
    assert second.conversation_id == first.conversation_id and not second.refused, second
    assert re.sub(r"\s", "", follow_up) == re.sub(r"\s", "", second.answer) and "[1]" in follow_up
    assert len(assistant.conversations.get(first.conversation_id).turns) == 2

    context.close()

    # Another browser session starts its own conversation; a question the corpus cannot answer is
    # refused, with the passages found shown as 可能相关 and the hint to pass it to a liaison.
    other = browser.new_context()
    page = other.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    refusal = _ask(page, OFF_TOPIC, 1)
    _, other_id, other_response = assistant.calls[-1]
    assert other_id is None and other_response.conversation_id != first.conversation_id
    assert other_response.refused and re.sub(r"\s", "", refusal) == re.sub(r"\s", "", other_response.answer)
    expect(page.locator("#citations .notice.refusal")).to_contain_text("服务专员")
    if other_response.citations:
        expect(page.locator("#citations .citation-card").first).to_contain_text("可能相关")
    expect(page.locator('#chat [data-testid="user"]')).to_contain_text("<b>x</b>")  # shown, not rendered
    assert page.locator('#chat [data-testid="user"] b').count() == 0
    other.close()


@pytest.mark.browser
def test_feedback_and_handoff_from_the_chat_reach_the_liaison_and_back(
    served: tuple[str, RecordingAssistant], browser: Any
) -> None:
    from playwright.sync_api import expect

    from assistant.review.auth import Principal, Role

    url, assistant = served
    context = browser.new_context(viewport={"width": 1400, "height": 1200}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    _ask(page, "科技担保余额是多少？", 1)
    _, _, response = assistant.calls[-1]
    assert response.answer_id

    page.locator("#feedback-comment textarea").fill("想知道担保的申请条件")
    page.locator("#feedback-down").click()
    expect(page.locator("#feedback-status")).to_contain_text("感谢反馈")
    item = assistant.review.item(response.answer_id)
    assert any(f.helpful is False and "申请条件" in f.comment for f in item.feedback), item.feedback

    page.locator("#handoff").click()  # open the accordion
    page.locator("#handoff-contact input, #handoff-contact textarea").first.fill("022-12345678（测试）")
    page.locator("#handoff-send").click()
    expect(page.locator("#handoff-status")).to_contain_text("已转交")
    handoffs = assistant.review.conversation_handoffs(response.conversation_id).handoffs
    assert len(handoffs) == 1 and handoffs[0].status == "open"
    expect(page.locator("#handoff-replies")).to_contain_text("答复后会显示")

    assistant.review.reply_handoff(handoffs[0].id, Principal("测试专员", Role.LIAISON),
                                   "（测试答复）请联系市科技局了解担保申请条件。", [])
    page.locator("#handoff-refresh").click()
    expect(page.locator("#handoff-replies")).to_contain_text("请联系市科技局了解担保申请条件")
    context.close()
