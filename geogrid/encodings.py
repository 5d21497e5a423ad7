"""Text encodings of the files county offices have: detect them, say which, refuse mojibake.

County data travels as Shapefiles written by Chinese desktop GIS (GBK text, often without
the ``.cpg`` that names the encoding) and CSVs saved by Excel (GBK, or UTF-8 with a byte-order
mark).  GDAL reads a DBF without ``.cpg`` as ISO-8859-1, which turns ``地址编码`` into
``µØÖ·±àÂë`` without any error.  This module decides the encoding before anything is read:

1. the encoding the caller gives (``--encoding``);
2. a byte-order mark (CSV);
3. the ``.cpg`` file, then the DBF's code-page byte (LDID), checked against the bytes;
4. detection: strict UTF-8, then GB18030 (a superset of GBK and GB2312) when the result reads
   as common Chinese, then ``charset-normalizer``.

:func:`mojibake_reason` then checks every decoded value, so text read with the wrong encoding
is refused with the row and field rather than stored.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import re
import struct
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geogrid.errors import InputFileError, RowError

__all__ = [
    "Encoding",
    "cpg_encoding",
    "dbf_text_sample",
    "detect_encoding",
    "gdal_name",
    "mojibake_reason",
    "normalise_encoding",
    "text_errors",
]

#: DBF language driver ids (byte 29 of the header) that name one code page.  0x57 ("ANSI")
#: and 0x00 are left out: they mean "the writer's system code page", GBK on a Chinese
#: Windows and cp1252 elsewhere, so they are detected instead.
LDID_ENCODINGS = {
    0x01: "cp437",
    0x02: "cp850",
    0x03: "cp1252",
    0x4D: "gb18030",  # Chinese GBK (PRC), code page 936
    0x4E: "cp949",
    0x4F: "big5",
    0x7A: "gb18030",  # PRC GBK, code page 936
    0x7B: "cp949",
    0x7C: "cp874",
    0x13: "cp932",
    0x7D: "cp1255",
    0x7E: "cp1256",
    0xC8: "cp1250",
    0xC9: "cp1251",
}

# Names Windows, ArcGIS and QGIS write into .cpg files (and users type) -> Python codecs.
_ALIASES = {
    "936": "gb18030",
    "cp936": "gb18030",
    "ansi936": "gb18030",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "gb18030": "gb18030",
    "65001": "utf-8",
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "utf8bom": "utf-8-sig",
    "utf-8-sig": "utf-8-sig",
    "950": "big5",
    "big5": "big5",
    "1252": "cp1252",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
    "iso88591": "latin-1",
}

_GBK_FAMILY = {"gb18030", "gbk", "gb2312", "cp936", "hz"}
_LATIN1_HIGH = re.compile("[\u0080-\u00ff]")
_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Encoding:
    """The encoding text was decoded with, and how it was chosen.

    ``source``: ``"given"``, ``"byte-order mark"``, ``".cpg"``, ``"code page byte"``,
    ``"detected"``, ``"ASCII only"`` or ``"the format"`` (GeoJSON, GeoPackage, KML are UTF-8).
    """

    codec: str
    source: str

    def __str__(self) -> str:
        label = {"gb18030": "GB18030 (GBK)", "utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM"}.get(
            self.codec, self.codec
        )
        return f"{label} ({self.source})"


def normalise_encoding(name: str) -> str:
    """A Python codec for an encoding name as people and ``.cpg`` files write it.

    GBK and GB2312 become GB18030, which decodes both and more.

    Examples
    --------
    >>> normalise_encoding("GBK"), normalise_encoding("936"), normalise_encoding("UTF-8")
    ('gb18030', 'gb18030', 'utf-8')
    """
    key = str(name).strip().lower().replace(" ", "").replace("_", "-")
    if key in _ALIASES:
        return _ALIASES[key]
    if key.startswith("ansi"):
        key = "cp" + key[4:]
    try:
        return codecs.lookup(key).name
    except LookupError:
        raise InputFileError(f"unknown encoding {name!r}; use e.g. gbk, gb18030, utf-8, big5") from None


def gdal_name(codec: str) -> str:
    """The name GDAL (iconv) knows for a Python codec, for pyogrio's ``encoding=``.

    Examples
    --------
    >>> gdal_name("gb18030"), gdal_name("utf-8-sig"), gdal_name("cp1252")
    ('GB18030', 'UTF-8', 'CP1252')
    """
    name = codecs.lookup(codec).name
    return {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "latin-1": "ISO-8859-1", "iso8859-1": "ISO-8859-1"}.get(
        name, name.upper()
    )


def cpg_encoding(text: str) -> str | None:
    """The codec a ``.cpg`` file names, None when it names none we know.

    Examples
    --------
    >>> cpg_encoding("UTF-8\\n"), cpg_encoding("ANSI 936"), cpg_encoding("")
    ('utf-8', 'gb18030', None)
    """
    if not text.strip():
        return None
    try:
        return normalise_encoding(text.strip())
    except InputFileError:
        return None


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x2FFFF or 0xF900 <= o <= 0xFAFF


def _reads_as_chinese(text: str) -> bool:
    """Non-ASCII text that is mostly common Chinese (GB2312 characters) with some CJK."""
    wide = [c for c in text if ord(c) > 0x7F]
    if not wide or not any(_is_cjk(c) for c in wide):
        return False
    common = sum(c.encode("gb2312", errors="replace") != b"?" for c in wide)
    return common >= 0.9 * len(wide)


def _in_latin_words(text: str) -> bool:
    """Most non-ASCII characters sit next to an ASCII letter, as in ``Hämeentie``."""
    wide = [i for i, c in enumerate(text) if ord(c) > 0x7F]
    if not wide:
        return False

    def latin_neighbour(i: int) -> bool:
        return any(0 <= j < len(text) and text[j].isascii() and text[j].isalpha() for j in (i - 1, i + 1))

    return sum(latin_neighbour(i) for i in wide) * 2 >= len(wide)


def detect_encoding(data: bytes, *, what: str = "the file") -> Encoding:
    """The encoding of ``data``: BOM, ASCII, strict UTF-8, GB18030 read as Chinese, charset-normalizer.

    Raises
    ------
    InputFileError
        When no encoding reads the bytes as text; the message asks for ``--encoding``.

    Examples
    --------
    >>> detect_encoding("人民路1号".encode("gbk"))
    Encoding(codec='gb18030', source='detected')
    >>> detect_encoding("人民路1号".encode("utf-8")).codec
    'utf-8'
    >>> detect_encoding(codecs.BOM_UTF8 + "编号".encode("utf-8")).codec
    'utf-8-sig'
    """
    if data.startswith(codecs.BOM_UTF8):
        return Encoding("utf-8-sig", "byte-order mark")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Encoding("utf-16", "byte-order mark")
    if data.isascii():
        return Encoding("utf-8", "ASCII only")
    try:
        as_utf8 = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        as_utf8 = None
        if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return Encoding("utf-8", "detected")  # a sample cut in the middle of a character
    if as_utf8 is not None and (any(_is_cjk(c) for c in as_utf8) or _in_latin_words(as_utf8)):
        return Encoding("utf-8", "detected")
    # Short GBK text can be valid UTF-8 by chance (址 is D6 B7, a Hebrew point in UTF-8):
    # without Chinese or Latin words in it, UTF-8 only wins when GB18030 does not read as Chinese.
    with contextlib.suppress(UnicodeDecodeError):  # not GB18030 either
        if _reads_as_chinese(data.decode("gb18030")):
            return Encoding("gb18030", "detected")
    if as_utf8 is not None:
        return Encoding("utf-8", "detected")
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding:
        return Encoding(normalise_encoding(best.encoding), "detected")
    raise InputFileError(f"{what}: cannot tell the text encoding; pass --encoding (e.g. gbk or utf-8)")


def check_declared(data: bytes, enc: Encoding, *, what: str) -> Encoding:
    """``enc`` (from a ``.cpg`` or code-page byte) if it decodes ``data``; else a refusal saying what does."""
    try:
        text = data.decode(enc.codec)
    except UnicodeDecodeError:
        text = None
    if text is not None and (enc.codec not in _GBK_FAMILY or not _utf8_inside(text, enc.codec)):
        return enc
    try:
        found = str(detect_encoding(data, what=what))
    except InputFileError:
        found = "no encoding geogrid knows"
    raise InputFileError(
        f"{what}: the {enc.source} says {enc.codec}, but the text is not {enc.codec} (it reads as {found}); "
        "pass --encoding with the right one"
    )


def dbf_text_sample(data: bytes, *, limit: int = 2_000_000) -> tuple[bytes, int | None]:
    """Field-name and character-field bytes of a DBF file (first ``limit`` bytes of records), and its LDID.

    Examples
    --------
    >>> import struct
    >>> header = struct.pack("<BBBBIHH17xBxx", 3, 26, 1, 1, 1, 65, 11, 0x4D)
    >>> field = "名".encode("gbk").ljust(11, b"\\0") + b"C" + b"\\0" * 4 + bytes([10]) + b"\\0" * 15
    >>> data = header + field + b"\\r" + b" " + "人民路".encode("gbk").ljust(10) + b"\\x1a"
    >>> sample, ldid = dbf_text_sample(data)
    >>> sample.decode("gbk").split(), hex(ldid)
    (['名', '人民路'], '0x4d')
    """
    if len(data) < 32:
        return b"", None
    n_records, header_len, record_len = struct.unpack("<IHH", data[4:12])
    ldid = data[29] or None
    fields: list[tuple[bytes, bytes, int]] = []
    pos = 32
    while pos + 32 <= min(header_len, len(data)) and data[pos] != 0x0D:
        desc = data[pos : pos + 32]
        fields.append((desc[:11].split(b"\0", 1)[0], desc[11:12], desc[16]))
        pos += 32
    parts = [name for name, _t, _l in fields]
    offsets, start = [], 1
    for _name, ftype, length in fields:
        if ftype == b"C":
            offsets.append((start, start + length))
        start += length
    stop = min(len(data), header_len + min(n_records * record_len, limit))
    for rec in range(header_len, stop - record_len + 1, max(record_len, 1)):
        row = data[rec : rec + record_len]
        parts.extend(row[a:b].strip(b" \0") for a, b in offsets)
    return b" ".join(p for p in parts if p), ldid


@functools.cache
def _is_gbk(codec: str) -> bool:
    return codecs.lookup(codec).name in _GBK_FAMILY


def _utf8_inside(text: str, codec: str) -> bool:
    """True when ``text`` (decoded with a GBK-family codec) is really UTF-8 bytes with CJK."""
    try:
        raw = text.encode(codec)
        again = raw.decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False
    return again != text and any(_is_cjk(c) for c in again)


def mojibake_reason(text: str, codec: str | None = None) -> str | None:
    """Why ``text`` looks like text decoded with the wrong encoding, None when it looks fine.

    Three signs: replacement characters (undecodable bytes); Chinese GBK/UTF-8 bytes shown as
    Latin-1 letters (``µØÖ·±àÂë``); UTF-8 bytes decoded as GBK (``鍦板潃缂栫爜``), checked when
    ``codec`` is GBK-family.

    Examples
    --------
    >>> mojibake_reason("µØÖ·±àÂë")
    'looks like GBK text read as Latin-1 (µØÖ·±àÂë is 地址编码)'
    >>> mojibake_reason("人民路1号", "gb18030") is None, mojibake_reason("Hämeentie 5") is None
    (True, True)
    >>> mojibake_reason("地址编码".encode("utf-8").decode("gb18030"), "gb18030")
    'looks like UTF-8 text read as GBK (鍦板潃缂栫爜 is 地址编码)'
    """
    if "\ufffd" in text:
        return "contains bytes that are not text in this encoding (shown as �)"
    high = len(_LATIN1_HIGH.findall(text))
    if high >= 2 and high * 5 >= (len(text) - len(_SPACE.findall(text))) * 3:
        for single in ("latin-1", "cp1252"):
            try:
                raw = text.encode(single)
            except UnicodeEncodeError:
                continue
            for real, label in (("utf-8", "UTF-8"), ("gb18030", "GBK")):
                try:
                    meant = raw.decode(real)
                except UnicodeDecodeError:
                    continue
                if _reads_as_chinese(meant):
                    return f"looks like {label} text read as Latin-1 ({text} is {meant})"
    if codec is not None and _is_gbk(codec) and _utf8_inside(text, codec):
        return f"looks like UTF-8 text read as GBK ({text} is {text.encode(codec).decode('utf-8')})"
    return None


def text_errors(
    frame: pd.DataFrame, codec: str | None, *, skip: tuple[str, ...] = ("geometry",)
) -> tuple[list[str], list[RowError]]:
    """Column names and cells of ``frame`` that look mis-decoded: (bad field messages, row errors).

    Rows are 1-based positions in ``frame``.  Only text with characters beyond ASCII is looked at.

    Examples
    --------
    >>> fields, rows = text_errors(pd.DataFrame({"µØÖ·": ["A1", "ÈËÃñÂ·1ºÅ"]}), "latin-1")
    >>> fields
    ["field 'µØÖ·' looks like GBK text read as Latin-1 (µØÖ· is 地址)"]
    >>> [(e.row, e.field) for e in rows]
    [(2, 'µØÖ·')]
    """
    bad_fields = []
    for col in frame.columns:
        reason = mojibake_reason(str(col), codec) if col not in skip else None
        if reason:
            bad_fields.append(f"field {str(col)!r} {reason}")
    errors: list[RowError] = []
    for col in frame.columns:
        if col in skip:
            continue
        values = np.asarray(frame[col].to_numpy(dtype=object), dtype=object)
        for pos in _non_ascii(values):
            reason = mojibake_reason(values[pos], codec)
            if reason:
                errors.append(RowError(int(pos) + 1, str(col), reason))
    return bad_fields, errors


def _non_ascii(values: np.ndarray) -> list[int]:
    out = []
    for pos, v in enumerate(values.tolist()):
        if isinstance(v, str) and not v.isascii():
            out.append(pos)
    return out


def encoding_hint(encoding: Encoding | None) -> str:
    """What to tell a user whose text came out wrong."""
    used = f"read as {encoding}; " if encoding is not None else ""
    return used + "pass --encoding with the file's real encoding (e.g. --encoding gbk), or fix the file"
