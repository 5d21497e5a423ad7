"""Staff rosters: every role of the grid force per post, and the accounts their posts give them.

A county keeps its roster as a spreadsheet, one row per post: a grid (15-digit code; also a
17-digit sub-grid), a link group (联户, 17 digits), a division with its 综治中心 (12 digits)
or a department (部门编码).  The other columns are roles of the role set
(:func:`geogrid.organisation.load_roles`: 网格长, 专职网格员, 兼职网格员, 网格指导员, 网格警务员,
网格法务员, 联户长, 网格指挥长, 综治中心调度员, 部门联络员 ...), each cell holding people as
``"张三 13800000000；李四：139-0000-0000"``, optionally with a phone column for a single person
(``网格长电话``, ``联系电话``).

:func:`read_roster` reads and checks such a table: every column is kept (as a post code, a
role, or a description column such as 序号 or 网格名称 that is listed as not imported) or the
file is refused naming the column; every bad row is reported with its row number, field and
reason, and nothing is returned half-checked.  :func:`accounts` derives the API keys the
people need from their posts: grid staff get ``worker`` keys on their grids (which cover the
grids' sub-grids), a 联户长 on the link group, a centre's staff ``dispatcher`` keys on the
centre's division, a department's liaison a ``department`` key.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geogrid.codes import parse_code
from geogrid.errors import GridCodeError, ImportRowsError, InputFileError, RowError
from geogrid.organisation import Role, RoleSet, load_roles

#: Headers of the column naming the post (grid, link group or division code).
CODE_HEADERS = (
    "网格编码",
    "网格代码",
    "网格编号",
    "联户编码",
    "区划编码",
    "区划代码",
    "编码",
    "grid_code",
    "code",
)
#: Headers of the column naming a department (a department's post).
DEPARTMENT_HEADERS = ("部门编码", "部门代码", "department")
#: Description columns rosters often carry: kept in the file, not imported (and said so).
DESCRIPTION_HEADERS = (
    "序号",
    "网格名称",
    "联户名称",
    "名称",
    "部门名称",
    "所属乡镇",
    "乡镇(街道)",
    "所属乡镇(街道)",
    "所属村",
    "村(社区)",
    "所属村(社区)",
    "备注",
)
#: Roles whose people are a grid's head and workers (shown by lookups).
HEAD_ROLE = "grid_head"
WORKER_ROLES = ("full_time_worker", "part_time_worker")

# Mainland mobile numbers (11 digits, 1[3-9]...) or landlines with an area code (0xx(x)-xxxxxxx(x)).
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
# People are written "张三 13800000000；李四:13900000000" — any of ;；,，、 between people.
_PEOPLE_SEP = re.compile(r"[;；,，、\n]+")
_NAME_PHONE = re.compile(r"^\s*(?P<name>[^\d:：\s]+)\s*[:：]?\s*(?P<phone>[\d-]*)\s*$")


def normalise_phone(text: object) -> str:
    """Digits and one optional dash of a phone number as people type it (spaces, +86, full width).

    Examples
    --------
    >>> normalise_phone("+86 138 0000 0000"), normalise_phone("０５１２－６５１２３４５６")
    ('13800000000', '0512-65123456')
    """
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


# --- reading a roster -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Columns:
    """How a roster's columns are read: post code, department, role people and phones."""

    code: str | None
    department: str | None
    people: dict[str, str]  # header -> role code
    phones: dict[str, str]  # header -> role code
    ignored: tuple[str, ...]


