"""The indexed documents as a reader browses them: one document whole, its original file, the
documents related to a question, and type-ahead suggestions.

Everything is read from the live index version (the text a citation quotes), never from the
corpus folder as it is now, except the original file, which is served only while it is still the
file that was indexed (same sha256).
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from assistant.answer.evidence import relevance
from assistant.documents import document_id
from assistant.errors import AssistantError, NotFoundError
from assistant.indexing.snapshot import IndexSnapshot
from assistant.load import file_hash, sidecar_path
from assistant.numerals import NUMBER, ORDINAL
from assistant.store.keyword import tokenize
from assistant.types import Answer, Citation, DocumentInfo

if TYPE_CHECKING:
    from assistant.service import Assistant


class DocumentNotFoundError(NotFoundError):
    """No indexed document with that id, or its original file is no longer the indexed one."""


@dataclass(frozen=True)
class Passage:
    chunk_id: str
    locator: str
    text: str
    overlap: int = 0  # leading characters repeated from the previous passage (not shown again)


@dataclass(frozen=True)
class DocumentText:
    id: str
    info: DocumentInfo
    passages: list[Passage]
    index_version: str
    has_original: bool


@dataclass(frozen=True)
class RelatedDocument:
    id: str
    info: DocumentInfo
    locator: str  # where in it the closest passage is
    evidence: float


def document_info(snapshot: IndexSnapshot, source: str) -> DocumentInfo:
    return DocumentInfo.of(snapshot.documents[source])


def find_source(snapshot: IndexSnapshot, doc_id: str) -> str:
    for source in snapshot.documents:
        if document_id(source) == doc_id:
            return source
    raise DocumentNotFoundError("没有找到这份文件，它可能已被移出政策文件库。")


_PASSAGE_IDS: dict[str, dict[tuple[str, str], str]] = {}
_PASSAGE_LOCK = threading.Lock()


def passage_id(snapshot: IndexSnapshot, source: str, text: str) -> str | None:
    """The chunk id of a cited passage (by its document and exact text) in this version."""
    with _PASSAGE_LOCK:
        table = _PASSAGE_IDS.get(snapshot.version)
        if table is None:
            table = {(d.metadata["source"], d.page_content): d.metadata["chunk_id"] for d in snapshot.chunks}
            _PASSAGE_IDS.clear()  # one version at a time
            _PASSAGE_IDS[snapshot.version] = table
    return table.get((source, text))


def _overlap(previous: str, text: str, limit: int = 400) -> int:
    """Length of the longest start of `text` that ends `previous` (a chunk window's carried sentence)."""
    for size in range(min(len(previous), len(text), limit), 7, -1):
        if previous.endswith(text[:size]):
            return size
    return 0


def _original(settings_corpus: Path, source: str, sha256: str | None) -> Path | None:
    corpus = settings_corpus.resolve()
    path = (corpus / source).resolve()
    if not sha256 or not path.is_relative_to(corpus) or not path.is_file():
        return None
    return path if file_hash(path) == sha256 else None  # the file (and its sidecar) as indexed


_ORIGINALS: dict[tuple[str, str], tuple[tuple[int, ...], bool]] = {}
_ORIGINALS_LOCK = threading.Lock()


def _stamp(path: Path) -> tuple[int, ...]:
    """Size and time of a file and of its sidecar: what changes when either is edited."""
    stamp: list[int] = []
    for item in (path, sidecar_path(path)):
        try:
            st = os.stat(item)
            stamp += [st.st_size, st.st_mtime_ns, st.st_ino]
        except OSError:
            stamp += [-1, -1, -1]
    return tuple(stamp)


def has_original(corpus_dir: Path, source: str, sha256: str | None) -> bool:
    """Whether the corpus still holds the file as indexed: hashed once per change of the file's size or
    time, so every answer can say where its originals are without reading them each time."""
    if not sha256:
        return False
    path = corpus_dir.resolve() / source
    stamp = _stamp(path)
    with _ORIGINALS_LOCK:
        known = _ORIGINALS.get((source, sha256))
    if known is not None and known[0] == stamp:
        return known[1]
    found = _original(corpus_dir, source, sha256) is not None
    with _ORIGINALS_LOCK:
        if len(_ORIGINALS) > 4096:  # documents × versions; a bound, not a working set
            _ORIGINALS.clear()
        _ORIGINALS[(source, sha256)] = (stamp, found)
    return found


def passage_path(doc_id: str, chunk_id: str | None, highlights: list[tuple[int, int]]) -> str:
    """The document page scrolled to a passage with its cited spans marked, relative to the site root
    (the pages link it as is; the API puts its root path in front)."""
    if chunk_id is None:
        return f"documents/{doc_id}"
    spans = ",".join(f"{int(s)}-{int(e)}" for s, e in highlights)
    return f"documents/{doc_id}?p={quote(chunk_id)}&hl={quote(spans)}#p-{quote(chunk_id)}"


def with_links(assistant: Assistant, citations: list[Citation], root: str = "") -> list[Citation]:
    """The citations with their page and original URLs (`root`: the app's root path, "" or "/prefix").

    The passage anchor is found in the live version by document and exact text, so a reviewed answer
    served later still links its passages; without a live index the URLs stay None."""
    if not citations:
        return citations
    try:
        snapshot = assistant.index.snapshot()
    except AssistantError:
        return citations
    linked = []
    for item in citations:
        source = item.document.source
        if source not in snapshot.documents:
            linked.append(item)
            continue
        doc_id = document_id(source)
        chunk = passage_id(snapshot, source, item.text)
        sha = snapshot.manifest.get("documents", {}).get(source, {}).get("sha256")
        original = f"{root}/documents/{doc_id}/original" if has_original(assistant.settings.corpus_dir, source,
                                                                          sha) else None
        linked.append(item.model_copy(update={"url": f"{root}/{passage_path(doc_id, chunk, item.highlights)}",
                                              "original_url": original}))
    return linked


def link_answer(assistant: Assistant, answer: Answer, root: str = "") -> Answer:
    """The answer with every citation and related passage linked (see `with_links`)."""
    return answer.model_copy(update={"citations": with_links(assistant, answer.citations, root),
                                     "related": with_links(assistant, answer.related, root)})


def read_document(assistant: Assistant, doc_id: str) -> DocumentText:
    """The whole indexed text of one document, passage by passage in reading order."""
    snapshot = assistant.index.snapshot()
    source = find_source(snapshot, doc_id)
    chunks = sorted((d for d in snapshot.chunks if d.metadata["source"] == source),
                    key=lambda d: int(d.metadata.get("ordinal", 0)))
    passages: list[Passage] = []
    previous = None
    for doc in chunks:
        locator = str(doc.metadata.get("locator", ""))
        same = previous is not None and previous.locator == locator
        overlap = _overlap(previous.text, doc.page_content) if previous is not None and same else 0
        passage = Passage(doc.metadata["chunk_id"], locator, doc.page_content, overlap)
        passages.append(passage)
        previous = passage
    sha = snapshot.manifest.get("documents", {}).get(source, {}).get("sha256")
    original = has_original(assistant.settings.corpus_dir, source, sha)
    return DocumentText(doc_id, document_info(snapshot, source), passages, snapshot.version, original)


def original_file(assistant: Assistant, doc_id: str) -> tuple[Path, str]:
    """(path, file name) of the file that was indexed, while the corpus still holds it unchanged."""
    snapshot = assistant.index.snapshot()
    source = find_source(snapshot, doc_id)
    sha = snapshot.manifest.get("documents", {}).get(source, {}).get("sha256")
    path = _original(assistant.settings.corpus_dir, source, sha)
    if path is None:
        message = "这份文件的原件已更新或移除，请稍后在重新建立索引后再下载。"
        raise DocumentNotFoundError(message, zh=message)
    return path, Path(source).name


# --- documents related to a question -----------------------------------------------------------------

def related_documents(assistant: Assistant, query: str, exclude: set[str], limit: int = 3) -> list[RelatedDocument]:
    """Other documents close to the question: the best passage of each document the retrieval finds,
    kept only when it clears settings.related_documents_floor."""
    retrieval = assistant.retriever.retrieve(query, assistant.settings.candidates)
    snapshot = retrieval.snapshot
    found: list[RelatedDocument] = []
    seen = set(exclude)
    for doc in retrieval.docs:
        source = doc.metadata["source"]
        if source in seen or source not in snapshot.documents:
            continue
        seen.add(source)
        score = relevance(query, doc)
        if score >= assistant.settings.related_documents_floor:
            found.append(RelatedDocument(document_id(source), document_info(snapshot, source),
                                         str(doc.metadata.get("locator", "")), round(score, 4)))
        if len(found) >= limit:
            break
    return found


# --- type-ahead --------------------------------------------------------------------------------------

_ORDINAL = re.compile(
    rf"^\s*(?:第{NUMBER}[章节部分编条]\s*|{ORDINAL}[、.．]\s*"
    rf"|[（(](?:{ORDINAL}|\d+)[）)]\s*|\d+[、.．]\s*)"
)
_PARAGRAPH = re.compile(r"^第\d+段$")
_NOT_WORD = re.compile(r"[^\w]", re.U)
_TERMS: dict[str, list[str]] = {}
_TERMS_LOCK = threading.Lock()


def heading_name(locator_part: str) -> str | None:
    """A heading without its ordinal ('一、工作开展情况' → '工作开展情况'); None for bare numbers."""
    top = locator_part.strip()
    if not top or _PARAGRAPH.match(top):
        return None
    name = _ORDINAL.sub("", top).strip()
    return name if 2 <= len(name) <= 30 else None


def _fold(text: str) -> str:
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).lower())


