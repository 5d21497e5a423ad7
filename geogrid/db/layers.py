"""Department layers (部门网格) in PostGIS: import, compare with the base grids, align, route.

Each department keeps its own versions (1, 2, …): ``imported`` from a file, or ``aligned`` —
accepted from :func:`geogrid.layers.align`, every grid the union of the base grids it lists in
``base_codes``.  One layer per department is ``active``: the one lookups and incident routing use.
An import becomes active unless the department's active layer is an aligned one (a new raw file
does not displace an accepted alignment: align it first); accepting an alignment makes it active.

The comparisons (crosswalk, conflicts, alignment) are computed by :mod:`geogrid.layers` on the
base grids published *now* within the layer's scope, and the scope's addresses, so they always
describe the current base plan.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid import layers
from geogrid.db import load_sql, store
from geogrid.db.plans import connect, published_grids, scope_prefix
from geogrid.errors import ConflictError, GeogridError, NotFoundError
from geogrid.frames import WGS84

__all__ = [
    "LayerInfo",
    "accept_alignment",
    "compare",
    "department_frame",
    "get_layer",
    "import_layer",
    "list_departments",
    "list_layers",
    "route_for_grid",
]

KIND_NAMES = {"imported": "部门导入", "aligned": "已对齐"}
STATUS_NAMES = {"active": "使用中", "inactive": "未启用"}


@dataclass(frozen=True)
class LayerInfo:
    """One version of a department's layer."""

    id: int
    department_code: str
    department_name: str
    version: int
    kind: str
    status: str
    scope_code: str
    aligned_from: int | None
    base_plan_ids: list[int]
    source: str | None
    author: str | None
    note: str | None
    created_at: datetime
    grid_count: int

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind_name"] = KIND_NAMES.get(self.kind, self.kind)
        out["status_name"] = STATUS_NAMES.get(self.status, self.status)
        return out


_INFO = (
    "SELECT l.id, l.department_code, l.department_name, l.version, l.kind, l.status, l.scope_code, l.aligned_from, "
    "l.base_plan_ids, l.source, l.author, l.note, l.created_at, "
    "(SELECT count(*) FROM department_grids d WHERE d.layer_id = l.id) AS grid_count FROM department_layers l "
)


def _info(row) -> LayerInfo:
    values: dict[str, Any] = dict(row._mapping)
    values["base_plan_ids"] = list(values["base_plan_ids"] or [])
    return LayerInfo(**values)


def get_layer(bind: Engine | Connection, department: str, version: int | None = None) -> LayerInfo:
    """A department's layer by version (default: its active one, else its newest)."""
    where = "l.department_code = :d AND l.version = :v" if version is not None else "l.department_code = :d"
    order = "" if version is not None else " ORDER BY (l.status = 'active') DESC, l.version DESC LIMIT 1"
    with connect(bind) as conn:
        row = conn.execute(sa.text(_INFO + f"WHERE {where}{order}"), {"d": department, "v": version}).first()
    if row is None:
        which = f"version {version} of " if version is not None else ""
        raise NotFoundError(f"no {which}department layer for {department!r}")
    return _info(row)


def list_layers(bind: Engine | Connection, department: str) -> list[LayerInfo]:
    with connect(bind) as conn:
        rows = conn.execute(
            sa.text(_INFO + "WHERE l.department_code = :d ORDER BY l.version"), {"d": department}
        )
        return [_info(r) for r in rows]


def list_departments(bind: Engine | Connection) -> list[dict[str, Any]]:
    """Every department with a layer: its name, how many versions, and the active layer."""
    with connect(bind) as conn:
        rows = conn.execute(
            sa.text(
                "SELECT department_code, max(department_name) FILTER (WHERE status = 'active') AS active_name, "
                "max(department_name) AS any_name, count(*) AS versions, "
                "max(version) FILTER (WHERE status = 'active') AS active_version, "
                "max(kind) FILTER (WHERE status = 'active') AS active_kind "
                "FROM department_layers GROUP BY department_code ORDER BY department_code"
            )
        ).all()
    return [
        {
            "department_code": r.department_code,
            "department_name": r.active_name or r.any_name,
            "versions": int(r.versions),
            "active_version": r.active_version,
            "active_kind": r.active_kind,
            "active_kind_name": KIND_NAMES.get(r.active_kind) if r.active_kind else None,
        }
        for r in rows
    ]


