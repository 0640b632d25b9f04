"""The document-level record shared by loader, index, retrieval and API."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

REPEALED = ("已废止", "废止", "失效", "已失效")
IN_FORCE = "现行有效"  # the status of a document nothing marks otherwise
SUPERSEDED = "被替代"


def document_id(source: str) -> str:
    """The short stable id of a document (its page is /documents/{id}): the prefix of its chunk ids."""
    return hashlib.sha1(source.encode("utf-8")).hexdigest()[:12]


@dataclass
class DocumentMeta:
    """What a citation shows about the policy a passage comes from."""

    title: str
    source: str  # path relative to the corpus folder
    doc_number: str | None = None  # 文号, e.g. 津政发〔2025〕9号
    issuer: str | None = None
    date: str | None = None  # ISO yyyy-mm-dd
    status: str | None = None  # as stated: 现行有效, 已废止, 失效 …; "被替代" when superseded
    superseded_by: str | None = None  # source of the newer document
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def in_force(self) -> bool:
        """The one rule: not superseded by a newer document and not stated repealed or expired."""
        return self.superseded_by is None and not (self.status and self.status in REPEALED)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["in_force"] = self.in_force
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DocumentMeta:
        # Chunk metadata stores "" for an absent field (Chroma takes no None): absent is None here.
        known = {k: data.get(k) or None for k in ("doc_number", "issuer", "date", "status", "superseded_by")}
        known.update(title=data.get("title") or "", source=data.get("source") or "")
        return cls(**known, extra=dict(data.get("extra") or {}))  # type: ignore[arg-type]
