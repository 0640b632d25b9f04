"""The liaisons' workspace (/review): they work through the review queue and give verdicts.

`build_review_page(assistant)` returns its own Blocks, mounted at /review by `ui.mount`, apart from
the enterprises' page. With no token configured it only says, in Chinese, that review is not set
up and how to set it up: no form, no events. Otherwise nothing shows until a liaison or
maintainer token is entered; every action checks the token again on the server (the page's
events are reachable without the page, so the check cannot live in the browser). It calls the same `ReviewService` as the review API. Passage texts, questions and
answers are data from enterprises and documents: every one is escaped before it is shown.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from assistant.errors import AssistantError
from assistant.review.auth import Principal, TokenChecker, UnauthorizedError
from assistant.review.queue import QueueFilter
from assistant.review.schemas import CitationPick, ItemDetail, QueueItem, SentenceView, VerdictRequest
from assistant.service import Assistant
from assistant.types import Citation
from ui.markup import esc, highlight
from ui.messages import message_for, review_input

log = logging.getLogger(__name__)

STATUS_LABELS = {
    "handoff": "转人工", "stale": "文件已变更", "unhelpful": "企业反馈无帮助", "refused": "拒答",
    "low_evidence": "依据不足", "new": "待抽查", "reviewed": "已审核",
}
FILTERS = [("待处理", "open"), *((label, key) for key, label in STATUS_LABELS.items()), ("全部", "all")]
VERDICTS = [("正确", "correct"), ("错误", "incorrect"), ("需修改", "needs_change")]
NO_TOKEN = "请输入服务专员或维护人员的令牌。"
BAD_TOKEN = "令牌无效：请检查令牌是否输入完整；令牌由维护人员发放，只在服务器上保存其摘要。"
TITLE = "审核工作台 - 政策咨询助手"
NOT_SET_UP = """## 审核功能尚未启用

本服务没有配置服务专员或维护人员的令牌，因此审核工作台不可用。

启用方法（由维护人员在服务器上操作）：

1. 为每位服务专员定一个令牌，计算其摘要：`python -m assistant.review.auth hash 令牌`
2. 把“姓名:摘要”写入环境变量 `ASSISTANT_LIAISON_TOKENS`（多人用英文逗号分隔；维护人员用
   `ASSISTANT_MAINTAINER_TOKENS`），或写入服务目录下的 `.env` 文件；
