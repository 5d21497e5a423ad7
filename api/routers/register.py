"""The base register (一户一档): houses, households and residents on standard addresses.

Private by default.  A resident's name, masked ID number, phone, relation and tags are answered
only to keys whose role is in ``GEOGRID_REGISTER_ROLES`` (admin, dispatcher, worker) and whose
scope covers the resident's address (a worker's ``grid_codes``, a dispatcher's ``division``; an
admin's key without scope covers the county), and every such answer is recorded in
``register_reads`` (who, when, which resident, which endpoint).  Anyone else gets an address's
houses, its household count and its 联户 — never a person.  ID numbers are never answered whole
(``3205**********1234``); they can be searched by exact match (``POST /register/residents/search``,
in the body so that the number stays out of URLs and access logs).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import Principal, get_principal
from api.routers._shared import Reader
from geogrid.db import register as db_register
from geogrid.db.names import code_names
from geogrid.db.secrets import register_keys
from geogrid.errors import ImportRowsError, InputFileError
from geogrid.register import REGISTER_TAGS, Coverage, RegisterKeys, read_register, register_coverage

router = APIRouter(prefix="/register", tags=["register"])

_FILE_SUFFIXES = (".csv", ".txt", ".xlsx", ".xls", ".ods")


def _roles(request: Request) -> list[str]:
    return [r.strip() for r in request.app.state.settings.register_roles.split(",") if r.strip()]


def coverage_of(request: Request, principal: Principal) -> Coverage:
    """What of the register ``principal`` may see in full (nothing for anonymous callers)."""
    if principal.anonymous:
        return Coverage()
    return register_coverage(principal.role, principal.scope, roles=_roles(request))


def keys_of(request: Request) -> RegisterKeys:
    secret = request.app.state.settings.register_key
    return register_keys(secret.get_secret_value() if secret is not None else None)


def register_reader(request: Request, principal: Principal = Depends(get_principal)) -> Principal:
    """A caller who may see people somewhere: a key of a register role with a scope (401/403 else)."""
    if principal.anonymous:
        raise HTTPException(
            401, "an API key is required to read the register", headers={"WWW-Authenticate": "Bearer"}
        )
    if coverage_of(request, principal).nothing:
        roles = _roles(request)
        raise HTTPException(
            403,
            f"role {principal.role!r} with scope {principal.scope or {}} sees no resident; "
            f"residents are shown to {roles} within their grid_codes or division",
        )
    return principal


RegisterReader = Annotated[Principal, Depends(register_reader)]


def _reader(principal: Principal, endpoint: str) -> db_register.Reader:
    return db_register.Reader(principal.name, principal.role, endpoint)


def _named(request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``grid_code`` → ``grid_name``, ``division_code`` → ``division_name`` on every item."""
    names = code_names(
        request.app.state.engine, [i.get(k) for i in items for k in ("grid_code", "division_code")]
    )
    for item in items:
        for key in ("grid_code", "division_code"):
            if key in item:
                item[key.removesuffix("_code") + "_name"] = names.get(item[key] or "")
    return items


@router.get("/tags")
def tags() -> dict[str, list[str]]:
    """The resident tags the register accepts (人员标签)."""
    return {"tags": list(REGISTER_TAGS)}


@router.post(
    "/imports",
    status_code=201,
    responses={422: {"description": "Bad rows (row, field, reason); nothing written"}},
)
async def import_register(
    request: Request,
    principal: RegisterReader,
    replace: bool = Query(False, description="First remove the register of every address the file names"),
    sheet: str | None = Query(None, description="Excel sheet (name or 1-based number)"),
) -> dict[str, Any]:
    """Import a register file (CSV or Excel, one row per resident, Chinese headers such as 地址编码,
    房屋编号, 户编号, 姓名, 公民身份号码, 联系电话, 与户主关系, 标签) as multipart field ``file``.

    All or nothing: a malformed ID number (check digit, birth date) or phone, an unknown tag, an
    unknown address or one outside the caller's scope is reported by row, field and reason.
    Households per address are then derived from the register."""
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise HTTPException(400, "send the register as multipart field 'file' (CSV or Excel)")
    name = upload.filename or "register.csv"
    suffix = Path(name).suffix.lower()
    if suffix not in _FILE_SUFFIXES:
        raise HTTPException(415, f"file {name!r}: send a CSV or an Excel file")
    data = await upload.read()
    coverage = coverage_of(request, principal)
    keys = keys_of(request)
    sheet_arg: str | int | None = int(sheet) if sheet and sheet.isdigit() else sheet

    def work():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"register{suffix}"
            path.write_bytes(data)
            try:
                rows = read_register(path, sheet=sheet_arg)
            except ImportRowsError as exc:
                exc.source = name  # the upload's name, not the temporary file's
                raise
            except InputFileError as exc:
                raise InputFileError(str(exc).replace(str(path), name)) from None
        return db_register.import_register(
            request.app.state.engine, rows, keys, source=name, replace=replace,
            coverage=None if coverage.everything else coverage,
        )  # fmt: skip

    done = await run_in_threadpool(work)
    return {"source": name, **done.__dict__}


