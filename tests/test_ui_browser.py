"""The enquiry page: its citation cards, and the real app driven in headless Chromium.

One server per module (`create_app`, API + pages, on the library index: the seed document, a
statute and a synthetic file), one browser context per viewport. The tests ask, follow sources to
document pages, use type-ahead, 热点问题 and the browser's question history, are refused and hand
off, use only the keyboard, and read /docs offline; they save screenshots at 1400 and 390 px to
.pytest_artifacts/screens/.
"""

from __future__ import annotations

import re
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


def test_refusal_points_to_the_handoff_and_keeps_passages_collapsed() -> None:
    panel = citations_html(_response([_citation("某段落。", [])], refused=True))
    assert "可能相关" in panel and "服务专员" in panel and "引用依据" not in panel
    assert panel.index("服务专员") < panel.index("<details")  # the hand-off hint first, passages folded
    assert "<details open" not in panel and "citation-card" in panel
    assert "服务专员" in citations_html(_response([], refused=True))
    assert "<details" not in citations_html(_response([], refused=True))


def test_repealed_and_superseded_documents_are_marked() -> None:
    repealed = citations_html(_response([_citation("段落。", [], status="已废止", in_force=False)]))
    superseded = citations_html(_response([_citation("段落。", [], status="被替代", in_force=False)]))
    current = citations_html(_response([_citation("段落。", [], status="现行有效")]))
    for panel, label in ((repealed, "已废止"), (superseded, "被替代")):
        assert "not-in-force" in panel and label in panel and "请以现行有效的文件为准" in panel
    assert "not-in-force" not in current and "现行有效" in current


# --- the real app in a browser ---------------------------------------------------------------------

HOT = "中试平台建设有哪些支持措施？"
LAW_TITLE = "中华人民共和国促进科技成果转化法"
WIDE, NARROW = 1400, 390


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
def served(library_index: Settings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, RecordingAssistant]]:
    """The whole app (API + pages) under uvicorn on a free loopback port, with a log of its own
    holding one reviewed answer (热点问题). No review token is configured."""
    from assistant.api.app import create_app
    from assistant.review.auth import Principal, Role
    from assistant.review.schemas import VerdictRequest

    settings = library_index.model_copy(update={"data_dir": tmp_path_factory.mktemp("ui") / "data"})
    assistant = RecordingAssistant(settings)
    hot = Assistant.ask(assistant, HOT)
    assert hot.answer_id and not hot.refused
    assistant.review.verdict(hot.answer_id, Principal("测试专员", Role.LIAISON), VerdictRequest(verdict="correct"))
    with serve_in_thread(create_app(settings, assistant=assistant)) as url:
        yield url, assistant
    assistant.review.close()


