"""Archives judged by what they really expand to; parse children limited in memory and in number.

The hostile files are built here, in memory: a real-looking .docx (python-docx, synthetic text) whose
word/document.xml really expands to 1.2 GB while its headers claim 5 kB.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import struct
import threading
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from assistant.errors import LoadError
from assistant.indexing.service import run_index
from assistant.load import load_file
from assistant.load.archive import ArchiveError, check_zip
from assistant.load.upload import UploadRejected, accept_upload, parse_with_timeout
from assistant.settings import Settings
from tests.test_upload_checks import _slow_pdf

SYNTHETIC = "关于测试压缩包检查的通知（测试用合成文本，不是真实政策）"
CLAIMED = 5000  # bytes the forged headers claim
EXPANDS_MIB = 1200  # what the member really expands to


def real_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(SYNTHETIC, level=1)
    document.add_paragraph("第一条 本合成文件只用于测试上传与索引的压缩包检查。")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def _bomb_stream(prefix: bytes) -> bytes:
    """A raw deflate stream: `prefix`, then EXPANDS_MIB MiB of spaces; about 1.2 MB compressed. After a
    full flush the compressor starts afresh, so one compressed MiB repeated is a valid stream."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = b" " * (1 << 20)
    piece = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    twin = deflate.copy()
    assert twin.compress(block) + twin.flush(zlib.Z_FULL_FLUSH) == piece
    return head + piece * EXPANDS_MIB + deflate.flush()


def lying_docx() -> bytes:
    """The real .docx with word/document.xml replaced by the bomb stream, its sizes forged to 5 kB."""
    source = zipfile.ZipFile(io.BytesIO(real_docx()))
    document_xml = source.read("word/document.xml")
    stream = _bomb_stream(document_xml)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            if info.filename == "word/document.xml":
                out.writestr(zipfile.ZipInfo(info.filename), stream, compress_type=zipfile.ZIP_STORED)
            else:
                out.writestr(info, source.read(info))
    data = bytearray(buf.getvalue())
    # Patch the member's headers: compression method → deflate, uncompressed size → CLAIMED.
    name = b"word/document.xml"
    local = _local_header(data, name)
    struct.pack_into("<H", data, local + 8, zipfile.ZIP_DEFLATED)
    struct.pack_into("<L", data, local + 22, CLAIMED)
    central = data.index(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(name)] != name:
        central = data.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<H", data, central + 10, zipfile.ZIP_DEFLATED)
    struct.pack_into("<L", data, central + 24, CLAIMED)
    return bytes(data)


def _local_header(data: bytearray, name: bytes) -> int:
    local = data.index(b"PK\x03\x04")
    while data[local + 30 : local + 30 + len(name)] != name:
        local = data.index(b"PK\x03\x04", local + 4)
    return local


@pytest.fixture(scope="module")
def lying() -> bytes:
    data = lying_docx()
    claimed = {i.filename: i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist()}
    assert claimed["word/document.xml"] == CLAIMED and sum(claimed.values()) < 1 << 20
    assert len(data) < 2 << 20
    return data


def test_the_real_docx_passes_the_archive_check() -> None:
    names = check_zip(real_docx())
    assert "word/document.xml" in names


def test_an_upload_that_lies_about_its_sizes_is_refused_quickly_in_little_memory(tmp_path: Path,
                                                                                 lying: bytes) -> None:
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(UploadRejected, match=r"size fields are false: 'word/document\.xml' claims 5000"):
            accept_upload(tmp_path, "合成.docx", lying, 5 << 20, 30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 5
    assert peak < 32 << 20, peak
    assert not list(tmp_path.iterdir())


def test_members_are_counted_by_what_they_expand_to_against_the_budget(lying: bytes) -> None:
    # Claims honest or not, the budget counts inflated bytes: the 1.2 GB member stops the check at it.
    with pytest.raises(ArchiveError):
        check_zip(lying, max_unpacked=8 << 20)


def test_a_damaged_member_is_refused() -> None:
    data = bytearray(real_docx())
    name = b"word/document.xml"
    local = _local_header(data, name)
    start = local + 30 + len(name) + struct.unpack_from("<H", data, local + 28)[0]
    data[start : start + 64] = b"\xff" * 64  # not deflate any more
    with pytest.raises(ArchiveError, match="damaged"):
        check_zip(bytes(data))


def test_the_index_reports_and_skips_a_lying_archive(tmp_path: Path, lying: bytes, embedder: object) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "合成-压缩包.docx").write_bytes(lying)
    (corpus / "合成-正常.txt").write_text(f"{SYNTHETIC}\n第一条 试点企业可以申请合成示范补助。\n",
                                        encoding="utf-8")
    with pytest.raises(LoadError, match="size fields are false"):
        load_file(corpus / "合成-压缩包.docx", corpus)
    report = run_index(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", data_dir=tmp_path / "data"))
    files = {f.source: f for f in report.files}
    assert report.published and report.documents == 1
    assert files["合成-正常.txt"].action == "added"
    assert files["合成-压缩包.docx"].action == "skipped"
    assert "size fields are false" in (files["合成-压缩包.docx"].reason or "")


def test_the_parse_child_runs_under_a_memory_limit(tmp_path: Path) -> None:
    """A 16 MB text needs well over 96 MB to decode and clean; with a 96 MB cap its reader is refused,
    naming the limit, while a small file reads fine under the same cap."""
    small = f"{SYNTHETIC}\n第一条 小文件。\n".encode()
    assert parse_with_timeout("small.txt", small, 60, memory_mb=96).startswith("关于测试压缩包检查")
    big = (SYNTHETIC + "\n" + "第一条 试点企业可以申请合成示范补助，并按规定提交材料。\n" * 300000).encode()
    assert len(big) > 15 << 20
    with pytest.raises(UploadRejected, match="96 MB"):
        parse_with_timeout("big.txt", big, 120, memory_mb=96)


def test_at_most_n_parse_children_run_at_once() -> None:
    slow = _slow_pdf()
    most = 0
    done = threading.Event()
    outcomes: list[str] = []

    def watch() -> None:
        nonlocal most
        while not done.is_set():
            most = max(most, len(mp.active_children()))
            time.sleep(0.05)

    def upload() -> None:
        try:
            parse_with_timeout("slow.pdf", slow, 2, workers=2)
        except UploadRejected as err:
            outcomes.append(str(err))

    watcher = threading.Thread(target=watch)
    watcher.start()
    uploads = [threading.Thread(target=upload) for _ in range(4)]
    started = time.monotonic()
    for thread in uploads:
        thread.start()
    for thread in uploads:
        thread.join()
    done.set()
    watcher.join()
    assert most == 2
    assert len(outcomes) == 4 and all("within 2 s" in o for o in outcomes)
    assert time.monotonic() - started >= 4  # two rounds of two
