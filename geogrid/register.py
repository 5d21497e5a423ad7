"""The base register (一户一档): houses and households on standard addresses, residents in households.

宁国 keeps a file per household (一户一档) collected by grid workers; 卓尼 collected 98k people,
31k standard addresses and 27k houses into its grid system.  A county keeps the register as a
spreadsheet, one row per resident: address code, house, household, name, ID number, phone,
relation to the head of household and tags such as 重点人群, 独居老人 or 留守儿童.

This module is the pure part: checking ID numbers (GB 11643-1999: 18 characters, a real birth
date, the ISO 7064 MOD 11-2 check digit) and phones (mainland mobile or landline), masking,
keyed hashing and encryption of ID numbers, and reading a register file into checked rows
(:func:`read_register`: every bad row reported with its row number, field and reason; nothing
half-read).

ID numbers are personal data: they are never stored or shown whole.  What is stored is
:func:`mask_id` for display (``3205**********1234``), :func:`id_hash` (HMAC-SHA256 under a
server secret) for exact-match search, and :func:`encrypt_id` (Fernet under a second key derived
from the same secret) so that the hash can be recomputed if the secret is ever rotated.  The
keys come from :func:`derive_keys`; where the secret lives is the database layer's business
(:mod:`geogrid.db.secrets`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import numbers
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import pandas as pd

from geogrid.errors import ImportRowsError, InputFileError, RowError

__all__ = [
    "REGISTER_COLUMNS",
    "REGISTER_FIELDS",
    "REGISTER_ROLES",
    "REGISTER_TAGS",
    "Coverage",
    "RegisterKeys",
    "birth_date",
    "check_id_number",
    "check_phone",
    "decrypt_id",
    "derive_keys",
    "encrypt_id",
    "id_check_digit",
    "id_hash",
    "mask_id",
    "mask_phone",
    "parse_tags",
    "read_register",
    "register_coverage",
]

#: Tags a county puts on residents (人员标签), the default set :func:`read_register` accepts.
REGISTER_TAGS: tuple[str, ...] = (
    "重点人群",
    "独居老人",
    "空巢老人",
    "留守老人",
    "留守儿童",
    "困境儿童",
    "残疾人",
    "低保户",
    "特困人员",
    "退役军人",
    "流动人口",
    "精神障碍患者",
    "社区矫正对象",
    "党员",
)

#: Chinese (and English) register headers -> our names.
REGISTER_FIELDS: dict[str, str] = {
    "地址编码": "address_id",
    "标准地址编码": "address_id",
    "地址代码": "address_id",
    "address_id": "address_id",
    "房屋编号": "house_code",
    "房屋编码": "house_code",
    "房屋代码": "house_code",
    "house_code": "house_code",
    "房屋类型": "house_kind",
    "房屋性质": "house_kind",
    "户编号": "household_code",
    "户号": "household_code",
    "户编码": "household_code",
    "家庭编号": "household_code",
    "household_code": "household_code",
    "姓名": "name",
    "name": "name",
    "公民身份号码": "id_number",
    "身份证号": "id_number",
    "身份证号码": "id_number",
    "证件号码": "id_number",
    "id_number": "id_number",
    "联系电话": "phone",
    "手机号": "phone",
    "手机号码": "phone",
    "电话": "phone",
    "phone": "phone",
    "与户主关系": "relation",
    "relation": "relation",
    "标签": "tags",
    "人员标签": "tags",
    "人员类别": "tags",
    "人群类别": "tags",
    "tags": "tags",
}
REQUIRED = ("address_id", "household_code", "name", "id_number")
REGISTER_COLUMNS = (
    "row",
    "address_id",
    "house_code",
    "house_kind",
    "household_code",
    "name",
    "id_number",
    "phone",
    "relation",
    "tags",
)
NAME_MAX_CHARS = 50

# ISO 7064 MOD 11-2 over the first 17 digits (GB 11643-1999).
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")
# Province-level codes of GB/T 2260 (the first two digits), plus 83 (Taiwan residents' permits).
_PROVINCES = frozenset(
    {
        *(11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46),
        *(50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83),
    }
)
# Mainland mobile (1[3-9] + 9 digits) or landline with its area code, optional extension.
_PHONE_RE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?)$")
_TAG_SEP = re.compile(r"[;；,，、/|\s]+")


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits of an ID number.

    Examples
    --------
    >>> id_check_digit("11010519491231002")
    'X'
    """
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError(f"need 17 digits, got {first17!r}")
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def _normalise(text: object) -> str:
    return unicodedata.normalize("NFKC", str(text)).strip().replace(" ", "").upper()


