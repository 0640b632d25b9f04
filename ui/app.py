"""The enquiry page at /: streamed answers with cited passages, the documents they come from one
click away, and what a service centre's Q&A offers around them (type-ahead, 热点问题, the user's own
question history in this browser, related documents, a hand-off to a liaison under a refusal).

`build_ui(assistant)` returns the Blocks that `ui.mount.mount_pages` mounts at "/". Every value
shown comes from policy texts or from users and is escaped: it is data, never markup. Every event
is private (no API name is published; ui/guard.py refuses calls by name), and the events in
RATE_GROUPS count against the API's per-address budgets (ui/guard.py QueueDoor).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from assistant.answer.base import Delta
from assistant.answer.conversation import Conversation
from assistant.catalog import (
    document_id,
    heading_name,
    passage_id,
    passage_path,
    related_documents,
    suggestions,
)
from assistant.errors import AssistantError, UnknownConversationError
from assistant.numerals import ORDINAL
from assistant.review.popular import popular_questions, reviewed_questions
from assistant.service import Assistant
from assistant.types import Answer, Citation, DocumentInfo
from ui.markup import esc, highlight
from ui.messages import message_for, question_error

log = logging.getLogger(__name__)

TITLE = "政策咨询助手"
INTRO = (
    f'<header class="site"><h1>{TITLE}</h1>'
    "<p>根据已收录的政策文件回答您的问题。答复中的每一句都标注了出处编号（如 [1]），"
    "下方列出对应的政策原文段落，可打开文件全文查看。找不到依据时不作答，您可以转交服务专员人工解答。</p></header>"
)
PLACEHOLDER = "请输入您想咨询的政策问题，按回车或点击“发送”"
SEARCHING = "正在查找相关政策条文…"
EXPIRED = "之前的对话已过期，已为您开始新的对话。"
STREAM_DELAY = 0.04  # seconds between streamed parts of an answer
CONCURRENCY = 8  # answers computed at the same time, across all browser sessions
HISTORY_KEY = "policy-assistant-history"
HISTORY_SIZE = 20
# The page's events that count against the API's per-address budgets (ui/guard.py QueueDoor, by the
# name of the event's function): an answer asked for in the chat is a question, as /api/ask is one;
# a hand-off or a rating is a report, as /api/handoff and /api/feedback are.
RATE_GROUPS = {"respond": "questions", "handoff": "reports", "rate_helpful": "reports",
               "rate_unhelpful": "reports"}
HANDOFF_CLOSED = "需要人工解答？转交服务专员"
HANDOFF_OPEN = "没有找到答案：转交服务专员人工解答"

_ITEM = re.compile(rf"^{ORDINAL}是([^。；;，,：:\n]{{4,24}})。", re.M)
_VERBS = ("加强", "推进", "推动", "完善", "发展", "建立", "建设", "优化", "支持", "强化", "提升", "加快", "深化",
          "畅通", "落实", "健全", "促进", "扩大", "培育", "构建", "实施", "开展", "做好", "充分", "打造", "鼓励")

# Page-wide CSS (passed to mount_gradio_app): no framework footer, readable at 390 px.
PAGE_CSS = """
footer, .footer, gradio-app footer { display: none !important; }
.gradio-container { max-width: 1280px !important; }
/* clip, not hidden: a scroll container would stop the question box sticking on a phone (this rule is
   top-level: Gradio scopes rules inside @media to descendants of the container, not to itself) */
