"""Upload checks: names, types by content, archive bombs, a PDF that would parse for hours."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from assistant.load.upload import UploadRejected, accept_upload, safe_name

SYNTHETIC = "（测试用合成文本，不是真实政策）\n第一条 本文件用于测试上传。\n".encode()


@pytest.mark.parametrize("name", ["../evil.txt", "..\\evil.txt", "a/b.txt", "/etc/passwd", ".hidden.txt",
                                  "x.exe", "noext", "", "a\x00.txt", "..", "政策..txt"])
def test_names_that_leave_the_corpus_or_have_no_known_type_are_refused(name: str) -> None:
    with pytest.raises(UploadRejected):
        safe_name(name)


def test_plain_names_pass() -> None:
    assert safe_name("天津市科技政策.docx") == "天津市科技政策.docx"


def test_text_upload_is_written_atomically(tmp_path: Path) -> None:
    target, title = accept_upload(tmp_path, "测试.txt", SYNTHETIC, 1 << 20, 30)
    assert target == tmp_path / "测试.txt" and target.read_bytes() == SYNTHETIC
    assert title  # the parse in the child process found the document
    assert [p.name for p in tmp_path.iterdir()] == ["测试.txt"]


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("a.txt", b"%PDF-1.4 binary", "binary"),
    ("a.txt", b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 4, "binary"),
    ("a.pdf", SYNTHETIC, "not a PDF"),
    ("a.docx", SYNTHETIC, "not a Word"),
    ("a.html", SYNTHETIC, "no markup"),
    ("a.txt", b"", "empty"),
])
def test_content_must_match_the_name(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    with pytest.raises(UploadRejected, match=reason):
        accept_upload(tmp_path, name, data, 1 << 20, 30)
    assert not list(tmp_path.iterdir())


def test_size_limit(tmp_path: Path) -> None:
    with pytest.raises(UploadRejected, match="larger than"):
        accept_upload(tmp_path, "big.txt", SYNTHETIC * 100000, 1 << 20, 30)


def test_zip_bomb_named_docx_is_refused_without_unpacking(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (200 << 20))
    data = buf.getvalue()
    assert len(data) < 1 << 20
    started = time.monotonic()
    with pytest.raises(UploadRejected, match=r"expands too much|unpacks to more"):
        accept_upload(tmp_path, "bomb.docx", data, 5 << 20, 30)
    assert time.monotonic() - started < 5


def _slow_pdf(pages: int = 60, lines: int = 20000) -> bytes:
    """A small, valid PDF whose pages share one huge synthetic content stream: text extraction of
    every page would take minutes."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({NameObject("/Type"): NameObject("/Font"),
                                                NameObject("/Subtype"): NameObject("/Type1"),
                                                NameObject("/BaseFont"): NameObject("/Helvetica")}))
    content = DecodedStreamObject()
    content.set_data(b"BT /F1 12 Tf 10 10 Td (synthetic) Tj ET\n" * lines)
    stream = writer._add_object(content.flate_encode())
    resources = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    for _ in range(pages):
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = resources
        page[NameObject("/Contents")] = stream
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_pdf_that_takes_too_long_is_refused_within_the_limit(tmp_path: Path) -> None:
    data = _slow_pdf()
    assert len(data) < 1 << 20
    started = time.monotonic()
    with pytest.raises(UploadRejected, match="within 3 s"):
        accept_upload(tmp_path, "slow.pdf", data, 5 << 20, 3)
    assert time.monotonic() - started < 20
    assert not list(tmp_path.iterdir())
