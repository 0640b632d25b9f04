"""Zip archives (.docx) judged by what they really expand to, not by what their headers claim.

A zip's size fields are written by whoever made the file: a .docx can claim 5 kB for a member whose
deflate stream expands to 1.2 GB. So every member's stream is inflated here, a bounded piece at a
time and thrown away, counting the bytes it really produces against a budget; an archive whose
members expand to more than they claim, or to more than the budget, is refused before any parser
sees it. Memory stays at about one piece (1 MiB) whatever the archive holds.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

MAX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_RATIO = 100  # uncompressed / compressed, per member, above 1 MiB
MAX_MEMBERS = 2000
_PIECE = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader (30 bytes)


class ArchiveError(ValueError):
    """The archive is damaged, lies about its sizes or expands too much; the message says which."""


def check_zip(data: bytes, max_unpacked: int = MAX_UNPACKED_BYTES, max_members: int = MAX_MEMBERS
              ) -> list[str]:
    """Inflate every member within the byte budget; return the member names, or raise ArchiveError."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as err:
        raise ArchiveError("the archive is damaged") from err
    if len(members) > max_members:
        raise ArchiveError("the archive has too many members")
    if sum(m.file_size for m in members) > max_unpacked:
        raise ArchiveError(f"the archive unpacks to more than {max_unpacked >> 20} MB")
    view = memoryview(data)
    total = 0
    for member in members:
        produced = _expanded_size(view, member, max_unpacked - total, max_unpacked)
        if produced != member.file_size:
            really = "more" if produced > member.file_size else f"{produced} bytes"
            raise ArchiveError(f"the archive's size fields are false: {member.filename[:80]!r} claims "
                               f"{member.file_size} bytes but expands to {really}")
        total += produced
    return [m.filename for m in members]


def _expanded_size(data: memoryview, member: zipfile.ZipInfo, budget: int, limit: int) -> int:
    """Bytes the member's stream really expands to; stops (raising) past its claim or the budget."""
    if member.flag_bits & 0x1:
        raise ArchiveError("the archive is encrypted")
    start = member.header_offset
    header = bytes(data[start : start + _LOCAL_HEADER.size])
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise ArchiveError("the archive is damaged")
    fields = _LOCAL_HEADER.unpack(header)
    begin = start + _LOCAL_HEADER.size + fields[10] + fields[11]  # + name and extra field lengths
    stream = data[begin : begin + member.compress_size]
    if member.compress_type == zipfile.ZIP_STORED:
        return len(stream)
    if member.compress_type != zipfile.ZIP_DEFLATED:
        raise ArchiveError("the archive uses a compression method Word files do not use")
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
    produced = 0
    pos = 0
    pending = b""
    while not inflate.eof:
        if not pending:
            if pos >= len(stream):
                raise ArchiveError(f"the archive is damaged: {member.filename[:80]!r} is cut short")
            pending, pos = bytes(stream[pos : pos + _PIECE]), pos + _PIECE
        try:
            produced += len(inflate.decompress(pending, _PIECE))
        except zlib.error as err:
            raise ArchiveError(f"the archive is damaged: {member.filename[:80]!r} does not inflate") from err
        pending = inflate.unconsumed_tail
        if produced > member.file_size:
            return produced  # more than claimed: the caller refuses it, no need to count further
        if produced > budget:
            raise ArchiveError(f"the archive unpacks to more than {limit >> 20} MB")
        if produced > _PIECE and produced > MAX_RATIO * max(1, member.compress_size):
            raise ArchiveError("the archive expands too much (decompression bomb?)")
    return produced
