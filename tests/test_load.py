"""Load: every format and encoding → clean text and metadata; broken files → LoadError naming file and reason.

Fixture texts are either short excerpts of the seed document (the Tianjin municipal government's
reply of 2024-04-25, in corpus/) or synthetic texts that say so in their first lines.
"""

from __future__ import annotations

import codecs
import random
from pathlib import Path

import docx
import pytest
import yaml

from assistant.errors import LoadError
from assistant.load import discover, file_hash, load_file
from assistant.load.metadata import extract_metadata, parse_date
from tests.lawdb import SEED, copy_seed

SYNTHETIC = "（测试用合成文本，并非真实政策）"

# A synthetic notice with a 文号, a 落款 (issuer above the date) and a status badge.
NOTICE = f"""关于支持中试平台建设的若干措施
{SYNTHETIC}
津政发〔2025〕9号
各区人民政府，市政府各委、局：
第一条 对新认定的中试平台，按设备投资额的20%给予补助，最高500万元；
第二条 本措施自2025年2月1日起施行，有效期3年。
天津市人民政府
2025年1月10日
"""

# A short excerpt of the seed document (real text), for checks that numbers and punctuation survive.
SEED_EXCERPT = (
    "一是加强概念验证平台布局建设。聚焦我市智能科技、生物医药、新能源、新材料等重点产业,"
    "依托北京科技创新资源,布局建设中关村硬创空间等25家行业概念验证平台"
)
SEED_NUMBERS = "截至2023年末,全市科技型上市企业51家,其中2019年以来新增科技型上市公司18家,占同期新增上市公司的64.28%。"


def load(corpus: Path, name: str, data: bytes | str) -> object:
    path = corpus / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return load_file(path, corpus)


