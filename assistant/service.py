"""The assistant as a library: search and ask over the live index. CLI, API and UI call this."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.documents import Document

from assistant.answer.conversation import Conversation, ConversationStore, Turn, resolve, subject_of
from assistant.answer.evidence import coverage, term_weights
from assistant.answer.extractive import compose, quote_article
from assistant.api.schemas import AskResponse, Citation, DocumentInfo
from assistant.errors import BadQuestionError
from assistant.indexing.snapshot import IndexSnapshot, LiveIndex
from assistant.retrieve.hybrid import hit_document, search_snapshot
from assistant.retrieve.query import ParsedQuery, clean_for_keywords, parse_query
from assistant.review.service import ReviewService
from assistant.settings import Settings
from assistant.store.keyword import tokenize

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

REFUSAL = (
    "抱歉，已索引的政策文件中没有找到能够回答这个问题的内容，因此无法给出答复。"
    "以下段落可能相关，仅供参考；如需人工解答，可以将问题转交服务专员。"
)
NO_ARTICLE = "已索引的《{title}》中没有{article}。"


def document_info(meta: dict[str, Any]) -> DocumentInfo:
    status = meta.get("status") or None
    if meta.get("superseded_by"):
        status = status or "被替代"
    return DocumentInfo(
        title=meta["title"], doc_number=meta.get("doc_number") or None, issuer=meta.get("issuer") or None,
        date=meta.get("date") or None, status=status, in_force=bool(meta.get("in_force", True)),
        source=meta["source"],
    )


def citation(n: int, doc: Document, highlights: list[tuple[int, int]] | None = None) -> Citation:
    return Citation(n=n, document=document_info(doc.metadata), locator=doc.metadata["locator"],
                    text=doc.page_content, highlights=highlights or [],
                    score=round(float(doc.metadata.get("score", 0.0)), 4))


class Assistant:
    def __init__(self, settings: Settings, index: LiveIndex | None = None) -> None:
        self.settings = settings
        self.index = index or LiveIndex(settings)
        self.conversations = ConversationStore()
        self.review = ReviewService(settings, self.index, citation)  # the log, curated answers, hand-offs

    # --- validation ------------------------------------------------------------------------------
    def check_question(self, question: str) -> str:
        if not isinstance(question, str):
            raise BadQuestionError("the question must be text")
        cleaned = _CONTROL.sub("", question).strip()
        if not cleaned:
            raise BadQuestionError("the question is empty: please type a question")
        if len(cleaned) > self.settings.max_question_chars:
            raise BadQuestionError(
                f"the question is {len(cleaned)} characters long; the limit is {self.settings.max_question_chars}"
            )
        return cleaned

    # --- retrieval -------------------------------------------------------------------------------
    def retrieve(self, query: str, k: int, context_source: str | None = None
                 ) -> tuple[IndexSnapshot, ParsedQuery, list[Document]]:
        snapshot = self.index.snapshot()
        parsed = parse_query(query, snapshot, context_source)
        hits = search_snapshot(snapshot, self.index.embedder.embed_query, parsed, k, self.settings.candidates)
        return snapshot, parsed, [hit_document(snapshot, h) for h in hits]

    def search(self, query: str, k: int | None = None) -> list[Citation]:
        return self.search_with_version(query, k)[1]

    def search_with_version(self, query: str, k: int | None = None) -> tuple[str, list[Citation]]:
        """Passages and the index version they all come from (one snapshot for the whole call)."""
        query = self.check_question(query)
        snapshot, _, docs = self.retrieve(query, k or self.settings.top_k)
        return snapshot.version, [citation(i + 1, d) for i, d in enumerate(docs)]

    def _weights(self, tokens: list[str]) -> dict[str, float]:
        return term_weights(tokens)

    def evidence(self, snapshot: IndexSnapshot, query: str, docs: list[Document]) -> float:
        tokens = tokenize(query)
        weights = self._weights(tokens)
        best = 0.0
        for doc in docs[:5]:
            text = f"{doc.metadata['title']} {doc.metadata['locator']} {doc.page_content}"
            best = max(best, coverage(tokens, text, weights))
        return best

    # --- answers ---------------------------------------------------------------------------------
    def ask(self, question: str, conversation_id: str | None = None, top_k: int | None = None) -> AskResponse:
        question = self.check_question(question)
        conversation = self.conversations.get(conversation_id)
        return self.answer(question, conversation, top_k)

    def answer(self, question: str, conversation: Conversation, top_k: int | None = None) -> AskResponse:
        query = resolve(question, conversation)
        # Conversations of the store are logged; ad-hoc ones (example checks, probes) are not.
        logged = conversation in self.conversations
        curated = self.review.curated_answer(question, query, conversation.id, logged=logged)
        if curated is not None:
            conversation.turns.append(Turn(question, query, [c.document.source for c in curated.citations],
                                           subject_of(question, conversation)))
            return curated
        k = top_k or self.settings.top_k
        snapshot, parsed, docs = self.retrieve(query, k, conversation.last_source)
        if parsed.article and parsed.source and parsed.article_exists is False:
            title = snapshot.documents[parsed.source].title
            conversation.turns.append(Turn(question, query, [parsed.source], subject_of(question, conversation)))
            return self.review.record(
                AskResponse(answer=NO_ARTICLE.format(title=title, article=parsed.article), citations=[],
                            refused=True, conversation_id=conversation.id, query=query,
                            index_version=snapshot.version), question, None, logged=logged)
        exact = [d for d in docs if d.metadata.get("exact")]
        evidence = 1.0 if exact else self.evidence(snapshot, parsed.keyword_text or query, docs)
        weights = self._weights(tokenize(parsed.keyword_text or query))
        focus = clean_for_keywords(question) if query != question else None
        if exact and parsed.article:
            composed = quote_article(exact[0], parsed.article)
        else:
            composed = compose(parsed.keyword_text or query, docs, weights, focus=focus)
        if evidence < self.settings.min_evidence or not composed.cited:
            conversation.turns.append(Turn(question, query, [], subject_of(question, conversation)))
            return self.review.record(AskResponse(
                answer=REFUSAL, citations=[citation(i + 1, d) for i, d in enumerate(docs[:3])], refused=True,
                conversation_id=conversation.id, query=query, index_version=snapshot.version,
            ), question, evidence, logged=logged)
        pool = exact or docs
        citations = [citation(n + 1, pool[p], composed.highlights.get(p)) for n, p in enumerate(composed.cited)]
        conversation.turns.append(Turn(question, query, [pool[p].metadata["source"] for p in composed.cited],
                                       subject_of(question, conversation)))
        return self.review.record(AskResponse(answer=composed.text, citations=citations, refused=False,
                                              conversation_id=conversation.id, query=query,
                                              index_version=snapshot.version), question, evidence, logged=logged)


