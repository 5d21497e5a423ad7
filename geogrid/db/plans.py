"""Storing grid plans in PostGIS: save a draft, publish atomically, roll back.

A plan is a versioned set of grids for a division scope (a village, a township or a
whole county).  Lookups and tiles read the grids of *published* plans only; publishing
swaps plans inside one transaction, so a concurrent reader sees either the old plan or
the new one, never a mix.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid.db import load_sql, store
from geogrid.errors import ConflictError, NotFoundError


@dataclass(frozen=True)
class PlanInfo:
    """A plan's metadata and totals.

    ``grid_count`` counts the grids (15-digit codes), ``subgrid_count`` the sub-grids (17
    digits); ``households`` sums the grids only: sub-grids are counted inside their parents,
    never added to them.
    """

    id: int
    scope_code: str
    version: int
    status: str
    author: str | None
    note: str | None
    created_at: datetime
    published_at: datetime | None
    retired_at: datetime | None
    grid_count: int = 0
    households: int = 0
    subgrid_count: int = 0


_PLAN_COLUMNS = (
    "p.id, p.scope_code, p.version, p.status, p.author, p.note, p.created_at, p.published_at, p.retired_at"
)
# Totals by level: grids (15 digits) and their households; sub-grids (17 digits) counted apart.
_PLAN_TOTALS = (
    "count(g.id) FILTER (WHERE length(g.code) <> 17), "
    "coalesce(sum(g.households) FILTER (WHERE length(g.code) <> 17), 0), "
    "count(g.id) FILTER (WHERE length(g.code) = 17)"
)


def _info(row) -> PlanInfo:
    return PlanInfo(*row)


def save_plan(
    engine: Engine,
    grids: gpd.GeoDataFrame,
    *,
    scope_code: str,
    author: str | None = None,
    note: str | None = None,
) -> int:
    """Store ``grids`` (a plan frame, see :mod:`geogrid.frames`) as a new draft; return its id.

    Missing ``kind`` is taken from each grid's village, missing ``level`` is 3.  The draft
    gets the next version number of its scope.  All or nothing.
    """
    frame = grids.copy()
    with engine.begin() as conn:
        version = conn.execute(
            sa.text("SELECT coalesce(max(version), 0) + 1 FROM plans WHERE scope_code = :s"),
            {"s": scope_code},
        ).scalar_one()
        plan_id = conn.execute(
            sa.text(
                "INSERT INTO plans (scope_code, version, status, author, note) "
                "VALUES (:s, :v, 'draft', :a, :n) RETURNING id"
            ),
            {"s": scope_code, "v": version, "a": author, "n": note},
        ).scalar_one()
        frame["plan_id"] = plan_id
        if "level" not in frame:
            frame["level"] = 3
        if "kind" not in frame or frame["kind"].isna().any():
            kinds: dict[str, str] = dict(
                conn.execute(sa.text("SELECT code, coalesce(kind, 'urban') FROM divisions")).all()
            )
            fallback = frame["division_code"].map(kinds)
            frame["kind"] = frame["kind"].fillna(fallback) if "kind" in frame else fallback
        for column in ("households", "address_count"):
            if column in frame:
                frame[column] = frame[column].fillna(0).astype(int)
        store.load_frame(conn, frame, store.GRIDS, source=f"plan {scope_code} v{version}")
    return int(plan_id)


def connect(bind: Engine | Connection) -> AbstractContextManager[Connection]:
    """A connection for ``bind``: a new one from an engine, or the given connection itself."""
    return bind.connect() if isinstance(bind, Engine) else nullcontext(bind)


def get_plan(bind: Engine | Connection, plan_id: int) -> PlanInfo:
    """The plan's metadata with its totals by level (:class:`PlanInfo`); NotFoundError if absent."""
    with connect(bind) as conn:
        row = conn.execute(
            sa.text(
                f"SELECT {_PLAN_COLUMNS}, {_PLAN_TOTALS} FROM plans p "
                "LEFT JOIN grids g ON g.plan_id = p.id WHERE p.id = :id GROUP BY p.id"
            ),
            {"id": plan_id},
        ).first()
    if row is None:
        raise NotFoundError(f"plan {plan_id} does not exist")
    return _info(row)


