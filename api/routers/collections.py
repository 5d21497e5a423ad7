"""Grids, divisions and addresses as OGC API – Features collections (GeoJSON, RFC 7946).

Part 1 (core, GeoJSON), Part 2 (``crs``/``bbox-crs``: CRS84, CGCS2000 EPSG:4490, EPSG:4326,
EPSG:3857) and Part 3's queryables with simple property filters (``?kind=rural``).  Every
parameter is checked: an unknown one, or a value the service cannot honour (``datetime`` on
collections without time, an unsupported CRS), is a 400 rather than silently ignored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from api import ogc
from api.routers._shared import GEOJSON, Reader, json_text, pool
from geogrid.db import features
from geogrid.errors import GeogridError, NotFoundError
from geogrid.times import local_iso


class OgcRoute(APIRoute):
    """OGC API answers 400 (not FastAPI's 422) to a parameter that does not parse."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()
                )
                raise GeogridError(detail) from None

        return route


router = APIRouter(tags=["collections"], route_class=OgcRoute)

#: Parameters every items request may carry besides a collection's queryables (the filters
#: after "f" are geogrid's; the database layer says which collection takes which).
ITEMS_PARAMETERS = ("bbox", "bbox-crs", "crs", "limit", "offset", "datetime", "f", "division", "plan", "grid")


def _collection(collection_id: str) -> features.Collection:
    found = features.COLLECTIONS.get(collection_id)
    if found is None:
        raise NotFoundError(
            f"collection {collection_id!r} does not exist; use one of {sorted(features.COLLECTIONS)}"
        )
    return found


def _collection_doc(request: Request, collection: features.Collection) -> dict:
    url = f"{ogc.base_url(request)}/collections/{collection.id}"
    extent = features.collection_extent(pool(request), collection.id)
    doc: dict[str, Any] = {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": list(ogc.SUPPORTED_CRS),
        "storageCrs": ogc.CRS84.uri,
        "filters": list(collection.filters) + [q.name for q in collection.queryables],
        "links": [
            ogc.link(url, "self", ogc.JSON, collection.title),
            ogc.link(f"{url}/items", "items", GEOJSON, "要素 Features"),
            ogc.link(f"{url}/queryables", ogc.REL_QUERYABLES, ogc.SCHEMA_JSON, "可查询属性 Queryables"),
            ogc.link(f"{url}/tiles", ogc.REL_TILESETS_VECTOR, ogc.JSON, "矢量瓦片 Vector tilesets"),
            ogc.link(
                f"{url}/tiles/WebMercatorQuad/tilejson.json", "describedby", ogc.JSON, "矢量瓦片 TileJSON"
            ),
        ],
    }
    if extent is not None:
        doc["extent"] = {"spatial": {"bbox": [extent], "crs": ogc.CRS84.uri}}
    return doc


@router.get("/collections")
def list_collections(
    request: Request, principal: Reader, f: str | None = Query(None, description="json")
) -> dict:
    """The feature collections: grids, divisions, addresses."""
    ogc.check_parameters(request, ["f"])
    ogc.check_format(f)
    base = ogc.base_url(request)
    return {
        "collections": [_collection_doc(request, c) for c in features.COLLECTIONS.values()],
        "links": [ogc.link(f"{base}/collections", "self", ogc.JSON, "数据集 Collections")],
    }


@router.get("/collections/{collection_id}")
def get_collection(
    collection_id: str, request: Request, principal: Reader, f: str | None = Query(None, description="json")
) -> dict:
    """One collection's description, extent, CRSs and links."""
    ogc.check_parameters(request, ["f"])
    ogc.check_format(f)
    return _collection_doc(request, _collection(collection_id))


@router.get(
    "/collections/{collection_id}/queryables",
    response_class=Response,
    responses={200: {"content": {ogc.SCHEMA_JSON: {}}}},
)
def queryables(
    collection_id: str, request: Request, principal: Reader, f: str | None = Query(None, description="json")
) -> Response:
    """The properties items can be filtered on by equality (``?kind=rural``), as a JSON Schema."""
    ogc.check_parameters(request, ["f"])
    ogc.check_format(f)
    collection = _collection(collection_id)
    properties: dict[str, Any] = {
        "geometry": {"$ref": f"https://geojson.org/schema/{collection.geometry}.json"},
    }
    for q in collection.queryables:
        properties[q.name] = {"title": q.title, "type": q.kind} | ({"enum": list(q.enum)} if q.enum else {})
    doc = {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{ogc.base_url(request)}/collections/{collection.id}/queryables",
        "type": "object",
        "title": collection.title,
        "properties": properties,
        "additionalProperties": False,
    }
    return Response(_dumps(doc), media_type=ogc.SCHEMA_JSON)


def _page_link(request: Request, rel: str, offset: int, limit: int) -> dict:
    url = request.url.include_query_params(offset=offset, limit=limit)
    return {"href": str(url), "rel": rel, "type": GEOJSON}


def _items_request(request: Request, collection: features.Collection) -> dict[str, str]:
    """Check an items request's parameters; return its property filters (queryables)."""
    names = {q.name for q in collection.queryables}
    ogc.check_parameters(request, (*ITEMS_PARAMETERS, "level", "kind", *names))
    if request.query_params.get("datetime") is not None:
        raise GeogridError(f"{collection.id} have no time property: datetime is not supported here")
    ogc.check_format(request.query_params.get("f"), ("json", "geojson"))
    # level and kind keep their own checks (and messages) in the database layer.
    return {k: v for k, v in request.query_params.items() if k in names and k not in ("level", "kind")}


