"""Document metadata from the text itself: title, 文号, issuing body, date, status.

Declared metadata (YAML front matter or a sidecar NAME.meta.yaml) overrides what is extracted.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from assistant.documents import DocumentMeta

DOC_NUMBER = re.compile(
    r"[\u4e00-\u9fa5]{1,12}\s*[〔\[［(（【]\s*(?:19|20)\d{2}\s*[〕\]］)）】]\s*第?\s*\d{1,5}\s*号"
)
_DATE_CN = re.compile(r"((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_DATE_ISO = re.compile(r"((?:19|20)\d{2})[-/.](\d{1,2})[-/.](\d{1,2})")
_DATE_LABEL = re.compile(r"(成文日期|发布日期|印发日期|发文日期|公布日期|施行日期|日期)\s*[:：]\s*(.+)")
_ISSUER_LABEL = re.compile(r"(发布机构|发文机关|发文单位|制定机关|发布单位|来源)\s*[:：]\s*(\S[^\s|]*)")
_STATUS = re.compile(r"(现行有效|已废止|已失效|失效|已修改|尚未生效|部分失效)")
_STATUS_BADGE = re.compile(
    r"^\s*[【\[［(（]?\s*" + _STATUS.pattern + r"\s*[】\]］)）]?\s*$|[【\[［(（]\s*" + _STATUS.pattern + r"\s*[】\]］)）]\s*$"
)
_STATUS_LABEL = re.compile(r"(时效性|效力状态|有效性|状态)\s*[:：]\s*(现行有效|已废止|已失效|失效|已修改|尚未生效|部分失效)")
_ORG_SUFFIX = re.compile(
    r"^[\u4e00-\u9fa5（）()、]{2,40}(人民政府|办公厅|办公室|委员会|常务委员会|人民代表大会|局|厅|部|院|署|中心|委|会|政府)$"
)
_TITLE_WORDS = re.compile(
    r"(关于|办法|条例|规定|意见|方案|通知|法$|法》|指引|细则|决定|答复|规划|纲要|措施|公告|通告|批复|函|章程|规则|制度|计划|指南)"
)
_PROPOSAL = re.compile(r"您(?:提出|所提|提)的(关于.{4,80}?的(?:提案|建议|议案))")
_IN_SENTENCE = re.compile(r"[。，,；;：:！？!?]")
SIDECAR_SUFFIX = ".meta.yaml"
FIELDS = ("title", "doc_number", "issuer", "date", "status")


def parse_date(text: str) -> str | None:
    for pattern in (_DATE_CN, _DATE_ISO):
        match = pattern.search(text)
        if match:
            try:
                return date(int(match.group(1)), int(match.group(2)), int(match.group(3))).isoformat()
            except ValueError:
                continue
    return None


def _title(lines: list[str], text: str, format_title: str | None, fallback: str) -> str:
    if format_title and len(format_title) <= 80:
        # Site names often trail the page title: "关于…的通知_天津市人民政府".
        return re.split(r"\s*[_|｜—-]{1,2}\s*(?=[\u4e00-\u9fa5]*(?:政府|网|门户)$)", format_title)[0].strip()
    for line in lines[:5]:
        candidate = line.strip().strip("《》")
        if (
            4 <= len(candidate) <= 80
            and not candidate.endswith(("。", "：", ":", "；"))
            and _TITLE_WORDS.search(candidate)
            and not DOC_NUMBER.fullmatch(candidate)
        ):
            return candidate
    proposal = _PROPOSAL.search(text[:500])
    if proposal:  # a reply to a deputy's proposal names its subject in the first lines
        return f"{proposal.group(1)}的答复"
    first = lines[0].strip() if lines else ""
    if 6 <= len(first) <= 60 and not _IN_SENTENCE.search(first) and not DOC_NUMBER.fullmatch(first):
        return first  # a headline without the usual title words (news items: 山西省推行…“不见面审批”)
    return fallback


def _issuer_and_date(lines: list[str]) -> tuple[str | None, str | None]:
    """落款: the issuing body's line just above the date line at the end of the text."""
    issuer = doc_date = None
    for line in lines[:15]:
        label = _ISSUER_LABEL.search(line)
        if label and not issuer:
            issuer = label.group(2)
        dated = _DATE_LABEL.search(line)
        if dated and not doc_date:
            doc_date = parse_date(dated.group(2))
    tail = [line.strip() for line in lines[-12:] if line.strip()]
    for i in range(len(tail) - 1, -1, -1):
        line = tail[i]
        if len(line) <= 20 and _DATE_CN.fullmatch(line.strip("（）() ")):
            doc_date = doc_date or parse_date(line)
            for previous in reversed(tail[max(0, i - 3) : i]):
                if _ORG_SUFFIX.match(previous):
                    issuer = issuer or previous
                    break
            break
    return issuer, doc_date


def extract_metadata(text: str, source: str, format_title: str | None = None) -> DocumentMeta:
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    fallback = Path(source).stem
    title = _title(lines, text, format_title, fallback)
    head = "\n".join(lines[:12])
    number = DOC_NUMBER.search(head) or DOC_NUMBER.search("\n".join(lines[-12:]))
    issuer, doc_date = _issuer_and_date(lines)
    status_label = _STATUS_LABEL.search(head)
    status = status_label.group(2) if status_label else None
    if not status:
        # A status badge near the top: a line of its own, or bracketed at a line's end. Not any
        # occurrence: a title such as 关于宣布失效一批规范性文件的决定 is itself in force.
        for line in lines[:3]:
            bare = _STATUS_BADGE.search(line)
            if bare:
                status = bare.group(1) or bare.group(2)
                break
    return DocumentMeta(
        title=title,
        source=source,
        doc_number=re.sub(r"\s+", "", number.group(0)) if number else None,
        issuer=issuer,
        date=doc_date,
        status=status,
    )


def apply_declared(meta: DocumentMeta, declared: dict[str, Any]) -> DocumentMeta:
    """Front matter / sidecar values win over extracted ones; unknown keys are kept as extras."""
    for key, value in declared.items():
        if value is None:
            continue
        if key in FIELDS:
            if key == "date":
                value = parse_date(str(value)) or str(value)
            setattr(meta, key, str(value))
        elif key == "文号":
            meta.doc_number = str(value)
        else:
            meta.extra[key] = value
    return meta