def _classify(name: str, headers: Iterable[str], roles: RoleSet, mapping: Mapping[str, str]) -> _Columns:
    code = department = None
    people: dict[str, str] = {}
    phones: dict[str, str] = {}
    ignored: list[str] = []
    for header in headers:
        target = str(mapping.get(header, header)).strip()
        found = roles.column(target)
        if target in CODE_HEADERS and code is None:
            code = header
        elif target in DEPARTMENT_HEADERS and department is None:
            department = header
        elif found is not None and found[1] == "people" and found[0].code not in people.values():
            people[header] = found[0].code
        elif found is not None and found[1] == "phone" and found[0].code not in phones.values():
            phones[header] = found[0].code
        elif target in DESCRIPTION_HEADERS or target.startswith("Unnamed:"):
            ignored.append(header)
        else:
            known = "、".join(r.name for r in roles)
            raise InputFileError(
                f"{name}: column {header!r} is neither a post code (网格编码, 区划编码, 部门编码), a role "
                f"({known}) nor a description column ({'、'.join(DESCRIPTION_HEADERS)}); add the role to "
                "the role set (--roles) or map the column (--map 列名=角色)"
            )
    if code is None and department is None:
        raise InputFileError(f"{name}: no post column (expected 网格编码, 区划编码 or 部门编码)")
    for header, role in phones.items():
        if role not in people.values():
            raise InputFileError(
                f"{name}: column {header!r} gives phones of {roles.roles[role].name}, who has no column"
            )
    return _Columns(code, department, people, phones, tuple(ignored))


def _post_of(code: str) -> str:
    """``grid``, ``link_group`` or ``division`` for a post code; GridCodeError when malformed."""
    parts = parse_code(code)
    return {"grid": "grid", "subgrid": "link_group"}.get(parts.level, "division")


def _allowed(role: Role, post: str) -> bool:
    # A 17-digit sub-grid is a grid too: grid roles may staff it; a link group role needs one.
    return role.post == post or (role.post == "grid" and post == "link_group")


@dataclass
class _Row:
    """One roster row being checked."""

    number: int
    values: Mapping[str, object]
    errors: list[RowError] = field(default_factory=list)

    def text(self, header: str | None) -> str:
        value = self.values.get(header) if header is not None else None
        return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()

    def fail(self, header: str, reason: str) -> None:
        self.errors.append(RowError(self.number, header, reason))


def _post(row: _Row, cols: _Columns) -> tuple[str, str] | None:
    code, dept = row.text(cols.code), row.text(cols.department)
    if code and dept:
        row.fail(
            cols.department or "", "a row is one post: give a grid/division code or a department, not both"
        )
        return None
    if dept:
        return "department", dept
    try:
        return _post_of(code), code
    except GridCodeError as exc:
        row.fail(cols.code or "code", str(exc) if code else "no post code (网格编码, 区划编码 or 部门编码)")
        return None