@router.get("/addresses/{address_id}", responses={404: {"description": "No such standard address"}})
def address_register(address_id: str, request: Request, principal: Reader) -> dict[str, Any]:
    """An address's houses, households and 联户 (with their 联户长); its residents only for callers
    whose scope covers it (``personal: true``; each read recorded)."""
    coverage = coverage_of(request, principal)
    out = db_register.address_register(
        request.app.state.engine,
        address_id,
        coverage=coverage,
        reader=_reader(principal, "GET /register/addresses/{address_id}"),
    )
    people = [p for h in out.get("household_list", []) for p in h["residents"]]
    _named(request, [out, *out["link_groups"], *people])
    return out


@router.get("/residents")
def list_residents(
    request: Request,
    principal: RegisterReader,
    grid: str | None = Query(
        None, pattern=r"^\d{12}(\d{3}(\d{2})?)?$", description="A grid or division code"
    ),
    tag: str | None = Query(None, max_length=20, description="Only residents with this tag, e.g. 独居老人"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Residents within the caller's scope (e.g. the 独居老人 of a worker's grids); each recorded as read."""
    total, items = db_register.list_residents(
        request.app.state.engine,
        coverage=coverage_of(request, principal),
        reader=_reader(principal, "GET /register/residents"),
        grid_code=grid,
        tag=tag,
        limit=limit,
        offset=offset,
    )
    return {"total": total, "limit": limit, "offset": offset, "items": _named(request, items)}


class Search(BaseModel):
    """An ID number to find (exact match on its keyed hash)."""

    id_number: str = Field(..., min_length=15, max_length=24, description="18-character citizen ID number")


@router.post("/residents/search", responses={400: {"description": "A malformed ID number"}})
def search_residents(body: Search, request: Request, principal: RegisterReader) -> dict[str, Any]:
    """The resident with exactly this ID number, if within the caller's scope (recorded as read).
    A person outside the scope is not found (nor told to exist)."""
    try:
        items = db_register.search_id_number(
            request.app.state.engine,
            body.id_number,
            keys_of(request),
            coverage=coverage_of(request, principal),
            reader=_reader(principal, "POST /register/residents/search"),
        )
    except ValueError as exc:
        raise HTTPException(400, f"id_number: {exc}") from None
    return {"total": len(items), "items": _named(request, items)}


@router.get(
    "/residents/{resident_id}", responses={404: {"description": "No such resident within your scope"}}
)
def resident(resident_id: int, request: Request, principal: RegisterReader) -> dict[str, Any]:
    """One resident in full (ID number masked), within the caller's scope; the read is recorded."""
    item = db_register.resident(
        request.app.state.engine,
        resident_id,
        coverage=coverage_of(request, principal),
        reader=_reader(principal, "GET /register/residents/{resident_id}"),
    )
    return _named(request, [item])[0]


@router.get("/residents/{resident_id}/reads")
def resident_reads(resident_id: int, request: Request, principal: RegisterReader) -> dict[str, Any]:
    """Who read this resident, when and through which endpoint (admins only)."""
    if principal.role != "admin":
        raise HTTPException(403, "only admins read the audit of reads")
    from geogrid.times import local_iso

    tz = request.app.state.settings.timezone
    rows = db_register.reads(request.app.state.engine, resident_id)
    return {
        "resident_id": resident_id,
        "reads": [
            {
                "reader_name": r.reader_name,
                "reader_role": r.reader_role,
                "at": local_iso(r.at, tz),
                "endpoint": r.endpoint,
            }
            for r in rows
        ],
    }