def check_id_number(text: object, *, today: date | None = None) -> str:
    """A citizen ID number (公民身份号码), normalised, or ``ValueError`` saying what is wrong.

    Full-width digits and spaces are accepted, a lower-case ``x`` becomes ``X``.  The number
    must have 18 characters (15-digit first-generation numbers are refused), a known province
    code, a real birth date not in the future and after 1900, and the right check character.

    Examples
    --------
    >>> check_id_number("11010519491231002x")
    '11010519491231002X'
    >>> check_id_number("110105194912310021")
    Traceback (most recent call last):
    ...
    ValueError: check digit is 1, expected X: a digit was mistyped
    >>> check_id_number("110105194902300026")
    Traceback (most recent call last):
    ...
    ValueError: birth date 19490230 does not exist
    """
    if isinstance(text, numbers.Number) and not isinstance(text, bool):
        # A spreadsheet cell holding the number as a number keeps 15 significant digits only.
        raise ValueError("stored as a number in the sheet, which loses digits; format the column as text")
    s = _normalise(text)
    if len(s) == 15 and s.isdigit():
        raise ValueError("a 15-digit first-generation number; give the 18-digit number")
    if not _ID_RE.match(s):
        raise ValueError(f"must be 17 digits and a digit or X (18 characters), got {len(s)} characters")
    if int(s[:2]) not in _PROVINCES:
        raise ValueError(f"region code {s[:6]} names no province ({s[:2]})")
    born = birth_date(s)
    today = today or date.today()
    if born > today or born.year < 1900:
        raise ValueError(f"birth date {s[6:14]} is not plausible")
    expected = id_check_digit(s[:17])
    if s[17] != expected:
        raise ValueError(f"check digit is {s[17]}, expected {expected}: a digit was mistyped")
    return s


def birth_date(id_number: str) -> date:
    """The birth date written in an 18-character ID number.

    Examples
    --------
    >>> birth_date("11010519491231002X")
    datetime.date(1949, 12, 31)
    """
    digits = id_number[6:14]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise ValueError(f"birth date {digits} does not exist") from None


def mask_id(id_number: str) -> str:
    """The ID number as it may be shown: the first 4 and the last 4 characters.

    Examples
    --------
    >>> mask_id("32050819800101123X")
    '3205**********123X'
    """
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def check_phone(text: object) -> str:
    """A mainland mobile or landline number, normalised (``+86``, spaces, full width removed),
    or ``ValueError``.

    Examples
    --------
    >>> check_phone("+86 139 1234 5678"), check_phone("０５１２－６５１２３４５６")
    ('13912345678', '0512-65123456')
    >>> check_phone("12345")
    Traceback (most recent call last):
    ...
    ValueError: '12345' is not a mainland mobile (1[3-9] + 9 digits) or landline (0 + area code + number)
    """
    s = unicodedata.normalize("NFKC", str(text)).strip().replace(" ", "")
    if s.startswith("+86"):
        s = s[3:]
    if not _PHONE_RE.match(s):
        if s.isdigit() and len(s) == 11 and s.startswith("1"):
            raise ValueError(f"{text!r}: a mainland mobile number starts with 13-19")
        raise ValueError(
            f"{text!r} is not a mainland mobile (1[3-9] + 9 digits) or landline (0 + area code + number)"
        )
    return s


def mask_phone(phone: str) -> str:
    """A phone number as a list may show it to someone who may not call: ``139****5678``.

    Examples
    --------
    >>> mask_phone("13912345678")
    '139****5678'
    """
    return phone[:3] + "*" * max(0, len(phone) - 7) + phone[-4:]