def department_frame(bind: Engine | Connection, layer_id: int) -> gpd.GeoDataFrame:
    """The grids of one layer (EPSG:4326): code, name, unit_code, unit_name, households, base_codes."""
    frame = gpd.read_postgis(
        sa.text(
            "SELECT code, name, unit_code, unit_name, households, base_codes, geom FROM department_grids "
            "WHERE layer_id = :l ORDER BY code"
        ),
        bind,
        geom_col="geom",
        params={"l": layer_id},
        crs=WGS84,
    )
    return frame.rename_geometry("geometry")


# --------------------------------------------------------------------------- import


def _scope_of(conn: Connection, frame: gpd.GeoDataFrame) -> str:
    """The county whose published grids the layer lies over most."""
    county = conn.execute(
        sa.text(
            "SELECT left(g.code, 6) FROM grids g JOIN plans p ON p.id = g.plan_id AND p.status = 'published' "
            "WHERE ST_Intersects(g.geom, ST_GeomFromText(:wkt, 4326)) GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        ),
        {"wkt": frame.union_all().envelope.wkt},
    ).scalar()
    if county is None:
        raise GeogridError("the layer lies over no published base grid; give its scope (a division code)")
    return county + "000000"


def _activate(conn: Connection, department: str, layer_id: int) -> None:
    conn.execute(
        sa.text(
            "UPDATE department_layers SET status = 'inactive' WHERE department_code = :d AND status = 'active'"
        ),
        {"d": department},
    )
    conn.execute(sa.text("UPDATE department_layers SET status = 'active' WHERE id = :l"), {"l": layer_id})


def _insert_layer(conn: Connection, **values: Any) -> int:
    version = conn.execute(
        sa.text("SELECT coalesce(max(version), 0) + 1 FROM department_layers WHERE department_code = :d"),
        {"d": values["department_code"]},
    ).scalar_one()
    return conn.execute(
        sa.text(
            "INSERT INTO department_layers (department_code, department_name, version, kind, scope_code, aligned_from, "
            "base_plan_ids, source, author, note) VALUES (:department_code, :department_name, :v, :kind, :scope_code, "
            ":aligned_from, CAST(:base_plan_ids AS integer[]), :source, :author, :note) RETURNING id"
        ),
        {"v": version, "aligned_from": None, "base_plan_ids": [], **values},
    ).scalar_one()


def _insert_grids(conn: Connection, layer_id: int, frame: gpd.GeoDataFrame) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO department_grids (layer_id, code, name, unit_code, unit_name, households, base_codes, geom) "
            "VALUES (:l, :code, :name, :unit_code, :unit_name, :households, CAST(:base_codes AS text[]), "
            "ST_Multi(ST_GeomFromText(:wkt, 4326)))"
        ),
        [
            {
                "l": layer_id,
                **{c: _value(r.get(c)) for c in ("code", "name", "unit_code", "unit_name", "households")},
                "base_codes": r.get("base_codes"),
                "wkt": geom.wkt,
            }
            for r, geom in zip(frame.drop(columns="geometry").to_dict("records"), frame.geometry, strict=True)
        ],
    )


