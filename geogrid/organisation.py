"""The organisation that runs the incident loop: departments, dispatch centres and staff roles.

Pure: tables in, checked records out; :mod:`geogrid.db.organisation` stores them.

- **Departments** (职能部门) have a code, a Chinese name, a level (县直部门 at the county,
  乡镇站所 such as 派出所 and 司法所 at a township), the division they belong to and the
  divisions they serve.  A centre dispatches an incident only to a department that serves
  the incident's place.
- **Centres** (综治中心) are one per division that dispatches: county, township and village
  (红寺堡's 区、乡、村三级综治中心).  A centre's code is its division's 12-digit code.  An
  incident waits in the queue of the lowest centre above it (:func:`queue_centre`) and
  escalation (上报) moves it to the next centre up (:func:`escalation_target`).
- **Roles** of the staff roster come from a configurable role set
  (``geogrid/data/roles.json``, :func:`load_roles`): the "4+N" grid force (网格长, 专职网格员,
  兼职网格员, 网格指导员, 网格警务员, 网格法务员 ...), 联户长, the centres' dispatchers and the
  departments' liaisons.  Each role names the post it holds and the API key role its people
  get.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from geogrid.codes import parse_code
from geogrid.errors import (
    ConflictError,
    GeogridError,
    GridCodeError,
    ImportRowsError,
    InputFileError,
    RowError,
)
from geogrid.incidents import division_prefix

#: Levels a centre or a department sits at, lowest last.
LEVELS: tuple[str, ...] = ("county", "township", "village")
LEVEL_NAMES: dict[str, str] = {"county": "县(区)", "township": "乡镇(街道)", "village": "村(社区)"}
# How people write a level in a spreadsheet.
_LEVEL_WORDS = {
    "county": "county",
    "县": "county",
    "县级": "county",
    "区级": "county",
    "县直": "county",
    "县直部门": "county",
    "township": "township",
    "乡镇": "township",
    "乡镇级": "township",
    "乡级": "township",
    "街道": "township",
    "乡镇站所": "township",
    "village": "village",
    "村级": "village",
    "村(社区)": "village",
    "社区": "village",
}
#: Posts a role can hold and the code that names such a post.
POSTS: dict[str, str] = {
    "grid": "a 15-digit grid code (its 17-digit sub-grids included)",
    "link_group": "a 17-digit link group (联户/sub-grid) code",
    "division": "a 12-digit division code (its 综治中心)",
    "department": "a department code",
}
KEY_ROLES = ("worker", "dispatcher", "department")
_DEPT_CODE = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
_SEPARATORS = re.compile(r"[;；,，、\s]+")

DEPARTMENT_FIELDS = {
    "部门编码": "code",
    "部门代码": "code",
    "编码": "code",
    "code": "code",
    "部门名称": "name",
    "部门": "name",
    "名称": "name",
    "name": "name",
    "层级": "level",
    "级别": "level",
    "level": "level",
    "所属区划": "division_code",
    "所属区划编码": "division_code",
    "区划编码": "division_code",
    "division_code": "division_code",
    "服务区划": "serves",
    "服务范围": "serves",
    "serves": "serves",
}
CENTRE_FIELDS = {
    "区划编码": "code",
    "区划代码": "code",
    "编码": "code",
    "code": "code",
    "中心名称": "name",
    "名称": "name",
    "name": "name",
}


# --- levels and codes ---------------------------------------------------------------------------------


def division_level(code: str) -> str:
    """``county``, ``township`` or ``village`` of a 12-digit division code.

    Examples
    --------
    >>> division_level("320508000000"), division_level("320508019000"), division_level("320508019044")
    ('county', 'township', 'village')
    """
    parts = parse_code(str(code))
    if parts.level not in LEVELS:
        raise GridCodeError(f"{code} is a {parts.level} code, not a division (county/township/village)")
    return parts.level


def full_division_code(code: str) -> str:
    """A 12-digit division code from a 6-digit county or 9-digit township prefix (or itself).

    Examples
    --------
    >>> full_division_code("320508"), full_division_code("320508019"), full_division_code("320508019044")
    ('320508000000', '320508019000', '320508019044')
    """
    text = str(code).strip()
    if text.isdigit() and len(text) in (6, 9):
        text = text.ljust(12, "0")
    division_level(text)
    return text


def centres_above(village_code: str | None, township_code: str | None) -> list[str]:
    """Division codes of the centres an incident in this village/township may belong to, lowest first.

    Examples
    --------
    >>> centres_above("320508019044", "320508019000")
    ['320508019044', '320508019000', '320508000000']
    >>> centres_above(None, None)
    []
    """
    out = [c for c in (village_code, township_code) if c]
    anchor = village_code or township_code
    if anchor:
        out.append(anchor[:6] + "000000")
    return list(dict.fromkeys(out))


def queue_centre(
    centres: Collection[str], *, village_code: str | None, township_code: str | None
) -> str | None:
    """The centre whose queue a new incident joins: its village's, else its township's, else its county's.

    Examples
    --------
    >>> queue_centre({"320508019000", "320508000000"}, village_code="320508019044", township_code="320508019000")
    '320508019000'
    >>> queue_centre(set(), village_code="320508019044", township_code="320508019000") is None
    True
    """
    for code in centres_above(village_code, township_code):
        if code in centres:
            return code
    return None


def escalation_target(
    centres: Collection[str],
    *,
    current: str | None,
    village_code: str | None,
    township_code: str | None,
    level: str | None = None,
) -> tuple[str, str]:
    """``(level, centre)`` an incident queued at ``current`` goes to when it is escalated (上报).

    The next centre up that exists, or the one of ``level`` when asked for (it must be above).

    Raises
    ------
    ConflictError
        Nothing above the current centre (or no centre at the level asked for).

    Examples
    --------
    >>> cs = {"320508019044", "320508019000", "320508000000"}
    >>> escalation_target(cs, current="320508019044", village_code="320508019044", township_code="320508019000")
    ('township', '320508019000')
    >>> escalation_target(cs, current="320508019044", village_code="320508019044",
    ...                   township_code="320508019000", level="county")
    ('county', '320508000000')
    """
    chain = [c for c in centres_above(village_code, township_code) if c in centres]
    position = chain.index(current) if current in chain else -1
    above = chain[position + 1 :]
    if level is not None:
        above = [c for c in above if division_level(c) == level]
        if not above:
            raise ConflictError(
                f"没有{LEVEL_NAMES.get(level, level)}级综治中心可上报 / no {level} centre above "
                f"{current or 'this incident'} to escalate to (escalation goes up)"
            )
    if not above:
        raise ConflictError(
            f"已在最高一级综治中心 / cannot escalate: {current} is the highest centre above this incident"
        )
    return division_level(above[0]), above[0]


def within(code: str | None, prefixes: Iterable[str]) -> bool:
    """Whether ``code`` (a division or grid code) lies in one of the 12-digit divisions ``prefixes``.

    Examples
    --------
    >>> within("320508019044003", ["320508019000"]), within("320508020001", ["320508019000"])
    (True, False)
    """
    if not code:
        return False
    return any(code.startswith(division_prefix(p)) for p in prefixes)


# --- departments and centres ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Department:
    """A department (职能部门): code, Chinese name, level, home division, divisions served."""

    code: str
    name: str
    level: str
    division_code: str
    serves: tuple[str, ...]

    def serves_place(self, *codes: str | None) -> bool:
        """Whether the department serves a place given by any of its codes (grid, village...)."""
        return any(within(c, self.serves) for c in codes)


@dataclass(frozen=True)
class Centre:
    """A dispatch centre (综治中心) of a division: code = the division's code."""

    code: str
    name: str
    level: str


