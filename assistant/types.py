"""The records that flow down the data path: chunk metadata, manifest, passages, citations, answers.

Defined once here, in the domain, so the loader, the index, retrieval, answering and review share
them; the HTTP API and the UI import them (never the other way round).
"""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.documents import Document
from pydantic import BaseModel, Field, computed_field

from assistant.documents import IN_FORCE, SUPERSEDED, DocumentMeta, document_id


class ChunkMeta(TypedDict, total=False):
    """`Document.metadata` of a chunk (written by assistant/chunk, read everywhere after).

    Empty strings, not None, for absent document fields: Chroma metadata takes no None.
    Retrieval adds the scoring keys (score, dense, keyword, exact, index_version) to the copies it
    returns; the stored chunk has none of them.
    """

    chunk_id: str
    source: str  # path of the document, relative to the corpus folder
    title: str
    doc_number: str  # 文号
    issuer: str
    date: str  # ISO yyyy-mm-dd
    status: str  # as stated in the document
    superseded_by: str
    in_force: bool  # DocumentMeta.in_force at build time (the one rule)
    locator: str  # heading path, e.g. 第二章 促进措施 > 第十条
    articles: str  # 第十条、第十一条: every article the chunk covers, canonical
    ordinal: int  # position of the chunk in its document
    embed_hash: str  # sha256 of the embedded text (title + locator + text)
    # added by retrieval
    score: float
    dense: float
    keyword: float
    exact: bool
    index_version: str


class ManifestFile(TypedDict, total=False):
    """One corpus file as the manifest records it."""

    sha256: str  # of the file's bytes
    chunks: int  # how many chunks it gave
    meta: dict[str, Any]  # DocumentMeta.to_dict()


class Manifest(TypedDict, total=False):
    """`manifest.json` of a published index version."""

    version: str
    base: str | None  # the version this one was built from (None for a full build)
    created: str
    model: str  # embedding model the vectors were made with
    dimension: int | None
    tokenizer: str  # keyword tokenizer id
    documents: dict[str, ManifestFile]  # by source
    chunk_count: int


def chunk_meta(doc: Document) -> ChunkMeta:
    """The metadata of a chunk, typed (a view, not a copy)."""
    return doc.metadata  # type: ignore[return-value]


class DocumentInfo(BaseModel):
    """What a citation shows about the document a passage comes from."""

    title: str
    doc_number: str | None = None
    issuer: str | None = None
    date: str | None = None
    status: str | None = Field(None, description="As stated in the document; else 被替代 when superseded, "
                                             "现行有效 when nothing marks it otherwise")
    in_force: bool = True
    source: str

    @computed_field(description="The document's id: its page is /documents/{id}, its JSON /api/documents/{id}")
    def id(self) -> str:
        # Derived, never stored: an id cannot disagree with its source, in old log rows either.
        return document_id(self.source)

    @classmethod
    def of(cls, meta: DocumentMeta) -> DocumentInfo:
        status = meta.status or (SUPERSEDED if meta.superseded_by else IN_FORCE if meta.in_force else None)
        return cls(title=meta.title, doc_number=meta.doc_number or None, issuer=meta.issuer or None,
                   date=meta.date or None, status=status, in_force=meta.in_force, source=meta.source)


class Citation(BaseModel):
    """A passage an answer relies on, with the offsets of the cited parts."""

    n: int
    document: DocumentInfo
    locator: str = Field(description="Heading path, e.g. 第二章 促进措施 > 第十条")
    text: str = Field(description="The passage")
    highlights: list[tuple[int, int]] = Field(default_factory=list,
                                              description="[start, end) offsets of cited sentences in text")
    score: float
    url: str | None = Field(None, description="The passage on its document's page (/documents/{id}?p=…&hl=…"
                                              "#p-…), the cited sentences marked; set by the HTTP API")
    original_url: str | None = Field(None, description="The indexed file (/documents/{id}/original) while the "
                                                       "corpus still holds it unchanged; set by the HTTP API")


def citation(n: int, doc: Document, highlights: list[tuple[int, int]] | None = None) -> Citation:
    """The citation of a retrieved chunk, numbered n."""
    meta = chunk_meta(doc)
    info = DocumentInfo.of(DocumentMeta.from_dict(dict(meta)))
    if not meta.get("in_force", True):  # a chunk's flag is set at build time, after supersession
        status = info.status if info.status and info.status != IN_FORCE else SUPERSEDED
        info = info.model_copy(update={"in_force": False, "status": status})
    return Citation(n=n, document=info, locator=meta["locator"], text=doc.page_content,
                    highlights=highlights or [], score=round(float(meta.get("score", 0.0)), 4))


class Answer(BaseModel):
    """An answer to one question: text whose every part is marked [n], and the citations."""

    answer: str
    citations: list[Citation]
    refused: bool
    related: list[Citation] = Field(default_factory=list,
                                    description="On a refusal: passages that may be related (above a relevance "
                                                "floor), for reference only; nothing is claimed from them")
    conversation_id: str
    query: str = Field(description="The query actually used for retrieval (follow-ups resolved)")
    index_version: str
    reviewed: bool = Field(False, description="Served from an answer a liaison reviewed")
    answerer: str = Field("extractive", description="What wrote the answer: extractive, llm, curated (a liaison's "
                                                    "reviewed answer) or refusal")
    dropped_sentences: int = Field(0, description="Sentences the LLM wrote that the passages they cite do not "
                                                  "back, left out before anyone saw them")
    fallback: str | None = Field(None, description="Why the LLM's answer was replaced by the extractive one: "
                                                   "unreachable, timeout, bad_response, not_found, all_dropped")
    answer_id: int | None = Field(None, description="This answer in the review log: pass it to POST /api/feedback "
                                                    "or POST /api/handoff (absent when not logged)")
