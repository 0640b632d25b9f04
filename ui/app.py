"""The chat page: streamed answers, citation cards with the cited sentences highlighted, examples.

`build_ui(assistant)` returns the Blocks that `assistant.api.app.create_app` mounts at "/". Every
value shown in the citation cards comes from policy texts and is escaped: it is data, never markup.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from assistant.answer.base import Delta
from assistant.answer.conversation import Conversation
from assistant.errors import AssistantError, UnknownConversationError
from assistant.service import Assistant
from assistant.types import Answer, Citation, DocumentInfo
from ui.markup import esc, highlight

log = logging.getLogger(__name__)

TITLE = "政策咨询助手"
INTRO = (
    f"## {TITLE}\n"
    "根据已收录的政策文件回答您的问题，答复中的每一句都标注了出处编号（如 [1]），"
    "右侧列出对应的政策原文段落，引用的句子以高亮标出。找不到依据时不作答。"
)
PLACEHOLDER = "请输入您想咨询的政策问题，按回车或点击“发送”"
SEARCHING = "正在查找相关政策条文…"
LIAISON_HINT = "如需人工解答，可将问题转交服务专员（政策联络人）处理。"
EXPIRED = "之前的对话已过期，已为您开始新的对话。"
CONCURRENCY = 8  # answers computed at the same time, across all browser sessions

_ORDINAL = re.compile(
    r"^\s*(?:第[一二三四五六七八九十百零〇\d]+[章节部分编条]\s*|[一二三四五六七八九十百]+[、.．]\s*"
    r"|[（(][一二三四五六七八九十\d]+[）)]\s*|\d+[、.．]\s*)"
)
_ITEM = re.compile(r"^[一二三四五六七八九十]+是([^。；;，,：:\n]{4,24})。", re.M)
_PARAGRAPH = re.compile(r"^第\d+段$")
_VERBS = ("加强", "推进", "推动", "完善", "发展", "建立", "建设", "优化", "支持", "强化", "提升", "加快", "深化",
          "畅通", "落实", "健全", "促进", "扩大", "培育", "构建", "实施", "开展", "做好", "充分", "打造", "鼓励")

CSS = """
.citations { display: flex; flex-direction: column; gap: 10px; font-size: 14px; line-height: 1.65; }
.citations-head { font-weight: 600; font-size: 15px; }
.hint { color: var(--body-text-color-subdued); margin: 4px 0; }
.notice { border-radius: 6px; padding: 8px 10px; }
.notice.refusal { background: #fff4e5; color: #7a4100; border: 1px solid #f3c98b; }
.notice.reviewed { background: #e8f5e9; color: #1b5e20; border: 1px solid #a5d6a7; }
.notice.error { background: #fdecea; color: #8a1c1c; border: 1px solid #f5b7b1; }
.citation-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
  background: var(--block-background-fill); }
.citation-card.not-in-force { border-color: #d93025; border-left-width: 5px; }
.citation-card header { display: flex; gap: 6px; align-items: baseline; flex-wrap: wrap; font-weight: 600; }
.citation-card .n { color: var(--color-accent); }
.citation-card .tag { font-size: 12px; font-weight: 400; border-radius: 4px; padding: 0 6px; }
.citation-card .tag.related { background: #eef2f7; color: #38506b; }
.citation-card .status { font-size: 12px; border-radius: 4px; padding: 0 6px; font-weight: 600; }
.citation-card .status.in-force { background: #e8f5e9; color: #1b5e20; }
.citation-card .status.not-in-force { background: #d93025; color: #ffffff; }
.citation-card .warning { color: #b3261e; font-size: 13px; margin-top: 4px; }
.citation-card .meta { display: flex; flex-wrap: wrap; gap: 2px 14px; margin: 6px 0 0 0; font-size: 13px;
  color: var(--body-text-color-subdued); }
.citation-card .meta .label { margin-right: 4px; }
.citation-card .locator { margin-top: 4px; font-size: 13px; }
.citation-card .passage { margin-top: 8px; white-space: pre-wrap; word-break: break-word; max-height: 320px;
  overflow-y: auto; padding-top: 6px; border-top: 1px dashed var(--border-color-primary); }
.citation-card mark { background: #ffe58f; color: #1f1f1f; padding: 0 1px; border-radius: 2px; }
"""


# --- citation cards --------------------------------------------------------------------------------

def _status(document: DocumentInfo) -> str:
    if not document.in_force:
        label = document.status or "已失效"
        return f'<span class="status not-in-force" title="该文件已不再有效">⚠ {esc(label)}</span>'
    if document.status:
        return f'<span class="status in-force">{esc(document.status)}</span>'
    return ""


def citation_card(citation: Citation, related: bool = False) -> str:
    doc = citation.document
    in_force = doc.in_force
    label = '<span class="tag related">可能相关</span>' if related else ""
    meta = [("文号", doc.doc_number), ("发布机关", doc.issuer), ("日期", doc.date)]
    meta_html = "".join(
        f'<span class="field"><span class="label">{name}：</span>{esc(value)}</span>' for name, value in meta if value
    )
    warning = ("" if in_force else
               '<div class="warning">该文件已废止或被替代，以下内容仅供参考，请以现行有效的文件为准。</div>')
    classes = "citation-card" + ("" if in_force else " not-in-force") + (" related" if related else "")
    return (
        f'<article class="{classes}" data-n="{int(citation.n)}">'
        f'<header><span class="n">[{int(citation.n)}]</span>{label}'
        f'<span class="title">《{esc(doc.title)}》</span>{_status(doc)}</header>'
        f"{warning}"
        f'<div class="meta">{meta_html}</div>'
        f'<div class="locator"><span class="label">位置：</span>{esc(citation.locator)}</div>'
        f'<div class="passage">{highlight(citation.text, citation.highlights)}</div>'
        "</article>"
    )


def _panel(body: str, state: str) -> str:
    return f'<div class="citations" data-state="{state}">{body}</div>'


def empty_panel() -> str:
    return _panel('<p class="hint">提问后，这里会显示答复所依据的政策原文段落，引用的句子以高亮标出。</p>', "empty")


def searching_panel() -> str:
    return _panel(f'<p class="hint">{SEARCHING}</p>', "searching")


def error_panel(message: str) -> str:
    return _panel(f'<div class="notice error">{esc(message)}</div>', "error")


def citations_html(response: Answer, done: bool = True) -> str:
    """The cards for one answer; a refusal shows its passages as 可能相关 and the liaison hint."""
    parts: list[str] = []
    if response.reviewed:
        parts.append('<div class="notice reviewed">✔ 该答复已经服务专员人工审核。</div>')
    # A refusal claims nothing: it shows only the passages above the relevance floor (`related`).
    shown = (response.related or response.citations) if response.refused else response.citations
    if response.refused:
        found = "以下段落可能相关，仅供参考。" if shown else ""
        parts.append(f'<div class="notice refusal">已收录的政策文件中没有找到能直接回答该问题的内容。'
                     f"{found}{LIAISON_HINT}</div>")
        if shown:
            parts.append(f'<div class="citations-head">可能相关的段落（{len(shown)}）</div>')
    elif shown:
        parts.append(f'<div class="citations-head">引用依据（{len(shown)}）</div>')
    parts.extend(citation_card(c, related=response.refused) for c in shown)
    return _panel("".join(parts), "done" if done else "streaming")


# --- example questions -----------------------------------------------------------------------------

def _heading_name(locator: str) -> str | None:
    top = locator.split(">")[0].strip()
    if not top or _PARAGRAPH.match(top):
        return None
    name = _ORDINAL.sub("", top).strip()
    return name if 2 <= len(name) <= 20 else None


def example_questions(assistant: Assistant, limit: int = 6) -> list[str]:
    """Questions built from the indexed corpus: titles, headings and enumerated items (一是…)."""
    try:
        snapshot = assistant.index.snapshot()
    except AssistantError as err:
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


def make_respond(assistant: Assistant) -> Callable[..., Iterator[tuple[Any, ...]]]:
    def respond(message: str, history: list[dict[str, Any]] | None, conversation_id: str | None
                ) -> Iterator[tuple[Any, ...]]:
        """Yields (chat, citations, conversation_id, question box) as the answer streams in."""
        history = list(history or [])
        question = (message or "").strip()
        if not question:
            yield history, gr.skip(), conversation_id, "", gr.skip()
            return
        history.append(_message("user", question))
        history.append(_message("assistant", SEARCHING))
        yield history, searching_panel(), conversation_id, "", None
        text = ""
        try:
            question = assistant.check_question(question)
            conversation = _conversation(assistant, conversation_id)
            for event in assistant.answer_stream(question, conversation):
                if isinstance(event, Delta):  # the answer's parts, as the answerer produces them
                    text += event.text
                    history[-1] = _message("assistant", text)
                    yield history, gr.skip(), conversation.id, "", None
                elif isinstance(event, Answer):
                    history[-1] = _message("assistant", event.answer)
                    yield history, citations_html(event), event.conversation_id, "", event.answer_id
        except AssistantError as err:
            history[-1] = _message("assistant", err.zh)
            yield history, error_panel(err.zh), conversation_id, "", None
        except Exception:
            log.exception("answering %r failed", question[:200])
            message = "系统出错，暂时无法回答，请稍后再试。"
            history[-1] = _message("assistant", message)
            yield history, error_panel(message), conversation_id, "", None

    return respond


def handoffs_html(assistant: Assistant, conversation_id: str | None) -> str:
    """The questions this conversation passed to liaisons, and their replies (escaped)."""
    if not conversation_id or not getattr(assistant, "review", None) or not assistant.review.enabled:
        return ""
    items = assistant.review.conversation_handoffs(conversation_id).handoffs
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
        if not answer_id or not getattr(assistant, "review", None):
            return "请先提问，再对答复作出评价。"
        try:
            assistant.review.feedback(int(answer_id), helpful, comment or None, conversation_id)
        except AssistantError as err:
            return f"未能记录评价：{esc(err)}"
        return "感谢您的评价，已记录。" if helpful else "感谢反馈，服务专员会查看这条答复。"

    return feedback


def make_handoff(assistant: Assistant) -> Callable[..., tuple[str, str]]:
    def handoff(contact: str, answer_id: int | None, conversation_id: str | None) -> tuple[str, str]:
        if not answer_id or not getattr(assistant, "review", None):
            return "请先提问，再转交服务专员。", gr.skip()
        try:
            assistant.review.handoff(contact, answer_id=int(answer_id), conversation_id=conversation_id)
        except AssistantError as err:
            return f"未能转交：{esc(err)}", gr.skip()
        return "已转交服务专员，答复后会显示在下方。", handoffs_html(assistant, conversation_id)

    return handoff


def _review_tab_builder() -> Callable[[Assistant], Any] | None:
    """`ui.review.build_review_tab` when that module is there; the page works without it."""
    try:
        module = importlib.import_module("ui.review")
    except ImportError as err:
        if err.name != "ui.review":
            log.warning("审核 tab left out: ui.review could not be imported: %s", err)
        return None
    builder: Callable[[Assistant], Any] = module.build_review_tab
    return builder


# --- the page --------------------------------------------------------------------------------------

def build_ui(assistant: Assistant) -> gr.Blocks:
    examples = example_questions(assistant)
    respond = make_respond(assistant)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(INTRO, elem_id="intro")
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("政策咨询", elem_id="ask-tab"), gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=360):
                    chat = gr.Chatbot(
                        label="对话", elem_id="chat", height=560, render_markdown=False, sanitize_html=True, allow_tags=False,
                        buttons=["copy"], feedback_options=None, autoscroll=True,
                        placeholder="您好！请在下方输入政策相关的问题，例如申请条件、支持措施、工作安排等。",
                    )
                    with gr.Row():
                        question = gr.Textbox(placeholder=PLACEHOLDER, show_label=False, elem_id="question",
                                              lines=1, max_lines=6, scale=6, autofocus=True, container=False)
                        send = gr.Button("发送", variant="primary", elem_id="send", scale=1, min_width=80)
                    new = gr.Button("开始新对话", elem_id="new-conversation", size="sm", variant="secondary")
                    with gr.Row():
                        up = gr.Button("👍 有帮助", elem_id="feedback-up", size="sm")
                        down = gr.Button("👎 没帮助", elem_id="feedback-down", size="sm")
                        comment = gr.Textbox(placeholder="可选：说明哪里不对或缺了什么", show_label=False,
                                             elem_id="feedback-comment", container=False, scale=3)
                    feedback_status = gr.Markdown("", elem_id="feedback-status")
                    with gr.Accordion("转交服务专员（人工解答）", open=False, elem_id="handoff"):
                        contact = gr.Textbox(label="联系方式（电话或邮箱）", elem_id="handoff-contact", max_lines=1)
                        with gr.Row():
                            handoff_send = gr.Button("转交最近一个问题", elem_id="handoff-send", size="sm",
                                                     variant="primary")
                            refresh = gr.Button("查看服务专员答复", elem_id="handoff-refresh", size="sm")
                        handoff_status = gr.Markdown("", elem_id="handoff-status")
                        replies = gr.HTML("", elem_id="handoff-replies")
                    if examples:
                        gr.Examples(examples=[[q] for q in examples], inputs=[question], label="示例问题",
                                    elem_id="examples", examples_per_page=len(examples))
                with gr.Column(scale=2, min_width=320):
                    citations = gr.HTML(empty_panel(), elem_id="citations", css_template=CSS, js_on_load=None,
                                        padding=True)
            conversation = gr.State(None)
            answer_id = gr.State(None)
            outputs = [chat, citations, conversation, question, answer_id]
            for trigger in (send.click, question.submit):
                trigger(respond, inputs=[question, chat, conversation], outputs=outputs,
                        concurrency_limit=CONCURRENCY, concurrency_id="answer", api_visibility="private"
                        ).then(lambda c: handoffs_html(assistant, c), inputs=[conversation], outputs=[replies],
                               api_visibility="private")
            new.click(lambda: ([], empty_panel(), None, "", None), outputs=outputs, api_visibility="private")
            feedback = make_feedback(assistant)
            up.click(lambda a, c, t: feedback(True, a, c, t), inputs=[answer_id, conversation, comment],
                     outputs=[feedback_status], api_visibility="private")
            down.click(lambda a, c, t: feedback(False, a, c, t), inputs=[answer_id, conversation, comment],
                       outputs=[feedback_status], api_visibility="private")
            handoff_send.click(make_handoff(assistant), inputs=[contact, answer_id, conversation],
                               outputs=[handoff_status, replies], api_visibility="private")
            refresh.click(lambda c: handoffs_html(assistant, c), inputs=[conversation], outputs=[replies],
                          api_visibility="private")
            chat.clear(lambda: (empty_panel(), None), outputs=[citations, conversation], api_visibility="private")

            review = _review_tab_builder()
            if review is not None:
                with gr.Tab("审核", elem_id="review-tab"):
                    review(assistant)
    return demo
