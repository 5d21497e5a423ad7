"""联户 link groups in PostGIS: formed per published grid, listed, edited, found at an address.

Groups belong to the plan whose grid they split (``plan_id``): lookups answer the groups of the
published plan only, so a re-drawn plan answers no stale group until its groups are formed again
(re-forming keeps the name and 联户长 of every group code that survives).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid.db.plans import scope_prefix
from geogrid.errors import ConflictError, GeogridError, NotFoundError
from geogrid.frames import WGS84
from geogrid.link_groups import LINK_RULE, form_link_groups, group_geometries, move_households
from geogrid.register import check_phone
from geogrid.rules import Rule, resolve_rule

__all__ = ["FormResult", "form", "get_group", "groups_at_address", "list_groups", "move", "update_group"]


@dataclass
class FormResult:
    """Groups formed per grid, and the notes of grids that could not follow the rule."""

    grids: int = 0
    groups: int = 0
    households: int = 0
    notes: dict[str, list[str]] = field(default_factory=dict)


def _grids(conn: Connection, scope_code: str) -> gpd.GeoDataFrame:
    return gpd.read_postgis(
        sa.text(
            "SELECT g.plan_id, g.code, g.geom FROM grids g JOIN plans p ON p.id = g.plan_id AND p.status = 'published' "
            "WHERE length(g.code) = 15 AND g.code LIKE :pre ORDER BY g.code"
        ),
        conn,
        geom_col="geom",
        params={"pre": scope_prefix(scope_code) + "%"},
    )


def _grid_addresses(conn: Connection, grid_code: str) -> gpd.GeoDataFrame:
    return gpd.read_postgis(
        sa.text(
            "SELECT id, coalesce(source_id, CAST(id AS text)) AS address_id, households, geom FROM addresses "
            "WHERE left(grid_code, 15) = :g ORDER BY id"
        ),
        conn,
        geom_col="geom",
        params={"g": grid_code},
    ).rename_geometry("geometry")


def _save(conn: Connection, plan_id: int, grid_code: str, groups, members: pd.DataFrame, ids: dict) -> None:
    kept = dict(
        (r.code, (r.name, r.leader_name, r.leader_phone))
        for r in conn.execute(
            sa.text(
                "SELECT code, name, leader_name, leader_phone FROM link_groups WHERE plan_id = :p AND grid_code = :g"
            ),
            {"p": plan_id, "g": grid_code},
        )
    )
    conn.execute(
        sa.text("DELETE FROM link_groups WHERE plan_id = :p AND grid_code = :g"),
        {"p": plan_id, "g": grid_code},
    )
    for g in groups.itertuples():
        name, leader, phone = kept.get(g.code, (None, None, None))
        group_id = conn.execute(
            sa.text(
                "INSERT INTO link_groups (plan_id, code, grid_code, name, leader_name, leader_phone, households, geom) "
                "VALUES (:p, :c, :g, :n, :l, :ph, :h, ST_Multi(ST_GeomFromText(:wkt, 4326))) RETURNING id"
            ),
            {"p": plan_id, "c": g.code, "g": grid_code, "n": name or f"第{g.code[-2:]}联户", "l": leader,
             "ph": phone, "h": int(g.households), "wkt": g.geometry.wkt},
        ).scalar_one()  # fmt: skip
        mine = members[members["code"] == g.code]
        conn.execute(
            sa.text(
                "INSERT INTO link_group_members (link_group_id, address_id, households) VALUES (:g, :a, :h)"
            ),
            [
                {"g": group_id, "a": ids[a], "h": int(h)}
                for a, h in zip(mine["address_id"], mine["households"], strict=True)
            ],
        )


def form(
    engine: Engine, scope_code: str, *, rule: Rule | str | tuple[int, int] = LINK_RULE, seed: int = 0
) -> FormResult:
    """Form the link groups of every published grid of ``scope_code`` (one transaction).

    Groups formed before for these grids are replaced; a group code that comes back keeps its
    name and 联户长.
    """
    rule = resolve_rule(rule)
    result = FormResult()
    with engine.begin() as conn:
        grids = _grids(conn, scope_code)
        if grids.empty:
            raise NotFoundError(f"no published grids in {scope_code}")
        for grid in grids.itertuples():
            addresses = _grid_addresses(conn, grid.code)
            lg = form_link_groups(grid.geom, grid.code, addresses, rule=rule, seed=seed)
            ids = dict(zip(addresses["address_id"], addresses["id"], strict=True))
            _save(conn, int(grid.plan_id), grid.code, lg.groups, lg.members, ids)
            result.grids += 1
            result.groups += len(lg.groups)
            result.households += int(lg.groups["households"].sum()) if len(lg.groups) else 0
            if lg.notes:
                result.notes[grid.code] = lg.notes
    return result


_PUBLISHED = "JOIN plans p ON p.id = lg.plan_id AND p.status = 'published'"


def _group_dict(row, *, rule: Rule = LINK_RULE) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "grid_code": row.grid_code,
        "households": int(row.households),
        "within_rule": rule.contains(int(row.households)),
        "leader": {"name": row.leader_name, "phone": row.leader_phone} if row.leader_name else None,
    }


def groups_at_address(conn: Connection, address_id: int) -> list[dict[str, Any]]:
    """The published link groups holding households of one address (by database id), each with
    the households of this address in it."""
    rows = conn.execute(
        sa.text(
            "SELECT lg.code, lg.name, lg.grid_code, lg.households, lg.leader_name, lg.leader_phone, m.households AS here "
            f"FROM link_group_members m JOIN link_groups lg ON lg.id = m.link_group_id {_PUBLISHED} "
            "WHERE m.address_id = :a ORDER BY lg.code"
        ),
        {"a": int(address_id)},
    ).all()
    return [_group_dict(r) | {"households_here": int(r.here)} for r in rows]


def list_groups(engine: Engine, *, prefix: str, limit: int = 1000, offset: int = 0) -> tuple[int, list[dict]]:
    """Published link groups whose code starts with ``prefix`` (a division or grid code)."""
    params = {"pre": prefix + "%", "limit": limit, "offset": offset}
    with engine.connect() as conn:
        total = conn.execute(
            sa.text(f"SELECT count(*) FROM link_groups lg {_PUBLISHED} WHERE lg.code LIKE :pre"), params
        ).scalar_one()
        rows = conn.execute(
            sa.text(
                "SELECT lg.code, lg.name, lg.grid_code, lg.households, lg.leader_name, lg.leader_phone "
                f"FROM link_groups lg {_PUBLISHED} WHERE lg.code LIKE :pre ORDER BY lg.code LIMIT :limit OFFSET :offset"
            ),
            params,
        ).all()
    return int(total), [_group_dict(r) for r in rows]


def _group(conn: Connection, code: str, *, lock: bool = False):
    row = conn.execute(
        sa.text(
            "SELECT lg.id, lg.plan_id, lg.code, lg.name, lg.grid_code, lg.households, lg.leader_name, lg.leader_phone "
            f"FROM link_groups lg {_PUBLISHED} WHERE lg.code = :c" + (" FOR UPDATE OF lg" if lock else "")
        ),
        {"c": code},
    ).first()
    if row is None:
        raise NotFoundError(f"no link group {code} in a published plan")
    return row


def get_group(engine: Engine, code: str) -> dict[str, Any]:
    """One published link group with its addresses and their households."""
    with engine.connect() as conn:
        row = _group(conn, code)
        members = conn.execute(
            sa.text(
                "SELECT coalesce(a.source_id, CAST(a.id AS text)) AS address_id, a.full_text, m.households "
                "FROM link_group_members m JOIN addresses a ON a.id = m.address_id WHERE m.link_group_id = :g "
                "ORDER BY a.full_text"
            ),
            {"g": row.id},
        ).all()
    return _group_dict(row) | {
        "addresses": [
            {"address_id": m.address_id, "full_text": m.full_text, "households": int(m.households)}
            for m in members
        ]
    }


def update_group(
    engine: Engine,
    code: str,
    *,
    name: str | None = None,
    leader_name: str | None = None,
    leader_phone: str | None = None,
) -> dict[str, Any]:
    """Rename a group or name its 联户长 (name and mainland phone); an empty string clears a field."""
    sets: list[str] = []
    params: dict[str, str | None] = {"c": code}
    if name is not None:
        sets.append("name = :n")
        params["n"] = name.strip() or None
    if leader_name is not None:
        sets.append("leader_name = :l")
        params["l"] = leader_name.strip() or None
    if leader_phone is not None:
        try:
            params["ph"] = check_phone(leader_phone) if leader_phone.strip() else None
        except ValueError as exc:
            raise GeogridError(f"leader_phone: {exc}") from None
        sets.append("leader_phone = :ph")
    if not sets:
        raise GeogridError("give a name, a leader_name or a leader_phone")
    with engine.begin() as conn:
        row = _group(conn, code, lock=True)
        params["id"] = row.id
        try:
            with conn.begin_nested():
                conn.execute(
                    sa.text(f"UPDATE link_groups SET {', '.join(sets)}, updated_at = now() WHERE id = :id"),
                    params,
                )
        except sa.exc.IntegrityError:
            raise ConflictError(f"link group {code}: a leader's phone needs the leader's name") from None
    return get_group(engine, code)


def move(
    engine: Engine, *, address_id: str, source: str, target: str, households: int
) -> list[dict[str, Any]]:
    """Move ``households`` of an address from one link group to another of the same grid; both
    groups' households and polygons follow.  Returns both groups."""
    with engine.begin() as conn:
        a, b = _group(conn, source, lock=True), _group(conn, target, lock=True)
        if a.plan_id != b.plan_id:
            raise ConflictError(f"link groups {source} and {target} belong to different plans")
        addresses = _grid_addresses(conn, a.grid_code)
        ids = dict(zip(addresses["address_id"], addresses["id"], strict=True))
        if address_id not in ids:
            raise NotFoundError(f"address {address_id!r} is not in grid {a.grid_code}")
        members = pd.DataFrame(
            conn.execute(
                sa.text(
                    "SELECT lg.code, coalesce(ad.source_id, CAST(ad.id AS text)) AS address_id, m.households "
                    "FROM link_group_members m JOIN link_groups lg ON lg.id = m.link_group_id "
                    "JOIN addresses ad ON ad.id = m.address_id WHERE lg.plan_id = :p AND lg.grid_code = :g"
                ),
                {"p": a.plan_id, "g": a.grid_code},
            ).all(),
            columns=["code", "address_id", "households"],
        )
        moved = move_households(
            members, address_id=address_id, source=source, target=target, households=households
        )
        grid = conn.execute(
            sa.text("SELECT ST_AsText(geom) FROM grids WHERE plan_id = :p AND code = :g"),
            {"p": a.plan_id, "g": a.grid_code},
        ).scalar_one()
        _rewrite(conn, {source: a.id, target: b.id}, moved, ids, addresses, grid)
    return [get_group(engine, source), get_group(engine, target)]


