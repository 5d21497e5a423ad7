"""联户 link groups: 10–15 households under a 联户长, formed inside the published grids and edited.

A 联户长's name and phone are a duty contact, posted like a grid head's (宁国 puts the names and
numbers of grid heads, workers and 联户 Party members on every household's card, "一户一卡"), so
they are answered to every reader; the residents of a group are not (see ``/register``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import Principal
from api.routers._shared import Planner, Reader
from geogrid.db import link_groups as db_groups
from geogrid.db.names import code_names

router = APIRouter(prefix="/link-groups", tags=["link groups"])

_CODE = r"^\d{12}(\d{3})?$"


def _named(request: Request, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = code_names(request.app.state.engine, [g["grid_code"] for g in groups])
    for g in groups:
        g["grid_name"] = names.get(g["grid_code"])
    return groups


def _may_edit(principal: Principal, code: str) -> None:
    """Planners and admins edit any group; a grid worker the groups of their grids."""
    if principal.anonymous:
        raise HTTPException(401, "an API key is required", headers={"WWW-Authenticate": "Bearer"})
    if principal.role in ("planner", "admin"):
        return
    grids = {str(c)[:15] for c in (principal.scope.get("grid_codes") or ())}
    if principal.role == "worker" and code[:15] in grids:
        return
    raise HTTPException(403, f"role {principal.role!r} may not edit link group {code}")


@router.get("")
def list_groups(
    request: Request,
    principal: Reader,
    division: str = Query(..., pattern=_CODE, description="A division (12 digits) or grid (15 digits) code"),
    limit: int = Query(1000, ge=1, le=10_000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """The published link groups of a division or grid, with their 联户长."""
    from geogrid.db.plans import scope_prefix

    prefix = division if len(division) == 15 else scope_prefix(division)
    total, groups = db_groups.list_groups(request.app.state.engine, prefix=prefix, limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset, "items": _named(request, groups)}


class Form(BaseModel):
    """Where to form link groups and their bounds."""

    division: str = Field(
        ..., pattern=_CODE, description="A division or grid code whose published grids to split"
    )
    lo: int = Field(10, ge=1, le=100)
    hi: int = Field(15, ge=1, le=200)
    seed: int = 0


@router.post("", status_code=201)
async def form_groups(body: Form, request: Request, principal: Planner) -> dict[str, Any]:
    """Form the link groups of every published grid of a division (planner): each grid's
    households in groups of ``lo``–``hi`` by the partition engine; groups formed before are
    replaced, a code that comes back keeps its name and 联户长."""
    if body.hi < body.lo:
        raise HTTPException(422, f"hi ({body.hi}) must be at least lo ({body.lo})")
    done = await run_in_threadpool(
        db_groups.form, request.app.state.engine, body.division, rule=(body.lo, body.hi), seed=body.seed
    )
    return {"division": body.division, "grids": done.grids, "groups": done.groups, "households": done.households,
            "notes": done.notes}  # fmt: skip


@router.get("/{code}", responses={404: {"description": "No such link group in a published plan"}})
def get_group(code: str, request: Request, principal: Reader) -> dict[str, Any]:
    """One link group: its addresses (with their households in the group) and its 联户长."""
    return _named(request, [db_groups.get_group(request.app.state.engine, code)])[0]


class Edit(BaseModel):
    """New values; an empty string clears a field."""

    name: str | None = Field(None, max_length=50)
    leader_name: str | None = Field(None, max_length=50)
    leader_phone: str | None = Field(None, max_length=30)


@router.patch("/{code}", responses={404: {"description": "No such link group"}})
def edit_group(code: str, body: Edit, request: Request, principal: Reader) -> dict[str, Any]:
    """Rename a group or name its 联户长 (planners, admins, the grid's workers)."""
    _may_edit(principal, code)
    group = db_groups.update_group(
        request.app.state.engine,
        code,
        name=body.name,
        leader_name=body.leader_name,
        leader_phone=body.leader_phone,
    )
    return _named(request, [group])[0]


class Move(BaseModel):
    """Households of one address moved to another group of the same grid."""

    address_id: str = Field(..., max_length=100)
    households: int = Field(..., ge=1, le=10_000)
    to: str = Field(..., pattern=r"^\d{17}$", description="The code of the group they join")


@router.post(
    "/{code}/moves",
    responses={409: {"description": "Refused: another grid, too few households, an emptied group"}},
)
def move_households(code: str, body: Move, request: Request, principal: Reader) -> dict[str, Any]:
    """Move households of an address from this group to another of its grid; both groups'
    households and polygons follow."""
    _may_edit(principal, code)
    groups = db_groups.move(
        request.app.state.engine,
        address_id=body.address_id,
        source=code,
        target=body.to,
        households=body.households,
    )
    return {"groups": _named(request, groups)}