def parse_tags(text: object, allowed: Iterable[str] | None = REGISTER_TAGS) -> list[str]:
    """Tags written ``"独居老人、残疾人"`` (any of ``、,;/|`` or spaces between) → a sorted list.

    Raises ``ValueError`` naming an unknown tag when ``allowed`` is given.

    Examples
    --------
    >>> parse_tags("残疾人、独居老人")
    ['独居老人', '残疾人']
    >>> parse_tags("")
    []
    """
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return []
    tags = [t for t in _TAG_SEP.split(unicodedata.normalize("NFKC", str(text)).strip()) if t]
    if allowed is not None:
        known = list(allowed)
        unknown = [t for t in tags if t not in known]
        if unknown:
            raise ValueError(f"unknown tag {unknown[0]!r}; known tags: {'、'.join(known)}")
    order = {t: i for i, t in enumerate(allowed or ())}
    return sorted(set(tags), key=lambda t: (order.get(t, len(order)), t))


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class RegisterKeys:
    """The two keys the register uses, both derived from one server secret (:func:`derive_keys`)."""

    hash_key: bytes
    fernet_key: bytes


def derive_keys(secret: bytes) -> RegisterKeys:
    """Derive the search (HMAC) key and the encryption (Fernet) key from a secret of ≥ 32 bytes.

    HKDF-SHA256 with two labels: the keys are independent, and neither reveals the secret.

    Examples
    --------
    >>> keys = derive_keys(b"0" * 32)
    >>> len(keys.hash_key), keys.hash_key != keys.fernet_key
    (32, True)
    """
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if len(secret) < 32:
        raise ValueError(f"the register secret needs at least 32 bytes, got {len(secret)}")

    def derive(label: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret)

    return RegisterKeys(
        hash_key=derive(b"geogrid register: id number search"),
        fernet_key=base64.urlsafe_b64encode(derive(b"geogrid register: id number encryption")),
    )


def id_hash(id_number: str, keys: RegisterKeys) -> str:
    """HMAC-SHA256 of a normalised ID number under the search key (hex): equal numbers, equal hashes;
    without the key the hash says nothing (18-character numbers are too few to hash unkeyed).

    Examples
    --------
    >>> h = id_hash("11010519491231002X", derive_keys(b"0" * 32))
    >>> len(h), h == id_hash("11010519491231002X", derive_keys(b"1" * 32))
    (64, False)
    """
    return hmac.new(keys.hash_key, id_number.encode(), hashlib.sha256).hexdigest()


def encrypt_id(id_number: str, keys: RegisterKeys) -> str:
    """The ID number encrypted (Fernet: AES-128-CBC + HMAC-SHA256, random IV) as text.

    Examples
    --------
    >>> keys = derive_keys(b"0" * 32)
    >>> decrypt_id(encrypt_id("11010519491231002X", keys), keys)
    '11010519491231002X'
    """
    return _fernet(keys.fernet_key).encrypt(id_number.encode()).decode()


def decrypt_id(token: str, keys: RegisterKeys) -> str:
    """The ID number of :func:`encrypt_id`'s text (for re-keying the search hash; never shown)."""
    return _fernet(keys.fernet_key).decrypt(token.encode()).decode()


@lru_cache(maxsize=8)
def _fernet(key: bytes):
    from cryptography.fernet import Fernet

    return Fernet(key)


# --------------------------------------------------------------------------- reading a register file


def _raw_frame(source: str | Path | pd.DataFrame, sheet, encoding) -> tuple[str, pd.DataFrame]:
    if isinstance(source, pd.DataFrame):
        return "register", source.copy()
    from geogrid.encodings import encoding_hint, text_errors
    from geogrid.sources import read_source

    src = read_source(Path(source), sheet=sheet, encoding=encoding)
    raw = pd.DataFrame(src.frame).drop(columns="geometry", errors="ignore").astype(object)
    bad_fields, mojibake = text_errors(raw, src.encoding.codec if src.encoding else None)
    if bad_fields:
        raise InputFileError(f"{src.name}: {bad_fields[0]}; {encoding_hint(src.encoding)}")
    if mojibake:
        hint = encoding_hint(src.encoding)
        raise ImportRowsError(src.name, [RowError(e.row, e.field, f"{e.reason}; {hint}") for e in mojibake])
    return src.name, raw


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an Excel number cell holding a code
    s = unicodedata.normalize("NFKC", str(value)).strip()
    return s or None


