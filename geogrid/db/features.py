"""Grids, divisions and addresses as GeoJSON features (OGC API – Features style).

Features are assembled by PostGIS (``ST_AsGeoJSON`` + ``json_build_object``) and come back
as finished JSON text; a page and its ``numberMatched`` are read by one statement (one
snapshot).  Filters are fixed SQL fragments chosen here with bound values: no caller text
ever becomes SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from geogrid.codes import parse_code
from geogrid.coords import BBox
from geogrid.db.plans import scope_prefix
from geogrid.db.rawpool import RawPool
from geogrid.errors import GeogridError, GridCodeError, NotFoundError

__all__ = [
    "COLLECTIONS",
    "Collection",
    "GeometryOutput",
    "ItemPage",
    "Queryable",
    "check_code",
    "collection_extent",
    "get_item",
    "hierarchy",
    "list_items",
]

#: Decimal places of GeoJSON coordinates (1e-7° ≈ 1 cm).
PRECISION = 7


@dataclass(frozen=True)
class Queryable:
    """A property features can be filtered on by equality (OGC API – Features Part 3).

    ``column`` is the SQL expression (fixed here, never caller text); ``kind`` is the JSON
    Schema type (``string`` or ``integer``); ``enum`` lists the allowed values, if any.
    """

    name: str
    column: str
    kind: str
    title: str
    enum: tuple[str | int, ...] = ()


@dataclass(frozen=True)
class Collection:
    """A feature collection: its id, title, description, the filters it understands (beyond
    its queryables), its queryables and its geometry type."""

    id: str
    title: str
    description: str
    filters: tuple[str, ...]
    queryables: tuple[Queryable, ...] = ()
    geometry: str = "Polygon"


_KINDS = ("urban", "rural", "dedicated")
COLLECTIONS: dict[str, Collection] = {
    "grids": Collection(
        "grids",
        "网格 Grids",
        "已发布方案的网格（?plan= 可看某一方案），含户数和网格长联系方式。Grids of the published plans "
        "(or of one plan with ?plan=), with households and contacts.",
        ("bbox", "division", "plan"),
        (
            Queryable("code", "g.code", "string", "网格编码 grid code"),
            Queryable("name", "g.name", "string", "网格名称 grid name"),
            Queryable("division_code", "g.division_code", "string", "所属村（社区）编码 village code"),
            Queryable("level", "g.level", "integer", "网格层级 level", (1, 2, 3)),
            Queryable("kind", "g.kind", "string", "网格类型 kind", _KINDS),
            Queryable("households", "g.households", "integer", "户数 households"),
        ),
    ),
    "divisions": Collection(
        "divisions",
        "行政区划 Divisions",
        "乡镇（街道）和村（社区）。Townships/streets (乡镇/街道) and villages/communities (村/社区).",
        ("bbox", "division"),
        (
            Queryable("code", "d.code", "string", "区划代码 division code"),
            Queryable("name", "d.name", "string", "名称 name"),
            Queryable("level", "d.level", "string", "层级 level", ("county", "township", "village")),
            Queryable("kind", "d.kind", "string", "城乡类型 kind", ("urban", "rural")),
            Queryable("parent_code", "d.parent_code", "string", "上级区划代码 parent code"),
        ),
        "MultiPolygon",
    ),
    "addresses": Collection(
        "addresses",
        "标准地址 Standard addresses",
        "标准地址点，含地址要素、户数和所在网格。Address points with their components, households and grid.",
        ("bbox", "division", "grid"),
        (
            Queryable("division_code", "a.division_code", "string", "所属村（社区）编码 village code"),
            Queryable("grid_code", "a.grid_code", "string", "所在网格编码 grid code"),
            Queryable("street", "a.street", "string", "街路巷 street"),
            Queryable("house_number", "a.house_number", "string", "门牌号 house number"),
            Queryable("households", "a.households", "integer", "户数 households"),
        ),
        "Point",
    ),
}


@dataclass(frozen=True)
class GeometryOutput:
    """How geometries are written: the SRID to transform to, the axis order, the precision.

    The default is GeoJSON's: lon/lat (CRS84, the storage CRS) with 7 decimals (≈ 1 cm).
    """

    srid: int = 4326
    lat_first: bool = False
    decimals: int = PRECISION

    def sql(self, geom: str) -> str:
        """The ``ST_AsGeoJSON`` expression of column ``geom`` (a fixed name chosen in this module)."""
        if self == GeometryOutput():
            return f"ST_AsGeoJSON({geom}, {PRECISION})"
        if self.srid != 4326:
            geom = f"ST_Transform({geom}, %(out_srid)s)"
        if self.lat_first:
            geom = f"ST_FlipCoordinates({geom})"
        # options 0: no "crs" member (GeoJSON has none; the Content-Crs header says it).
        return f"ST_AsGeoJSON({geom}, %(out_decimals)s, 0)"

    def params(self) -> dict:
        return {"out_srid": int(self.srid), "out_decimals": int(self.decimals)}


# Per collection: table alias, ordering key, item id expression, feature expression.
_GRID_FEATURE = """json_build_object(
    'type', 'Feature', 'id', g.code,
    'geometry', {geometry}::json,
    'properties', json_build_object(
        'code', g.code, 'name', g.name, 'level', g.level, 'kind', g.kind,
        'division_code', g.division_code,
        'division_name', (SELECT dv.name FROM divisions dv WHERE dv.code = g.division_code),
        'households', g.households, 'address_count', g.address_count,
        'head_name', g.head_name, 'head_phone', g.head_phone, 'workers', g.workers,
        'plan_id', g.plan_id, 'properties', g.properties))"""
_DIVISION_FEATURE = """json_build_object(
    'type', 'Feature', 'id', d.code,
    'geometry', {geometry}::json,
    'properties', json_build_object(
        'code', d.code, 'name', d.name, 'level', d.level, 'kind', d.kind, 'parent_code', d.parent_code,
        'parent_name', (SELECT dp.name FROM divisions dp WHERE dp.code = d.parent_code)))"""
_ADDRESS_FEATURE = """json_build_object(
    'type', 'Feature', 'id', coalesce(a.source_id, a.id::text),
    'geometry', {geometry}::json,
    'properties', json_build_object(
        'address_id', coalesce(a.source_id, a.id::text), 'full_text', a.full_text,
        'province', a.province, 'city', a.city, 'county', a.county, 'township', a.township,
        'village', a.village, 'street', a.street, 'house_number', a.house_number,
        'compound', a.compound, 'building', a.building, 'unit', a.unit, 'room', a.room,
        'households', a.households, 'division_code', a.division_code,
        'division_name', (SELECT dv.name FROM divisions dv WHERE dv.code = a.division_code),
        'grid_code', a.grid_code,
        'grid_name', (SELECT ag.name FROM grids ag WHERE ag.code = a.grid_code
                      AND ag.plan_id IN (SELECT id FROM plans WHERE status = 'published') LIMIT 1)))"""

_SOURCES = {
    "grids": ("grids g", "g.code", _GRID_FEATURE, "g.geom"),
    "divisions": ("divisions d", "d.code", _DIVISION_FEATURE, "d.boundary"),
    "addresses": ("addresses a", "a.id", _ADDRESS_FEATURE, "a.geom"),
}
_PUBLISHED = "g.plan_id IN (SELECT id FROM plans WHERE status = 'published')"


def check_code(code: str) -> str:
    """Validate a division (12 digits), grid (15) or sub-grid (17) code; return its level.

    Returns one of ``county``, ``township``, ``village``, ``grid``, ``subgrid``
    (:func:`geogrid.codes.parse_code` decides).

    Examples
    --------
    >>> check_code("320508019000"), check_code("320508019044003")
    ('township', 'grid')
    >>> check_code("3205")
    Traceback (most recent call last):
    ...
    geogrid.errors.GridCodeError: code '3205' has 4 digits; expected 12 (division), 15 (grid) or 17 (sub-grid)
    """
    return parse_code(str(code)).level


def _collection(collection_id: str) -> Collection:
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        raise NotFoundError(
            f"collection {collection_id!r} does not exist; use one of {sorted(COLLECTIONS)}"
        ) from None


def _filters(
    collection_id: str,
    *,
    bbox: BBox | None,
    division: str | None,
    level: str | None,
    kind: str | None,
    plan_id: int | None,
    grid: str | None,
    properties: Mapping[str, str] | None = None,
) -> tuple[list[str], dict]:
    where: list[str] = []
    params: dict = {}
    table, _key, _feature, geom = _SOURCES[collection_id]
    _property_filters(COLLECTIONS[collection_id], properties or {}, where, params)
    alias = table.split()[1]
    if bbox is not None:
        where.append(
            f"{geom} && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326) "
            f"AND ST_Intersects({geom}, ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326))"
        )
        params.update(w=bbox.west, s=bbox.south, e=bbox.east, n=bbox.north)
    if division is not None:
        kind_of = check_code(division)
        if kind_of in ("grid", "subgrid"):
            if collection_id != "grids":
                raise GeogridError(f"division must be a 12-digit division code; {division!r} is a grid code")
            params["prefix"] = division + "%"
        else:
            params["prefix"] = scope_prefix(division) + "%"
        column = {"grids": "g.code", "divisions": "d.code", "addresses": "a.division_code"}[collection_id]
        where.append(f"{column} LIKE %(prefix)s")
    if level is not None:
        if collection_id == "grids":
            try:
                params["level"] = int(level)
            except ValueError:
                raise GeogridError(f"grid level must be 1, 2 or 3; got {level!r}") from None
            if params["level"] not in (1, 2, 3):
                raise GeogridError(f"grid level must be 1, 2 or 3; got {level!r}")
            where.append("g.level = %(level)s")
        elif collection_id == "divisions":
            if level not in ("county", "township", "village"):
                raise GeogridError(f"division level must be township, village or county; got {level!r}")
            params["level"] = level
            where.append("d.level = %(level)s")
        else:
            raise GeogridError("addresses have no level filter")
    if kind is not None:
        allowed = ("urban", "rural", "dedicated") if collection_id == "grids" else ("urban", "rural")
        if collection_id == "addresses":
            raise GeogridError("addresses have no kind filter")
        if kind not in allowed:
            raise GeogridError(f"{collection_id} kind must be one of {list(allowed)}; got {kind!r}")
        params["kind"] = kind
        where.append(f"{alias}.kind = %(kind)s")
    if grid is not None:
        if collection_id != "addresses":
            raise GeogridError("the grid filter applies to addresses only")
        if check_code(grid) not in ("grid", "subgrid"):
            raise GridCodeError(f"grid must be a 15- or 17-digit grid code; got {grid!r}")
        params["grid"] = grid
        # grid_code has no index (publishing rewrites it in place, see migration 0007): the
        # published grid's geometry finds its addresses through the GiST index first.
        where.append(
            "a.grid_code = %(grid)s AND a.geom && (SELECT ST_Collect(pg.geom) FROM grids pg "
            "JOIN plans pp ON pp.id = pg.plan_id AND pp.status = 'published' WHERE pg.code = %(grid)s)"
        )
    if collection_id == "grids":
        if plan_id is None:
            where.append(_PUBLISHED)
        else:
            params["plan"] = int(plan_id)
            where.append("g.plan_id = %(plan)s")
    elif plan_id is not None:
        raise GeogridError("the plan filter applies to grids only")
    return where, params


def _property_filters(
    collection: Collection, properties: Mapping[str, str], where: list, params: dict
) -> None:
    """Equality filters on queryables: the column comes from the collection, the value is bound."""
    queryables = {q.name: q for q in collection.queryables}
    for n, (name, text) in enumerate(sorted(properties.items())):
        q = queryables.get(name)
        if q is None:
            raise GeogridError(
                f"{collection.id} cannot be filtered on {name!r}; queryables are {sorted(queryables)}"
            )
        value: str | int = text
        if q.kind == "integer":
            try:
                value = int(text)
            except ValueError:
                raise GeogridError(f"{name} must be an integer; got {text!r}") from None
        if q.enum and value not in q.enum:
            raise GeogridError(f"{name} must be one of {list(q.enum)}; got {text!r}")
        params[f"q{n}"] = value
        where.append(f"{q.column} = %(q{n})s")


@dataclass(frozen=True)
class ItemPage:
    """One page of features: ``features`` is a JSON array (text) of GeoJSON Features."""

    number_matched: int
    number_returned: int
    features: str


def list_items(
    pool: RawPool,
    collection_id: str,
    *,
    bbox: BBox | None = None,
    limit: int = 100,
    offset: int = 0,
    division: str | None = None,
    level: str | None = None,
    kind: str | None = None,
    plan_id: int | None = None,
    grid: str | None = None,
    properties: Mapping[str, str] | None = None,
    output: GeometryOutput = GeometryOutput(),
) -> ItemPage:
    """A page of ``collection_id`` features matching the filters, in a stable order.

    Parameters
    ----------
    pool
        Database connections.
    collection_id
        ``grids``, ``divisions`` or ``addresses``.
    bbox
        Only features intersecting this lon/lat box.
    limit, offset
        Page size (>= 1) and start.
    division
        A division code: features inside it, by code prefix (a township code gives all its
        villages' grids; a grid code gives that grid and its sub-grids).
    level, kind
        Grid level (1..3) / division level (``township``, ``village``); kind (``urban``,
        ``rural``, ``dedicated`` for grids).
    plan_id
        Grids of this plan (drafts included) instead of the published ones.
    grid
        Addresses of this grid.
    properties
        Equality filters on the collection's queryables (``{"kind": "rural"}``).
    output
        The CRS, axis order and precision of the geometries (default: GeoJSON's lon/lat).

    Examples
    --------
    >>> page = list_items(pool_for(engine), "grids", division="320508001000", limit=10)   # doctest: +SKIP
    >>> page.number_matched, page.number_returned                                         # doctest: +SKIP
    (24, 10)
    """
    _collection(collection_id)
    if limit < 1:
        raise GeogridError(f"limit must be >= 1, got {limit}")
    if offset < 0:
        raise GeogridError(f"offset must be >= 0, got {offset}")
    table, key, feature, geom = _SOURCES[collection_id]
    feature = feature.replace("{geometry}", output.sql(geom))
    where, params = _filters(
        collection_id,
        bbox=bbox,
        division=division,
        level=level,
        kind=kind,
        plan_id=plan_id,
        grid=grid,
        properties=properties,
    )
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    alias = table.split()[1]
    params.update(limit=int(limit), offset=int(offset), **output.params())
    sql = (
        f"SELECT (SELECT count(*) FROM {table} {clause}), "
        f"(SELECT count(*) FROM (SELECT 1 FROM {table} {clause} ORDER BY {key} "
        f"LIMIT %(limit)s OFFSET %(offset)s) c), "
        f"(SELECT coalesce(json_agg({feature} ORDER BY {key}), '[]'::json)::text FROM "
        f"(SELECT * FROM {table} {clause} ORDER BY {key} LIMIT %(limit)s OFFSET %(offset)s) {alias})"
    )
    row = pool.fetchone(sql, params)
    assert row is not None  # a SELECT without FROM always yields one row
    matched, returned, features = row
    return ItemPage(int(matched), int(returned), features)


def get_item(
    pool: RawPool,
    collection_id: str,
    item_id: str,
    *,
    plan_id: int | None = None,
    output: GeometryOutput = GeometryOutput(),
) -> str:
    """One feature (GeoJSON text) by its id: grid code, division code or address id.

    Grids come from the published plans unless ``plan_id`` is given; ``output`` as in
    :func:`list_items`.

    Raises
    ------
    NotFoundError
        If there is no such feature.
    """
    _collection(collection_id)
    table, _key, feature, geom = _SOURCES[collection_id]
    feature = feature.replace("{geometry}", output.sql(geom))
    params: dict = {"id": str(item_id), **output.params()}
    if collection_id == "grids":
        check_code(item_id)
        where = "g.code = %(id)s AND " + (_PUBLISHED if plan_id is None else "g.plan_id = %(plan)s")
        params["plan"] = plan_id
    elif collection_id == "divisions":
        check_code(item_id)
        where = "d.code = %(id)s"
    else:
        # Addresses are named by their source id; the numeric row id works for rows without one.
        where = "a.source_id = %(id)s OR (a.source_id IS NULL AND a.id::text = %(id)s)"
    row = pool.fetchone(f"SELECT {feature}::text FROM {table} WHERE {where} LIMIT 1", params)
    if row is None:
        scope = (
            f" in plan {plan_id}"
            if plan_id is not None
            else (" in a published plan" if collection_id == "grids" else "")
        )
        raise NotFoundError(f"{collection_id} item {item_id!r} does not exist{scope}")
    return row[0]


def collection_extent(pool: RawPool, collection_id: str) -> list[float] | None:
    """The lon/lat extent ``[west, south, east, north]`` of a collection (published grids), or None."""
    table, _key, _feature, geom = _SOURCES[collection_id]
    where = f"WHERE {_PUBLISHED}" if collection_id == "grids" else ""
    row = pool.fetchone(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
        f"FROM (SELECT ST_Extent({geom}) e FROM {table} {where}) s"
    )
    if not row or row[0] is None:
        return None
    return [round(float(v), PRECISION) for v in row]


_HIERARCHY_SQL = """
SELECT
  (SELECT json_build_object('code', code, 'name', name, 'level', level, 'kind', kind)
     FROM divisions WHERE code = %(division)s),
  (SELECT coalesce(json_agg(json_build_object('code', code, 'name', name, 'level', level)
                            ORDER BY code), '[]')
     FROM divisions WHERE code = ANY(%(parents)s)),
  (SELECT json_build_object('code', g.code, 'name', g.name, 'level', g.level, 'kind', g.kind,
                            'households', g.households, 'plan_id', g.plan_id)
     FROM grids g WHERE g.code = ANY(%(grids)s) AND {plans} ORDER BY length(g.code) DESC LIMIT 1),
  (SELECT coalesce(json_agg(json_build_object('code', g.code, 'name', g.name, 'level', g.level)
                            ORDER BY g.code), '[]')
     FROM grids g WHERE g.code = ANY(%(grids)s) AND {plans} AND g.code <> %(code)s),
  (SELECT coalesce(json_agg(c ORDER BY c->>'code'), '[]') FROM (
     SELECT json_build_object('code', d.code, 'name', d.name, 'level', d.level, 'type', d.level) AS c
       FROM divisions d WHERE %(child_divisions)s AND d.parent_code = %(code)s
     UNION ALL
     SELECT json_build_object('code', g.code, 'name', g.name, 'level', g.level, 'households', g.households,
                              'type', CASE WHEN length(g.code) = 17 THEN 'subgrid' ELSE 'grid' END)
       FROM grids g
      WHERE %(child_grids)s AND {plans} AND g.code LIKE %(code)s || '%%'
        AND length(g.code) = %(child_len)s) s)
"""


def hierarchy(pool: RawPool, code: str, *, plan_id: int | None = None) -> dict:
    """A code's parents (county, township, village, grid) and direct children.

    Children of a county are its townships, of a township its villages, of a village its
    grids, of a grid its sub-grids.  Grids come from the published plans unless
    ``plan_id`` is given.

    Raises
    ------
    GridCodeError
        If ``code`` is not a 12/15/17-digit code.
    NotFoundError
        If no division or grid has this code.

    Examples
    --------
    >>> h = hierarchy(pool_for(engine), "320508001001003")      # doctest: +SKIP
    >>> [p["level"] for p in h["parents"]], h["type"]           # doctest: +SKIP
    (['township', 'village'], 'grid')
    """
    kind = check_code(code)
    county, township, village = code[:6] + "000000", code[:9] + "000", code[:12]
    parents = {
        "county": [],
        "township": [county],
        "village": [county, township],
        "grid": [county, township, village],
        "subgrid": [county, township, village],
    }[kind]
    grids = [code[:15], code] if kind == "subgrid" else [code]
    child_len = {"village": 15, "grid": 17}.get(kind, 0)
    plans = _PUBLISHED if plan_id is None else "g.plan_id = %(plan)s"
    params = {
        "division": code if kind in ("county", "township", "village") else None,
        "parents": parents,
        "grids": grids if kind in ("grid", "subgrid") else [],
        "code": code if kind in ("grid", "subgrid") else code[: {"county": 6, "township": 9}.get(kind, 12)],
        "child_divisions": kind in ("county", "township"),
        "child_grids": kind in ("village", "grid"),
        "child_len": child_len,
        "plan": plan_id,
    }
    if kind in ("county", "township"):
        # Divisions name their parent by full code.
        params["code"] = code
    row = pool.fetchone(_HIERARCHY_SQL.format(plans=plans), params)
    assert row is not None  # a SELECT without FROM always yields one row
    me_division, parent_rows, me_grid, parent_grid_rows, children = row
    me = me_division if kind in ("county", "township", "village") else me_grid
    if me is None:
        where = (
            ""
            if kind in ("county", "township", "village")
            else (" in a published plan" if plan_id is None else f" in plan {plan_id}")
        )
        raise NotFoundError(f"no {kind.replace('subgrid', 'sub-grid')} has code {code}{where}")
    parents_out = [{**p, "type": p["level"]} for p in parent_rows]
    parents_out += [{**g, "type": "grid"} for g in parent_grid_rows]
    return {
        "code": code,
        "type": kind,
        "name": me.get("name"),
        "item": me,
        "parents": parents_out,
        "children": children,
    }
