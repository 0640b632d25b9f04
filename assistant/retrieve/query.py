"""Understanding the question: scaffolding to strip, the document and article it names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from assistant.indexing.snapshot import IndexSnapshot
from assistant.numerals import ARTICLE_REF, NUMBER, canonical_article, normalize_units

# Question scaffolding: words that say "this is a question", not what it is about.
_SCAFFOLD = re.compile(
    r"(请问|请教|你好|您好|麻烦|咨询一下|想问一下|问一下|我想知道|想了解|帮我|告诉我|谢谢|"
    r"根据哪[条部个项](法律|法规|规定|政策)?|依据哪[条部个项](法律|法规|规定|政策)?|"
    r"有哪些规定|是怎么规定的|怎么规定|如何规定|规定了什么|有什么规定|是什么意思|"
    r"怎么办|怎么处理|该怎么|应该怎么|怎么样|是否|能否|可不可以|可以吗|吗|呢|吧|啊|呀|"
    r"这份|这篇|此份)"  # 这份答复: the document in hand, not a word to find
)
_PUNCT = re.compile(r"[？?！!。，,、；;：:“”\"'‘’（）()《》\s]+")
_PREFIX = "中华人民共和国"
_MIN_FREE_ALIAS = 3  # shorter names count only as citations (《刑法》, 刑法第十条)


@dataclass
class ParsedQuery:
    text: str  # as asked
    keyword_text: str  # scaffolding stripped, number forms normalised
    source: str | None  # the document it names, if any
    article: str | None  # 第十条, canonical
    article_exists: bool | None  # None when no document+article pair was named


def clean_for_keywords(question: str) -> str:
    text = normalize_units(question)
    text = _SCAFFOLD.sub(" ", text)
    return _PUNCT.sub(" ", text).strip()


@lru_cache(maxsize=65536)
def title_aliases(title: str) -> frozenset[str]:
    """Names a question may use for a document: the title, without 中华人民共和国, without a
    trailing parenthesis. Two-character short names (刑法, 宪法) are kept; `find_document` only
    trusts them right before an article number or inside 《》."""
    base = title.strip().strip("《》")
    aliases = {base}
    if base.startswith(_PREFIX) and len(base) > len(_PREFIX) + 1:
        aliases.add(base[len(_PREFIX) :])
    base = re.sub(r"[（(][^）)]*[）)]$", "", base)
    aliases.add(base)
    return frozenset(a for a in aliases if len(a) >= 2)


def _named(alias: str, question: str) -> bool:
    if len(alias) >= _MIN_FREE_ALIAS:
        return alias in question
    # A short name is a document name only in a citation: 《刑法》, 刑法第十条 (not 民刑法律 …).
    return f"《{alias}》" in question or re.search(re.escape(alias) + rf"\s*第\s*{NUMBER}\s*条",
                                                  question) is not None


def named_documents(question: str, snapshot: IndexSnapshot) -> list[str]:
    """Sources of the documents the question names by their longest title (or alias) it contains,
    in force and newest first (a law's versions share one title); by 文号, that document alone."""
    best_len = 0
    found: list[str] = []
    for source, meta in snapshot.documents.items():
        if meta.doc_number and meta.doc_number in question:
            return [source]
        for alias in title_aliases(meta.title):
            if len(alias) >= best_len and _named(alias, question):
                if len(alias) > best_len:
                    best_len, found = len(alias), []
                if source not in found:
                    found.append(source)
    docs = snapshot.documents
    return sorted(found, key=lambda s: (not docs[s].in_force, _negated_date(docs[s].date), s))


def _negated_date(date: str | None) -> tuple[int, ...]:
    digits = [int(x) for x in re.findall(r"\d+", date or "")]
    return tuple(-d for d in digits) or (0,)


def find_document(question: str, snapshot: IndexSnapshot) -> str | None:
    """The source of the longest document title (or alias) the question contains (in force first)."""
    found = named_documents(question, snapshot)
    return found[0] if found else None


def parse_query(question: str, snapshot: IndexSnapshot, context_source: str | None = None) -> ParsedQuery:
    named = named_documents(question, snapshot)
    source = named[0] if named else None
    article = None
    match = ARTICLE_REF.search(question)
    if match:
        article = canonical_article(match.group(0))
        source = source or context_source
    exists = None
    if article and source:
        # Of several versions of the named law, the newest in force that has the article.
        having = [s for s in named if (s, article) in snapshot.articles]
        source = having[0] if having else source
        exists = (source, article) in snapshot.articles
    return ParsedQuery(question, clean_for_keywords(question), source, article, exists)
