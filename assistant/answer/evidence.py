"""How much of a question a passage holds: IDF-weighted word coverage.

Coverage is the IDF-weighted share of the question's content words that a text contains. It is
absolute (unlike fused ranks), cheap, and explains itself. It is one signal of the answerability
decision (assistant/answer/answerability.py), the sentence score of the composer, and the
relevance floor of the passages a refusal lists.
"""

from __future__ import annotations

from functools import lru_cache

from langchain_core.documents import Document

from assistant.store.keyword import tokenize

# Words more common than this (general-language IDF, e.g. 想 4.1, 做 4.0) say nothing about the topic.
MIN_IDF = 4.5


@lru_cache(maxsize=1)
def general_idf() -> tuple[dict[str, float], float]:
    import jieba.analyse

    table = jieba.analyse.default_tfidf
    return table.idf_freq, float(table.median_idf)


def term_weights(tokens: list[str]) -> dict[str, float]:
    """General-language IDF (jieba's table) of each question word: corpus-independent, so the same
    question weighs the same on a one-document index and on 26 k statute articles. Words the table
    lacks (domain terms such as 众创空间) get its median; very common words get 0."""
    idf, median = general_idf()
    weights = {}
    for token in tokens:
        value = idf.get(token, median)
        weights[token] = value if value >= MIN_IDF else 0.0
    return weights


def coverage(question_tokens: list[str], passage_text: str, weights: dict[str, float]) -> float:
    """Share (0..1) of the question's weighted tokens that occur in the passage."""
    unique = list(dict.fromkeys(question_tokens))
    if not unique:
        return 0.0
    passage_tokens = set(tokenize(passage_text))
    total = sum(weights.get(t, 1.0) for t in unique)
    found = sum(weights.get(t, 1.0) for t in unique if t in passage_tokens or (len(t) > 1 and t in passage_text))
    return found / total if total else 0.0


def relevance(query: str, passage: Document) -> float:
    """Coverage of the question's keywords by a passage with its title and heading path: the floor
    a refusal's "possibly related" passages and the related documents must clear."""
    from assistant.retrieve.query import clean_for_keywords

    tokens = tokenize(clean_for_keywords(query) or query)
    meta = passage.metadata
    return coverage(tokens, f"{meta.get('title', '')} {meta.get('locator', '')} {passage.page_content}",
                    term_weights(tokens))
