"""OGC API vocabulary shared by the routers: conformance classes, CRSs, links, parameters.

The service answers OGC API – Features Part 1 (core, GeoJSON, OpenAPI 3.0), Part 2 (CRS by
reference), Part 3's queryables with simple property filters, and OGC API – Tiles (vector
tilesets of the collections in WebMercatorQuad).  Standard clients (OWSLib, GDAL's OAPIF
driver, QGIS) discover all of it from the landing page, ``/conformance`` and ``/api``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from geogrid.coords import BBox, check_bbox
from geogrid.errors import GeogridError, InvalidGeometryError

CONFORMANCE: tuple[str, ...] = (
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
)

JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON = "application/schema+json"
MVT = "application/vnd.mapbox-vector-tile"
REL_TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
REL_TILING_SCHEMES = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"


@dataclass(frozen=True)
class Crs:
    """A coordinate reference system the service answers in.

    ``srid`` is the PostGIS SRID to transform to; ``lat_first`` says the CRS's axis order is
    latitude, longitude (EPSG:4326 and EPSG:4490 are; CRS84, the GeoJSON default, is not):
    OGC API – Features Part 2 answers in the axis order of the CRS asked for.
    """

    uri: str
    srid: int
    lat_first: bool
    decimals: int
    title: str


CRS84 = Crs("http://www.opengis.net/def/crs/OGC/1.3/CRS84", 4326, False, 7, "WGS 84 经纬度 (lon, lat)")
SUPPORTED_CRS: dict[str, Crs] = {
    c.uri: c
    for c in (
        CRS84,
        Crs(
            "http://www.opengis.net/def/crs/EPSG/0/4490", 4490, True, 7, "CGCS2000 国家大地坐标系 (lat, lon)"
        ),
        Crs("http://www.opengis.net/def/crs/EPSG/0/4326", 4326, True, 7, "WGS 84 (lat, lon)"),
        Crs("http://www.opengis.net/def/crs/EPSG/0/3857", 3857, False, 2, "Web Mercator (x, y)"),
    )
}


def parse_crs(text: str | None, *, parameter: str = "crs") -> Crs:
    """The :class:`Crs` named by a URI (``http://www.opengis.net/def/crs/EPSG/0/4490``), a safe
    CURIE (``[EPSG:4490]``) or a short name (``EPSG:4490``, ``CRS84``); CRS84 when None.

    Examples
    --------
    >>> parse_crs("[EPSG:4490]").srid, parse_crs("EPSG:4490").lat_first, parse_crs(None).uri[-5:]
    (4490, True, 'CRS84')
    >>> parse_crs("EPSG:2000")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.GeogridError: crs 'EPSG:2000' is not supported; use one of http://www.opengis.net/.../CRS84, ...
    """
    if text is None:
        return CRS84
    name = text.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    upper = name.upper()
    if upper in ("CRS84", "OGC:CRS84"):
        name = CRS84.uri
    elif upper.startswith("EPSG:"):
        name = "http://www.opengis.net/def/crs/EPSG/0/" + upper[5:]
    found = SUPPORTED_CRS.get(name.replace("https://", "http://"))
    if found is None:
        raise GeogridError(f"{parameter} {text!r} is not supported; use one of {', '.join(SUPPORTED_CRS)}")
    return found


def bbox_in_crs84(text: str, crs: Crs) -> BBox:
    """An OGC ``bbox`` given in ``crs`` (in that CRS's axis order) as a lon/lat :class:`BBox`.

    Examples
    --------
    >>> bbox_in_crs84("31.2,120.5,31.4,120.7", parse_crs("EPSG:4490"))
    BBox(west=120.5, south=31.2, east=120.7, north=31.4)
    >>> [round(v, 4) for v in bbox_in_crs84("13414000,3670000,13438000,3690000", parse_crs("EPSG:3857"))]
    [120.5, 31.2864, 120.7156, 31.4398]
    """
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) not in (4, 6):
        raise InvalidGeometryError(f"bbox must have 4 comma-separated numbers (6 with heights); got {text!r}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InvalidGeometryError(f"bbox values must be numbers; got {text!r}") from None
    if len(values) == 6:  # minx, miny, minz, maxx, maxy, maxz: heights do not matter here
        values = [values[0], values[1], values[3], values[4]]
    a, b, c, d = values
    if crs.srid == 3857:
        from pyproj import Transformer

        to_lonlat = Transformer.from_crs(3857, 4326, always_xy=True)
        west, south = to_lonlat.transform(a, b)
        east, north = to_lonlat.transform(c, d)
        return check_bbox(BBox(west, south, east, north))
    if crs.lat_first:
        a, b, c, d = b, a, d, c
    # CGCS2000 and WGS 84 agree to a few centimetres: the box is taken as it is.
    return check_bbox(BBox(a, b, c, d))


def check_parameters(request: Request, allowed: Iterable[str]) -> None:
    """Refuse (400) a query parameter this endpoint does not understand, naming the ones it does.

    OGC API – Features: a server SHALL answer 400 to an unknown parameter rather than ignore
    it (a filter silently ignored returns wrong data that looks right).

    Examples
    --------
    >>> from starlette.requests import Request
    >>> check_parameters(Request({"type": "http", "query_string": b"colour=red"}), ["f"])
    Traceback (most recent call last):
    ...
    geogrid.errors.GeogridError: unknown query parameter 'colour'; this endpoint understands f
    """
    known = set(allowed)
    unknown = sorted(k for k in request.query_params if k not in known)
    if unknown:
        raise GeogridError(
            f"unknown query parameter {unknown[0]!r}; this endpoint understands {', '.join(sorted(known))}"
        )


def check_format(value: str | None, allowed: Iterable[str] = ("json",)) -> None:
    """Refuse (400) an ``f`` this endpoint cannot answer in.

    Examples
    --------
    >>> check_format("json"), check_format(None)
    (None, None)
    >>> check_format("html", ("json", "geojson"))
    Traceback (most recent call last):
    ...
    geogrid.errors.GeogridError: f='html' is not available here; use f=json or f=geojson
    """
    options = tuple(allowed)
    if value is not None and value not in options:
        raise GeogridError(f"f={value!r} is not available here; use f={' or f='.join(options)}")


def base_url(request: Request) -> str:
    """The service's root URL as the client reached it, without a trailing slash."""
    return str(request.base_url).rstrip("/")


def link(href: str, rel: str, type_: str, title: str, **extra: Any) -> dict:
    """An OGC API link object.

    Examples
    --------
    >>> link("http://h/api", "service-desc", OPENAPI_JSON, "API")["type"]
    'application/vnd.oai.openapi+json;version=3.0'
    """
    return {"href": href, "rel": rel, "type": type_, "title": title, **extra}


def wants_html(request: Request) -> bool:
    """Whether the landing page should be HTML: ``?f=html``, or a browser's ``Accept`` that
    ranks ``text/html`` at least as high as JSON.  Anything else (``*/*``, OWSLib, GDAL,
    ``?f=json``) gets JSON.

    Examples
    --------
    >>> from starlette.requests import Request
    >>> def req(accept, query=b""):
    ...     return Request({"type": "http", "query_string": query, "headers": [(b"accept", accept)]})
    >>> wants_html(req(b"text/html,application/xhtml+xml,*/*;q=0.8")), wants_html(req(b"*/*"))
    (True, False)
    >>> wants_html(req(b"text/html", b"f=json")), wants_html(req(b"application/json;q=0.9,text/html;q=0.5"))
    (False, False)
    """
    f = request.query_params.get("f")
    if f is not None:
        return f == "html"
    ranks: dict[str, float] = {}
    for part in request.headers.get("accept", "").split(","):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranks[media.strip().lower()] = q
    html = ranks.get("text/html", 0.0)
    return html > 0 and html >= max(
        ranks.get("application/json", 0.0), ranks.get("application/geo+json", 0.0)
    )


def landing(request: Request) -> dict:
    """The OGC API landing page (JSON): where the API description, conformance and data are."""
    base = base_url(request)
    return {
        "title": "geogrid 网格化服务管理",
        "description": (
            "网格、行政区划和标准地址（OGC API – Features 与 Tiles），以及查询、事件、统计和地图。"
            " Grids, divisions and standard addresses as OGC API – Features and Tiles; lookups, "
            "incidents, statistics and maps."
        ),
        "links": [
            link(f"{base}/?f=json", "self", JSON, "本页 This document"),
            link(f"{base}/?f=html", "alternate", HTML, "本页（网页） This document as HTML"),
            link(f"{base}/api", "service-desc", OPENAPI_JSON, "接口定义 The API definition (OpenAPI 3.0)"),
            link(f"{base}/docs", "service-doc", HTML, "接口文档 The API documentation"),
            link(f"{base}/conformance", "conformance", JSON, "符合的标准 Conformance classes"),
            link(f"{base}/collections", "data", JSON, "数据集 Collections"),
            link(f"{base}/tileMatrixSets", REL_TILING_SCHEMES, JSON, "瓦片矩阵集 Tiling schemes"),
        ],
    }


def tile_matrix_limits(bounds: list[float], minzoom: int, maxzoom: int) -> list[dict]:
    """``tileMatrixSetLimits`` of WebMercatorQuad for data within lon/lat ``bounds``.

    Examples
    --------
    >>> tile_matrix_limits([120.6, 31.3, 120.62, 31.32], 12, 12)
    [{'tileMatrix': '12', 'minTileRow': 1672, 'maxTileRow': 1672, 'minTileCol': 3420, 'maxTileCol': 3420}]
    """
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    west, south, east, north = bounds
    limits = []
    for z in range(minzoom, maxzoom + 1):
        top_left = tms.tile(west, north, z)
        bottom_right = tms.tile(east, south, z)
        limits.append(
            {
                "tileMatrix": str(z),
                "minTileRow": top_left.y,
                "maxTileRow": bottom_right.y,
                "minTileCol": top_left.x,
                "maxTileCol": bottom_right.x,
            }
        )
    return limits
