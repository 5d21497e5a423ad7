"""OGC API discovery: conformance classes, the OpenAPI 3.0 document and the tile matrix sets.

The landing page (``/``) is in :mod:`api.routers.home`: HTML for browsers, the OGC landing
JSON (:func:`api.ogc.landing`) for everything else.
"""

from __future__ import annotations

import json
from functools import cache

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api import ogc
from api.openapi30 import to_openapi30
from api.routers._shared import Reader
from geogrid.errors import NotFoundError

router = APIRouter(tags=["ogc"])
TMS_IDS = ("WebMercatorQuad",)


@router.get("/conformance", summary="The OGC API conformance classes this service implements")
def conformance(request: Request, f: str | None = Query(None, description="json")) -> dict:
    ogc.check_parameters(request, ["f"])
    ogc.check_format(f)
    return {"conformsTo": list(ogc.CONFORMANCE)}


@router.get(
    "/api",
    response_class=Response,
    summary="The API definition (OpenAPI 3.0)",
    responses={200: {"content": {ogc.OPENAPI_JSON: {}}}},
)
def api_definition(request: Request, f: str | None = Query(None, description="json")) -> Response:
    """This service described in OpenAPI 3.0 (FastAPI's 3.1 document, converted once)."""
    ogc.check_parameters(request, ["f"])
    ogc.check_format(f)
    state = request.app.state
    body = getattr(state, "openapi30", None)
    if body is None:
        body = state.openapi30 = json.dumps(to_openapi30(request.app.openapi()), ensure_ascii=False)
    return Response(body, media_type=ogc.OPENAPI_JSON)


@cache
def _tms(tms_id: str) -> dict:
    import morecantile

    return morecantile.tms.get(tms_id).model_dump(exclude_none=True, mode="json")


@router.get("/tileMatrixSets", summary="The tile matrix sets tiles are served in")
def tile_matrix_sets(request: Request, principal: Reader) -> dict:
    ogc.check_parameters(request, ["f"])
    base = ogc.base_url(request)
    return {
        "tileMatrixSets": [
            {
                "id": tms_id,
                "title": _tms(tms_id).get("title", tms_id),
                "uri": _tms(tms_id)["uri"],
                "links": [
                    ogc.link(f"{base}/tileMatrixSets/{tms_id}", ogc.REL_TILING_SCHEME, ogc.JSON, tms_id)
                ],
            }
            for tms_id in TMS_IDS
        ]
    }


@router.get("/tileMatrixSets/{tms_id}", summary="A tile matrix set definition (OGC 2D TMS 2.0)")
def tile_matrix_set(tms_id: str, request: Request, principal: Reader) -> dict:
    ogc.check_parameters(request, ["f"])
    if tms_id not in TMS_IDS:
        raise NotFoundError(f"tile matrix set {tms_id!r} is not served; use one of {list(TMS_IDS)}")
    return _tms(tms_id)