@router.get(
    "/collections/{collection_id}/items", response_class=Response, responses={200: {"content": {GEOJSON: {}}}}
)
def list_items(
    *,
    collection_id: str,
    request: Request,
    bbox: str | None = Query(None, description="west,south,east,north (in the axis order of bbox-crs)"),
    bbox_crs: str | None = Query(None, alias="bbox-crs", description="CRS of bbox (default CRS84)"),
    crs: str | None = Query(None, description="CRS of the answer: " + ", ".join(ogc.SUPPORTED_CRS)),
    limit: int = Query(100, ge=1, description="Page size (clamped to the server maximum)"),
    offset: int = Query(0, ge=0),
    datetime_: str | None = Query(None, alias="datetime", description="Not supported: no time property"),
    f: str | None = Query(None, description="json or geojson"),
    division: str | None = Query(None, description="Division code; a township gives all its villages' grids"),
    level: str | None = Query(None, description="Grid level 1..3, or division level township/village"),
    kind: str | None = Query(None, description="urban, rural or dedicated"),
    plan: int | None = Query(
        None, description="Grids of this plan (drafts too) instead of the published ones"
    ),
    grid: str | None = Query(None, description="Addresses of this grid"),
    principal: Reader,
) -> Response:
    """A page of features as a GeoJSON FeatureCollection with ``numberMatched``/``numberReturned``
    and next/prev links.  Any queryable property (``/collections/{id}/queryables``) is also a
    filter: ``?households=80``, ``?division_code=320508001001``."""
    collection = _collection(collection_id)
    properties = _items_request(request, collection)
    out_crs = ogc.parse_crs(crs)
    # OGC API – Features: a limit above the maximum is not an error, it is clamped.
    limit = min(limit, request.app.state.settings.page_limit_max)
    box = ogc.bbox_in_crs84(bbox, ogc.parse_crs(bbox_crs, parameter="bbox-crs")) if bbox is not None else None
    page = features.list_items(
        pool(request),
        collection_id,
        bbox=box,
        limit=limit,
        offset=offset,
        division=division,
        level=level,
        kind=kind,
        plan_id=plan,
        grid=grid,
        properties=properties,
        output=_output(out_crs),
    )
    base = ogc.base_url(request)
    links = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {"href": f"{base}/collections/{collection_id}", "rel": "collection", "type": ogc.JSON},
    ]
    if offset + page.number_returned < page.number_matched:
        links.append(_page_link(request, "next", offset + limit, limit))
    if offset > 0:
        links.append(_page_link(request, "prev", max(0, offset - limit), limit))
    stamp = local_iso(datetime.now(UTC).replace(microsecond=0), request.app.state.settings.timezone)
    head = (
        f'{{"type": "FeatureCollection", "numberMatched": {page.number_matched}, '
        f'"numberReturned": {page.number_returned}, "timeStamp": "{stamp}", '
        f'"links": {_dumps(links)}, "features": '
    )
    return json_text(head + page.features + "}", media_type=GEOJSON, headers=_crs_header(out_crs))


@router.get(
    "/collections/{collection_id}/items/{item_id}",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}}},
)
def get_item(
    *,
    collection_id: str,
    item_id: str,
    request: Request,
    plan: int | None = Query(None, description="Grids: look in this plan instead of the published ones"),
    crs: str | None = Query(None, description="CRS of the answer: " + ", ".join(ogc.SUPPORTED_CRS)),
    f: str | None = Query(None, description="json or geojson"),
    principal: Reader,
) -> Response:
    """One feature: a grid by code, a division by code, an address by id."""
    ogc.check_parameters(request, ["plan", "crs", "f"])
    ogc.check_format(f, ("json", "geojson"))
    _collection(collection_id)
    out_crs = ogc.parse_crs(crs)
    text = features.get_item(pool(request), collection_id, item_id, plan_id=plan, output=_output(out_crs))
    url = f"{ogc.base_url(request)}/collections/{collection_id}"
    links = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {"href": url, "rel": "collection", "type": ogc.JSON},
    ]
    # The feature is finished JSON text from PostGIS: add its links before the closing brace.
    body = text.rstrip()[:-1] + f', "links": {_dumps(links)}}}'
    return json_text(body, media_type=GEOJSON, headers=_crs_header(out_crs))


@router.get("/hierarchy/{code}")
def hierarchy(
    *,
    code: str,
    request: Request,
    plan: int | None = Query(None, description="Grids of this plan instead of the published ones"),
    principal: Reader,
) -> dict:
    """A code's parents (county, township, village, grid) and direct children (townships,
    villages, grids or sub-grids)."""
    return features.hierarchy(pool(request), code, plan_id=plan)


def _output(crs: ogc.Crs) -> features.GeometryOutput:
    return features.GeometryOutput(crs.srid, crs.lat_first, crs.decimals)


def _crs_header(crs: ogc.Crs) -> dict[str, str]:
    return {"Content-Crs": f"<{crs.uri}>"}


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)