def _level_of(text: object, default: str) -> str:
    word = str(text or "").strip()
    if not word:
        return default
    level = _LEVEL_WORDS.get(word)
    if level is None:
        raise ValueError(f"level {word!r} is not one of 县级, 乡镇级, 村级 (county, township, village)")
    return level


def _rename(
    frame: pd.DataFrame, fields: Mapping[str, str], columns: Mapping[str, str] | None
) -> pd.DataFrame:
    mapping = {**fields, **(columns or {})}
    return frame.rename(
        columns={c: mapping[c] for c in frame.columns if c in mapping and mapping[c] not in frame}
    )


def _unknown_columns(name: str, frame: pd.DataFrame, known: Iterable[str], fields: Mapping[str, str]) -> None:
    extra = [c for c in frame.columns if c not in set(known) and str(c) != "序号"]
    if extra:
        raise InputFileError(
            f"{name}: column {extra[0]!r} is not understood; columns are "
            f"{', '.join(sorted(set(fields) - {v for v in fields.values()}))} (or 序号), "
            "or map yours with --map"
        )


def read_departments(
    source: str | Path | pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
) -> list[Department]:
    """Read and check a list of departments (CSV, Excel or any table format).

    Columns (Chinese headers recognised): 部门编码 (code), 部门名称 (name), 所属区划 (the 12-digit
    division it belongs to; 6/9-digit prefixes allowed), 层级 (县级/乡镇级; default from the
    division), 服务区划 (the divisions it serves, separated by ``、`` ``;`` or spaces; default its
    own division).  Every bad row is reported with its row number, field and reason.

    Examples
    --------
    >>> depts = read_departments(pd.DataFrame({"部门编码": ["GA", "GPS"], "部门名称": ["公安局", "金港派出所"],
    ...                                        "所属区划": ["320508", "320508019"]}))
    >>> [(d.code, d.level, d.serves) for d in depts]
    [('GA', 'county', ('320508000000',)), ('GPS', 'township', ('320508019000',))]
    """
    from geogrid.sources import read_table

    name, raw = read_table(source, sheet=sheet, encoding=encoding)
    raw = _rename(raw, DEPARTMENT_FIELDS, columns)
    for required in ("code", "name", "division_code"):
        if required not in raw:
            wanted = [k for k, v in DEPARTMENT_FIELDS.items() if v == required]
            raise InputFileError(f"{name}: no {required} column (one of {', '.join(wanted)})")
    _unknown_columns(name, raw, ("code", "name", "level", "division_code", "serves"), DEPARTMENT_FIELDS)
    errors: list[RowError] = []
    out: list[Department] = []
    seen: dict[str, dict[str, int]] = {"code": {}, "name": {}}
    for i, rec in enumerate(raw.to_dict("records"), start=1):
        try:
            dept = _department(rec)
        except _RowProblemError as exc:
            errors.append(RowError(i, exc.field, exc.reason))
            continue
        for key, value in (("code", dept.code), ("name", dept.name)):
            if value in seen[key]:
                errors.append(RowError(i, key, f"{value} is already on row {seen[key][value]}"))
                break
        else:
            seen["code"][dept.code] = seen["name"][dept.name] = i
            out.append(dept)
    if errors:
        raise ImportRowsError(name, errors)
    return out


