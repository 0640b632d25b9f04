"""Remove the page furniture that saved policy web pages carry; leave the policy text untouched."""

from __future__ import annotations

import re

# Whole lines that are page furniture, never policy text.
_JUNK_LINES = [
    r"分享到[:：]?.*",
    r".*(打印本页|关闭窗口|【\s*打印\s*】|【\s*关闭\s*】|\[\s*打印\s*\]|\[\s*关闭\s*\]).*",
    r".*浏览器版本过低.*",
    r".*(请升级|建议使用).*(浏览器|IE\d*).*",
    r"(当前位置|您现在的位置|您当前的位置|所在位置)[:：].*",
    r"首页\s*(>|＞|»|/|→).*",
    r"附件[:：]\s*",
    r"字号[:：]?\s*[【\[]?\s*大\s*[】\]]?\s*[【\[]?\s*中\s*[】\]]?\s*[【\[]?\s*小.*",
    r"(扫一扫|用手机扫描).*(手机|二维码).*",
    r"(收藏本页|加入收藏|返回顶部|网站地图|无障碍浏览|长者模式).*",
    r"(上一篇|下一篇)[:：].*",
    r"(浏览次数|阅读次数|访问量)[:：]?\s*\d*",
    r"[【\[]?\s*(微信|微博|QQ空间|QQ好友)\s*[】\]]?(\s*[【\[]?\s*(微信|微博|QQ空间|QQ好友)\s*[】\]]?)*",
]
_JUNK = re.compile(r"^\s*(?:" + "|".join(_JUNK_LINES) + r")\s*$")


def strip_boilerplate(text: str) -> str:
    """Drop furniture lines, normalise line ends and blank runs; keep every other character as is."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u3000", " ").replace("\xa0", " ")
    kept = [line.rstrip() for line in text.split("\n") if not _JUNK.match(line)]
    cleaned = "\n".join(kept)
    cleaned = re.sub(r"\n{3,}", "\n\n", cleaned)
    return cleaned.strip()
