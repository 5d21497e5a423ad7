"""Grids, divisions and addresses as OGC API – Features collections (GeoJSON, RFC 7946)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.routers._shared import GEOJSON, Reader, json_text, pool
from geogrid.coords import BBox
from geogrid.db import features
from geogrid.errors import NotFoundError
from geogrid.times import local_iso

router = APIRouter(tags=["collections"])


def _collection_doc(request: Request, collection: features.Collection) -> dict:
    base = str(request.base_url).rstrip("/")
    url = f"{base}/collections/{collection.id}"
    extent = features.collection_extent(pool(request), collection.id)
    doc: dict[str, Any] = {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "filters": list(collection.filters),
        "links": [
            {"href": url, "rel": "self", "type": "application/json", "title": collection.title},
            {"href": f"{url}/items", "rel": "items", "type": GEOJSON, "title": "Features"},
            {
                "href": f"{url}/tiles/WebMercatorQuad/tilejson.json",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                "type": "application/json",
                "title": "Vector tiles (TileJSON)",
            },
        ],
    }
    if extent is not None:
        doc["extent"] = {"spatial": {"bbox": [extent], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}
    return doc


@router.get("/collections")
def list_collections(request: Request, principal: Reader) -> dict:
    """The feature collections: grids, divisions, addresses."""
    base = str(request.base_url).rstrip("/")
    return {
        "collections": [_collection_doc(request, c) for c in features.COLLECTIONS.values()],
        "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
    }


@router.get("/collections/{collection_id}")
def get_collection(collection_id: str, request: Request, principal: Reader) -> dict:
    """One collection's description, extent and links."""
    if collection_id not in features.COLLECTIONS:
        raise NotFoundError(
            f"collection {collection_id!r} does not exist; use one of {sorted(features.COLLECTIONS)}"
        )
    return _collection_doc(request, features.COLLECTIONS[collection_id])


def _page_link(request: Request, rel: str, offset: int, limit: int) -> dict:
    url = request.url.include_query_params(offset=offset, limit=limit)
    return {"href": str(url), "rel": rel, "type": GEOJSON}


@router.get(
    "/collections/{collection_id}/items", response_class=Response, responses={200: {"content": {GEOJSON: {}}}}
)
def list_items(
    *,
    collection_id: str,
    request: Request,
    bbox: str | None = Query(None, description="west,south,east,north in lon/lat degrees"),
    limit: int = Query(100, ge=1, description="Page size (clamped to the server maximum)"),
    offset: int = Query(0, ge=0),
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
    and next/prev links."""
    # OGC API – Features: a limit above the maximum is not an error, it is clamped.
    limit = min(limit, request.app.state.settings.page_limit_max)
    box = BBox.parse(bbox) if bbox is not None else None
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
    )
    links = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {
            "href": str(request.base_url).rstrip("/") + f"/collections/{collection_id}",
            "rel": "collection",
            "type": "application/json",
        },
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
    return json_text(head + page.features + "}", media_type=GEOJSON)


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
    principal: Reader,
) -> Response:
    """One feature: a grid by code, a division by code, an address by id."""
    return json_text(
        features.get_item(pool(request), collection_id, item_id, plan_id=plan), media_type=GEOJSON
    )


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


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)
