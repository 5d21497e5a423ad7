"""Grid staff rosters: who heads each grid (网格长) and who works in it (网格员).

A county keeps its roster as a spreadsheet: one row per grid with the grid code, the grid
head's name and phone, and the grid workers.  :func:`read_roster` reads and checks such a
table (CSV, Excel-exported CSV with Chinese headers, or a DataFrame); every bad row is
reported with its row number, field and reason, and nothing is returned half-checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from geogrid.codes import check_code
from geogrid.errors import GridCodeError, ImportRowsError, InputFileError, RowError

#: Chinese (and English) roster headers -> our names.
ROSTER_FIELDS = {
    "网格编码": "code",
    "网格代码": "code",
    "网格编号": "code",
    "编码": "code",
    "grid_code": "code",
    "网格长": "head_name",
    "网格长姓名": "head_name",
    "head": "head_name",
    "网格长电话": "head_phone",
    "网格长联系电话": "head_phone",
    "联系电话": "head_phone",
    "电话": "head_phone",
    "phone": "head_phone",
    "网格员": "workers",
    "专职网格员": "workers",
}

# Mainland mobile numbers (11 digits, 1[3-9]...) or landlines with an area code (0xx(x)-xxxxxxx(x)).
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
# Workers are written "张三 13800000000；李四:13900000000" — any of ;；,，、 between people.
_PEOPLE_SEP = re.compile(r"[;；,，、\n]+")
_NAME_PHONE = re.compile(r"^\s*(?P<name>[^\d:：\s]+)\s*[:：]?\s*(?P<phone>[\d-]*)\s*$")


def normalise_phone(text: object) -> str:
    """Digits and one optional dash of a phone number as people type it (spaces, +86, full width).

    Examples
    --------
    >>> normalise_phone("+86 138 0000 0000"), normalise_phone("０５１２－６５１２３４５６")
    ('13800000000', '0512-65123456')
    """
    import unicodedata

    s = unicodedata.normalize("NFKC", str(text)).strip().replace(" ", "")
    if s.startswith("+86"):
        s = s[3:]
    return s


def parse_workers(text: object) -> list[dict[str, str]]:
    """``"张三 13800000000；李四:13900000000"`` → ``[{"name": ..., "phone": ...}, ...]``.

    Raises ``ValueError`` naming the part it cannot read.

    Examples
    --------
    >>> parse_workers("张三 13800000000；李四：139-0000-0000")
    [{'name': '张三', 'phone': '13800000000'}, {'name': '李四', 'phone': '13900000000'}]
    """
    if text is None or (isinstance(text, float) and pd.isna(text)) or not str(text).strip():
        return []
    people = []
    for part in _PEOPLE_SEP.split(str(text)):
        if not part.strip():
            continue
        match = _NAME_PHONE.match(part.strip())
        if match is None:
            raise ValueError(f"cannot read {part.strip()!r} as 'name phone'")
        phone = normalise_phone(match["phone"]).replace("-", "") if match["phone"] else ""
        if phone and not _PHONE.match(phone):
            raise ValueError(f"{match['name']}'s phone {match['phone']!r} is not a mainland phone number")
        people.append({"name": match["name"], "phone": phone})
    return people


def read_roster(
    source: str | Path | pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read and check a staff roster; returns ``code``, ``head_name``, ``head_phone``, ``workers``.

    The file may be a CSV (encoding detected, or ``encoding``) or an Excel sheet (``sheet``,
    default the first), or any format :func:`geogrid.sources.read_source` reads.
    Row numbers in errors count data rows from 1 (the first line below a CSV's header).
    Every grid code must be a well-formed 15- or 17-digit code and appear once; a head needs
    a name; phones must be mainland mobile or landline numbers.

    Examples
    --------
    >>> roster = read_roster(pd.DataFrame({"网格编码": ["320508019044003"], "网格长": ["王芳"],
    ...                                    "联系电话": ["138 0000 0000"], "网格员": ["李强 13900000000"]}))
    >>> roster.iloc[0].to_dict()["workers"]
    [{'name': '李强', 'phone': '13900000000'}]
    """
    name = str(source) if not isinstance(source, pd.DataFrame) else "roster"
    if isinstance(source, pd.DataFrame):
        raw = source.copy()
    else:
        from geogrid.encodings import encoding_hint, text_errors
        from geogrid.sources import read_source

        src = read_source(Path(source), sheet=sheet, encoding=encoding)
        name = src.name
        raw = pd.DataFrame(src.frame).drop(columns="geometry", errors="ignore")
        # Excel keeps codes and phones as numbers: 320508019044003.0 -> "320508019044003".
        raw = raw.astype(object).map(
            lambda v: "" if pd.isna(v) else str(int(v)) if isinstance(v, float) and v.is_integer() else v
        )
        bad_fields, mojibake = text_errors(raw, src.encoding.codec if src.encoding else None)
        if bad_fields:
            raise InputFileError(f"{name}: {bad_fields[0]}; {encoding_hint(src.encoding)}")
        if mojibake:
            hint = encoding_hint(src.encoding)
            raise ImportRowsError(name, [RowError(e.row, e.field, f"{e.reason}; {hint}") for e in mojibake])
    mapping = {**ROSTER_FIELDS, **(columns or {})}
    raw = raw.rename(columns={c: mapping[c] for c in raw.columns if c in mapping and mapping[c] not in raw})
    if "code" not in raw:
        raise InputFileError(f"{name}: no grid code column (expected one of 网格编码, 网格代码, code)")
    errors: list[RowError] = []
    rows = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(raw.to_dict("records"), start=1):
        code = str(rec.get("code") or "").strip()
        try:
            check_code(code)
            if len(code) not in (15, 17):
                raise GridCodeError(f"code {code!r} is a division code, not a grid code")
        except GridCodeError as exc:
            errors.append(RowError(i, "code", str(exc)))
            continue
        if code in seen:
            errors.append(RowError(i, "code", f"{code} is already on row {seen[code]}"))
            continue
        seen[code] = i
        head = str(rec.get("head_name") or "").strip() or None
        phone = normalise_phone(rec.get("head_phone") or "") or None
        if phone is not None and not _PHONE.match(phone):
            errors.append(
                RowError(i, "head_phone", f"{rec.get('head_phone')!r} is not a mainland phone number")
            )
            continue
        if phone is not None and head is None:
            errors.append(RowError(i, "head_name", "a phone without a grid head's name"))
            continue
        try:
            workers = parse_workers(rec.get("workers"))
        except ValueError as exc:
            errors.append(RowError(i, "workers", str(exc)))
            continue
        rows.append({"code": code, "head_name": head, "head_phone": phone, "workers": workers})
    if errors:
        raise ImportRowsError(name, errors)
    return pd.DataFrame(rows, columns=["code", "head_name", "head_phone", "workers"])