def list_plans(bind: Engine | Connection, *, scope_code: str | None = None) -> list[PlanInfo]:
    """Plans, newest first, optionally of one scope."""
    where = "WHERE p.scope_code = :s" if scope_code else ""
    with connect(bind) as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT {_PLAN_COLUMNS}, {_PLAN_TOTALS} FROM plans p "
                f"LEFT JOIN grids g ON g.plan_id = p.id {where} GROUP BY p.id "
                "ORDER BY p.scope_code, p.version DESC"
            ),
            {"s": scope_code},
        ).all()
    return [_info(r) for r in rows]


def load_plan(engine: Engine | Connection, plan_id: int) -> gpd.GeoDataFrame:
    """The grids of plan ``plan_id`` as a plan frame (EPSG:4326)."""
    get_plan(engine, plan_id)
    columns = [c for c in store.GRIDS.columns if c != "plan_id"]
    return store.read_table(engine, "grids", where="plan_id = :p", params={"p": plan_id}, columns=columns)


def published_plan_id(bind: Engine | Connection, scope_code: str) -> int | None:
    """Id of the published plan of ``scope_code``, or None."""
    with connect(bind) as conn:
        return conn.execute(
            sa.text("SELECT id FROM plans WHERE scope_code = :s AND status = 'published'"), {"s": scope_code}
        ).scalar()


def scope_prefix(code: str) -> str:
    """The significant digits of a division code: county 6, township 9, village 12.

    >>> scope_prefix("320508000000"), scope_prefix("320508019000"), scope_prefix("320508019044")
    ('320508', '320508019', '320508019044')
    """
    if code.endswith("000000"):
        return code[:6]
    if code.endswith("000"):
        return code[:9]
    return code


def _overlapping_published(conn: Connection, scope_code: str) -> list[int]:
    """Published plans whose scope contains or lies within ``scope_code`` (by code prefix)."""
    prefix = scope_prefix(scope_code)
    rows = conn.execute(
        sa.text("SELECT id, scope_code FROM plans WHERE status = 'published' FOR UPDATE")
    ).all()
    hits = []
    for pid, scope in rows:
        other = scope_prefix(scope)
        if other.startswith(prefix) or prefix.startswith(other):
            hits.append(int(pid))
    return hits


def _assign_addresses(conn: Connection, plan_id: int, retired: list[int]) -> None:
    """Point the addresses at the grids of plan ``plan_id``; refresh the grids' counts.

    Addresses that pointed at grids of the ``retired`` plans and lie in no grid of this plan
    lose their grid.  One statement (``plan_assign_addresses.sql``) that visits only the
    addresses of these plans, so publishing a county costs the same in a province.
    """
    conn.execute(sa.text(load_sql("plan_assign_addresses")), {"plan_id": plan_id, "retired": retired})


def _carry_staff(conn: Connection, plan_id: int, retired: list[int]) -> None:
    """A grid that keeps its code keeps its head and workers unless the new plan names others."""
    conn.execute(
        sa.text(
            "UPDATE grids g SET head_name = o.head_name, head_phone = o.head_phone, workers = o.workers "
            "FROM grids o WHERE g.plan_id = :p AND o.plan_id = ANY(:old) AND o.code = g.code "
            "AND g.head_name IS NULL AND g.workers = '[]'::jsonb "
            # Only grids that had staff: rewriting every grid (and its GiST entry) costs the publish.
            "AND (o.head_name IS NOT NULL OR o.head_phone IS NOT NULL OR o.workers <> '[]'::jsonb)"
        ),
        {"p": plan_id, "old": retired},
    )


def _grids_outside_scope(conn: Connection, plan_id: int, prefix: str) -> list[str]:
    return list(
        conn.execute(
            sa.text(
                "SELECT code FROM grids WHERE plan_id = :p AND division_code NOT LIKE :pre ORDER BY code LIMIT 5"
            ),
            {"p": plan_id, "pre": prefix + "%"},
        ).scalars()
    )


def _enclosing_published(conn: Connection, scope_code: str) -> PlanInfo | None:
    """The published plan whose scope strictly contains ``scope_code`` (e.g. the county's), if any."""
    prefix = scope_prefix(scope_code)
    for pid in _overlapping_published(conn, scope_code):
        other = get_plan(conn, pid)
        if prefix != scope_prefix(other.scope_code) and prefix.startswith(scope_prefix(other.scope_code)):
            return other
    return None


