"""Understanding the question: scaffolding to strip, the document and article it names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.indexing.snapshot import IndexSnapshot
from assistant.numerals import ARTICLE_REF, canonical_article, normalize_units

# Question scaffolding: words that say "this is a question", not what it is about.
_SCAFFOLD = re.compile(
    r"(请问|请教|你好|您好|麻烦|咨询一下|想问一下|问一下|我想知道|想了解|帮我|告诉我|谢谢|"
    r"根据哪[条部个项](法律|法规|规定|政策)?|依据哪[条部个项](法律|法规|规定|政策)?|"
    r"有哪些规定|是怎么规定的|怎么规定|如何规定|规定了什么|有什么规定|是什么意思|"
    r"怎么办|怎么处理|该怎么|应该怎么|怎么样|是否|能否|可不可以|可以吗|吗|呢|吧|啊|呀)"
)
_PUNCT = re.compile(r"[？?！!。，,、；;：:“”\"'‘’（）()《》\s]+")
_PREFIX = "中华人民共和国"


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


def title_aliases(title: str) -> set[str]:
    base = title.strip().strip("《》")
    aliases = {base}
    if base.startswith(_PREFIX) and len(base) > len(_PREFIX) + 1:
        aliases.add(base[len(_PREFIX) :])
    base = re.sub(r"[（(][^）)]*[）)]$", "", base)
    aliases.add(base)
    return {a for a in aliases if len(a) >= 3}


def find_document(question: str, snapshot: IndexSnapshot) -> str | None:
    """The source of the longest document title (or alias) the question contains."""
    best: tuple[int, str] | None = None
    for source, meta in snapshot.documents.items():
        for alias in title_aliases(meta.title):
            if alias in question and (best is None or len(alias) > best[0]):
                best = (len(alias), source)
        if meta.doc_number and meta.doc_number in question:
            return source
    return best[1] if best else None


def parse_query(question: str, snapshot: IndexSnapshot, context_source: str | None = None) -> ParsedQuery:
    source = find_document(question, snapshot)
    article = None
    match = ARTICLE_REF.search(question)
    if match:
        article = canonical_article(match.group(0))
        source = source or context_source
    exists = None
    if article and source:
        exists = (source, article) in snapshot.articles
    return ParsedQuery(question, clean_for_keywords(question), source, article, exists)
