"""The page of one policy document: its metadata, the original file, and the whole indexed text
with the cited passage marked and scrolled to (the link's #fragment; no script needed).

Served by assistant/api/routes_documents.py at /documents/{id}. Every value is escaped.
"""

from __future__ import annotations

from assistant.catalog import DocumentText
from ui.markup import esc, highlight

SITE = "政策咨询助手"

CSS = """
:root { color-scheme: light; --accent: #1f4e8c; --muted: #5b6573; --line: #d8dee6; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.8 system-ui, -apple-system, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
  color: #1f2328; background: #f5f7fa; overflow-wrap: anywhere; }
a { color: var(--accent); }
a:focus-visible { outline: 3px solid #f0a020; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; z-index: 10; }
.wrap { max-width: 860px; margin: 0 auto; padding: 16px; }
header.doc { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; }
header.doc nav { font-size: 14px; margin-bottom: 8px; }
h1 { font-size: 22px; line-height: 1.5; margin: 4px 0 12px 0; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 12px; margin: 0; font-size: 15px; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; }
.status { border-radius: 4px; padding: 0 6px; font-size: 14px; font-weight: 600; }
.status.in-force { background: #e8f5e9; color: #1b5e20; }
.status.not-in-force { background: #b3261e; color: #fff; }
.warning { color: #b3261e; margin: 8px 0 0 0; }
.actions { margin: 12px 0 0 0; display: flex; flex-wrap: wrap; gap: 8px 16px; font-size: 15px; }
main { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px 20px 20px; margin-top: 16px; }
main h2 { font-size: 16px; color: var(--accent); margin: 18px 0 4px 0; }
.passage { white-space: pre-wrap; margin: 0; padding: 4px 6px; border-radius: 6px; scroll-margin-top: 24px; }
.passage.cited, .passage:target { background: #fff8e1; outline: 2px solid #f0c36d; }
mark { background: #ffe58f; color: #1f1f1f; padding: 0 1px; border-radius: 2px; }
.note { color: var(--muted); font-size: 14px; }
.error { background: #fff; border: 1px solid #f5b7b1; color: #8a1c1c; border-radius: 8px; padding: 16px 20px; }
"""


def _page(title: str, body: str, root: str) -> str:
    return ("<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)} - {SITE}</title>"
            f"<link rel=\"stylesheet\" href=\"{esc(root)}/documents/assets/style.css\"></head>"
            f"<body>{body}</body></html>")


def document_page(doc: DocumentText, cited: str | None = None, spans: list[tuple[int, int]] | None = None,
                  root: str = "") -> str:
    """`root`: the app's root path (behind a proxy prefix), for the links."""
    info = doc.info
    current = info.in_force
    status = esc(info.status or ("现行有效" if current else "已失效"))
    fields = [("文号", esc(info.doc_number or "")), ("发布机关", esc(info.issuer or "")),
              ("发布日期", esc(info.date or "")),
              ("状态", f'<span class="status {"in-force" if current else "not-in-force"}">{status}</span>')]
    meta = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in fields if value)
    warning = "" if current else '<p class="warning">该文件已废止或被替代，内容仅供参考，请以现行有效的文件为准。</p>'
    original = (f'<a href="{esc(root)}/documents/{esc(doc.id)}/original" download>下载原文件</a>' if doc.has_original
                else '<span class="note">原文件已更新或移除，暂不能下载。</span>')
    parts = []
    heading = None
    for passage in doc.passages:
        if passage.locator != heading:
            heading = passage.locator
            if heading:
                parts.append(f"<h2>{esc(heading)}</h2>")
        if passage.chunk_id == cited:
            text = highlight(passage.text, spans or [])
            classes = "passage cited"
        else:
            text = esc(passage.text[passage.overlap:])
            classes = "passage"
        parts.append(f'<p class="{classes}" id="p-{esc(passage.chunk_id)}">{text}</p>')
    body = (
        '<a class="skip" href="#text">跳到正文</a><div class="wrap">'
        f'<header class="doc"><nav><a href="{esc(root)}/">← 返回政策咨询</a></nav>'
        f"<h1>《{esc(info.title)}》</h1><dl class=\"meta\">{meta}</dl>{warning}"
        f'<p class="actions">{original}<span class="note">索引版本 {esc(doc.index_version)}</span></p></header>'
        f'<main id="text" tabindex="-1" aria-label="文件全文">{"".join(parts)}</main></div>'
    )
    return _page(info.title, body, root)


def error_page(message: str, root: str = "") -> str:
    body = (f'<div class="wrap"><div class="error" role="alert"><p>{esc(message)}</p>'
            f'<p><a href="{esc(root)}/">← 返回政策咨询</a></p></div></div>')
    return _page("无法打开文件", body, root)
