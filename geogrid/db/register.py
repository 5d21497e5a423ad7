"""The base register (一户一档) in PostGIS: import all-or-nothing, read within coverage, audit every read.

Who sees what (:func:`geogrid.register.register_coverage`): a resident's name, masked ID number,
phone, relation and tags are answered only to callers whose scope covers the resident's address,
and each such answer writes one ``register_reads`` row per resident (who, when, which resident,
which endpoint) in the same transaction as the read: no read without its record.  Everyone else
gets the address, its houses, its household count and its 联户 (the notice-board view).

Households per address are derived from the register: after an import every address the file
names gets ``households`` = its households in the register, and the published grids' counts are
refreshed, so partitioning and validation keep reading households per address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from geogrid.db import load_sql
from geogrid.errors import ImportRowsError, NotFoundError, RowError
from geogrid.register import Coverage, RegisterKeys, check_id_number, encrypt_id, id_hash, mask_id

__all__ = [
    "Reader",
    "RegisterImport",
    "ResidentRead",
    "address_register",
    "import_register",
    "list_residents",
    "reads",
    "resident",
    "search_id_number",
]


@dataclass(frozen=True)
class Reader:
    """Who reads people, and through which endpoint (``GET /register/residents/{id}``)."""

    name: str
    role: str
    endpoint: str


@dataclass(frozen=True)
class RegisterImport:
    """What an import wrote."""

    houses: int
    households: int
    residents: int
    addresses: int
    replaced_households: int = 0
    # 联户 holding households of these addresses whose counts no longer match the register:
    # re-form them (``geogrid linkgroups form`` / ``POST /link-groups``).
    stale_link_groups: int = 0


@dataclass(frozen=True)
class ResidentRead:
    """One record of ``register_reads``."""

    resident_id: int
    reader_name: str
    reader_role: str
    at: datetime
    endpoint: str


def coverage_sql(coverage: Coverage, params: dict[str, Any], *, alias: str = "a") -> str:
    """A SQL condition on the addresses ``alias`` that holds for the addresses ``coverage`` covers.

    Examples
    --------
    >>> from geogrid.register import register_coverage
    >>> p = {}
    >>> coverage_sql(register_coverage("worker", {"division": "320508019000"}), p), p
    ('(a.division_code LIKE :cov_0 OR a.grid_code LIKE :cov_0)', {'cov_0': '320508019%'})
    """
    if coverage.everything:
        return "TRUE"
    clauses = []
    if coverage.grids:
        params["cov_grids"] = sorted(coverage.grids)
        clauses.append(f"left({alias}.grid_code, 15) = ANY(CAST(:cov_grids AS text[]))")
    for i, prefix in enumerate(coverage.prefixes):
        params[f"cov_{i}"] = prefix + "%"
        clauses.append(f"{alias}.division_code LIKE :cov_{i} OR {alias}.grid_code LIKE :cov_{i}")
    return "(" + " OR ".join(clauses) + ")" if clauses else "FALSE"


# --------------------------------------------------------------------------- import


def _addresses(
    conn: Connection, rows: pd.DataFrame, coverage: Coverage | None
) -> tuple[dict, list[RowError]]:
    """Address code → (id, grid, division); rows naming an unknown or uncovered address."""
    found = conn.execute(
        sa.text("SELECT source_id, id, grid_code, division_code FROM addresses WHERE source_id = ANY(:ids)"),
        {"ids": sorted(set(rows["address_id"].astype(str)))},
    ).all()
    known = {r.source_id: (int(r.id), r.grid_code, r.division_code) for r in found}
    errors = []
    for row, code in zip(rows["row"], rows["address_id"].astype(str), strict=True):
        if code not in known:
            errors.append(
                RowError(int(row), "address_id", f"no standard address {code!r}; import the address first")
            )
        elif coverage is not None and not coverage.covers(known[code][1], known[code][2]):
            errors.append(RowError(int(row), "address_id", f"address {code!r} is outside your scope"))
    return known, errors


def _clashes(conn: Connection, rows: pd.DataFrame, hashes: list[str], replaced: list[int]) -> list[RowError]:
    """Rows whose household, house or person is already in the register (outside what is replaced)."""
    params = {"codes": sorted(set(rows["household_code"].astype(str))), "replaced": replaced}
    taken = set(
        conn.execute(
            sa.text(
                "SELECT code FROM register_households WHERE code = ANY(:codes) AND NOT address_id = ANY(:replaced)"
            ),
            params,
        ).scalars()
    )
    people = set(
        conn.execute(
            sa.text(
                "SELECT r.id_hash FROM register_residents r JOIN register_households h ON h.id = r.household_id "
                "WHERE r.id_hash = ANY(:hashes) AND NOT h.address_id = ANY(:replaced)"
            ),
            {"hashes": hashes, "replaced": replaced},
        ).scalars()
    )
    houses: dict[str, str] = dict(
        conn.execute(
            sa.text("SELECT h.code, a.source_id FROM register_houses h JOIN addresses a ON a.id = h.address_id "
                    "WHERE h.code = ANY(:codes)"),
            {"codes": sorted(set(rows["house_code"].astype(str)))},
        ).all()
    )  # fmt: skip
    errors = []
    for r, digest in zip(rows.itertuples(), hashes, strict=True):
        if r.household_code in taken:
            errors.append(
                RowError(r.row, "household_code", f"household {r.household_code} is already in the register")
            )
        if digest in people:
            errors.append(RowError(r.row, "id_number", "this person is already in the register"))
        if houses.get(r.house_code, r.address_id) != r.address_id:
            errors.append(
                RowError(r.row, "house_code", f"house {r.house_code} is at address {houses[r.house_code]}")
            )
    return errors


# Table stubs for bulk inserts: SQLAlchemy sends many rows as one multi-row INSERT (insertmanyvalues)
# where a text() statement would go row by row.
_HOUSES = sa.table("register_houses", sa.column("address_id"), sa.column("code"), sa.column("kind"))
_HOUSEHOLDS = sa.table(
    "register_households", sa.column("house_id"), sa.column("address_id"), sa.column("code")
)
_RESIDENTS = sa.table(
    "register_residents",
    *(
        sa.column(c)
        for c in ("household_id", "name", "id_hash", "id_masked", "id_cipher", "phone", "relation")
    ),
    sa.column("tags", ARRAY(sa.Text)),
)


def _write(
    conn: Connection, rows: pd.DataFrame, ids: dict, keys: RegisterKeys, hashes: list[str]
) -> tuple[int, int]:
    houses = rows.drop_duplicates("house_code")
    conn.execute(
        pg_insert(_HOUSES).on_conflict_do_nothing(index_elements=["code"]),
        [
            {"address_id": ids[r.address_id][0], "code": r.house_code, "kind": _none(r.house_kind)}
            for r in houses.itertuples()
        ],
    )
    house_id: dict[str, int] = dict(
        conn.execute(
            sa.text("SELECT code, id FROM register_houses WHERE code = ANY(:c)"),
            {"c": houses["house_code"].tolist()},
        ).all()
    )
    households = rows.drop_duplicates("household_code")
    conn.execute(
        sa.insert(_HOUSEHOLDS),
        [
            {"house_id": house_id[r.house_code], "address_id": ids[r.address_id][0], "code": r.household_code}
            for r in households.itertuples()
        ],
    )
    household_id: dict[str, int] = dict(
        conn.execute(
            sa.text("SELECT code, id FROM register_households WHERE code = ANY(:c)"),
            {"c": households["household_code"].tolist()},
        ).all()
    )
    conn.execute(
        sa.insert(_RESIDENTS),
        [
            {
                "household_id": household_id[r.household_code],
                "name": r.name,
                "id_hash": digest,
                "id_masked": mask_id(r.id_number),
                "id_cipher": encrypt_id(r.id_number, keys),
                "phone": _none(r.phone),
                "relation": _none(r.relation),
                "tags": list(r.tags),
            }
            for r, digest in zip(rows.itertuples(), hashes, strict=True)
        ],
    )
    return len(houses), len(households)


def _none(value: object) -> object:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def refresh_households(conn: Connection, address_ids: Sequence[int]) -> None:
    """Households of these addresses := their households in the register; the published grids
    holding them get fresh counts."""
    conn.execute(
        sa.text(
            "UPDATE addresses a SET households = (SELECT count(*) FROM register_households h WHERE h.address_id = a.id) "
            "WHERE a.id = ANY(:ids)"
        ),
        {"ids": list(address_ids)},
    )
    conn.execute(sa.text(load_sql("register_refresh_grids")), {"ids": list(address_ids)})


def import_register(
    engine: Engine,
    rows: pd.DataFrame,
    keys: RegisterKeys,
    *,
    source: str = "register",
    replace: bool = False,
    coverage: Coverage | None = None,
) -> RegisterImport:
    """Write checked register rows (:func:`geogrid.register.read_register`) all-or-nothing.

    Parameters
    ----------
    rows
        The checked rows (plain ID numbers in memory; only their mask, keyed hash and ciphertext
        are written).
    keys
        The register keys (:func:`geogrid.db.secrets.register_keys`).
    replace
        First remove the register of every address the file names (a grid worker re-surveys
        addresses); otherwise a household or person already in the register is a bad row.
    coverage
        When given, every address must lie in it (a scoped key imports only its own addresses).

    Raises
    ------
    ImportRowsError
        Rows naming an unknown address or one outside ``coverage``, a household, house or person
        already in the register; nothing is written.
    """
    hashes = [id_hash(check_id_number(i), keys) for i in rows["id_number"]]
    with engine.begin() as conn:
        known, errors = _addresses(conn, rows, coverage)
        if errors:
            raise ImportRowsError(source, errors)
        address_ids = sorted({known[a][0] for a in rows["address_id"].astype(str)})
        replaced = 0
        if replace:
            replaced = conn.execute(
                sa.text("DELETE FROM register_households WHERE address_id = ANY(:ids)"), {"ids": address_ids}
            ).rowcount
            conn.execute(
                sa.text(
                    "DELETE FROM register_houses h WHERE address_id = ANY(:ids) AND NOT EXISTS "
                    "(SELECT 1 FROM register_households x WHERE x.house_id = h.id)"
                ),
                {"ids": address_ids},
            )
        errors = _clashes(conn, rows, hashes, address_ids if replace else [])
        if errors:
            raise ImportRowsError(source, sorted(errors, key=lambda e: e.row))
        houses, households = _write(conn, rows, known, keys, hashes)
        refresh_households(conn, address_ids)
        stale = conn.execute(
            sa.text(
                "SELECT count(DISTINCT m.link_group_id) FROM link_group_members m "
                "JOIN addresses a ON a.id = m.address_id WHERE a.id = ANY(:ids) AND a.households <> "
                "(SELECT sum(x.households) FROM link_group_members x WHERE x.address_id = a.id)"
            ),
            {"ids": address_ids},
        ).scalar_one()
    return RegisterImport(houses, households, len(rows), len(address_ids), replaced, int(stale))


# --------------------------------------------------------------------------- reading


def record_reads(conn: Connection, resident_ids: Sequence[int], reader: Reader) -> None:
    """One ``register_reads`` row per resident shown in full to ``reader``."""
    if resident_ids:
        conn.execute(
            sa.text(
                "INSERT INTO register_reads (resident_id, reader_name, reader_role, endpoint) VALUES (:r, :n, :role, :e)"
            ),
            [
                {"r": int(i), "n": reader.name, "role": reader.role, "e": reader.endpoint}
                for i in resident_ids
            ],
        )


def _person(row) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "name": row.name,
        "id_number": row.id_masked,
        "phone": row.phone,
        "relation": row.relation,
        "tags": list(row.tags or []),
        "household_code": row.household_code,
        "house_code": row.house_code,
        "address_id": row.address_id,
        "address": row.full_text,
        "grid_code": row.grid_code,
        "division_code": row.division_code,
    }


def resident(engine: Engine, resident_id: int, *, coverage: Coverage, reader: Reader) -> dict[str, Any]:
    """One resident in full, if ``coverage`` covers their address (the read is recorded).

    Raises
    ------
    NotFoundError
        No such resident, or one outside ``coverage`` (whether a person exists outside one's
        scope is not told either).
    """
    params: dict[str, Any] = {"id": int(resident_id)}
    where = coverage_sql(coverage, params)
    with engine.begin() as conn:
        row = conn.execute(
            sa.text(load_sql("register_residents") + f"WHERE r.id = :id AND {where}"), params
        ).first()
        if row is None:
            raise NotFoundError(f"no resident {resident_id} within your scope")
        record_reads(conn, [row.id], reader)
    return _person(row)


def search_id_number(
    engine: Engine, id_number: str, keys: RegisterKeys, *, coverage: Coverage, reader: Reader
) -> list[dict[str, Any]]:
    """Residents with exactly this ID number within ``coverage`` (0 or 1; the read is recorded).

    The number is checked (a malformed one is a ``ValueError``), hashed with the search key and
    matched on the hash: the plain number is never compared, stored or logged.
    """
    digest = id_hash(check_id_number(id_number), keys)
    params: dict[str, Any] = {"h": digest}
    where = coverage_sql(coverage, params)
    with engine.begin() as conn:
        rows = conn.execute(
            sa.text(load_sql("register_residents") + f"WHERE r.id_hash = :h AND {where}"), params
        ).all()
        record_reads(conn, [r.id for r in rows], reader)
    return [_person(r) for r in rows]


def list_residents(
    engine: Engine,
    *,
    coverage: Coverage,
    reader: Reader,
    grid_code: str | None = None,
    tag: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """Residents within ``coverage`` (optionally of one grid or with one tag), and how many match.

    Every resident returned is recorded as read; the count reveals nothing beyond the caller's scope.
    """
    params: dict[str, Any] = {"limit": int(limit), "offset": int(offset)}
    where = [coverage_sql(coverage, params)]
    if grid_code:
        params["grid"] = grid_code + "%"
        where.append("a.grid_code LIKE :grid")
    if tag:
        params["tag"] = tag
        where.append("CAST(:tag AS text) = ANY(r.tags)")
    clause = " AND ".join(where)
    with engine.begin() as conn:
        total = conn.execute(
            sa.text(
                "SELECT count(*) FROM register_residents r JOIN register_households h ON h.id = r.household_id "
                f"JOIN addresses a ON a.id = h.address_id WHERE {clause}"
            ),
            params,
        ).scalar_one()
        rows = conn.execute(
            sa.text(
                load_sql("register_residents")
                + f"WHERE {clause} ORDER BY a.grid_code, h.code, r.id LIMIT :limit OFFSET :offset"
            ),
            params,
        ).all()
        record_reads(conn, [r.id for r in rows], reader)
    return int(total), [_person(r) for r in rows]


def _address(conn: Connection, key: str):
    row = conn.execute(
        sa.text(
            "SELECT a.id, a.source_id, a.full_text, a.households, a.grid_code, a.division_code, "
            "ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat FROM addresses a WHERE a.source_id = :k "
            "OR (a.source_id IS NULL AND CAST(a.id AS text) = :k) LIMIT 1"
        ),
        {"k": str(key)},
    ).first()
    if row is None:
        raise NotFoundError(f"no standard address {key!r}")
    return row


def address_register(engine: Engine, key: str, *, coverage: Coverage, reader: Reader) -> dict[str, Any]:
    """The register of one address: its houses and households, their 联户, and — only where
    ``coverage`` covers the address — the residents in full (each read recorded)."""
    from geogrid.db.link_groups import groups_at_address

    with engine.begin() as conn:
        a = _address(conn, key)
        households = conn.execute(
            sa.text(
                "SELECT h.id, h.code, ho.code AS house_code, ho.kind AS house_kind FROM register_households h "
                "JOIN register_houses ho ON ho.id = h.house_id WHERE h.address_id = :a ORDER BY h.code"
            ),
            {"a": a.id},
        ).all()
        covered = coverage.covers(a.grid_code, a.division_code)
        people: Sequence[Any] = []
        if covered and households:
            people = conn.execute(
                sa.text(load_sql("register_residents") + "WHERE h.address_id = :a ORDER BY h.code, r.id"),
                {"a": a.id},
            ).all()
            record_reads(conn, [p.id for p in people], reader)
        groups = groups_at_address(conn, a.id)
    out: dict[str, Any] = {
        "address_id": a.source_id or str(a.id),
        "full_text": a.full_text,
        "lon": a.lon,
        "lat": a.lat,
        "grid_code": a.grid_code,
        "division_code": a.division_code,
        "households": int(a.households),
        "registered_households": len(households),
        "houses": sorted({h.house_code for h in households}),
        "link_groups": groups,
        "personal": covered,
    }
    if covered:
        by_household: dict[str, list] = {h.code: [] for h in households}
        for p in people:
            by_household[p.household_code].append(_person(p))
        out["household_list"] = [
            {"code": h.code, "house_code": h.house_code, "residents": by_household[h.code]}
            for h in households
        ]
    return out


def reads(engine: Engine, resident_id: int) -> list[ResidentRead]:
    """Every recorded read of one resident, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT resident_id, reader_name, reader_role, at, endpoint FROM register_reads "
                "WHERE resident_id = :r ORDER BY at, id"
            ),
            {"r": int(resident_id)},
        ).all()
    return [ResidentRead(int(r.resident_id), r.reader_name, r.reader_role, r.at, r.endpoint) for r in rows]