class _RowProblemError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


def _text(rec: Mapping, key: str) -> str:
    value = rec.get(key)
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()


def _department(rec: Mapping) -> Department:
    code, name = _text(rec, "code"), _text(rec, "name")
    if not _DEPT_CODE.match(code):
        raise _RowProblemError("code", f"{code!r} is not a department code (1-32 letters, digits, - or _)")
    if not name:
        raise _RowProblemError("name", "a department needs its Chinese name")
    try:
        division = full_division_code(_text(rec, "division_code"))
    except GridCodeError as exc:
        raise _RowProblemError("division_code", str(exc)) from None
    try:
        level = _level_of(rec.get("level"), division_level(division))
    except ValueError as exc:
        raise _RowProblemError("level", str(exc)) from None
    if level != division_level(division):
        raise _RowProblemError(
            "level", f"a {level} department cannot belong to {division} (a {division_level(division)})"
        )
    serves = [s for s in _SEPARATORS.split(_text(rec, "serves")) if s] or [division]
    try:
        served = tuple(dict.fromkeys(full_division_code(s) for s in serves))
    except GridCodeError as exc:
        raise _RowProblemError("serves", str(exc)) from None
    return Department(code, name, level, division, served)


def read_centres(
    source: str | Path | pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
) -> list[Centre]:
    """Read and check a list of dispatch centres: 区划编码 (the division; 6/9-digit prefixes allowed)
    and optionally 名称 (default: the division's name + 综治中心, filled in when stored).

    Examples
    --------
    >>> [(c.code, c.level, c.name) for c in read_centres(pd.DataFrame({"区划编码": ["320508", "320508019"]}))]
    [('320508000000', 'county', ''), ('320508019000', 'township', '')]
    """
    from geogrid.sources import read_table

    name, raw = read_table(source, sheet=sheet, encoding=encoding)
    raw = _rename(raw, CENTRE_FIELDS, columns)
    if "code" not in raw:
        raise InputFileError(f"{name}: no division code column (区划编码, 编码 or code)")
    _unknown_columns(name, raw, ("code", "name"), CENTRE_FIELDS)
    errors: list[RowError] = []
    out: list[Centre] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(raw.to_dict("records"), start=1):
        try:
            code = full_division_code(_text(rec, "code"))
        except GridCodeError as exc:
            errors.append(RowError(i, "code", str(exc)))
            continue
        if code in seen:
            errors.append(RowError(i, "code", f"{code} is already on row {seen[code]}"))
            continue
        seen[code] = i
        out.append(Centre(code, _text(rec, "name"), division_level(code)))
    if errors:
        raise ImportRowsError(name, errors)
    return out


