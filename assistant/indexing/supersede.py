"""Mark documents that a later one supersedes (same 文号 or title, newer date), so retrieval prefers what is in force."""

from __future__ import annotations

import re
from collections import defaultdict

from assistant.documents import DocumentMeta


def _key_title(title: str) -> str:
    return re.sub(r"[\s《》（）()〔〕\[\]]|（\d{4}年修订）|\(\d{4}年修正\)", "", title)


def mark_superseded(metas: list[DocumentMeta]) -> None:
    """Set `superseded_by` on every document an in-corpus newer version replaces."""
    for meta in metas:
        meta.superseded_by = None
    groups: dict[str, list[DocumentMeta]] = defaultdict(list)
    for meta in metas:
        groups[f"t:{_key_title(meta.title)}"].append(meta)
        if meta.doc_number:
            groups[f"n:{meta.doc_number}"].append(meta)
    for members in groups.values():
        dated = [m for m in members if m.date]
        if len(dated) < 2:
            continue
        newest = max(dated, key=lambda m: (m.date or "", m.source))
        for meta in dated:
            if meta is not newest and (meta.date or "") < (newest.date or ""):
                meta.superseded_by = newest.source