def _value(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else v


def import_layer(
    engine: Engine,
    frame: gpd.GeoDataFrame,
    *,
    department_code: str,
    department_name: str,
    scope_code: str | None = None,
    source: str | None = None,
    author: str | None = None,
    note: str | None = None,
) -> LayerInfo:
    """Store a department's grid file as its next version (rows checked by
    :func:`geogrid.layers.check_layer`; all or nothing).

    ``scope_code`` is the division the layer should cover (gaps and outside parts are judged
    against it); default the county whose base grids it lies over.
    """
    code, name = department_code.strip(), department_name.strip()
    if not code or any(ch.isspace() for ch in code) or not name:
        raise GeogridError("a department needs a code without spaces and a name, e.g. ZZB 综治办")
    checked = layers.check_layer(
        frame.to_crs(WGS84) if frame.crs else frame.set_crs(WGS84), source=source or "layer"
    )
    with engine.begin() as conn:
        scope = scope_code or _scope_of(conn, checked)
        layer_id = _insert_layer(
            conn, department_code=code, department_name=name, kind="imported", scope_code=scope,
            source=source, author=author, note=note,
        )  # fmt: skip
        _insert_grids(conn, layer_id, checked)
        active = conn.execute(
            sa.text("SELECT kind FROM department_layers WHERE department_code = :d AND status = 'active'"),
            {"d": code},
        ).scalar()
        if active != "aligned":
            _activate(conn, code, layer_id)
        return get_layer(conn, code, conn.execute(sa.text("SELECT version FROM department_layers WHERE id = :l"),
                                                  {"l": layer_id}).scalar_one())  # fmt: skip


# --------------------------------------------------------------------------- comparing


@dataclass
class Comparison:
    """A layer and the base grids it was compared with (the frames :mod:`geogrid.layers` works on)."""

    layer: LayerInfo
    frames: layers.LayerFrames
    base_plan_ids: list[int]


def _scope_area(conn: Connection, scope_code: str):
    wkt = conn.execute(
        sa.text(
            "SELECT ST_AsText(ST_Union(boundary)) FROM divisions WHERE level = 'village' AND code LIKE :p"
        ),
        {"p": scope_prefix(scope_code) + "%"},
    ).scalar()
    from shapely import wkt as shapely_wkt

    return shapely_wkt.loads(wkt) if wkt else None


def compare(engine: Engine, department: str, version: int | None = None) -> Comparison:
    """The layer, the published base grids of its scope and their addresses, prepared for
    :func:`geogrid.layers.crosswalk`, :func:`~geogrid.layers.conflicts` and :func:`~geogrid.layers.align`."""
    info = get_layer(engine, department, version)
    base, plan_ids = published_grids(engine, info.scope_code)
    base = base[base["code"].str.len() == 15].reset_index(drop=True)
    if base.empty:
        raise NotFoundError(
            f"scope {info.scope_code} of layer {department} v{info.version} has no published grids"
        )
    addresses = store.read_table(
        engine,
        "addresses",
        where="(grid_code LIKE :p OR division_code LIKE :p)",  # in a base grid of the scope, or of its villages
        params={"p": scope_prefix(info.scope_code) + "%"},
        columns=["address_id", "households"],
    )
    with engine.connect() as conn:
        area = _scope_area(conn, info.scope_code)
    frames = layers.prepare_layer(
        base, department_frame(engine, info.id), addresses=addresses if len(addresses) else None, area=area
    )
    return Comparison(info, frames, plan_ids)


def accept_alignment(
    engine: Engine,
    department: str,
    version: int | None = None,
    *,
    author: str | None = None,
    note: str | None = None,
) -> LayerInfo:
    """Store the alignment of a layer as the department's next, active version (``aligned``).

    Raises
    ------
    ConflictError
        The layer is itself an aligned layer that still matches the base grids, or no grid of it
        could keep a whole base grid.
    """
    done = compare(engine, department, version)
    proposal = layers.align(done.frames)
    if proposal.grids.empty:
        raise ConflictError(f"no grid of {department} v{done.layer.version} keeps a whole base grid")
    with engine.begin() as conn:
        layer_id = _insert_layer(
            conn, department_code=done.layer.department_code, department_name=done.layer.department_name,
            kind="aligned", scope_code=done.layer.scope_code, aligned_from=done.layer.id,
            base_plan_ids=done.base_plan_ids, source=f"v{done.layer.version} aligned", author=author,
            note=note or f"aligned from version {done.layer.version}: "
            f"{proposal.households_changed:.0f} households change hands",
        )  # fmt: skip
        grids = proposal.grids.copy()
        grids["households"] = grids["households_aligned"].round().astype(int)
        _insert_grids(conn, layer_id, grids)
        _activate(conn, done.layer.department_code, layer_id)
        version_now = conn.execute(
            sa.text("SELECT version FROM department_layers WHERE id = :l"), {"l": layer_id}
        )
        return get_layer(conn, done.layer.department_code, version_now.scalar_one())


# --------------------------------------------------------------------------- routing


def route_for_grid(conn: Connection, department: str, grid_code: str) -> dict[str, Any] | None:
    """The grid (and unit) of ``department``'s active layer that base grid ``grid_code`` routes to.

    ``department`` is the department's code or name (incidents carry the name their category
    gives).  None when the department has no active layer or no grid of it overlaps the base grid.

    Examples
    --------
    >>> with engine.connect() as conn:                                   # doctest: +SKIP
    ...     route_for_grid(conn, "城管", "320508019001001")["unit_name"]
    '城管第一工作站'
    """
    rows = conn.execute(
        sa.text(load_sql("department_route")), {"department": department, "grid": grid_code}
    ).all()
    overlaps = [dict(r._mapping) for r in rows]
    chosen = layers.route(overlaps)
    if chosen is None:
        return None
    keys = ("department_code", "department_name", "layer_version", "code", "name", "unit_code", "unit_name")
    return {k: chosen[k] for k in keys} | {"base_grid": grid_code[:15], "aligned": bool(chosen["aligned"])}


def incident_route(conn: Connection, department: str | None, grid_code: str | None) -> dict[str, Any]:
    """``{"route": {...}}`` for a new incident's history: the grid and unit of ``department``
    its base grid routes to (:func:`route_for_grid`); ``{}`` when there is none to name."""
    if not department or not grid_code:
        return {}
    routed = route_for_grid(conn, department, grid_code)
    return {"route": routed} if routed else {}