def centre_name(division_name: str | None, code: str) -> str:
    """The usual name of a division's centre: ``金港街道`` → ``金港街道综治中心``.

    Examples
    --------
    >>> centre_name("金港街道", "320508019000"), centre_name(None, "320508000000")
    ('金港街道综治中心', '320508000000综治中心')
    """
    return f"{division_name or code}综治中心"


def default_centres(
    divisions: pd.DataFrame, *, county_names: Mapping[str, str] | None = None
) -> list[Centre]:
    """A centre for every county, township and village of ``divisions`` (``code``, ``name``).

    Counties without a row of their own are named from ``county_names`` (6-digit code → name).

    Examples
    --------
    >>> d = pd.DataFrame({"code": ["320508019000", "320508019001"], "name": ["金港街道", "东港社区"]})
    >>> [c.name for c in default_centres(d, county_names={"320508": "姑苏区"})]
    ['姑苏区综治中心', '金港街道综治中心', '东港社区综治中心']
    """
    names = {str(c): str(n) for c, n in zip(divisions["code"], divisions["name"], strict=True)}
    counties = sorted({c[:6] + "000000" for c in names})
    for county in counties:
        names.setdefault(county, (county_names or {}).get(county[:6]) or "")
    return [
        Centre(code, centre_name(names[code] or None, code), division_level(code))
        for code in sorted(names, key=lambda c: (LEVELS.index(division_level(c)), c))
    ]


#: Departments every township has in the default organisation ("一部两所三办": 派出所, 司法所).
TOWNSHIP_DEPARTMENTS: tuple[tuple[str, str], ...] = (("D01", "派出所"), ("D02", "司法所"))


def default_departments(catalogue, divisions: pd.DataFrame) -> list[Department]:
    """The departments of the catalogue at every county of ``divisions``, plus each township's 派出所 and 司法所.

    County departments are coded ``<county>D<nn>`` in catalogue order; a township's are
    ``<township 9 digits>D01`` (派出所) and ``D02`` (司法所), named after the township.

    Examples
    --------
    >>> from geogrid.incidents import load_catalogue
    >>> d = pd.DataFrame({"code": ["320508019000"], "name": ["金港街道"], "level": ["township"]})
    >>> depts = default_departments(load_catalogue(), d)
    >>> depts[0].code, depts[0].name, depts[-1].code, depts[-1].name
    ('320508D01', '县委组织部', '320508019D02', '金港街道司法所')
    """
    names = list(dict.fromkeys(c.department for c in catalogue))
    codes = [str(c) for c in divisions["code"]]
    out = []
    for county in sorted({c[:6] for c in codes}):
        home = county + "000000"
        out += [
            Department(f"{county}D{n:02d}", name, "county", home, (home,)) for n, name in enumerate(names, 1)
        ]
    townships = divisions[divisions["code"].astype(str).map(division_level) == "township"]
    for code, name in sorted(zip(townships["code"].astype(str), townships["name"], strict=True)):
        out += [
            Department(f"{code[:9]}{suffix}", f"{name}{kind}", "township", code, (code,))
            for suffix, kind in TOWNSHIP_DEPARTMENTS
        ]
    return out


