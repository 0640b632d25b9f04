"""Bytes → text for plain-text files: detect the encoding (UTF-8 ± BOM, GB18030/GBK, UTF-16), don't assume."""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class DecodeError(ValueError):
    """The bytes are not text in any encoding we can recognise."""


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return "\x00" in text or controls / len(text) > 0.01


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 with no BOM shows as NULs in every other byte for ASCII text."""
    if len(data) < 4 or len(data) % 2:
        return None
    even, odd = data[0::2].count(0), data[1::2].count(0)
    for encoding, zeros in (("utf-16-le", odd), ("utf-16-be", even)):
        if zeros > len(data) // 8:
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                continue
    # CJK text in UTF-16 has few NULs: accept a strict decode that yields mostly CJK characters.
    for encoding in ("utf-16-le", "utf-16-be"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff" or ch in "，。；：、（）\n")
        if cjk / max(len(text), 1) > 0.6:
            return text
    return None


def decode_text(data: bytes) -> str:
    """Decode policy text bytes; raise DecodeError for binary or undecodable data."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding)
    if not data.strip():
        return ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if _looks_binary(text):
            raise DecodeError("binary content, not text")
        return text
    utf16 = _utf16_without_bom(data)
    if utf16 is not None and not _looks_binary(utf16):
        return utf16
    try:  # GB18030 is a superset of GBK/GB2312 and the most common non-UTF-8 encoding of Chinese policy text.
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        pass
    else:
        if not _looks_binary(text):
            return text
    best = from_bytes(data).best()
    if best is None:
        raise DecodeError("cannot detect a text encoding (binary file?)")
    text = str(best)
    if _looks_binary(text):
        raise DecodeError("binary content, not text")
    return text