def _rewrite(
    conn: Connection, group_ids: dict[str, int], members: pd.DataFrame, ids: dict, addresses, grid_wkt: str
) -> None:
    from shapely import wkt

    geoms = group_geometries(wkt.loads(grid_wkt), addresses, members)
    for code, gid in group_ids.items():
        mine = members[members["code"] == code]
        conn.execute(sa.text("DELETE FROM link_group_members WHERE link_group_id = :g"), {"g": gid})
        conn.execute(
            sa.text(
                "INSERT INTO link_group_members (link_group_id, address_id, households) VALUES (:g, :a, :h)"
            ),
            [
                {"g": gid, "a": ids[x], "h": int(h)}
                for x, h in zip(mine["address_id"], mine["households"], strict=True)
            ],
        )
        conn.execute(
            sa.text(
                "UPDATE link_groups SET households = :h, geom = ST_Multi(ST_GeomFromText(:wkt, 4326)), updated_at = now() "
                "WHERE id = :g"
            ),
            {"h": int(mine["households"].sum()), "wkt": geoms.loc[code].wkt, "g": gid},
        )


def group_frame(engine: Engine, prefix: str) -> gpd.GeoDataFrame:
    """Published link groups under ``prefix`` as a GeoDataFrame (for maps and exports)."""
    return gpd.read_postgis(
        sa.text(
            "SELECT lg.code, lg.name, lg.grid_code, lg.households, lg.leader_name, lg.geom "
            f"FROM link_groups lg {_PUBLISHED} WHERE lg.code LIKE :pre ORDER BY lg.code"
        ),
        engine,
        geom_col="geom",
        params={"pre": prefix + "%"},
        crs=WGS84,
    )