def publish_plan(engine: Engine, plan_id: int) -> PlanInfo:
    """Publish draft ``plan_id`` in one transaction.

    - Published plans of the same or an enclosed scope are retired.
    - A draft for part of a published larger scope (one village re-drawn inside a county plan)
      is completed with the larger plan's grids outside its scope and becomes the next version
      of the larger scope, so the rest of the county keeps its grids.
    - Addresses are re-assigned to the new grids and the grids' counts refreshed.

    Readers never see a mix of plans: everything happens in one transaction.
    """
    with engine.begin() as conn:
        plan = get_plan(conn, plan_id)
        if plan.status != "draft":
            raise ConflictError(f"plan {plan_id} is {plan.status}; only a draft can be published")
        if plan.grid_count == 0:
            raise ConflictError(f"plan {plan_id} has no grids")
        outside = _grids_outside_scope(conn, plan_id, scope_prefix(plan.scope_code))
        if outside:
            raise ConflictError(
                f"plan {plan_id} has grids outside its scope {plan.scope_code}: {', '.join(outside)}"
            )
        enclosing = _enclosing_published(conn, plan.scope_code)
        if enclosing is not None:
            conn.execute(
                sa.text(
                    "INSERT INTO grids (plan_id, code, division_code, level, kind, name, geom, households, "
                    "address_count, head_name, head_phone, workers, properties) "
                    "SELECT :p, code, division_code, level, kind, name, geom, households, address_count, "
                    "head_name, head_phone, workers, properties FROM grids "
                    "WHERE plan_id = :e AND division_code NOT LIKE :pre"
                ),
                {"p": plan_id, "e": enclosing.id, "pre": scope_prefix(plan.scope_code) + "%"},
            )
            conn.execute(
                sa.text(
                    "UPDATE plans SET scope_code = :s, "
                    "version = (SELECT coalesce(max(version), 0) + 1 FROM plans WHERE scope_code = :s), "
                    "note = concat_ws(' ', note, :n) WHERE id = :p"
                ),
                {
                    "s": enclosing.scope_code,
                    "p": plan_id,
                    "n": f"(re-draw of {plan.scope_code} merged into plan {enclosing.id})",
                },
            )
            plan = get_plan(conn, plan_id)
        old = _overlapping_published(conn, plan.scope_code)
        if old:
            conn.execute(
                sa.text("UPDATE plans SET status = 'retired', retired_at = now() WHERE id = ANY(:ids)"),
                {"ids": old},
            )
        conn.execute(
            sa.text(
                "UPDATE plans SET status = 'published', published_at = now(), retired_at = NULL WHERE id = :p"
            ),
            {"p": plan_id},
        )
        if old:
            _carry_staff(conn, plan_id, old)
        _assign_addresses(conn, plan_id, old)
        return get_plan(conn, plan_id)


def rollback_plan(engine: Engine, scope_code: str) -> PlanInfo:
    """Retire the published plan of ``scope_code`` and re-publish the one it replaced."""
    with engine.begin() as conn:
        current = published_plan_id(conn, scope_code)
        if current is None:
            raise ConflictError(f"scope {scope_code} has no published plan to roll back")
        previous = conn.execute(
            sa.text(
                "SELECT id FROM plans WHERE scope_code = :s AND status = 'retired' AND published_at IS NOT NULL "
                "AND published_at < (SELECT published_at FROM plans WHERE id = :c) "
                "ORDER BY published_at DESC LIMIT 1"
            ),
            {"s": scope_code, "c": current},
        ).scalar()
        if previous is None:
            raise ConflictError(f"scope {scope_code} has no earlier published plan to return to")
        conn.execute(
            sa.text("UPDATE plans SET status = 'retired', retired_at = now() WHERE id = :p"), {"p": current}
        )
        conn.execute(
            sa.text(
                "UPDATE plans SET status = 'published', published_at = now(), retired_at = NULL WHERE id = :p"
            ),
            {"p": previous},
        )
        _assign_addresses(conn, previous, [current])
        return get_plan(conn, previous)