3. 重新启动服务，再打开本页，输入令牌即可进入审核队列。
"""
PAGE = 100

CSS = """
.review-item { display: flex; flex-direction: column; gap: 8px; font-size: 14px; line-height: 1.6; }
.review-item .meta { color: var(--body-text-color-subdued); font-size: 13px; }
.review-item .badge { border-radius: 4px; padding: 0 6px; font-size: 12px; background: #eef2f7; }
.review-item .badge.urgent { background: #fff4e5; color: #7a4100; }
.review-item table { border-collapse: collapse; width: 100%; }
.review-item td, .review-item th { border: 1px solid var(--border-color-primary); padding: 6px; vertical-align: top; }
.review-item tr.weak td { background: #fdecea; }
.review-item .passage { white-space: pre-wrap; word-break: break-word; max-height: 240px; overflow-y: auto; }
.review-item mark { background: #ffe58f; color: #1f1f1f; }
.review-item .support { white-space: nowrap; font-weight: 600; }
.review-item .flag { color: #b3261e; }
.review-item section h4 { margin: 6px 0 2px 0; }
.review-item .search-hits { max-height: 420px; overflow-y: auto; }
.review-item .search-hits .passage { max-height: 120px; }
"""


def queue_label(item: QueueItem) -> str:
    question = item.question if len(item.question) <= 40 else item.question[:40] + "…"
    return f"#{item.id} 【{STATUS_LABELS[item.status]}】 {question}"


def _passage_cell(citation: Citation | None, spans: list[tuple[int, int]]) -> str:
    if citation is None:
        return '<span class="flag">未引用段落</span>'
    doc = citation.document
    return (f'<div><b>[{citation.n}] 《{esc(doc.title)}》</b> {esc(citation.locator)}</div>'
            f'<div class="passage">{highlight(citation.text, spans)}</div>')


def sentences_table(sentences: list[SentenceView], citations: list[Citation]) -> str:
    """Each sentence beside the passage(s) it cites: cited words marked, support score, weak flagged."""
    by_n = {c.n: c for c in citations}
    rows = []
    for s in sentences:
        cells = [_passage_cell(by_n.get(p.n), p.highlights) for p in s.passages] or [_passage_cell(None, [])]
        flag = ""
        if s.weak:
            flag = '<div class="flag">依据不足</div>'
        if s.missing_figures:
            flag += f'<div class="flag">原文无数字：{esc("、".join(s.missing_figures))}</div>'
        if s.missing_bodies:
            flag += f'<div class="flag">原文无机构：{esc("、".join(s.missing_bodies))}</div>'
        if s.unknown_cites:
            flag += f'<div class="flag">引用不存在：{esc("、".join(f"[{n}]" for n in s.unknown_cites))}</div>'
        marks = "".join(f"[{n}]" for n in s.cites)
        rows.append(f'<tr class="{"weak" if s.weak else "ok"}"><td>{esc(s.text)}{esc(marks)}</td>'
                    f'<td>{"".join(cells)}</td><td class="support">{s.support:.2f}{flag}</td></tr>')
    if not rows:
        return "<p>（无引用句）</p>"
    return ('<table class="sentences"><thead><tr><th>答复句</th><th>所引段落（引用词高亮）</th>'
            f"<th>支撑度</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


ANSWERERS = {"extractive": "摘录原文", "llm": "大模型撰写（逐句核对引用）", "curated": "审核过的答复", "refusal": "拒答"}
FALLBACKS = {"unreachable": "大模型服务无法连接", "timeout": "大模型超时", "bad_response": "大模型返回内容无法使用",
             "not_found": "大模型认为资料中没有答案", "all_dropped": "大模型所写句子均未获引用支撑"}


def answerer_facts(item: QueueItem) -> list[str]:
    """Which answerer wrote the answer, how many LLM sentences were left out, and why it fell back."""
    facts = []
    if item.answerer:
        facts.append(f"答复方式：{ANSWERERS.get(item.answerer, item.answerer)}")
    if item.fallback:
        facts.append(f"改用摘录：{FALLBACKS.get(item.fallback, item.fallback)}")
    if item.dropped_sentences:
        facts.append(f"删去未获支撑的句子 {item.dropped_sentences} 句")
    return facts


def item_html(detail: ItemDetail) -> str:
    item = detail.item
    urgent = " urgent" if item.needs_human else ""
    parts = [
        f'<div class="review-item" data-id="{item.id}" data-status="{esc(item.status)}">',
        f'<div><span class="badge{urgent}">{esc(STATUS_LABELS[item.status])}</span> <b>#{item.id}</b> '
        f'<span class="meta">{esc(item.created_at[:19])} · 对话 {esc(detail.conversation_id[:12])} · '
        f'索引版本 {esc(detail.index_version or "-")}</span></div>',
        f'<div class="question"><b>问题：</b>{esc(item.question)}</div>',
    ]
    if detail.query != item.question:
        parts.append(f'<div class="meta">检索查询：{esc(detail.query)}</div>')
    facts = []
    if item.refused:
        facts.append("拒答")
    if item.reviewed:
        facts.append("来自审核过的答复")
    if item.evidence is not None:
        facts.append(f"检索依据 {item.evidence:.2f}")
    facts.extend(answerer_facts(item))
    if facts:
        parts.append(f'<div class="meta">{esc(" · ".join(facts))}</div>')
    if detail.origin != "handoff":
        parts.append(f'<div class="answer"><b>答复：</b>{esc(item.answer)}</div>')
        parts.append(sentences_table(detail.sentences, detail.citations))
    if detail.document_versions:
        versions = "；".join(f"《{d.title}》 {(d.sha256 or '?')[:12]}" for d in detail.document_versions)
        parts.append(f'<div class="meta">引用文件版本：{esc(versions)}</div>')
    if detail.feedback:
        lines = "".join(f"<li>{esc(f.created_at[:19])} {'有帮助' if f.helpful else '无帮助'}"
                        f"{'：' + esc(f.comment) if f.comment else ''}</li>" for f in detail.feedback)
        parts.append(f"<section><h4>企业反馈</h4><ul>{lines}</ul></section>")
    for h in detail.handoffs:
        replies = "".join(f"<li>{esc(r.created_at[:19])} {esc(r.reviewer)}：{esc(r.answer)}</li>"
                          for r in h.replies) or "<li>尚未回复</li>"
        parts.append(f'<section class="handoff"><h4>转人工 #{h.id}（{esc(h.created_at[:19])}）</h4>'
                     f"<div>联系方式：{esc(h.contact)}</div><div>问题：{esc(h.question)}</div>"
                     f"<ul>{replies}</ul></section>")
    if detail.verdicts:
        names = dict((v, k) for k, v in VERDICTS)
        lines = "".join(
            f"<li>{esc(v.created_at[:19])} {esc(v.reviewer)}：{esc(names[v.verdict])}"
            f"{'，' + esc(v.note) if v.note else ''}"
            f"{'<br>更正：' + esc(v.corrected_answer) if v.corrected_answer else ''}</li>" for v in detail.verdicts)
        parts.append(f'<section class="verdicts"><h4>审核记录</h4><ul>{lines}</ul></section>')
    for c in detail.curated:
        state = {"active": "生效中", "stale": "已失效（文件变更）", "retired": "已被新结论取代"}[c.status]
        parts.append(f'<div class="meta">审核答复 #{c.id}：{esc(state)} {esc(c.reason)}</div>')
    parts.append("</div>")
    return "".join(parts)


def picked_html(picked: list[dict[str, Any]]) -> str:
    if not picked:
        return '<div class="review-item"><p class="meta">尚未选择引用段落：先检索，勾选结果后点“加入引用”。</p></div>'
    rows = "".join(
        f'<li data-n="{i + 1}"><b>[{i + 1}]</b> 《{esc(p["title"])}》 {esc(p["locator"])}：'
        f'{esc(p["text"][:80])}{"…" if len(p["text"]) > 80 else ""}</li>' for i, p in enumerate(picked))
    return f'<div class="review-item"><div>更正答复中用 [n] 引用：</div><ol class="picked">{rows}</ol></div>'


def search_preview(hits: dict[str, dict[str, Any]]) -> str:
    if not hits:
        return ""
    rows = "".join(f'<li><b>《{esc(h["title"])}》 {esc(h["locator"])}</b>'
                   f'<div class="passage">{esc(h["text"])}</div></li>' for h in hits.values())
    return f'<div class="review-item"><ol class="search-hits">{rows}</ol></div>'


class ReviewTab:
    """The tab's callbacks (plain methods, testable without a browser)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.service = assistant.review
        self.checker = TokenChecker(assistant.settings)

    def principal(self, token: str | None) -> Principal:
        return self.checker.require((token or "").strip() or None)

    def load(self, token: str, status: str, date_from: str, date_to: str, document: str, q: str
             ) -> tuple[Any, str]:
        """(queue radio, message)."""
        try:
            self.principal(token)
        except UnauthorizedError:
            return gr.Radio(choices=[], value=None), BAD_TOKEN if token else NO_TOKEN
        flt = QueueFilter(status=status or "open", date_from=date_from.strip() or None,
                          date_to=date_to.strip() or None, document=document.strip() or None, q=q.strip() or None)
        page = self.service.queue(flt, PAGE, 0)
        choices = [(queue_label(i), i.id) for i in page.items]
        more = f"（显示前 {len(choices)} 条）" if page.total > len(choices) else ""
        urgent = sum(1 for i in page.items if i.needs_human)
        return gr.Radio(choices=choices, value=None), f"队列中共 {page.total} 条{more}，其中需优先处理 {urgent} 条。"

    def open_item(self, token: str, answer_id: int | None) -> tuple[str, str]:
        """(item view, message)."""
        if answer_id is None:
            return "", ""
        try:
            self.principal(token)
            return item_html(self.service.item(int(answer_id))), ""
        except UnauthorizedError:
            return "", BAD_TOKEN
        except AssistantError as err:
            return "", f"无法打开：{message_for(err)}"

    def search(self, token: str, query: str) -> tuple[Any, dict[str, dict[str, Any]], str, str]:
        """(result checkboxes, hits by chunk id, preview, message)."""
        try:
            self.principal(token)
            found = self.service.search(query, 8)
        except UnauthorizedError:
            return gr.CheckboxGroup(choices=[], value=[]), {}, "", BAD_TOKEN
        except AssistantError as err:
            return gr.CheckboxGroup(choices=[], value=[]), {}, "", f"检索失败：{review_input(err) or message_for(err)}"
        hits = {h.chunk_id: {"chunk_id": h.chunk_id, "title": h.citation.document.title,
                             "locator": h.citation.locator, "text": h.citation.text} for h in found.passages}
        choices = [(f"《{h['title']}》 {h['locator']}：{h['text'][:40]}", cid) for cid, h in hits.items()]
        return gr.CheckboxGroup(choices=choices, value=[]), hits, search_preview(hits), ""

    @staticmethod
    def add(selected: list[str] | None, picked: list[dict[str, Any]] | None,
            hits: dict[str, dict[str, Any]] | None) -> tuple[list[dict[str, Any]], str]:
        picked = list(picked or [])
        for chunk_id in selected or []:
            if chunk_id in (hits or {}) and all(p["chunk_id"] != chunk_id for p in picked):
                picked.append(hits[chunk_id])  # type: ignore[index]
        return picked, picked_html(picked)

    def submit(self, token: str, answer_id: int | None, verdict: str | None, note: str, corrected: str,
               picked: list[dict[str, Any]] | None, reply: str) -> tuple[str, bool]:
        """(message, recorded)."""
        try:
            principal = self.principal(token)
        except UnauthorizedError:
            return BAD_TOKEN, False
        if answer_id is None:
            return "请先在队列中选择一条。", False
        if not verdict:
            return "请选择结论：正确、错误或需修改。", False
        citations = [CitationPick(n=i + 1, chunk_id=p["chunk_id"]) for i, p in enumerate(picked or [])]
        try:
            request = VerdictRequest(verdict=verdict, note=note or "", corrected_answer=corrected or None,
                                     citations=citations, reply=reply or None)
            result = self.service.verdict(int(answer_id), principal, request)
        except AssistantError as err:
            return f"未记录：{review_input(err) or message_for(err)}", False
        except ValueError:  # pydantic validation (too long, bad verdict)
            return "未记录：填写的内容过长或格式不对，请检查后再提交。", False
        message = f"已记录结论 #{result.verdict_id}（条目 #{answer_id}，{principal.name}）。"
        if result.curated_id:
            message += " 该答复将作为审核答复提供给相同的问题。"
        if result.curated_stale:
            message += f" 但所引文件已变更（{result.curated_stale}），请给出引用现行文本的更正答复。"
        if result.handoffs_answered:
            message += f" 已回复转人工 {len(result.handoffs_answered)} 条。"
        if result.handoffs_pending:
            message += " 该条的转人工尚未回复：请在“回复企业”中填写答复后再提交，它会留在队列中。"
        return message, True


def review_configured(assistant: Assistant) -> bool:
    return bool(assistant.settings.liaison_tokens or assistant.settings.maintainer_tokens)


def build_review_page(assistant: Assistant) -> gr.Blocks:
    """The workspace as a page of its own; only the set-up notice when no token is configured."""
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as page:
        gr.HTML('<header class="site"><h1>审核工作台</h1><p>服务专员审核答复、回复转人工的问题。</p></header>',
                elem_id="review-header", js_on_load=None)
        if review_configured(assistant):
            build_review_tab(assistant)
        else:
            gr.Markdown(NOT_SET_UP, elem_id="review-not-set-up")
    return page


def build_review_tab(assistant: Assistant) -> None:
    """The workspace's form and events (inside the page's Blocks)."""
    tab = ReviewTab(assistant)
    with gr.Column(elem_id="review"):
        gr.Markdown("审核答复：转人工、文件变更、企业反馈无帮助、拒答和依据不足的答复排在前面。"
                    "给出结论后该条离开队列。", elem_id="review-intro")
        with gr.Row():
            token = gr.Textbox(label="令牌", type="password", elem_id="review-token", scale=4,
                               placeholder="服务专员或维护人员的令牌")
            load = gr.Button("进入 / 刷新队列", variant="primary", elem_id="review-load", scale=1)
        with gr.Row():
            status = gr.Dropdown(choices=FILTERS, value="open", label="状态", elem_id="review-status")
            date_from = gr.Textbox(label="起始日期", placeholder="YYYY-MM-DD", elem_id="review-date-from")
            date_to = gr.Textbox(label="截止日期", placeholder="YYYY-MM-DD", elem_id="review-date-to")
            document = gr.Textbox(label="文件（文件名或标题）", elem_id="review-document")
            q = gr.Textbox(label="搜索问题", elem_id="review-q")
        message = gr.Markdown(NO_TOKEN, elem_id="review-message")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=260):
                queue = gr.Radio(choices=[], label="审核队列", elem_id="review-queue")
            with gr.Column(scale=5, min_width=300):
                item = gr.HTML("", elem_id="review-item", css_template=CSS, js_on_load=None, padding=True)
                verdict = gr.Radio(choices=VERDICTS, label="结论", elem_id="review-verdict")
                note = gr.Textbox(label="备注", lines=2, elem_id="review-note")
                corrected = gr.Textbox(label="更正答复（错误或需修改时填写；每句末尾用 [n] 标注所引段落）", lines=4,
                                       elem_id="review-corrected")
                with gr.Row():
                    search_q = gr.Textbox(label="检索段落（用于更正答复的引用）", elem_id="review-search-q", scale=4)
                    search = gr.Button("检索", elem_id="review-search", scale=1)
                results = gr.CheckboxGroup(choices=[], label="检索结果", elem_id="review-search-results")
                preview = gr.HTML("", elem_id="review-search-preview", css_template=CSS, js_on_load=None)
                with gr.Row():
                    add = gr.Button("加入引用", elem_id="review-add-citation", size="sm")
                    clear = gr.Button("清空引用", elem_id="review-clear-citations", size="sm")
                picked_view = gr.HTML(picked_html([]), elem_id="review-picked", css_template=CSS, js_on_load=None)
                reply = gr.Textbox(label="回复企业（转人工的问题；留空则用更正答复，或“正确”时用原答复）", lines=2,
                                   elem_id="review-reply")
                submit = gr.Button("提交结论", variant="primary", elem_id="review-submit")
        picked = gr.State([])
        hits = gr.State({})

    filters = [token, status, date_from, date_to, document, q]
    # No progress overlay: Gradio writes it in English ("processing"); the pages say what they do.
    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    for trigger in (load.click, token.submit, status.change, q.submit, document.submit, date_from.submit,
                    date_to.submit):
        trigger(tab.load, inputs=filters, outputs=[queue, message], **private)
    queue.input(tab.open_item, inputs=[token, queue], outputs=[item, message], **private)
    search.click(tab.search, inputs=[token, search_q], outputs=[results, hits, preview, message], **private)
    search_q.submit(tab.search, inputs=[token, search_q], outputs=[results, hits, preview, message], **private)
    add.click(tab.add, inputs=[results, picked, hits], outputs=[picked, picked_view], **private)
    clear.click(lambda: ([], picked_html([])), outputs=[picked, picked_view], **private)

    def submitted(token_: str, answer_id: int | None, verdict_: str | None, note_: str, corrected_: str,
                  picked_: list[dict[str, Any]], reply_: str, *flt: str) -> tuple[Any, ...]:
        text, recorded = tab.submit(token_, answer_id, verdict_, note_, corrected_, picked_, reply_)
        if not recorded:
            return (gr.skip(),) * 8 + (text,)
        new_queue, summary = tab.load(token_, *flt)
        return new_queue, "", None, "", "", "", [], picked_html([]), f"{text} {summary}"

    submit.click(submitted,
                 inputs=[token, queue, verdict, note, corrected, picked, reply, status, date_from, date_to, document,
                         q],
                 outputs=[queue, item, verdict, note, corrected, reply, picked, picked_view, message], **private)
