"""Departments and dispatch centres in PostGIS: stored all or nothing, looked up by code or name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid.errors import GeogridError, ImportRowsError, NotFoundError, RowError
from geogrid.organisation import (
    Centre,
    Department,
    centre_name,
    default_centres,
    default_departments,
    division_level,
)


def _connect(engine: Engine | Connection):
    """A context manager giving a connection: the one passed in, or a new one of ``engine``."""
    from contextlib import nullcontext

    return nullcontext(engine) if isinstance(engine, Connection) else engine.connect()


def _known_prefixes(conn: Connection, codes: Iterable[str]) -> set[str]:
    """Those of ``codes`` (12-digit) inside which some division is stored: a village or a
    township by its row or its villages, a county by its townships and villages."""
    from geogrid.incidents import division_prefix

    prefixes = {c: division_prefix(c) for c in set(codes)}
    found = set(
        conn.execute(
            sa.text(
                "SELECT p FROM unnest(CAST(:p AS text[])) AS p "
                "WHERE EXISTS (SELECT 1 FROM divisions d WHERE d.code LIKE p || '%')"
            ),
            {"p": sorted(set(prefixes.values()))},
        ).scalars()
    )
    return {c for c, p in prefixes.items() if p in found}


def save_departments(
    engine: Engine,
    departments: Sequence[Department],
    *,
    source: str = "departments",
    replace: bool = False,
    overwrite: bool = True,
) -> int:
    """Store departments (insert or update by code), all or nothing; returns how many were written.

    Every division a department belongs to or serves must be stored (a county is known by
    its townships and villages), and a name must not belong to another department already;
    a bad row is a row error naming it, and nothing is written.  With ``replace`` the
    departments not in the list are removed first; without ``overwrite`` departments whose
    code or name is already stored are left as they are (how defaults fill the gaps).
    """
    with engine.begin() as conn:
        existing: dict[str, str] = dict(conn.execute(sa.text("SELECT name, code FROM departments")).all())
        if not overwrite:
            codes = set(existing.values())
            departments = [d for d in departments if d.name not in existing and d.code not in codes]
        errors = _department_errors(conn, departments, existing if not replace else {})
        if errors:
            raise ImportRowsError(source, errors)
        if replace:
            conn.execute(
                sa.text("DELETE FROM departments WHERE code <> ALL(CAST(:c AS text[]))"),
                {"c": [d.code for d in departments]},
            )
        if departments:
            conn.execute(
                sa.text(
                    "INSERT INTO departments (code, name, level, division_code, serves) "
                    "VALUES (:code, :name, :level, :division_code, CAST(:serves AS text[])) "
                    "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, level = EXCLUDED.level, "
                    "division_code = EXCLUDED.division_code, serves = EXCLUDED.serves, updated_at = now()"
                ),
                [
                    {
                        "code": d.code,
                        "name": d.name,
                        "level": d.level,
                        "division_code": d.division_code,
                        "serves": list(d.serves),
                    }
                    for d in departments
                ],
            )
    return len(departments)


def _department_errors(
    conn: Connection, departments: Sequence[Department], existing: dict[str, str]
) -> list[RowError]:
    codes = {d.division_code for d in departments} | {s for d in departments for s in d.serves}
    known = _known_prefixes(conn, codes)
    errors = []
    for i, d in enumerate(departments, start=1):
        for code in dict.fromkeys((d.division_code, *d.serves)):
            if code not in known:
                field = "division_code" if code == d.division_code else "serves"
                errors.append(RowError(i, field, f"no division {code} is stored"))
        if existing.get(d.name, d.code) != d.code:
            errors.append(RowError(i, "name", f"{d.name} is already department {existing[d.name]}"))
    return errors


def save_centres(
    engine: Engine,
    centres: Sequence[Centre],
    *,
    source: str = "centres",
    replace: bool = False,
    overwrite: bool = True,
) -> int:
    """Store dispatch centres (insert or update by division code), all or nothing; returns how many.

    A centre without a name is called after its division (``金港街道综治中心``); an unknown
    division is a row error and nothing is written.  Without ``overwrite`` stored centres are
    left as they are.
    """
    with engine.begin() as conn:
        if not overwrite:
            stored = set(conn.execute(sa.text("SELECT code FROM centres")).scalars())
            centres = [c for c in centres if c.code not in stored]
        known = _known_prefixes(conn, [c.code for c in centres])
        errors = [
            RowError(i, "code", f"no division {c.code} is stored")
            for i, c in enumerate(centres, start=1)
            if c.code not in known
        ]
        if errors:
            raise ImportRowsError(source, errors)
        names: dict[str, str] = dict(
            conn.execute(
                sa.text("SELECT code, name FROM divisions WHERE code = ANY(CAST(:c AS text[]))"),
                {"c": [c.code for c in centres]},
            ).all()
        )
        if replace:
            conn.execute(
                sa.text("DELETE FROM centres WHERE code <> ALL(CAST(:c AS text[]))"),
                {"c": [c.code for c in centres]},
            )
        if centres:
            conn.execute(
                sa.text(
                    "INSERT INTO centres (code, name, level) VALUES (:code, :name, :level) "
                    "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, level = EXCLUDED.level"
                ),
                [
                    {
                        "code": c.code,
                        "name": c.name or centre_name(names.get(c.code), c.code),
                        "level": c.level,
                    }
                    for c in centres
                ],
            )
    return len(centres)


@dataclass(frozen=True)
class Organisation:
    """What :func:`install_defaults` stored (what was stored before is kept)."""

    departments: int
    centres: int


def install_defaults(
    engine: Engine, catalogue, *, county_prefix: str = "", county_names: dict[str, str] | None = None
) -> Organisation:
    """Store the default organisation of the stored divisions (those under ``county_prefix``):
    a centre per county, township and village, the catalogue's departments per county and
    each township's 派出所 and 司法所 (:func:`geogrid.organisation.default_departments`).

    Counties are named from ``county_names`` (6-digit code → name), else from their addresses."""
    with engine.connect() as conn:
        divisions = pd.DataFrame(
            conn.execute(
                sa.text("SELECT code, name, level FROM divisions WHERE code LIKE :p ORDER BY code"),
                {"p": county_prefix + "%"},
            ).all(),
            columns=["code", "name", "level"],
        )
        counties: dict[str, str] = dict(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT ON (left(division_code, 6)) left(division_code, 6), county FROM addresses "
                    "WHERE division_code LIKE :p AND county IS NOT NULL ORDER BY left(division_code, 6)"
                ),
                {"p": county_prefix + "%"},
            ).all()
        )
    if divisions.empty:
        raise NotFoundError(
            f"no divisions stored{' under ' + county_prefix if county_prefix else ''}; import divisions first"
        )
    centres = default_centres(divisions, county_names={**counties, **(county_names or {})})
    departments = default_departments(catalogue, divisions)
    n_centres = save_centres(engine, centres, source="default centres", overwrite=False)
    n_departments = save_departments(engine, departments, source="default departments", overwrite=False)
    return Organisation(n_departments, n_centres)


# --- reading -----------------------------------------------------------------------------------------


def list_departments(engine: Engine | Connection, *, serving: str | None = None) -> list[Department]:
    """Every department (those serving the place ``serving`` when given), by code."""
    with _connect(engine) as conn:
        rows = conn.execute(
            sa.text("SELECT code, name, level, division_code, serves FROM departments ORDER BY code")
        ).all()
    out = [Department(r.code, r.name, r.level, r.division_code, tuple(r.serves)) for r in rows]
    return [d for d in out if serving is None or d.serves_place(serving)]


def list_centres(engine: Engine | Connection, *, within: str | None = None) -> list[Centre]:
    """Every centre (those inside division ``within`` when given), county first."""
    from geogrid.incidents import division_prefix

    params = {"p": (division_prefix(within) if within else "") + "%"}
    with _connect(engine) as conn:
        rows = conn.execute(sa.text("SELECT code, name, level FROM centres WHERE code LIKE :p"), params).all()
    centres = [Centre(r.code, r.name, r.level) for r in rows]
    return sorted(centres, key=lambda c: (("county", "township", "village").index(c.level), c.code))


def centre_codes(conn: Connection, candidates: Iterable[str]) -> set[str]:
    """Those of ``candidates`` that have a centre."""
    return set(
        conn.execute(
            sa.text("SELECT code FROM centres WHERE code = ANY(CAST(:c AS text[]))"),
            {"c": sorted(set(candidates))},
        ).scalars()
    )


def find_department(engine: Engine | Connection, text: str) -> Department:
    """The department with code or Chinese name ``text``.

    Raises
    ------
    GeogridError
        No such department (HTTP 400, naming it and some that exist).
    """
    text = (text or "").strip()
    with _connect(engine) as conn:
        row = conn.execute(
            sa.text(
                "SELECT code, name, level, division_code, serves FROM departments WHERE code = :t OR name = :t "
                "ORDER BY (code = :t) DESC LIMIT 1"
            ),
            {"t": text},
        ).first()
        if row is None:
            some = (
                conn.execute(sa.text("SELECT code || ' ' || name FROM departments ORDER BY code LIMIT 5"))
                .scalars()
                .all()
            )
    if row is None:
        hint = (
            f"known departments include {', '.join(some)}"
            if some
            else "no departments are stored: `geogrid import departments FILE` or `geogrid org defaults`"
        )
        raise GeogridError(f"未知部门 {text!r} / unknown department {text!r}; {hint}")
    return Department(row.code, row.name, row.level, row.division_code, tuple(row.serves))


def department_code(engine: Engine | Connection, text: str) -> str:
    """The code of the department with code or name ``text`` (:func:`find_department`)."""
    return find_department(engine, text).code


def names_of(engine: Engine | Connection, codes: Iterable[str | None]) -> dict[str, str]:
    """Chinese names of department and centre codes (centre codes are division codes: their
    answer is the centre's name, e.g. ``金港街道综治中心``)."""
    wanted = sorted({c for c in codes if c})
    if not wanted:
        return {}
    with _connect(engine) as conn:
        rows = conn.execute(
            sa.text(
                "SELECT code, name FROM departments WHERE code = ANY(CAST(:c AS text[])) "
                "UNION ALL SELECT code, name FROM centres WHERE code = ANY(CAST(:c AS text[]))"
            ),
            {"c": wanted},
        ).all()
    return dict(rows)


__all__ = [
    "Organisation",
    "centre_codes",
    "department_code",
    "division_level",
    "find_department",
    "install_defaults",
    "list_centres",
    "list_departments",
    "names_of",
    "save_centres",
    "save_departments",
]
