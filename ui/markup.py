"""HTML for the pages: every value escaped (document text is data, never markup), cited spans marked."""

from __future__ import annotations

import html


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def highlight(text: str, spans: list[tuple[int, int]]) -> str:
    """The passage, escaped, with each [start, end) span wrapped in <mark> (clamped; overlaps merged)."""
    clamped = sorted((max(0, int(s)), min(len(text), int(e))) for s, e in spans)
    merged: list[list[int]] = []
    for start, end in clamped:
        if end <= start:
            continue
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[str] = []
    pos = 0
    for start, end in merged:
        out.append(esc(text[pos:start]))
        out.append(f"<mark>{esc(text[start:end])}</mark>")
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


def parse_spans(value: str | None, limit: int = 40) -> list[tuple[int, int]]:
    """'0-12,30-41' (a link's highlight parameter) → [(0, 12), (30, 41)]; anything malformed is dropped."""
    spans: list[tuple[int, int]] = []
    for part in (value or "").split(",")[:limit]:
        start, _, end = part.partition("-")
        if start.isdigit() and end.isdigit() and len(start) < 7 and len(end) < 7:
            spans.append((int(start), int(end)))
    return spans