def make_pdf(lines: list[str], title: str | None = None) -> bytes:
    """A minimal one-page PDF with a Helvetica text object (ASCII only), xref offsets computed."""
    escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) Tj T*" for line in escaped) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if title:
        objects.append(f"<< /Title ({title}) >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    info = f" /Info {len(objects)} 0 R" if title else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    return folder


# --- plain text in every encoding ------------------------------------------------------------------

ENCODINGS = {
    "utf-8": NOTICE.encode("utf-8"),
    "utf-8-bom": NOTICE.encode("utf-8-sig"),
    # 䶮 (CJK Extension A) exists in GB18030 but not in GBK: proves the decoder is not GBK-only.
    "gb18030": (NOTICE + "（生僻字：䶮）\n").encode("gb18030"),
    "gbk": NOTICE.encode("gbk"),
    "utf-16-bom-le": codecs.BOM_UTF16_LE + NOTICE.encode("utf-16-le"),
    "utf-16-bom-be": codecs.BOM_UTF16_BE + NOTICE.encode("utf-16-be"),
    "utf-16-le-no-bom": NOTICE.encode("utf-16-le"),
}


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_txt_in_every_encoding_decodes_to_the_same_text(corpus: Path, encoding: str) -> None:
    doc = load(corpus, f"notice-{encoding}.txt", ENCODINGS[encoding])
    assert doc.text.startswith(NOTICE.strip())  # type: ignore[attr-defined]
    assert "\ufeff" not in doc.text and "\x00" not in doc.text  # type: ignore[attr-defined]
    if encoding == "gb18030":
        assert "䶮" in doc.text  # type: ignore[attr-defined]
    meta = doc.meta  # type: ignore[attr-defined]
    assert meta.source == f"notice-{encoding}.txt"
    assert meta.title == "关于支持中试平台建设的若干措施"
    assert meta.doc_number == "津政发〔2025〕9号"
    assert meta.issuer == "天津市人民政府"
    assert meta.date == "2025-01-10"


def test_crlf_and_ideographic_spaces_are_normalised(corpus: Path) -> None:
    doc = load(corpus, "crlf.txt", NOTICE.replace("\n", "\r\n").replace("第一条 ", "第一条\u3000"))
    assert "\r" not in doc.text  # type: ignore[attr-defined]
    assert "第一条 对新认定的中试平台" in doc.text  # type: ignore[attr-defined]


# --- declared metadata: front matter and sidecar ----------------------------------------------------

def test_markdown_front_matter_overrides_extracted_metadata(corpus: Path) -> None:
    text = f"""---
title: 合成测试通知（Markdown 前置元数据）
文号: 津科发〔2024〕3号
issuer: 天津市科学技术局
date: 2024-03-01
status: 已废止
reviewer: 测试
---
# 关于测试前置元数据的通知

{SYNTHETIC}

津政发〔2023〕1号

**第一条** 本通知用于测试。

天津市人民政府
2023年5月6日
"""
    doc = load(corpus, "front.md", text)
    meta = doc.meta  # type: ignore[attr-defined]
    assert meta.title == "合成测试通知（Markdown 前置元数据）"
    assert meta.doc_number == "津科发〔2024〕3号"
    assert meta.issuer == "天津市科学技术局"
    assert meta.date == "2024-03-01"
    assert meta.status == "已废止" and not meta.in_force
    assert meta.extra == {"reviewer": "测试"}
    body = doc.text  # type: ignore[attr-defined]
    assert "---" not in body and "reviewer" not in body
    assert "第一条 本通知用于测试。" in body  # markdown emphasis removed, text kept
    assert not body.startswith("#")


def test_markdown_without_front_matter_takes_its_heading_as_title(corpus: Path) -> None:
    doc = load(corpus, "plain.md", f"# 关于测试标题的通知\n\n{SYNTHETIC}\n\n第一条 本通知用于测试。\n")
    assert doc.meta.title == "关于测试标题的通知"  # type: ignore[attr-defined]


def test_sidecar_overrides_extracted_metadata_and_changes_the_hash(corpus: Path) -> None:
    path = corpus / "notice.txt"
    path.write_text(NOTICE, encoding="utf-8")
    before = file_hash(path)
    sidecar = {"title": "侧车文件给出的标题", "doc_number": "津政办发〔2024〕7号", "issuer": "天津市人民政府办公厅",
               "date": "2024年2月3日", "status": "现行有效", "url": "https://example.invalid/notice"}
    (corpus / "notice.meta.yaml").write_text(yaml.safe_dump(sidecar, allow_unicode=True), encoding="utf-8")
    doc = load_file(path, corpus)
    meta = doc.meta
    assert meta.title == "侧车文件给出的标题"
    assert meta.doc_number == "津政办发〔2024〕7号"
    assert meta.issuer == "天津市人民政府办公厅"
    assert meta.date == "2024-02-03"
    assert meta.status == "现行有效" and meta.in_force
    assert meta.extra == {"url": "https://example.invalid/notice"}
    assert doc.sha256 == file_hash(path) != before  # editing only the sidecar re-indexes the document


def test_invalid_sidecar_is_a_load_error(corpus: Path) -> None:
    (corpus / "notice.txt").write_text(NOTICE, encoding="utf-8")
    (corpus / "notice.meta.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    with pytest.raises(LoadError) as err:
        load_file(corpus / "notice.txt", corpus)
    assert err.value.path == "notice.txt" and "notice.meta.yaml" in err.value.reason


# --- HTML ------------------------------------------------------------------------------------------

SAVED_PAGE = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<title>关于测试网页清理的通知_天津市人民政府</title>
<script>var share = "分享到微信"; document.write("打印本页");</script>
<style>.crumb {{ color: #333 }}</style>
</head>
<body>
<div class="crumb"><a href="/">首页</a> &gt; <a href="/zwgk">政务公开</a> &gt; <a>政策文件</a></div>
<div class="tip">亲爱的朋友: 经系统检测,您的浏览器版本过低。为了改善你的体验,请升级新版IE11,新版EDGE,Chrome,火狐等浏览器。点击此处升级</div>
<h1>关于测试网页清理的通知</h1>
<div class="info">发布日期：2025-01-10　来源：天津市科学技术局</div>
<div class="TRS_Editor">
<p>{SYNTHETIC}</p>
<p>津科发〔2025〕2号</p>
<p class=MsoNormal><span style='font-family:
仿宋_GB2312'>一、对符合条件的企业给予最高</span><span lang=EN-US>300</span><span
style='font-family:仿宋_GB2312'>万元补助，
补助比例不超过</span><span lang=EN-US>30%</span>；</p>
<p>二、申报截止时间为2025年3月31日（含），逾期不予受理。</p>
<p>以下为真实文件摘录：{SEED_EXCERPT}。</p>
<p>{SEED_NUMBERS}</p>
<p>附件：1.申报书模板</p>
<p>天津市科学技术局<br>2025年1月10日</p>
</div>
<div>附件：</div>
<div class="share">分享到：<a>微信</a> <a>微博</a></div>
<div class="tools">【打印本页】 【关闭窗口】</div>
<script>window.print && console.log("关闭窗口");</script>
</body></html>
"""


@pytest.mark.parametrize(("name", "encoding"), [("page.html", "utf-8"), ("page-gbk.htm", "gb18030")])
def test_saved_web_page_loses_its_furniture_and_keeps_the_policy_text(corpus: Path, name: str,
                                                                       encoding: str) -> None:
    page = SAVED_PAGE.replace('charset="utf-8"', f'charset="{"gb2312" if encoding != "utf-8" else encoding}"')
    doc = load(corpus, name, page.encode(encoding))
    text = doc.text  # type: ignore[attr-defined]
    for junk in ("首页", "政务公开", "分享到", "打印本页", "关闭窗口", "浏览器版本过低", "请升级", "document.write",
                 "console.log", "var share", "color:"):
        assert junk not in text, junk
    lines = text.split("\n")
    assert "附件：" not in lines  # the empty attachment line goes …
    assert "附件：1.申报书模板" in lines  # … a real one stays
    # Inline markup and source line wraps do not break a sentence or a number.
    assert "一、对符合条件的企业给予最高300万元补助，补助比例不超过30%；" in lines
    assert "二、申报截止时间为2025年3月31日（含），逾期不予受理。" in lines
    assert f"以下为真实文件摘录：{SEED_EXCERPT}。" in lines
    assert SEED_NUMBERS in lines
    meta = doc.meta  # type: ignore[attr-defined]
    assert meta.title == "关于测试网页清理的通知"
    assert meta.doc_number == "津科发〔2025〕2号"
    assert meta.date == "2025-01-10"
    assert meta.issuer == "天津市科学技术局"


def test_html_title_tag_without_h1_drops_the_site_name(corpus: Path) -> None:
    page = f"<html><head><title>关于测试标题的通知_天津市人民政府</title></head><body><p>{SYNTHETIC}</p></body></html>"
    doc = load(corpus, "t.html", page)
    assert doc.meta.title == "关于测试标题的通知"  # type: ignore[attr-defined]


def test_html_preformatted_lines_and_table_cells_stay_apart(corpus: Path) -> None:
    page = f"""<html><body><p>{SYNTHETIC}</p><pre>第一行
第二行</pre>
<table><tr><td>项目</td>
<td>补助金额</td></tr><tr><td>中试平台</td><td>500万元</td></tr></table></body></html>"""
    lines = load(corpus, "pre.html", page).text.split("\n")  # type: ignore[attr-defined]
    assert "第一行" in lines and "第二行" in lines
    assert "项目 补助金额" in lines and "中试平台 500万元" in lines


# --- Word and PDF ----------------------------------------------------------------------------------

def test_docx_paragraphs_and_tables_in_document_order(corpus: Path) -> None:
    document = docx.Document()
    document.core_properties.title = ""
    document.add_paragraph("关于测试Word文档的实施意见")
    document.add_paragraph(SYNTHETIC)
    document.add_paragraph("津政办规〔2024〕5号")
    document.add_paragraph("一、补助标准")
    document.add_paragraph("对新建中试平台按投资额的20%给予补助，最高1000万元。")
    table = document.add_table(rows=2, cols=2)
    for (row, col), value in {(0, 0): "项目", (0, 1): "金额", (1, 0): "中试平台", (1, 1): "1000万元"}.items():
        table.cell(row, col).text = value
    document.add_paragraph("二、其他事项")
    document.add_paragraph("本意见自印发之日起施行。")
    document.add_paragraph("天津市人民政府办公厅")
    document.add_paragraph("2024年6月1日")
    document.save(corpus / "opinion.docx")
    doc = load_file(corpus / "opinion.docx", corpus)
    lines = doc.text.split("\n")
    assert lines.index("一、补助标准") < lines.index("项目 | 金额") < lines.index("中试平台 | 1000万元") \
        < lines.index("二、其他事项")
    assert "对新建中试平台按投资额的20%给予补助，最高1000万元。" in lines
    assert doc.meta.title == "关于测试Word文档的实施意见"
    assert doc.meta.doc_number == "津政办规〔2024〕5号"
    assert doc.meta.issuer == "天津市人民政府办公厅"
    assert doc.meta.date == "2024-06-01"


def test_docx_core_title_is_used(corpus: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "关于测试核心属性标题的通知"
    document.add_paragraph(SYNTHETIC)
    document.save(corpus / "core.docx")
    assert load_file(corpus / "core.docx", corpus).meta.title == "关于测试核心属性标题的通知"


def test_pdf_with_a_text_layer(corpus: Path) -> None:
    lines = ["Synthetic test PDF (not a real policy)", "Article 1 A subsidy of up to 500 yuan, 20% at most.",
             "Article 2 Applications close on 2025-03-31."]
    doc = load(corpus, "notice.pdf", make_pdf(lines, title="Synthetic PDF Notice"))
    assert doc.text.split("\n") == lines  # type: ignore[attr-defined]
    assert doc.meta.title == "Synthetic PDF Notice"  # type: ignore[attr-defined]


def test_pdf_without_text_is_a_load_error(corpus: Path) -> None:
    with pytest.raises(LoadError) as err:
        load(corpus, "scan.pdf", make_pdf([]))
    assert err.value.path == "scan.pdf" and "no text layer" in err.value.reason


# --- broken files ----------------------------------------------------------------------------------

_rng = random.Random(7)
BROKEN = {
    "garbage.pdf": (b"\x00\x13garbage, not a PDF at all" * 40, "not a PDF"),
    "truncated.pdf": (make_pdf(["Synthetic"])[:150], "not a readable PDF"),
    "image.txt": (bytes.fromhex("89504e470d0a1a0a0000000d49484452") + bytes(_rng.randrange(256) for _ in range(3000)),
                  "binary"),
    "random.txt": (bytes(_rng.randrange(256) for _ in range(4096)), "binary"),
    "controls.txt": ("第一条 正文。\x07\x08\x01\n".encode() * 20, "binary"),
    "broken.docx": (b"PK\x03\x04 not really a zip", "not a readable Word"),
    "empty.txt": (b"", "no text"),
    "furniture-only.html": ("<html><body><div>分享到：微信</div><div>【打印本页】【关闭窗口】</div></body></html>".encode(),
                            "no text"),
    "notes.rtf": (b"{\\rtf1 synthetic}", "unsupported file type"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_file_raises_load_error_naming_file_and_reason(corpus: Path, name: str) -> None:
    data, reason = BROKEN[name]
    with pytest.raises(LoadError) as err:
        load(corpus, name, data)
    assert err.value.path == name
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{name}: ")


# --- metadata from the text -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        (f"关于测试的通知\n{SYNTHETIC}\n津政发〔2025〕9号\n正文。", "doc_number", "津政发〔2025〕9号"),
        (f"关于测试的通知\n{SYNTHETIC}\n津政发 〔2025〕 9 号\n正文。", "doc_number", "津政发〔2025〕9号"),
        (f"关于测试的通知\n{SYNTHETIC}\n正文。\n天津市科学技术局\n2024年4月25日", "issuer", "天津市科学技术局"),
        (f"关于测试的通知\n{SYNTHETIC}\n正文。\n天津市科学技术局\n2024年4月25日", "date", "2024-04-25"),
        (f"关于测试的通知\n{SYNTHETIC}\n正文。\n天津市人民政府办公厅\n（此件公开发布）\n2024年4月5日", "issuer",
         "天津市人民政府办公厅"),
        (f"关于测试的通知\n发布日期：2025-01-10\n{SYNTHETIC}\n正文。", "date", "2025-01-10"),
        (f"关于测试的通知\n发布机构：天津市商务局\n{SYNTHETIC}\n正文。", "issuer", "天津市商务局"),
        (f"关于测试的通知\n时效性：现行有效\n{SYNTHETIC}\n正文。", "status", "现行有效"),
        (f"关于测试的通知\n效力状态：已废止\n{SYNTHETIC}\n正文。", "status", "已废止"),
        (f"已废止\n关于测试的通知\n{SYNTHETIC}", "status", "已废止"),
        (f"关于测试的通知（已废止）\n{SYNTHETIC}\n正文。", "status", "已废止"),
        # A title that talks about repeal is not a status: this decision is itself in force.
        (f"关于宣布失效一批规范性文件的决定\n{SYNTHETIC}\n正文。", "status", None),
        (f"{SYNTHETIC}\n正文没有文号也没有落款。", "doc_number", None),
        (f"{SYNTHETIC}\n正文没有文号也没有落款。", "title", "fallback-name"),
    ],
    ids=["doc-number", "doc-number-spaced", "issuer-above-date", "date-cn", "issuer-above-note", "date-label",
         "issuer-label", "status-in-force", "status-repealed", "status-badge-line", "status-in-title-brackets",
         "repeal-word-in-title-is-no-status", "no-doc-number", "title-fallback"],
)
def test_metadata_extracted_from_the_text(text: str, field: str, expected: str | None) -> None:
    meta = extract_metadata(text, "folder/fallback-name.txt")
    assert getattr(meta, field) == expected


def test_status_decides_whether_a_document_is_in_force() -> None:
    assert extract_metadata(f"关于测试的通知\n时效性：现行有效\n{SYNTHETIC}", "a.txt").in_force
    assert not extract_metadata(f"关于测试的通知\n时效性：已废止\n{SYNTHETIC}", "a.txt").in_force
    assert not extract_metadata(f"关于测试的通知\n时效性：失效\n{SYNTHETIC}", "a.txt").in_force


@pytest.mark.parametrize(("raw", "iso"), [("2024年4月25日", "2024-04-25"), ("2024 年 4 月 5 日", "2024-04-05"),
                                          ("2025-01-10", "2025-01-10"), ("2025/1/9", "2025-01-09"),
                                          ("2024年2月30日", None), ("无日期", None)])
def test_parse_date(raw: str, iso: str | None) -> None:
    assert parse_date(raw) == iso


# --- the seed document and the corpus folder --------------------------------------------------------

def test_seed_document(seed_corpus: Path) -> None:
    doc = load_file(seed_corpus / f"{SEED}.txt", seed_corpus)
    meta = doc.meta
    assert meta.title == "关于以中试平台建设助推新型工业化建设提质增效的提案的答复"
    assert meta.date == "2024-04-25"
    assert meta.issuer == "天津市人民政府"  # from the sidecar
    assert meta.in_force
    assert "布局建设中关村硬创空间等25家行业概念验证平台" in doc.text
    assert SEED_NUMBERS in doc.text
    for junk in ("浏览器版本过低", "分享到", "请升级"):
        assert junk not in doc.text
    assert "附件:" not in doc.text.split("\n")
    assert doc.text.startswith("陈峥委员:")
    # The saved page repeats the reply's opening after 分享到: that line is gone, the reply once.
    assert doc.text.count("陈峥委员") == 1


def test_discover_skips_sidecars_hidden_files_and_readmes(tmp_path: Path) -> None:
    corpus = copy_seed(tmp_path / "corpus")
    (corpus / "README.md").write_text("# 说明\n", encoding="utf-8")
    (corpus / ".hidden.txt").write_text(SYNTHETIC, encoding="utf-8")
    (corpus / ".git").mkdir()
    (corpus / ".git" / "x.txt").write_text(SYNTHETIC, encoding="utf-8")
    (corpus / "sub").mkdir()
    (corpus / "sub" / "b.md").write_text(SYNTHETIC, encoding="utf-8")
    found = [p.relative_to(corpus).as_posix() for p in discover(corpus)]
    assert found == ["sub/b.md", f"{SEED}.txt"]
    assert load_file(corpus / "sub" / "b.md", corpus).meta.source == "sub/b.md"


def test_text_pasted_without_line_breaks_gets_its_paragraphs_and_title_back(corpus: Path) -> None:
    """Web pages pasted as one line, paragraphs separated by spaces (as policyqa's texts are)."""
    line = ("某市应对疫情支持企业复工复产的若干措施（测试用合成文本）  各区人民政府，市各有关部门：为支持企业复工复产，"
            "现提出如下措施。 一、减免房租 对承租国有经营用房的中小企业，免收一个月房租。（测试用合成文本） "
            "二、稳定就业 对不裁员或少裁员的企业，返还上年度失业保险费的50%。（测试用合成文本） "
            "三、加大信贷支持 鼓励银行对受疫情影响较大的中小企业不抽贷、不断贷、不压贷。（测试用合成文本） 某市人民政府 "
            "2020年2月10日")
    path = corpus / "flat.txt"
    path.write_text(line, encoding="utf-8")
    loaded = load_file(path, corpus)
    lines = loaded.text.split("\n")
    assert loaded.meta.title == "某市应对疫情支持企业复工复产的若干措施（测试用合成文本）"
    assert "一、减免房租" in lines and "二、稳定就业" in lines  # headings are lines again, for the chunker
    assert "返还上年度失业保险费的50%。（测试用合成文本）" in loaded.text  # text itself untouched
    english = corpus / "english.txt"
    english.write_text("A plain English note that is long enough. " * 10, encoding="utf-8")
    assert "\n" not in load_file(english, corpus).text.strip()  # only Chinese text is split