.gradio-container { overflow: clip !important; }
header.site h1 { font-size: 24px; margin: 0 0 4px 0; }
header.site p { margin: 0; color: var(--body-text-color-subdued); }
#chat .message { overflow-wrap: anywhere; }
.lists button { text-align: left; }
@media (max-width: 640px) {
  .gradio-container { padding: 0 6px !important; }
  #chat { height: 360px !important; }
  header.site h1 { font-size: 20px; }
  /* One column on a phone, in reading order: the answer, its evidence right below it, then the
     question box (kept in reach at the bottom of the screen), then rating, new conversation and the
     hand-off; under a refusal the hand-off comes right after the refusal notice, and the question
     box stays in its place so as not to cover the contact field. */
  #layout { flex-direction: column !important; flex-wrap: nowrap !important; align-items: stretch !important; }
  #layout > .column { display: contents !important; }
  #layout > .column > * { order: 20; }
  #layout #chat { order: 1; }
  #layout #citations { order: 2; }
  #layout #related { order: 3; }
  #layout #ask-row { order: 5; position: sticky; bottom: 0; z-index: 5; padding: 6px 0;
    background: var(--body-background-fill); box-shadow: 0 -6px 8px -6px rgba(0, 0, 0, 0.25); }
  #layout #suggestions { order: 6; }
  #layout #feedback { order: 7; }
  #layout #conversation-row { order: 8; }
  #layout #handoff { order: 9; }
  #layout:has(#citations .notice.refusal) #handoff { order: 4; }
  #layout:has(#citations .notice.refusal) #ask-row { position: static; box-shadow: none; }
}
"""

CSS = """
.citations { display: flex; flex-direction: column; gap: 10px; font-size: 15px; line-height: 1.7;
  overflow-wrap: anywhere; }