def _people(row: _Row, cols: _Columns, roles: RoleSet, post: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    phone_of = {role: header for header, role in cols.phones.items()}
    for header, code in cols.people.items():
        role = roles.roles[code]
        try:
            found = parse_workers(row.values.get(header))
        except ValueError as exc:
            row.fail(header, str(exc))
            continue
        phone_header = phone_of.get(code)
        phone = normalise_phone(row.text(phone_header)).replace("-", "") if phone_header else ""
        if phone and not _PHONE.match(phone):
            row.fail(phone_header or "", f"{row.text(phone_header)!r} is not a mainland phone number")
            continue
        if phone and len(found) != 1:
            reason = f"a phone without a {role.name}" if not found else "one phone for several people"
            row.fail(header if found else phone_header or "", reason)
            continue
        if found and not _allowed(role, post):
            row.fail(
                header,
                f"{role.name} holds a {role.post} post ({_POST_NAMES[role.post]}); this row is a {post}",
            )
            continue
        if role.single and len(found) > 1:
            row.fail(header, f"a post has one {role.name}, this row names {len(found)}")
            continue
        out += [{"role": code, "name": p["name"], "phone": phone or p["phone"]} for p in found]
    return out


_POST_NAMES = {"grid": "网格", "link_group": "联户", "division": "区划/综治中心", "department": "部门"}


def read_roster(
    source: str | Path | pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    roles: RoleSet | None = None,
) -> pd.DataFrame:
    """Read and check a staff roster: one row per post, a column per role.

    Returns a frame with ``code`` (the post: grid, link group, division or department code),
    ``post`` (``grid``, ``link_group``, ``division``, ``department``), ``people`` (list of
    ``{"role", "name", "phone"}``) and, for lookups, ``head_name``, ``head_phone`` and
    ``workers`` (专职 and 兼职网格员).  ``attrs["roles"]`` lists the role codes the file has
    columns for (an empty cell clears that role of that post when stored; a role without a
    column is left alone) and ``attrs["ignored"]`` the description columns not imported.

    The file may be a CSV (encoding detected, or ``encoding``), an Excel sheet (``sheet``), or
    any format :func:`geogrid.sources.read_source` reads.  Row numbers in errors count data
    rows from 1.  ``columns`` maps a header of the file to a role or field (``{"网格管理员":
    "专职网格员"}``).

    Examples
    --------
    >>> roster = read_roster(pd.DataFrame({"网格编码": ["320508019044003"], "网格长": ["王芳"],
    ...                                    "联系电话": ["138 0000 0000"], "网格员": ["李强 13900000000"],
    ...                                    "网格警务员": ["赵刚 13700000000"]}))
    >>> roster.iloc[0]["workers"]
    [{'name': '李强', 'phone': '13900000000'}]
    >>> [(p["role"], p["name"]) for p in roster.iloc[0]["people"]]
    [('grid_head', '王芳'), ('full_time_worker', '李强'), ('grid_police', '赵刚')]
    """
    from geogrid.sources import read_table

    roles = roles or load_roles()
    name, raw = read_table(source, sheet=sheet, encoding=encoding)
    cols = _classify(
        name if not isinstance(source, pd.DataFrame) else "roster", raw.columns, roles, columns or {}
    )
    errors: list[RowError] = []
    rows = []
    seen: dict[str, int] = {}
    for i, values in enumerate(raw.to_dict("records"), start=1):
        row = _Row(i, values)
        post = _post(row, cols)
        people = _people(row, cols, roles, post[0]) if post else []
        if post and post[1] in seen:
            row.fail(cols.code or cols.department or "", f"{post[1]} is already on row {seen[post[1]]}")
        errors += row.errors
        if post and not row.errors:
            seen[post[1]] = i
            rows.append(_roster_row(post, people))
    if errors:
        raise ImportRowsError(name if not isinstance(source, pd.DataFrame) else "roster", errors)
    return _frame(rows, roles=list(cols.people.values()), ignored=list(cols.ignored))


def _frame(rows: list[dict[str, object]], *, roles: list[str], ignored: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["code", "post", "people", "head_name", "head_phone", "workers"])
    frame.attrs["roles"] = roles
    frame.attrs["ignored"] = ignored
    return frame


def roster_frame(
    posts: Iterable[tuple[str, str, list[dict[str, str]]]], *, roles: Iterable[str]
) -> pd.DataFrame:
    """A roster frame from ``(post kind, code, people)`` triples, each person a dict with ``role``,
    ``name`` and ``phone``; ``roles`` are the role codes the roster speaks for.

    Examples
    --------
    >>> r = roster_frame([("grid", "320508019044003", [{"role": "grid_head", "name": "王芳", "phone": ""}])],
    ...                  roles=["grid_head"])
    >>> r.iloc[0]["head_name"], r.attrs["roles"]
    ('王芳', ['grid_head'])
    """
    return _frame([_roster_row((p, c), people) for p, c, people in posts], roles=list(roles), ignored=[])


def _roster_row(post: tuple[str, str], people: list[dict[str, str]]) -> dict[str, object]:
    heads = [p for p in people if p["role"] == HEAD_ROLE]
    workers = [{"name": p["name"], "phone": p["phone"]} for p in people if p["role"] in WORKER_ROLES]
    return {
        "code": post[1],
        "post": post[0],
        "people": people,
        "head_name": heads[0]["name"] if heads else None,
        "head_phone": (heads[0]["phone"] or None) if heads else None,
        "workers": workers,
    }


def roster_from_heads(frame: pd.DataFrame) -> pd.DataFrame:
    """A roster frame from the older head/workers form (``code``, ``head_name``, ``head_phone``,
    ``workers``), with its roles: grid head and full-time workers.

    Examples
    --------
    >>> old = pd.DataFrame({"code": ["320508019044003"], "head_name": ["王芳"], "head_phone": ["13800000000"],
    ...                     "workers": [[{"name": "李强", "phone": "13900000000"}]]})
    >>> r = roster_from_heads(old)
    >>> r.attrs["roles"], [p["role"] for p in r.iloc[0]["people"]]
    (['grid_head', 'full_time_worker'], ['grid_head', 'full_time_worker'])
    """
    posts = []
    for rec in frame.to_dict("records"):
        people = [{"role": HEAD_ROLE, "name": rec["head_name"], "phone": rec.get("head_phone") or ""}]
        people = people if rec.get("head_name") else []
        people += [{"role": WORKER_ROLES[0], **w} for w in rec.get("workers") or []]
        posts.append((_post_of(str(rec["code"])), str(rec["code"]), people))
    return roster_frame(posts, roles=[HEAD_ROLE, WORKER_ROLES[0]])


# --- accounts -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """The API key one person needs for some of their posts: key role and scope derived from the posts."""

    name: str
    phone: str
    key_role: str
    scope: dict
    roles: tuple[str, ...]  # role codes
    posts: tuple[str, ...]

    @property
    def base_name(self) -> str:
        """The key name: the person's name and the last 4 digits of their phone (or their post)."""
        tail = self.phone[-4:] if self.phone else self.posts[0]
        return f"{self.name}·{tail}"


def accounts(staff: pd.DataFrame, roles: RoleSet) -> list[Account]:
    """The accounts the people of ``staff`` (``name``, ``phone``, ``role``, ``post_code``) need.

    One ``worker`` key per person for all their grids and link groups (a grid's scope covers
    its 17-digit sub-grids); one ``dispatcher`` key per person and division (scope
    ``{"division": code, "centre": code}``); one ``department`` key per person and department.

    Examples
    --------
    >>> staff = pd.DataFrame({"name": ["王芳", "王芳", "李强"], "phone": ["13800000001", "13800000001", ""],
    ...                       "role": ["grid_head", "grid_police", "centre_dispatcher"],
    ...                       "post_code": ["320508019044003", "320508019044004", "320508019000"]})
    >>> [(a.base_name, a.key_role, a.scope) for a in accounts(staff, load_roles())]  # doctest: +NORMALIZE_WHITESPACE
    [('李强·320508019000', 'dispatcher', {'division': '320508019000', 'centre': '320508019000'}),
     ('王芳·0001', 'worker', {'grid_codes': ['320508019044003', '320508019044004']})]
    """
    groups: dict[tuple[str, str, str, str], list[tuple[str, str]]] = {}
    for rec in staff.to_dict("records"):
        role = roles.roles.get(str(rec["role"]))
        if role is None:
            continue  # a role no longer in the role set gets no key
        phone = str(rec.get("phone") or "")
        post = str(rec["post_code"])
        per = "" if role.key_role == "worker" else post
        groups.setdefault((str(rec["name"]), phone, role.key_role, per), []).append((role.code, post))
    out = []
    for (name, phone, key_role, post), held in sorted(groups.items()):
        posts = tuple(sorted({p for _r, p in held}))
        if key_role == "worker":
            scope: dict = {"grid_codes": list(posts)}
        elif key_role == "dispatcher":
            scope = {"division": post, "centre": post}
        else:
            scope = {"department": post}
        out.append(Account(name, phone, key_role, scope, tuple(dict.fromkeys(r for r, _p in held)), posts))
    return out
