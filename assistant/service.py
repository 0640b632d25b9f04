"""The assistant as a library: search and ask over the live index. CLI, API and UI call this.

The path of one question: check it → resolve it against the conversation → a curated answer if a
liaison wrote one → retrieve → decide whether the passages can answer it → the answerer composes →
log. `answer_stream` yields that as it happens (what was found, the answer's parts, the final
answer); `ask` and `answer` return the final answer alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from langchain_core.documents import Document

from assistant.answer import get_answerer
from assistant.answer.answerability import probability, signals
from assistant.answer.base import Answerer, AnswerRequest, ComposedAnswer, Delta
from assistant.answer.conversation import Conversation, Conversations, conversation_store, resolve
from assistant.answer.evidence import coverage, relevance, term_weights
from assistant.errors import BadQuestionError
from assistant.indexing.snapshot import LiveIndex
from assistant.retrieve.query import clean_for_keywords
from assistant.retrieve.retriever import Retrieval, make_retriever
from assistant.review.service import ReviewService
from assistant.settings import Settings
from assistant.store.keyword import tokenize
from assistant.text import cited_parts
from assistant.types import Answer, Citation, citation

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _visible(text: str) -> str:
    """The text without control and format characters (zero-width spaces, bidi overrides, BOMs: Unicode
    categories Cc and Cf except tab and newlines): they carry no words, and a bidi override in the log
    would make a liaison read a question backwards."""
    return "".join(ch for ch in _CONTROL.sub("", text) if unicodedata.category(ch) != "Cf")

REFUSAL = "抱歉，已索引的政策文件中没有找到能够回答这个问题的内容，因此无法给出答复。"
COVERS = "目前索引了{n}份文件，例如{titles}。"
HAND_OFF = "如需人工解答，可以将问题转交服务专员。"
RELATED = "下方列出的段落可能相关，仅供参考。"
NO_ARTICLE = "已索引的《{title}》中没有{article}。"


@dataclass
class Retrieved:
    """First event of a streamed answer: the query used and the passages found."""

    query: str
    passages: list[Citation]


AnswerEvent = Retrieved | Delta | Answer


def answerability(query: str, retrieval: Retrieval) -> float:
    """P(the top passages answer the question): assistant/answer/answerability.py."""
    if any(d.metadata.get("exact") for d in retrieval.docs):
        return 1.0  # an article asked for by number
    keywords = clean_for_keywords(query) or query
    index = retrieval.snapshot.keyword
    return probability(signals(keywords, retrieval.docs, index.document_frequency, index.num_docs))


def aspect_unsupported(question: str, query: str, docs: list[Document]) -> bool:
    """A follow-up resolved onto the conversation's subject (申请条件呢 → 中试平台建设 申请条件呢) asks
    about its own words: when they weigh something and no passage holds any of them, the passages
    answer the subject, not the question (the seed says nothing of 申请条件)."""
    if query == question:
        return False
    tokens = tokenize(clean_for_keywords(question) or question)
    weights = term_weights(tokens)
    if not any(weights.get(t, 0.0) > 0 for t in tokens):
        return False  # only common words (有多少家？): nothing to check them by
    meta = [d.metadata for d in docs]
    texts = [f"{m.get('title', '')} {m.get('locator', '')} {d.page_content}" for m, d in zip(meta, docs, strict=True)]
    return all(coverage(tokens, text, weights) == 0.0 for text in texts)


def refusal(query: str, retrieval: Retrieval, floor: float) -> tuple[str, list[Citation]]:
    """The refusal: what the index covers, the hand-off, and the passages that clear the relevance
    floor (none when nothing is close: a weather question lists no policy)."""
    related = [doc for doc in retrieval.docs[:3] if relevance(query, doc) >= floor]
    documents = sorted(retrieval.snapshot.documents.values(), key=lambda m: m.date or "", reverse=True)
    titles = "、".join(f"《{m.title}》" for m in documents[:3])
    text = REFUSAL + (COVERS.format(n=len(documents), titles=titles) if documents else "") + HAND_OFF
    return text + (RELATED if related else ""), [citation(i + 1, d) for i, d in enumerate(related)]


class Assistant:
    def __init__(self, settings: Settings, index: LiveIndex | None = None,
                 answerer: Answerer | None = None) -> None:
        self.settings = settings
        self.index = index or LiveIndex(settings)
        self.retriever = make_retriever(settings, self.index)
        self.answerer = answerer or get_answerer(settings.answerer, settings)
        self.conversations: Conversations = conversation_store(settings)  # memory, or Redis (redis_url)
        self.review = ReviewService(settings, self.index, self.retriever)  # log, curated answers, hand-offs

    # --- validation ------------------------------------------------------------------------------
    def check_question(self, question: str) -> str:
        if not isinstance(question, str):
            raise BadQuestionError("the question must be text", zh="问题必须是文字。")
        cleaned = _visible(question).strip()
        if not cleaned and question.strip():
            raise BadQuestionError("the question holds only invisible characters (control or format characters, "
                                   "e.g. U+200B): please type a question", zh="问题中只有不可见字符，请输入问题。")
        if not cleaned:
            raise BadQuestionError("the question is empty: please type a question", zh="请输入问题。")
        limit = self.settings.max_question_chars
        if len(cleaned) > limit:
            raise BadQuestionError(f"the question is {len(cleaned)} characters long; the limit is {limit}",
                                   zh=f"问题过长（{len(cleaned)} 字），请精简到 {limit} 字以内。")
        return cleaned

    # --- retrieval -------------------------------------------------------------------------------
    def search(self, query: str, k: int | None = None) -> list[Citation]:
        return self.search_with_version(query, k)[1]

    def search_with_version(self, query: str, k: int | None = None) -> tuple[str, list[Citation]]:
        """Passages and the index version they all come from (one snapshot for the whole call)."""
        found = self.retriever.retrieve(self.check_question(query), k or self.settings.top_k)
        return found.snapshot.version, [citation(i + 1, d) for i, d in enumerate(found.docs)]

    # --- answers ---------------------------------------------------------------------------------
    def ask(self, question: str, conversation_id: str | None = None, top_k: int | None = None) -> Answer:
        question = self.check_question(question)
        return self.answer(question, self.conversations.get(conversation_id), top_k)

    def answer(self, question: str, conversation: Conversation, top_k: int | None = None) -> Answer:
        final = None
        for event in self.answer_stream(question, conversation, top_k):
            final = event
        assert isinstance(final, Answer)
        return final

    def answer_stream(self, question: str, conversation: Conversation, top_k: int | None = None
                      ) -> Iterator[AnswerEvent]:
        """Answer one (checked) question of a conversation, yielding events as they happen."""
        query = resolve(question, conversation, self.settings.max_question_chars)
        logged = conversation in self.conversations  # ad-hoc conversations (probes, examples) are not
        curated = self.review.curated_answer(question, query, conversation.id, logged=logged)
        if curated is not None:
            conversation.remember(question, query, [c.document.source for c in curated.citations])
            yield Retrieved(query, curated.citations)
            yield from (Delta(part) for part in cited_parts(curated.answer))
            yield curated
            return

        found = self.retriever.retrieve(query, top_k or self.settings.top_k, conversation.last_source)
        snapshot, parsed = found.snapshot, found.parsed
        yield Retrieved(query, [citation(i + 1, d) for i, d in enumerate(found.docs)])

        def reply(text: str, citations: list[Citation], refused: bool, sources: list[str],
                  score: float | None, related: list[Citation] | None = None,
                  composed: ComposedAnswer | None = None) -> Answer:
            conversation.remember(question, query, sources)
            writer = "refusal" if refused else (composed.answerer if composed else "") or self.answerer.name
            response = Answer(answer=text, citations=citations, refused=refused, conversation_id=conversation.id,
                              query=query, index_version=snapshot.version, related=related or [], answerer=writer,
                              dropped_sentences=composed.dropped if composed else 0,
                              fallback=composed.fallback if composed else None)
            return self.review.record(response, question, score, logged=logged)

        if parsed.article and parsed.source and parsed.article_exists is False:
            title = snapshot.documents[parsed.source].title
            text = NO_ARTICLE.format(title=title, article=parsed.article)
            yield Delta(text)
            yield reply(text, [], True, [parsed.source], None)
            return

        score = answerability(query, found)
        exact = [d for d in found.docs if d.metadata.get("exact")]
        pool = exact or found.docs
        composed: ComposedAnswer | None = None
        answerable = score >= self.settings.min_answerability
        if answerable and not exact and aspect_unsupported(question, query, pool):
            answerable = False  # the passages hold nothing of what the follow-up asks about
        if answerable:
            request = AnswerRequest(question, query, pool, parsed.article if exact else None)
            for event in self.answerer.stream(request):
                if isinstance(event, ComposedAnswer):
                    composed = event
                elif event.text:
                    yield event
        if composed is None or not composed.cited:
            text, related = refusal(query, found, self.settings.related_floor)
            yield Delta(text)
            yield reply(text, [], True, [], score, related, composed)
            return
        citations = [citation(n + 1, pool[p], composed.highlights.get(p)) for n, p in enumerate(composed.cited)]
        yield reply(composed.text, citations, False, [pool[p].metadata["source"] for p in composed.cited], score,
                    composed=composed)

