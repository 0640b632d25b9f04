"""Chinese and Arabic numerals in article numbers (第10条 = 第十条), via cn2an."""

from __future__ import annotations

import re
from functools import lru_cache

import cn2an

CN_DIGITS = "零〇一二三四五六七八九十百千万两"
NUMBER = rf"[{CN_DIGITS}\d]+"  # a number in 第N条, 第N章 …: the one pattern; import it
ORDINAL = "[一二三四五六七八九十]+"  # an enumeration's ordinal: 一、 （三） 二是 (never 百 or 零 there)
AMOUNT = rf"[{CN_DIGITS}亿]+"  # a count or amount in Chinese numerals: 三百家, 两亿
_NUM = NUMBER
ARTICLE_REF = re.compile(rf"第\s*({_NUM})\s*条(之{ORDINAL})?")  # 第十七条之一 is its own article
_UNIT_REF = re.compile(rf"第\s*({_NUM})\s*(编|章|节|条|款|项)")


@lru_cache(maxsize=4096)
def to_int(text: str) -> int | None:
    """'十一' → 11, '11' → 11, '一百零五' → 105; None when it is not a number."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        value = cn2an.cn2an(text.replace("〇", "零"), "smart")
    except (ValueError, KeyError, IndexError):
        return None
    return int(value) if float(value).is_integer() and value > 0 else None


@lru_cache(maxsize=4096)
def to_cn(number: int) -> str:
    """11 → '十一', 105 → '一百零五' (the form statutes use in article numbers)."""
    text: str = cn2an.an2cn(number, "low")
    return text


def canonical_article(label: str) -> str | None:
    """'第10条' / '第 十 条' → '第十条'; '第17条之一' → '第十七条之一'."""
    match = ARTICLE_REF.search(label)
    if not match:
        return None
    number = to_int(match.group(1))
    return f"第{to_cn(number)}条{match.group(2) or ''}" if number else None


def normalize_units(text: str) -> str:
    """Rewrite every 第N条/章/节/编/款/项 with Arabic digits into Chinese numerals."""

    def repl(match: re.Match[str]) -> str:
        number = to_int(match.group(1))
        return f"第{to_cn(number)}{match.group(2)}" if number else match.group(0)

    return _UNIT_REF.sub(repl, text)
