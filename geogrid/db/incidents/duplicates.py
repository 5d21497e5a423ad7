"""Suggested duplicates: same minor category, nearby, close in time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid import incidents as wf
from geogrid.db import load_sql
from geogrid.db.incidents.filters import visibility_sql
from geogrid.db.incidents.records import read_row, utcnow
from geogrid.errors import GeogridError


@dataclass(frozen=True)
class Duplicate:
    """A suggested duplicate: its id, status, distance and time of report."""

    public_id: str
    category_minor: str
    status: str
    created_at: datetime
    description: str
    lon: float
    lat: float
    distance_m: float


def duplicates(
    engine: Engine,
    public_id: str,
    *,
    radius_m: float = 100.0,
    window: timedelta = timedelta(hours=48),
    limit: int = 20,
    actor: wf.Actor | None = None,
) -> list[Duplicate]:
    """Incidents that look like duplicates of ``public_id``: same minor category, within
    ``radius_m`` metres and ``window`` of its report time, not closed/rejected/merged; nearest
    first.  With ``actor``, only those the actor may see (a resident: their own reports; a grid
    worker: their grids)."""
    if not radius_m > 0 or window.total_seconds() <= 0:
        raise GeogridError("radius_m and window must be positive")
    params: dict[str, Any] = {
        "public_id": public_id,
        "radius_m": float(radius_m),
        # A degree of longitude is >= 50 km up to 63°N (all of China): a safe pre-filter box.
        "radius_deg": float(radius_m) / 50_000.0,
        "window_s": window.total_seconds(),
        "limit": int(limit),
    }
    visible = visibility_sql(actor, params, alias="o") if actor is not None else ""
    with engine.connect() as conn:
        read_row(conn, public_id, utcnow())  # 404 for an unknown id rather than an empty list
        rows = conn.execute(sa.text(load_sql("incident_duplicates").format(visible=visible)), params).all()
    return [Duplicate(*r) for r in rows]