_ITEM = re.compile(rf"^{ORDINAL}是([^。；;，,：:\n]{{4,24}})。", re.M)


def _terms(snapshot: IndexSnapshot) -> list[str]:
    """Titles (newest first), headings and run-in item headings (一是…。) of the version."""
    with _TERMS_LOCK:
        terms = _TERMS.get(snapshot.version)
        if terms is None:
            names: dict[str, None] = {}
            for meta in sorted(snapshot.documents.values(), key=lambda m: m.date or "", reverse=True):
                names[meta.title] = None
            for chunk in snapshot.chunks:
                for part in str(chunk.metadata.get("locator", "")).split(">"):
                    name = heading_name(part)
                    if name:
                        names[name] = None
                for item in _ITEM.findall(chunk.page_content):
                    names[item] = None
            terms = list(names)
            _TERMS.clear()
            _TERMS[snapshot.version] = terms
    return terms


def suggestions(assistant: Assistant, typed: str, reviewed_questions: list[str], limit: int = 6) -> list[str]:
    """What to offer while a question is typed: reviewed questions, document titles and headings.

    Those containing what was typed come first, then those sharing its longest words; reviewed
    questions before titles and headings at equal match.
    """
    key = _fold(typed)
    if len(key) < 2:
        return []
    try:
        terms = _terms(assistant.index.snapshot())
    except AssistantError:
        terms = []
    words = [w for w in dict.fromkeys(tokenize(typed)) if len(w) >= 2]
    scored: list[tuple[float, int, str]] = []
    for order, candidate in enumerate(dict.fromkeys([*reviewed_questions, *terms])):
        folded = _fold(candidate)
        if folded == key:
            continue
        score = 1000.0 if key in folded else float(sum(len(w) for w in words if w in folded))
        if score >= 2:
            scored.append((-score, order, candidate))
    return [c for _, _, c in sorted(scored)[:limit]]