def _check_row(i: int, rec: Mapping[str, object], tags: Sequence[str] | None) -> tuple[dict, list[RowError]]:
    errors: list[RowError] = []
    out: dict[str, object] = {"row": i}
    for name in ("address_id", "house_code", "house_kind", "household_code", "name", "relation"):
        out[name] = _text(rec.get(name))
    for name in REQUIRED:
        if name != "id_number" and out[name] is None:
            errors.append(RowError(i, name, "missing"))
    if out["name"] is not None and len(str(out["name"])) > NAME_MAX_CHARS:
        errors.append(RowError(i, "name", f"longer than {NAME_MAX_CHARS} characters"))
    raw_id = rec.get("id_number")
    try:
        if raw_id is None or (isinstance(raw_id, float) and pd.isna(raw_id)) or not str(raw_id).strip():
            raise ValueError("missing")
        out["id_number"] = check_id_number(raw_id)
    except ValueError as exc:
        errors.append(RowError(i, "id_number", str(exc)))
    phone = _text(rec.get("phone"))
    try:
        out["phone"] = check_phone(phone) if phone else None
    except ValueError as exc:
        errors.append(RowError(i, "phone", str(exc)))
    try:
        out["tags"] = parse_tags(rec.get("tags"), tags)
    except ValueError as exc:
        errors.append(RowError(i, "tags", str(exc)))
    if out["house_code"] is None and out["address_id"] is not None:
        out["house_code"] = str(out["address_id"])  # one house per address unless told otherwise
    return out, errors


def _consistency(rows: list[dict]) -> list[RowError]:
    """A household lives at one address and house; an ID number appears once."""
    errors: list[RowError] = []
    home: dict[str, tuple[int, object, object]] = {}
    ids: dict[str, int] = {}
    for r in rows:
        code = str(r["household_code"])
        where = (r["address_id"], r["house_code"])
        first = home.setdefault(code, (r["row"], *where))
        if first[1:] != where:
            errors.append(
                RowError(
                    r["row"],
                    "household_code",
                    f"household {code} is at another address/house on row {first[0]}",
                )
            )
        seen = ids.setdefault(str(r["id_number"]), r["row"])
        if seen != r["row"]:
            errors.append(RowError(r["row"], "id_number", f"the same ID number is on row {seen}"))
    return errors


