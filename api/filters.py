"""What incident endpoints share: the catalogue, the caller as an actor, and one filter dependency.

Listings, the overdue list, statistics, heatmaps and the dashboard all select incidents with
the same query parameters (``status``, ``category``, ``source``, ``division``, ``grid_code``,
``department``, ``centre``, ``from``, ``to``, ``bbox``).  They are declared once, in
:func:`incident_filters`, and every router takes them as :data:`IncidentFilters`; categories
may be given by code or by Chinese name, departments by code or by name, and times without
an offset are read in the county's zone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from sqlalchemy.engine import Engine

from api.deps import Principal, get_engine, get_principal, get_settings
from api.settings import Settings
from geogrid import incidents as wf
from geogrid.coords import BBox
from geogrid.db import incidents as store
from geogrid.db.organisation import department_code
from geogrid.errors import ActionForbiddenError
from geogrid.organisation import full_division_code
from geogrid.times import DEFAULT_TIMEZONE, parse_local


def get_catalogue(request: Request) -> wf.Catalogue:
    """The category catalogue of this app, read once from ``settings.incident_catalogue``."""
    state = request.app.state
    cat = getattr(state, "incident_catalogue", None)
    if cat is None:
        cat = wf.load_catalogue(state.settings.incident_catalogue)
        state.incident_catalogue = cat
    return cat


def actor_of(principal: Principal) -> wf.Actor:
    """The workflow's view of a caller: key name, role and scope."""
    return wf.Actor(principal.name, principal.role, dict(principal.scope or {}))


def require_key(principal: Principal = Depends(get_principal)) -> Principal:
    """Any valid key (incidents are never read anonymously outside the public views)."""
    if principal.anonymous:
        raise HTTPException(
            401, "an API key is required for incidents", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


def parse_time(value: str | None, name: str, tz: str = DEFAULT_TIMEZONE) -> datetime | None:
    """ISO 8601 date or datetime; one without an offset is read in the county's zone ``tz``."""
    if value is None or value == "":
        return None
    return parse_local(value, tz, name=name)


def split_list(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def filters_from(
    *,
    status: str | None = None,
    category: str | None = None,
    source: str | None = None,
    division: str | None = None,
    grid_code: str | None = None,
    department: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    bbox: str | None = None,
    catalogue: wf.Catalogue | None = None,
    tz: str = DEFAULT_TIMEZONE,
) -> store.Filters:
    """Incident filters from query parameter values; with a ``catalogue``, categories may be
    given by their Chinese names (``矛盾纠纷``, ``邻里纠纷``) as well as by code."""
    if catalogue is not None and category:
        category = ",".join(catalogue.code_of(c) for c in split_list(category))
    return store.Filters(
        status=split_list(status),
        category=category or None,
        source=source or None,
        division=division or None,
        grid_code=grid_code or None,
        department=department or None,
        date_from=parse_time(date_from, "from", tz),
        date_to=parse_time(date_to, "to", tz),
        bbox=BBox.parse(bbox) if bbox else None,
    )


def incident_filters(
    status: str | None = Query(None, description="comma-separated statuses, e.g. accepted,dispatched"),
    category: str | None = Query(None, description="major or minor category code(s) or Chinese name(s)"),
    source: str | None = Query(None, description="patrol, resident or hotline"),
    division: str | None = Query(None, description="county/township/village/grid code (prefix)"),
    grid_code: str | None = Query(None, description="one grid (15 or 17 digits)"),
    department: str | None = Query(None, description="department code or Chinese name"),
    centre: str | None = Query(
        None, description="the centre (综治中心) whose queue holds them: its division code"
    ),
    date_from: str | None = Query(None, alias="from", description="reported at or after (ISO 8601)"),
    date_to: str | None = Query(None, alias="to", description="reported before (ISO 8601)"),
    bbox: str | None = Query(None, description="west,south,east,north (WGS-84)"),
    engine: Engine = Depends(get_engine),
    settings: Settings = Depends(get_settings),
    catalogue: wf.Catalogue = Depends(get_catalogue),
) -> store.Filters:
    """The incident filters of a request (the one declaration of these query parameters)."""
    if department:
        department = department_code(engine, department)
    if centre:
        centre = full_division_code(centre)
    f = filters_from(
        status=status,
        category=category,
        source=source,
        division=division,
        grid_code=grid_code,
        department=department,
        date_from=date_from,
        date_to=date_to,
        bbox=bbox,
        catalogue=catalogue,
        tz=settings.timezone,
    )
    return replace(f, centre=centre or None)


#: The incident filters of a request, as a dependency.
IncidentFilters = Annotated[store.Filters, Depends(incident_filters)]


def is_public_reader(principal: Principal) -> bool:
    """Anonymous callers and residents get the public view of other people's reports."""
    return principal.role in wf.PUBLIC_READER_ROLES


def for_audience(f: store.Filters, principal: Principal, catalogue: wf.Catalogue) -> store.Filters:
    """``f`` narrowed to what ``principal`` may count or see: public readers the public
    categories (never rejected or merged reports), staff what their scope allows.

    A public reader who names only non-public categories gets a 403 rather than silent zeros."""
    if is_public_reader(principal):
        asked = [c.strip() for c in (f.category or "").split(",") if c.strip()]
        public = set(catalogue.public_codes)
        visible = [c for c in asked if c in public or any(m.major_code == c and m.public for m in catalogue)]
        if asked and not visible:
            raise ActionForbiddenError(f"类别 {f.category} 不公开 / category {f.category} is not public")
        return replace(f, public_codes=catalogue.public_codes)
    return replace(f, visible_to=actor_of(principal))