@pytest.fixture(scope="module")
def wide(browser: Any) -> Iterator[Any]:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)  # a loaded machine parses Swagger UI's 1.4 MB slowly
    context = browser.new_context(viewport={"width": WIDE, "height": 1000}, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture(scope="module")
def narrow(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": NARROW, "height": 844}, locale="zh-CN", is_mobile=True,
                                  has_touch=True, device_scale_factor=1)
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


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

# Where each part of the enquiry page starts on the page (not the screen: the question box sticks).
LAYOUT_TOPS = """() => {
  const top = id => { const el = document.getElementById(id); return el.getBoundingClientRect().top + scrollY; };
  const chat = document.getElementById('chat').getBoundingClientRect();
  return {'chat-bottom': chat.bottom + scrollY, citations: top('citations'), feedback: top('feedback'),
          handoff: top('handoff'), 'conversation-row': top('conversation-row')};
}"""

# Controls without an accessible name (label, aria-label, text or title).
UNLABELLED = """() => [...document.querySelectorAll('button, input:not([type=hidden]), textarea, select, a[href]')]
  .filter(el => el.offsetParent !== null)
  .filter(el => !((el.getAttribute('aria-label') || '').trim() || (el.labels && el.labels.length
                  && el.labels[0].innerText.trim()) || el.innerText.trim() || (el.title || '').trim()
                  || el.getAttribute('aria-labelledby')))
  .map(el => el.outerHTML.slice(0, 160))"""


def _wait_done(page: Any, turn: int) -> str:
    from playwright.sync_api import expect

    bots = page.locator('#chat [data-testid="bot"]')
    expect(bots).to_have_count(turn, timeout=TIMEOUT_MS)
    expect(bots.nth(turn - 1)).not_to_have_text(SEARCHING, timeout=TIMEOUT_MS)
    expect(page.locator('#citations .citations[data-state="done"]')).to_have_count(1, timeout=TIMEOUT_MS)
    text: str = bots.nth(turn - 1).inner_text()
    return text


def _ask(page: Any, question: str, turn: int) -> str:
    """Type and send a question; wait until the `turn`-th answer has finished streaming."""
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()
    return _wait_done(page, turn)


def _no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def _open(context: Any, url: str) -> Any:
    page = context.new_page()
    page.goto(url)
    page.locator("#question textarea").wait_for()
    return page


@pytest.mark.browser
def test_chat_streams_a_cited_answer_with_its_sources_related_and_history(
    served: tuple[str, RecordingAssistant], wide: Any, screens: Any
) -> None:
    from playwright.sync_api import expect

    url, assistant = served
    page = _open(wide, url)
    for section, needle in (("#examples", "？"), ("#popular", HOT)):
        expect(page.locator(section)).to_contain_text(needle)  # from the corpus / from the review log
    assert not page.locator("footer:visible").count()
    body = page.locator("body").inner_text()
    assert "Gradio" not in body and "通过 API" not in body and "审核" not in page.locator("#intro").inner_text()
    page.evaluate(WATCH_STREAM)

    # Keyboard only: the question box has the focus; type, Enter.
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    answer = _wait_done(page, 1)
    assert "25" in answer and "[1]" in answer, answer
    partials = [p for p in page.evaluate("window.__partials") if p.strip() and p != SEARCHING]
    assert len(partials) >= min(2, answer.count("[")), partials  # streamed part by part, not all at once
    assert all(answer.startswith(p) and re.search(r"\[\d+\]$", p) for p in partials), partials

    card = page.locator("#citations .citation-card").filter(has_text="一、工作开展情况").first
    expect(card.locator(".title")).to_contain_text(SEED_TITLE)
    marks = card.locator(".passage mark").all_inner_texts()
    assert marks and any("25" in m for m in marks), marks
    plain = re.sub(r"\[\d+\]", "", answer)
    assert all(m in plain for m in marks), (marks, answer)  # highlighted = the sentences cited
    expect(page.locator("#related")).to_contain_text(LAW_TITLE)  # another document, not the cited one
    expect(page.locator("#related")).not_to_contain_text(SEED_TITLE)
    expect(page.locator("#history")).to_contain_text(QUESTION)
    assert page.evaluate(UNLABELLED) == []
    screens(page, "enquiry-answer-1400")

    # Open the source with the keyboard: Tab to the card's link, Enter; the document page shows the
    # whole text, the cited passage marked and scrolled into view.
    for _ in range(60):
        if page.evaluate("document.activeElement.classList.contains('open-document')"):
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").startswith("查看《")
    with wide.expect_page() as opened:
        page.keyboard.press("Enter")
    document = opened.value
    document.wait_for_load_state()
    cited = document.locator(".passage.cited")
    expect(cited).to_have_count(1)
    expect(cited).to_be_in_viewport()
    cited_marks = cited.locator("mark").all_inner_texts()
    assert any("25" in m for m in cited_marks), cited_marks
    expect(document.locator("h1")).to_contain_text(SEED_TITLE)
    expect(document.locator("dl.meta")).to_contain_text("天津市人民政府")
    expect(document.locator("a[download]")).to_have_text("下载原文件")
    screens(document, "document-1400")
    document.close()

    # A follow-up in the same page is the same conversation.
    follow_up = _ask(page, FOLLOW_UP, 2)
    (_, first_id, first), (_, second_id, second) = assistant.calls[-2:]
    assert first_id is None and second_id == first.conversation_id
    assert not second.refused and re.sub(r"\s", "", follow_up) == re.sub(r"\s", "", second.answer)

    # Type-ahead while typing: pick a suggestion and it is asked.
    page.locator("#question textarea").press_sequentially("概念验证", delay=30)
    hint = page.locator("#suggestions button").filter(has_text="加强概念验证平台布局建设")
    expect(hint).to_be_visible()
    hint.click()
    _wait_done(page, 3)
    assert assistant.calls[-1][0] == "加强概念验证平台布局建设"

    # 热点问题 asks the reviewed question, answered from the liaison's review.
    page.locator("#popular button").filter(has_text=HOT).click()
    _wait_done(page, 4)
    assert assistant.calls[-1][0] == HOT and assistant.calls[-1][2].reviewed
    expect(page.locator("#citations .notice.reviewed")).to_be_visible()

    # The history lives in this browser: a fresh page lists it, newest first, and asks again on a click.
    page.close()
    again = _open(wide, url)
    history = again.locator("#history button")
    expect(history.first).to_have_text(HOT)
    expect(again.locator("#history")).to_contain_text(QUESTION)
    history.filter(has_text=QUESTION).click()
    _wait_done(again, 1)
    assert assistant.calls[-1][0] == QUESTION
    again.locator("#history-clear").click()
    expect(again.locator("#history")).to_be_hidden()
    again.close()


@pytest.mark.browser
@pytest.mark.parametrize("width", [WIDE, NARROW])
def test_a_refusal_offers_the_handoff_first(served: tuple[str, RecordingAssistant], wide: Any, narrow: Any,
                                           screens: Any, width: int) -> None:
    from playwright.sync_api import expect

    url, assistant = served
    page = _open(wide if width == WIDE else narrow, url)
    refusal = _ask(page, OFF_TOPIC, 1)
    _, _, response = assistant.calls[-1]
    assert response.refused and re.sub(r"\s", "", refusal) == re.sub(r"\s", "", response.answer)
    expect(page.locator('#chat [data-testid="user"]')).to_contain_text("<b>x</b>")  # shown, not rendered
    assert page.locator('#chat [data-testid="user"] b').count() == 0

    contact = page.get_by_label("联系方式（电话或邮箱）")
    expect(contact).to_be_visible()  # the hand-off is open, right under the answer
    chat_box, contact_box = page.locator("#chat").bounding_box(), contact.bounding_box()
    question_box = page.locator("#question textarea").bounding_box()
    assert chat_box["y"] + chat_box["height"] <= contact_box["y"] < question_box["y"]
    expect(page.locator("#citations .notice.refusal")).to_contain_text("转交服务专员")
    related = page.locator("#citations details.related-passages")
    if response.citations:
        expect(related.locator(".citation-card").first).to_be_hidden()  # collapsed
    _no_horizontal_scroll(page)
    screens(page, f"enquiry-refusal-{width}")

    page.locator("#handoff-send").click()
    expect(page.locator("#handoff-status")).to_contain_text("请填写联系方式")
    contact.fill("022-12345678（测试）")
    page.locator("#handoff-send").click()
    expect(page.locator("#handoff-status")).to_contain_text("已转交")
    handoffs = assistant.review.conversation_handoffs(response.conversation_id).handoffs
    assert [h.question for h in handoffs] == [OFF_TOPIC]
    page.close()


@pytest.mark.browser
def test_narrow_screen_reads_the_answer_and_its_document_without_scrolling_sideways(
    served: tuple[str, RecordingAssistant], narrow: Any, screens: Any
) -> None:
    from playwright.sync_api import expect

    url, _ = served
    page = _open(narrow, url)
    for control in ("#feedback-up", "#feedback-down", "#feedback-comment"):
        expect(page.locator(control)).to_be_hidden()  # nothing to rate yet
    _ask(page, QUESTION, 1)
    for control in ("#feedback-up", "#feedback-down", "#feedback-comment"):
        expect(page.locator(control)).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    # The evidence sits right under the answer and is on the screen with it; rating, the new
    # conversation and the hand-off come after it.
    top = page.evaluate(LAYOUT_TOPS)
    assert 0 <= top["citations"] - top["chat-bottom"] < 40, top
    assert top["citations"] < top["feedback"] < top["handoff"] and top["citations"] < top["conversation-row"], top
    card = page.locator("#citations .citation-card").first
    header = card.locator("header").bounding_box()
    asking = page.locator("#ask-row").bounding_box()  # kept in reach at the bottom of the screen
    assert header["y"] + header["height"] <= asking["y"] <= page.viewport_size["height"] - asking["height"] + 1, (
        header, asking)
    expect(card.locator(".title")).to_be_in_viewport()
    screens(page, "enquiry-answer-390-screen", full_page=False)  # what the phone shows after the answer
    card.scroll_into_view_if_needed()
    box = card.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= NARROW, box
    _no_horizontal_scroll(page)
    assert page.evaluate(UNLABELLED) == []
    # A full-page capture paints the sticky question box where the screen's bottom was: unstick it
    # for the whole-page picture (the screen's own view is enquiry-answer-390-screen).
    page.add_style_tag(content="#layout #ask-row { position: static !important; box-shadow: none !important; }")
    screens(page, "enquiry-answer-390")
    href = card.locator("a.open-document").get_attribute("href")
    document = narrow.new_page()
    document.goto(url + href)
    expect(document.locator(".passage.cited")).to_be_in_viewport()
    _no_horizontal_scroll(document)
    screens(document, "document-390")
    document.close()
    page.locator("#new-conversation").click()
    expect(page.locator("#feedback-up")).to_be_hidden()  # a new conversation has nothing to rate
    page.close()


@pytest.mark.browser
def test_everything_is_chinese_even_in_an_english_browser(served: tuple[str, RecordingAssistant],
                                                         browser: Any) -> None:
    url, assistant = served
    context = browser.new_context(viewport={"width": WIDE, "height": 1000}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = _open(context, url)
    _ask(page, QUESTION, 1)
    page.locator("#feedback-up").click()
    page.locator("#feedback-status").filter(has_text="感谢").wait_for()
    names = page.evaluate("""() => [...document.querySelectorAll('button, textarea, input, a')]
        .map(el => (el.getAttribute('aria-label') || '') + ' ' + (el.innerText || '') + ' ' + (el.title || ''))""")
    text = page.locator("body").inner_text() + " ".join(names)
    policy_words = set(re.findall(r"[A-Za-z]{3,}", " ".join(
        d.page_content for d in assistant.index.snapshot().chunks)))  # quoted policy text may hold some
    latin = set(re.findall(r"[A-Za-z]{3,}", text)) - policy_words
    assert not latin, latin
    context.close()


@pytest.mark.browser
def test_feedback_and_handoff_from_the_chat_reach_the_liaison_and_back(
    served: tuple[str, RecordingAssistant], wide: Any
) -> None:
    from playwright.sync_api import expect

    from assistant.review.auth import Principal, Role

    url, assistant = served
    page = _open(wide, url)
    expect(page.locator("#feedback-down")).to_be_hidden()  # shown once there is an answer to rate
    _ask(page, "天津设置了多少名服务专员？", 1)
    _, _, response = assistant.calls[-1]
    assert response.answer_id

    page.locator("#feedback-comment textarea").fill("想知道担保的申请条件")
    page.locator("#feedback-down").click()
    expect(page.locator("#feedback-status")).to_contain_text("感谢反馈")
    item = assistant.review.item(response.answer_id)
    assert any(f.helpful is False and "申请条件" in f.comment for f in item.feedback), item.feedback

    page.locator("#handoff button").first.click()  # open the accordion
    page.get_by_label("联系方式（电话或邮箱）").fill("022-12345678（测试）")
    page.locator("#handoff-send").click()
    expect(page.locator("#handoff-status")).to_contain_text("已转交")
    handoffs = assistant.review.conversation_handoffs(response.conversation_id).handoffs
    assert len(handoffs) == 1 and handoffs[0].status == "open"
    expect(page.locator("#handoff-replies")).to_contain_text("答复后会显示")

    assistant.review.reply_handoff(handoffs[0].id, Principal("测试专员", Role.LIAISON),
                                   "（测试答复）请联系市科技局了解担保申请条件。", [])
    page.locator("#handoff-refresh").click()
    expect(page.locator("#handoff-replies")).to_contain_text("请联系市科技局了解担保申请条件")
    page.close()


@pytest.mark.browser
@pytest.mark.parametrize("width", [WIDE, NARROW])
def test_review_page_without_tokens_says_how_to_set_it_up(served: tuple[str, RecordingAssistant], wide: Any,
                                                          narrow: Any, screens: Any, width: int) -> None:
    from playwright.sync_api import expect

    url, _ = served
    page = (wide if width == WIDE else narrow).new_page()
    page.goto(url + "review/")
    expect(page.locator("#review-not-set-up")).to_contain_text("审核功能尚未启用")
    expect(page.locator("#review-not-set-up")).to_contain_text("ASSISTANT_LIAISON_TOKENS")
    assert page.locator("input, textarea, button:visible").count() == 0
    _no_horizontal_scroll(page)
    screens(page, f"review-not-set-up-{width}")
    page.close()


@pytest.mark.browser
def test_api_docs_work_without_internet(served: tuple[str, RecordingAssistant], wide: Any) -> None:
    from playwright.sync_api import expect

    url, _ = served
    page = wide.new_page()
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(url + "docs")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.locator(".opblock-summary-path").filter(has_text="/api/ask")).to_have_count(1)
    assert outside == []
    page.goto(url + "redoc")
    expect(page.get_by_text("The whole indexed text of one document").first).to_be_attached()
    # ReDoc's only outside request is its vendor's logo in the sidebar credit; the page works without it.
    assert all(u.startswith("https://cdn.redoc.ly/") and u.endswith(".svg") for u in outside), outside
    page.close()