# --- roles ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    """A staff role: code, Chinese name, other headers, the post it holds, its API key role."""

    code: str
    name: str
    post: str
    key_role: str
    aliases: tuple[str, ...] = ()
    phone_aliases: tuple[str, ...] = ()
    single: bool = False

    @property
    def headers(self) -> tuple[str, ...]:
        """Column headers that hold this role's people."""
        return (self.name, self.code, *self.aliases)

    @property
    def phone_headers(self) -> tuple[str, ...]:
        """Column headers that hold the phone of this role's (single) person."""
        return (
            f"{self.name}电话",
            f"{self.name}联系电话",
            f"{self.name}手机",
            f"{self.code}_phone",
            *self.phone_aliases,
        )


@dataclass(frozen=True)
class RoleSet:
    """The roles of a roster, by code, in file order."""

    roles: dict[str, Role] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.roles.values())

    def get(self, code_or_name: str) -> Role:
        """A role by code or Chinese name.

        Examples
        --------
        >>> load_roles().get("联户长").code
        'link_leader'
        """
        for role in self.roles.values():
            if code_or_name in (role.code, role.name):
                return role
        raise GeogridError(
            f"unknown role {code_or_name!r}; roles are {', '.join(r.name for r in self.roles.values())}"
        )

    def column(self, header: str) -> tuple[Role, str] | None:
        """``(role, "people" | "phone")`` for a roster column header, or None.

        Examples
        --------
        >>> role, kind = load_roles().column("网格长电话")
        >>> role.name, kind
        ('网格长', 'phone')
        """
        text = str(header).strip()
        for role in self.roles.values():
            if text in role.headers:
                return role, "people"
        for role in self.roles.values():
            if text in role.phone_headers:
                return role, "phone"
        return None

    def names(self) -> dict[str, str]:
        """Role code → Chinese name."""
        return {r.code: r.name for r in self.roles.values()}


#: The role set shipped as package data.
SHIPPED_ROLES = "roles.json"


def load_roles(path: str | Path | None = None) -> RoleSet:
    """Read a role set (JSON; see ``geogrid/data/roles.json``); the shipped one by default.

    Each role has ``code``, ``name``, ``post`` (``grid``, ``link_group``, ``division``,
    ``department``) and ``key_role`` (``worker``, ``dispatcher``, ``department``), and optionally
    ``aliases`` (other column headers), ``phone_aliases`` and ``single`` (at most one person per
    post).  Codes, names and headers must be unique.

    Raises
    ------
    GeogridError
        A missing or malformed file (naming the role and the field).

    Examples
    --------
    >>> roles = load_roles()
    >>> [r.name for r in roles][:6]
    ['网格长', '专职网格员', '兼职网格员', '网格指导员', '网格警务员', '网格法务员']
    >>> roles.get("link_leader").post, roles.get("网格长").single
    ('link_group', True)
    """
    source = resources.files("geogrid") / "data" / SHIPPED_ROLES if path is None else Path(path)
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GeogridError(f"role set {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise GeogridError(f"role set {path} is not valid JSON: {exc}") from None
    roles: dict[str, Role] = {}
    headers: dict[str, str] = {}
    for i, entry in enumerate(raw.get("roles") or []):
        role = _role(entry, f"roles[{i}]")
        for header in (*role.headers, *role.phone_headers):
            if header in headers and headers[header] != role.code:
                raise GeogridError(f"roles[{i}] ({role.code}): header {header!r} is also {headers[header]}'s")
            headers[header] = role.code
        roles[role.code] = role
    if not roles:
        raise GeogridError(f"role set {path or SHIPPED_ROLES} defines no roles")
    return RoleSet(roles)


def _role(entry: Mapping, where: str) -> Role:
    for key in ("code", "name", "post", "key_role"):
        if not entry.get(key):
            raise GeogridError(f"{where} has no {key!r}")
    if entry["post"] not in POSTS:
        raise GeogridError(
            f"{where} ({entry['code']}): post must be one of {list(POSTS)}, got {entry['post']!r}"
        )
    if entry["key_role"] not in KEY_ROLES:
        raise GeogridError(
            f"{where} ({entry['code']}): key_role must be one of {list(KEY_ROLES)}, got {entry['key_role']!r}"
        )
    return Role(
        code=str(entry["code"]),
        name=str(entry["name"]),
        post=str(entry["post"]),
        key_role=str(entry["key_role"]),
        aliases=tuple(str(a) for a in entry.get("aliases") or ()),
        phone_aliases=tuple(str(a) for a in entry.get("phone_aliases") or ()),
        single=bool(entry.get("single", False)),
    )