def delete_draft(engine: Engine, plan_id: int) -> None:
    """Delete a draft plan and its grids (published and retired plans are history and stay)."""
    with engine.begin() as conn:
        plan = get_plan(conn, plan_id)
        if plan.status != "draft":
            raise ConflictError(f"plan {plan_id} is {plan.status}; only drafts can be deleted")
        conn.execute(sa.text("DELETE FROM plans WHERE id = :p"), {"p": plan_id})


# --------------------------------------------------------------------------- planner helpers


def published_grids(bind: Engine | Connection, scope_code: str) -> tuple[gpd.GeoDataFrame, list[int]]:
    """Grids of ``scope_code`` in the published plans covering it (its own, an enclosing or enclosed
    scopes' plans), and the ids of those plans; an empty frame when nothing is published there."""
    prefix = scope_prefix(scope_code)
    with connect(bind) as conn:
        rows = conn.execute(sa.text("SELECT id, scope_code FROM plans WHERE status = 'published'")).all()
    ids = [
        int(pid)
        for pid, scope in rows
        if scope_prefix(scope).startswith(prefix) or prefix.startswith(scope_prefix(scope))
    ]
    if not ids:
        return gpd.GeoDataFrame({"code": [], "households": []}, geometry=[], crs="EPSG:4326"), []
    columns = [c for c in store.GRIDS.columns if c != "plan_id"]
    frame = store.read_table(
        bind,
        "grids",
        where="plan_id = ANY(:ids) AND code LIKE :p",
        params={"ids": ids, "p": prefix + "%"},
        columns=columns,
    )
    return frame, ids


def load_published(bind: Engine | Connection, scope_code: str) -> gpd.GeoDataFrame:
    """The grids of the published plan of ``scope_code`` as a plan frame (EPSG:4326).

    ``frame.attrs["plan_id"]`` is the plan's id.  NotFoundError when the scope has no
    published plan.
    """
    plan_id = published_plan_id(bind, scope_code)
    if plan_id is None:
        raise NotFoundError(f"scope {scope_code} has no published plan")
    frame = load_plan(bind, plan_id)
    frame.attrs["plan_id"] = plan_id
    return frame


@dataclass
class ScopeData:
    """The stored inputs of a division scope: divisions, addresses and streets (EPSG:4326)."""

    divisions: gpd.GeoDataFrame
    addresses: gpd.GeoDataFrame
    streets: gpd.GeoDataFrame


def load_scope(bind: Engine | Connection, scope_code: str) -> ScopeData:
    """Divisions, addresses and streets of ``scope_code`` (a county, township or village).

    Divisions and addresses are selected by code prefix (:func:`scope_prefix`), streets by
    intersecting the scope's villages (streets carry no division of their own).
    """
    prefix = scope_prefix(scope_code) + "%"
    params = {"p": prefix}
    divisions = store.read_table(bind, "divisions", where="code LIKE :p", params=params)
    addresses = store.read_table(bind, "addresses", where="division_code LIKE :p", params=params)
    streets = store.read_table(
        bind,
        "streets",
        where="ST_Intersects(geom, (SELECT ST_Union(boundary) FROM divisions "
        "WHERE code LIKE :p AND level = 'village'))",
        params=params,
    )
    if divisions.empty:
        raise NotFoundError(f"no divisions stored under scope {scope_code}")
    return ScopeData(divisions=divisions, addresses=addresses, streets=streets)


def delete_addresses(engine: Engine, address_ids: list[str]) -> int:
    """Remove addresses (e.g. of demolished buildings) from the register by their source ids.

    All or nothing: NotFoundError names the ids that are not stored.  Grid household counts
    follow when the next plan is published.
    """
    ids = [str(a) for a in address_ids]
    with engine.begin() as conn:
        found = set(
            conn.execute(sa.text("SELECT source_id FROM addresses WHERE source_id = ANY(:ids)"), {"ids": ids})
            .scalars()
            .all()
        )
        missing = sorted(set(ids) - found)
        if missing:
            raise NotFoundError(f"{len(missing)} address(es) not stored: {missing[:10]}")
        return int(
            conn.execute(sa.text("DELETE FROM addresses WHERE source_id = ANY(:ids)"), {"ids": ids}).rowcount
        )