def read_register(
    source: str | Path | pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    tags: Sequence[str] | None = REGISTER_TAGS,
) -> pd.DataFrame:
    """Read and check a register file: one row per resident; all rows good, or ``ImportRowsError``.

    Parameters
    ----------
    source
        A CSV (encoding detected, or ``encoding``), an Excel sheet (``sheet``, default the first),
        any format :func:`geogrid.sources.read_source` reads, or a DataFrame.
    columns
        Extra header mapping ``{source header: field}`` on top of :data:`REGISTER_FIELDS`.
    tags
        The tags allowed (default :data:`REGISTER_TAGS`); None accepts any.

    Returns
    -------
    DataFrame
        :data:`REGISTER_COLUMNS`: ``row`` (1-based data row), ``address_id``, ``house_code``
        (default: the address code), ``house_kind``, ``household_code``, ``name``, ``id_number``
        (checked, normalised — keep it in memory only), ``phone`` (normalised or None),
        ``relation`` and ``tags`` (list).

    Raises
    ------
    ImportRowsError
        Every bad row with its field and reason: a missing field, an ID number with a wrong
        check digit or birth date, a phone that is not a mainland number, an unknown tag, a
        household at two addresses, an ID number twice.
    InputFileError
        No column for a required field.

    Examples
    --------
    >>> rows = read_register(pd.DataFrame({"地址编码": ["A1"], "户编号": ["H1"], "姓名": ["王某芳"],
    ...     "身份证号": ["11010519491231002X"], "联系电话": ["139 1234 5678"], "标签": ["独居老人"]}))
    >>> rows.loc[0, ["house_code", "phone", "tags"]].tolist()
    ['A1', '13912345678', ['独居老人']]
    >>> read_register(pd.DataFrame({"地址编码": ["A1"], "户编号": ["H1"], "姓名": ["王某芳"],
    ...     "身份证号": ["110105194912310021"], "联系电话": ["12345"]}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.ImportRowsError: register: 2 bad row(s), nothing imported:
      row 1, field 'id_number': check digit is 1, expected X: a digit was mistyped
      row 1, field 'phone': ...
    """
    name, raw = _raw_frame(source, sheet, encoding)
    mapping = {**REGISTER_FIELDS, **(columns or {})}
    raw = raw.rename(columns={c: mapping[c] for c in raw.columns if c in mapping and mapping[c] not in raw})
    missing = [f for f in REQUIRED if f not in raw.columns]
    if missing:
        raise InputFileError(
            f"{name}: no column for {', '.join(missing)} (headers such as 地址编码, 户编号, 姓名, 公民身份号码)"
        )
    rows, errors = [], []
    for i, rec in enumerate(raw.to_dict("records"), start=1):
        row, row_errors = _check_row(i, rec, tags)
        errors += row_errors
        rows.append(row)
    # Across rows, a bad field elsewhere in a row does not hide a duplicate ID number in it.
    errors += _consistency([r for r in rows if r.get("id_number") and r.get("household_code")])
    if errors:
        raise ImportRowsError(name, sorted(errors, key=lambda e: e.row))
    return pd.DataFrame(rows, columns=list(REGISTER_COLUMNS))


# --------------------------------------------------------------------------- who may see people


#: Roles that may see residents' personal fields, within their scope (admins everywhere).
REGISTER_ROLES = frozenset({"admin", "dispatcher", "worker"})


@dataclass(frozen=True)
class Coverage:
    """Which addresses' residents a caller may see in full: everything, the addresses of some
    grids (a worker's ``grid_codes``), or of a division (a ``division`` scope), or none.

    Examples
    --------
    >>> c = register_coverage("worker", {"grid_codes": ["320508019001001"]})
    >>> c.covers("32050801900100102", "320508019001"), c.covers("320508019001002", "320508019001")
    (True, False)
    >>> register_coverage("viewer", {}).nothing, register_coverage("dispatcher", {}).nothing
    (True, True)
    """

    everything: bool = False
    grids: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    @property
    def nothing(self) -> bool:
        return not (self.everything or self.grids or self.prefixes)

    def covers(self, grid_code: str | None, division_code: str | None) -> bool:
        if self.everything:
            return True
        if grid_code and grid_code[:15] in self.grids:
            return True
        return any(
            code is not None and code.startswith(p)
            for p in self.prefixes
            for code in (grid_code, division_code)
        )


def register_coverage(
    role: str, scope: Mapping[str, object] | None, *, roles: Iterable[str] = REGISTER_ROLES
) -> Coverage:
    """What a key of ``role`` with ``scope`` may see of the register.

    Private by default: only roles in ``roles`` see people, and only where their scope says —
    ``grid_codes`` (a grid worker's grids, sub-grids included) or ``division`` (a township's
    dispatcher).  A key of such a role with no scope sees nobody, except an admin's, which sees
    the whole register.
    """
    from geogrid.incidents import division_prefix

    if role not in set(roles):
        return Coverage()
    scope = scope or {}
    grids = frozenset(str(c)[:15] for c in (scope.get("grid_codes") or ()))  # type: ignore[attr-defined]
    division = scope.get("division")
    prefixes = (division_prefix(str(division)),) if division else ()
    if role == "admin" and not grids and not prefixes:
        return Coverage(everything=True)
    return Coverage(grids=grids, prefixes=prefixes)