.citations-head { font-weight: 600; font-size: 15px; }
.hint { color: var(--body-text-color-subdued); margin: 4px 0; }
.notice { border-radius: 6px; padding: 8px 10px; }
.notice.refusal { background: #fff4e5; color: #6b3900; border: 1px solid #f3c98b; }
.notice.reviewed { background: #e8f5e9; color: #1b5e20; border: 1px solid #a5d6a7; }
.notice.error { background: #fdecea; color: #8a1c1c; border: 1px solid #f5b7b1; }
details.related-passages summary { cursor: pointer; font-weight: 600; padding: 4px 0; }
details.related-passages[open] summary { margin-bottom: 8px; }
.citation-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
  background: var(--block-background-fill); }
.citation-card.not-in-force { border-color: #b3261e; border-left-width: 5px; }
.citation-card header { display: flex; gap: 6px; align-items: baseline; flex-wrap: wrap; font-weight: 600; }
.citation-card .n { color: var(--color-accent); }
.citation-card .tag { font-size: 12px; font-weight: 400; border-radius: 4px; padding: 0 6px; }
.citation-card .tag.related { background: #eef2f7; color: #38506b; }
.citation-card .status { font-size: 12px; border-radius: 4px; padding: 0 6px; font-weight: 600; }
.citation-card .status.in-force { background: #e8f5e9; color: #1b5e20; }
.citation-card .status.not-in-force { background: #b3261e; color: #ffffff; }
.citation-card .warning { color: #b3261e; font-size: 13px; margin-top: 4px; }
.citation-card .meta { display: flex; flex-wrap: wrap; gap: 2px 14px; margin: 6px 0 0 0; font-size: 13px;
  color: var(--body-text-color-subdued); }
.citation-card .meta .label { margin-right: 4px; }
.citation-card .locator { margin-top: 4px; font-size: 13px; }
.citation-card .passage { margin-top: 8px; white-space: pre-wrap; word-break: break-word; max-height: 320px;
  overflow-y: auto; padding-top: 6px; border-top: 1px dashed var(--border-color-primary); }
.citation-card .links { display: flex; flex-wrap: wrap; justify-content: flex-start; text-align: left; gap: 4px 16px;
  margin-top: 8px; font-size: 14px; }
.citation-card a, .related-docs a { color: var(--color-accent); text-decoration: underline; text-align: left; }
.citation-card a:focus-visible, .related-docs a:focus-visible { outline: 3px solid #f0a020; outline-offset: 2px; }
.citation-card mark { background: #ffe58f; color: #1f1f1f; padding: 0 1px; border-radius: 2px; }
.related-docs { font-size: 15px; line-height: 1.7; }
.related-docs h2 { font-size: 15px; margin: 4px 0; }
.related-docs ul { margin: 0; padding-left: 1.2em; }
.related-docs .where { color: var(--body-text-color-subdued); font-size: 13px; }
"""


# --- citation cards --------------------------------------------------------------------------------

Link = Callable[[Citation], str | None]


def _status(document: DocumentInfo) -> str:
    if not document.in_force:
        label = document.status or "已失效"
        return f'<span class="status not-in-force" title="该文件已不再有效">{esc(label)}</span>'
    if document.status:
        return f'<span class="status in-force">{esc(document.status)}</span>'
    return ""


def document_link(citation: Citation, chunk_id: str | None) -> str:
    """The document page of a citation, scrolled to its passage with the cited sentences marked."""
    return passage_path(document_id(citation.document.source), chunk_id, citation.highlights)


def citation_card(citation: Citation, related: bool = False, link: Link | None = None) -> str:
    doc = citation.document
    current = doc.in_force
    label = '<span class="tag related">可能相关</span>' if related else ""
    meta = [("文号", doc.doc_number), ("发布机关", doc.issuer), ("日期", doc.date)]
    meta_html = "".join(
        f'<span class="field"><span class="label">{name}：</span>{esc(value)}</span>' for name, value in meta if value
    )
    warning = ("" if current else
               '<div class="warning">该文件已废止或被替代，以下内容仅供参考，请以现行有效的文件为准。</div>')
    classes = "citation-card" + ("" if current else " not-in-force") + (" related" if related else "")
    href = link(citation) if link else None
    links = ""
    if href:
        doc_id = document_id(doc.source)
        links = (f'<div class="links"><a class="open-document" href="{esc(href)}" target="_blank" rel="noopener">'
                 f"查看《{esc(doc.title)}》全文</a>"
                 f'<a class="original" href="documents/{doc_id}/original" download>下载原文件</a></div>')
    return (
        f'<article class="{classes}" data-n="{int(citation.n)}" aria-label="出处 {int(citation.n)}">'
        f'<header><span class="n">[{int(citation.n)}]</span>{label}'
        f'<span class="title">《{esc(doc.title)}》</span>{_status(doc)}</header>'
        f"{warning}"
        f'<div class="meta">{meta_html}</div>'
        f'<div class="locator"><span class="label">位置：</span>{esc(citation.locator)}</div>'
        f'<div class="passage">{highlight(citation.text, citation.highlights)}</div>'
        f"{links}</article>"
    )


def _panel(body: str, state: str) -> str:
    return f'<div class="citations" data-state="{state}">{body}</div>'


def empty_panel() -> str:
    return _panel('<p class="hint">提问后，这里会显示答复所依据的政策原文段落，引用的句子以高亮标出。</p>', "empty")


def searching_panel() -> str:
    return _panel(f'<p class="hint">{SEARCHING}</p>', "searching")


def error_panel(message: str) -> str:
    return _panel(f'<div class="notice error" role="alert">{esc(message)}</div>', "error")


def citations_html(response: Answer, done: bool = True, link: Link | None = None) -> str:
    """The cards for one answer. A refusal says so and points to the hand-off; the passages it
    found (only those the answerer judged close enough) stay collapsed as 可能相关."""
    parts: list[str] = []
    if response.reviewed:
        parts.append('<div class="notice reviewed">该答复已经服务专员人工审核。</div>')
    if response.refused:
        parts.append('<div class="notice refusal" role="status">已收录的政策文件中没有找到能直接回答该问题的内容。'
                     "可以在对话下方填写联系方式，转交服务专员人工解答。</div>")
        # A refusal claims nothing: only the passages above the relevance floor, collapsed.
        related = response.related or response.citations
        if related:
            cards = "".join(citation_card(c, related=True, link=link) for c in related)
            parts.append(f'<details class="related-passages"><summary>可能相关的段落（{len(related)}），'
                         f"仅供参考</summary>{cards}</details>")
    elif response.citations:
        parts.append(f'<div class="citations-head">引用依据（{len(response.citations)}）</div>')
        parts.extend(citation_card(c, link=link) for c in response.citations)
    return _panel("".join(parts), "done" if done else "streaming")


def linker(assistant: Assistant) -> Link:
    """Links citations to their document pages in the live version (no passage anchor when the
    version changed since the answer)."""
    try:
        snapshot = assistant.index.snapshot()
    except AssistantError:
        return lambda c: None
    return lambda c: document_link(c, passage_id(snapshot, c.document.source, c.text))


def related_html(assistant: Assistant, response: Answer | None) -> str:
    """相关文件 under an answer: other documents close to the question, not already cited."""
    if response is None or response.refused:
        return ""
    cited = {c.document.source for c in response.citations}
    try:
        found = related_documents(assistant, response.query, cited)
    except AssistantError:
        return ""
    if not found:
        return ""
    items = "".join(
        f'<li><a href="documents/{esc(r.id)}" target="_blank" rel="noopener">《{esc(r.info.title)}》</a>'
        f' <span class="where">{esc(r.locator)}</span></li>' for r in found)
    return f'<section class="related-docs" aria-label="相关文件"><h2>相关文件</h2><ul>{items}</ul></section>'


# --- example questions -----------------------------------------------------------------------------

def _heading_name(locator: str) -> str | None:
    name = heading_name(locator.split(">")[0])
    return name if name and len(name) <= 20 else None


def example_questions(assistant: Assistant, limit: int = 6) -> list[str]:
    """Questions built from the indexed corpus: titles, headings and enumerated items (一是…)."""
    try:
        snapshot = assistant.index.snapshot()
    except Exception as err:  # an unreadable index must not stop the server from starting
        log.warning("no example questions: %s", err)
        return []
    documents = sorted(snapshot.documents.values(), key=lambda d: d.date or "", reverse=True)
    single = len(documents) == 1
    headings: dict[str, list[str]] = {}
    items: dict[str, list[str]] = {}
    for chunk in snapshot.chunks:
        source = chunk.metadata.get("source", "")
        name = _heading_name(str(chunk.metadata.get("locator", "")))
        if name and name not in headings.setdefault(source, []):
            headings[source].append(name)
        for item in _ITEM.findall(chunk.page_content):
            if item not in items.setdefault(source, []):
                items[source].append(item)

    rounds: list[list[str]] = [[], [], []]
    for doc in documents[:limit]:
        where = "" if single else f"《{doc.title}》中"
        rounds[0].append(f"《{doc.title}》的主要内容是什么？")
        rounds[1].extend(f"{where}“{name}”部分讲了什么？" for name in headings.get(doc.source, [])[:3])
        for item in items.get(doc.source, [])[:3]:
            rounds[2].append(f"{where}如何{item}？" if item.startswith(_VERBS) else f"{where}{item}有哪些内容？")
    # Interleave so that each kind is represented before the list is cut. The examples are not tried
    # against the assistant here: every answer it gives is logged for the liaisons' review.
    questions: list[str] = []
    while any(rounds) and len(questions) < limit:
        for queue in rounds:
            if queue and (question := queue.pop(0)) not in questions and len(questions) < limit:
                questions.append(question)
    return questions


# --- answering -------------------------------------------------------------------------------------

def _conversation(assistant: Assistant, conversation_id: str | None) -> Conversation:
    try:
        return assistant.conversations.get(conversation_id)
    except UnknownConversationError:  # evicted or the server restarted: carry on in a new conversation
        gr.Info(EXPIRED)
        return assistant.conversations.get(None)


def _message(role: str, text: str) -> dict[str, str]:
    """A chat message showing `text` as written: the chatbot renders HTML, so it is escaped."""
    return {"role": role, "content": esc(text)}


def _handoff_box(refused: bool) -> Any:
    return gr.Accordion(label=HANDOFF_OPEN if refused else HANDOFF_CLOSED, open=refused)


def _feedback_box(answer_id: int | None) -> Any:
    """The feedback controls: shown only while there is a logged answer to rate."""
    return gr.Column(visible=answer_id is not None)


def make_respond(assistant: Assistant) -> Callable[..., Iterator[tuple[Any, ...]]]:
    def respond(message: str, history: list[dict[str, Any]] | None, conversation_id: str | None
                ) -> Iterator[tuple[Any, ...]]:
        """Yields (chat, citations, conversation_id, question box, answer id, last answer, hand-off box,
        feedback controls, feedback status)."""
        history = list(history or [])
        question = (message or "").strip()
        if not question:
            yield history, gr.skip(), conversation_id, "", gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        history.append(_message("user", question))
        history.append(_message("assistant", SEARCHING))
        yield (history, searching_panel(), conversation_id, "", None, None, _handoff_box(False), _feedback_box(None),
               "")
        shown = ""
        try:
            question = assistant.check_question(question)
            conversation = _conversation(assistant, conversation_id)
            for event in assistant.answer_stream(question, conversation):
                if isinstance(event, Delta) and event.text:  # the answer's parts, as they are produced
                    shown += event.text
                    history[-1] = _message("assistant", shown)
                    yield history, gr.skip(), conversation.id, "", None, gr.skip(), gr.skip(), gr.skip(), gr.skip()
                    time.sleep(STREAM_DELAY)
                elif isinstance(event, Answer):
                    history[-1] = _message("assistant", event.answer)
                    yield (history, citations_html(event, link=linker(assistant)), event.conversation_id, "",
                           event.answer_id, event.model_dump(mode="json"), _handoff_box(event.refused),
                           _feedback_box(event.answer_id), "")
        except AssistantError as err:
            text = question_error(err, question, assistant.settings.max_question_chars)
            history[-1] = _message("assistant", text)
            yield history, error_panel(text), conversation_id, "", None, None, gr.skip(), _feedback_box(None), ""
        except Exception:
            log.exception("answering %r failed", question[:200])
            text = "系统出错，暂时无法回答，请稍后再试。"
            history[-1] = _message("assistant", text)
            yield history, error_panel(text), conversation_id, "", None, None, gr.skip(), _feedback_box(None), ""

    return respond


def handoffs_html(assistant: Assistant, conversation_id: str | None) -> str:
    """The questions this conversation passed to liaisons, and their replies (escaped)."""
    if not conversation_id or not assistant.review.enabled:
        return ""
    try:
        items = assistant.review.conversation_handoffs(conversation_id).handoffs
    except Exception:
        log.exception("hand-offs of %s unavailable", conversation_id)
        return "<div class='notice error'>暂时无法查看服务专员的答复，请稍后再试。</div>"
    if not items:
        return ""
    rows = []
    for item in items:
        if item.reply is None:
            body = "<div class='handoff-open'>已转交服务专员，答复后会显示在这里。</div>"
        else:
            refs = "".join(f"<div class='handoff-ref'>[{c.n}] 《{esc(c.document.title)}》 {esc(c.locator)}</div>"
                           for c in item.reply.citations)
            body = (f"<div class='handoff-reply'><b>服务专员答复：</b>{esc(item.reply.answer)}</div>{refs}")
        rows.append(f"<div class='handoff'><div><b>问题：</b>{esc(item.question)}</div>{body}</div>")
    return "<div id='handoff-list'>" + "".join(rows) + "</div>"


def make_feedback(assistant: Assistant) -> Callable[..., str]:
    def feedback(helpful: bool, answer_id: int | None, conversation_id: str | None, comment: str) -> str:
        if not answer_id or not assistant.review.enabled:
            return "请先提问，再对答复作出评价。"
        try:
            assistant.review.feedback(int(answer_id), helpful, (comment or "").strip()[:2000] or None,
                                      conversation_id)
        except AssistantError as err:
            return message_for(err, "记录评价")
        except Exception:
            log.exception("feedback on %s failed", answer_id)
            return "未能记录评价，请稍后再试。"
        return "感谢您的评价，已记录。" if helpful else "感谢反馈，服务专员会查看这条答复。"

    return feedback


def make_handoff(assistant: Assistant) -> Callable[..., tuple[str, str]]:
    def handoff(contact: str, answer_id: int | None, conversation_id: str | None) -> tuple[str, str]:
        if not answer_id or not assistant.review.enabled:
            return "请先提问，再转交服务专员。", gr.skip()
        contact = (contact or "").strip()
        if not contact:
            return "请填写联系方式（电话或邮箱），服务专员答复时会用到。", gr.skip()
        if len(contact) > 200:
            return "联系方式太长，请只填写电话或邮箱。", gr.skip()
        try:
            assistant.review.handoff(contact, answer_id=int(answer_id), conversation_id=conversation_id)
        except AssistantError as err:
            return message_for(err, "转交"), gr.skip()
        except Exception:
            log.exception("hand-off of %s failed", answer_id)
            return "未能转交，请稍后再试。", gr.skip()
        return "已转交服务专员，答复后会显示在下方。", handoffs_html(assistant, conversation_id)

    return handoff


# --- lists around the question box -----------------------------------------------------------------

def _samples(questions: list[str]) -> Any:
    return gr.Dataset(samples=[[q] for q in questions], visible=bool(questions))


def remember(history: list[str] | None, question: str) -> list[str]:
    """This browser's questions, newest first, each once."""
    question = (question or "").strip()
    past = [q for q in (history or []) if isinstance(q, str) and q != question]
    return ([question] if question else []) + past[: HISTORY_SIZE - 1]


def make_lists(assistant: Assistant) -> tuple[Callable[[], list[str]], Callable[[str], Any]]:
    def popular() -> list[str]:
        if not assistant.review.enabled:
            return []
        try:
            return [q for q, _ in popular_questions(assistant.review.log, 6)]
        except Exception:
            log.exception("热点问题 unavailable")
            return []

    def suggest(typed: str) -> Any:
        try:
            reviewed = reviewed_questions(assistant.review.log) if assistant.review.enabled else []
            return _samples(suggestions(assistant, typed or "", reviewed))
        except Exception:
            log.exception("suggestions unavailable")
            return _samples([])

    return popular, suggest


# --- the page --------------------------------------------------------------------------------------

def build_ui(assistant: Assistant) -> gr.Blocks:
    respond = make_respond(assistant)
    popular, suggest = make_lists(assistant)
    # No progress overlay: Gradio writes it in English ("processing"); the pages say what they do.
    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.HTML(INTRO, elem_id="intro", js_on_load=None)
        with gr.Row(equal_height=False, elem_id="layout"):
            with gr.Column(scale=3, min_width=300):
                chat = gr.Chatbot(
                    label="对话", elem_id="chat", height=520, render_markdown=False, sanitize_html=True,
                    allow_tags=False, buttons=["copy"], feedback_options=None, autoscroll=True,
                    placeholder="您好！请在下方输入政策相关的问题，例如申请条件、支持措施、工作安排等。",
                )
                with gr.Accordion(HANDOFF_CLOSED, open=False, elem_id="handoff") as handoff_box:
                    contact = gr.Textbox(label="联系方式（电话或邮箱）", elem_id="handoff-contact", max_lines=1,
                                         placeholder="例如 022-12345678 或 name@example.com")
                    with gr.Row():
                        handoff_send = gr.Button("转交最近一个问题", elem_id="handoff-send", size="sm",
                                                 variant="primary")
                        refresh = gr.Button("查看服务专员答复", elem_id="handoff-refresh", size="sm")
                    handoff_status = gr.Markdown("", elem_id="handoff-status")
                    replies = gr.HTML("", elem_id="handoff-replies", js_on_load=None)
                with gr.Row(equal_height=True, elem_id="ask-row"):
                    question = gr.Textbox(label="您的问题", placeholder=PLACEHOLDER, elem_id="question",
                                          lines=1, max_lines=6, scale=6, autofocus=True, show_label=False)
                    send = gr.Button("发送", variant="primary", elem_id="send", scale=1, min_width=72)
                hints = gr.Dataset(components=[question], samples=[], label="输入提示", elem_id="suggestions",
                                   visible=False, elem_classes="lists", samples_per_page=6)
                # Rating needs an answer: hidden until one is logged (respond shows it).
                with gr.Column(visible=False, elem_id="feedback") as feedback_box:
                    with gr.Row():
                        up = gr.Button("有帮助", elem_id="feedback-up", size="sm", min_width=72)
                        down = gr.Button("没帮助", elem_id="feedback-down", size="sm", min_width=72)
                    comment = gr.Textbox(label="评价说明（可选）", placeholder="说明哪里不对或缺了什么",
                                         elem_id="feedback-comment", max_lines=3)
                    feedback_status = gr.Markdown("", elem_id="feedback-status")
                with gr.Row(elem_id="conversation-row"):
                    new = gr.Button("开始新对话", elem_id="new-conversation", size="sm", variant="secondary",
                                    min_width=96)
            with gr.Column(scale=2, min_width=300):
                citations = gr.HTML(empty_panel(), elem_id="citations", css_template=CSS, js_on_load=None,
                                    padding=True)
                related = gr.HTML("", elem_id="related", css_template=CSS, js_on_load=None, padding=True)
        with gr.Row(equal_height=False, elem_id="lists"):
            with gr.Column(min_width=300):
                hot = gr.Dataset(components=[question], samples=[], label="热点问题（经服务专员审核）",
                                 elem_id="popular", visible=False, elem_classes="lists")
                examples = gr.Dataset(components=[question], samples=[], label="示例问题", elem_id="examples",
                                      visible=False, elem_classes="lists")
            with gr.Column(min_width=300):
                mine = gr.Dataset(components=[question], samples=[], label="我的提问记录（仅保存在本浏览器）",
                                  elem_id="history", visible=False, elem_classes="lists")
                forget = gr.Button("清除提问记录", elem_id="history-clear", size="sm", variant="secondary")
        conversation = gr.State(None)
        answer_id = gr.State(None)
        last = gr.State(None)
        history = gr.BrowserState([], storage_key=HISTORY_KEY, secret="policy-assistant-history-v1")

        outputs = [chat, citations, conversation, question, answer_id, last, handoff_box, feedback_box,
                   feedback_status]

        def after(response: dict[str, Any] | None, conversation_id: str | None) -> tuple[str, str]:
            parsed = Answer.model_validate(response) if response else None
            return related_html(assistant, parsed), handoffs_html(assistant, conversation_id)

        def ask_chain(event: Any) -> None:
            event.then(after, inputs=[last, conversation], outputs=[related, replies],
                       **private)

        def record(question_text: str, past: list[str] | None) -> tuple[list[str], Any]:
            updated = remember(past, question_text)
            return updated, _samples(updated)

        for trigger in (send.click, question.submit):
            recorded = trigger(record, inputs=[question, history], outputs=[history, mine],
                               **private)
            ask_chain(recorded.then(respond, inputs=[question, chat, conversation], outputs=outputs,
                                    concurrency_limit=CONCURRENCY, concurrency_id="answer", **private))

        for listing in (hot, examples, mine, hints):
            picked = listing.click(lambda sample: sample[0] if sample else "", inputs=[listing], outputs=[question], **private)
            recorded = picked.then(record, inputs=[question, history], outputs=[history, mine], **private)
            ask_chain(recorded.then(respond, inputs=[question, chat, conversation], outputs=outputs,
                                    concurrency_limit=CONCURRENCY, concurrency_id="answer", **private))
        hints_update = question.input(suggest, inputs=[question], outputs=[hints], trigger_mode="always_last", concurrency_limit=4, concurrency_id="suggest",
                                      **private)
        del hints_update
        forget.click(lambda: ([], _samples([])), outputs=[history, mine], **private)
        new.click(lambda: ([], empty_panel(), None, "", None, None, _handoff_box(False), _feedback_box(None), ""),
                  outputs=outputs,
                  **private).then(lambda: ("", ""), outputs=[related, replies], **private)
        feedback = make_feedback(assistant)

        def rate_helpful(answer: int | None, conversation_id: str | None, text: str) -> str:
            return feedback(True, answer, conversation_id, text)

        def rate_unhelpful(answer: int | None, conversation_id: str | None, text: str) -> str:
            return feedback(False, answer, conversation_id, text)

        up.click(rate_helpful, inputs=[answer_id, conversation, comment], outputs=[feedback_status], **private)
        down.click(rate_unhelpful, inputs=[answer_id, conversation, comment], outputs=[feedback_status], **private)
        handoff_send.click(make_handoff(assistant), inputs=[contact, answer_id, conversation],
                           outputs=[handoff_status, replies], **private)
        refresh.click(lambda c: handoffs_html(assistant, c), inputs=[conversation], outputs=[replies], **private)

        def on_load(past: list[str] | None) -> tuple[Any, Any, Any]:
            return _samples(popular()), _samples(example_questions(assistant)), _samples(remember(past, ""))

        demo.load(on_load, inputs=[history], outputs=[hot, examples, mine], **private)
    return demo
