"""Reporting an incident: placing the point in its grid, matching address text, storing it once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid import heat
from geogrid import incidents as wf
from geogrid.coords import check_lnglat
from geogrid.db import load_sql
from geogrid.db.incidents.records import (
    Created,
    IdempotencyConflictError,
    NewIncident,
    NewPhoto,
    read_row,
    utcnow,
    write_history,
)
from geogrid.db.layers import incident_route
from geogrid.db.organisation import centre_codes
from geogrid.errors import ConflictError, GeogridError, NotFoundError
from geogrid.followup import check_ticket
from geogrid.organisation import centres_above, division_level, queue_centre

# --- placing a point ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Grid, village and township of a location (None where no published grid/division covers it)."""

    grid_code: str | None
    village_code: str | None
    township_code: str | None


def place(conn: Connection, lon: float, lat: float) -> Placement:
    """Grid (of a published plan), village and township containing a WGS-84 point.

    Outside every published grid the village comes from the ``divisions`` table, so an
    incident just outside the drawn grids still reaches its village.
    """
    point = {"lon": float(lon), "lat": float(lat)}
    row = conn.execute(
        sa.text(
            "SELECT g.code, g.division_code FROM grids g "
            "JOIN plans p ON p.id = g.plan_id AND p.status = 'published' "
            "WHERE ST_Intersects(g.geom, ST_SetSRID(ST_Point(:lon, :lat), 4326)) "
            "ORDER BY length(g.code) DESC, g.code LIMIT 1"  # the finest grid: a sub-grid beats its parent
        ),
        point,
    ).first()
    if row is not None:
        grid_code, village = row
    else:
        grid_code = None
        village = conn.execute(
            sa.text(
                "SELECT code FROM divisions WHERE level = 'village' "
                "AND ST_Intersects(boundary, ST_SetSRID(ST_Point(:lon, :lat), 4326)) ORDER BY code LIMIT 1"
            ),
            point,
        ).scalar()
    township = village[:9] + "000" if village else None
    return Placement(grid_code, village, township)


@dataclass(frozen=True)
class AddressMatch:
    """The standard address that best matches a text, with its trigram similarity (0..1)."""

    full_text: str
    lon: float
    lat: float
    similarity: float


def resolve_address(conn: Connection, text: str, *, min_similarity: float | None = None) -> AddressMatch:
    """The standard address meant by ``text``, matched as ``GET /lookup?address=`` matches it.

    Raises :class:`NotFoundError` when nothing resembles the text and :class:`GeogridError`
    naming the candidates when the match is ambiguous: an incident must not be filed in a
    guessed grid.
    """
    from geogrid.db.lookup import MIN_SCORE, match_addresses

    if not (text or "").strip():
        raise GeogridError("address text is empty")
    raw = conn.connection.driver_connection
    assert raw is not None  # a checked-out connection always holds its DBAPI connection
    with raw.cursor() as cursor:
        answer = match_addresses(cursor, [text], limit=5, min_score=min_similarity or MIN_SCORE)[0]
    best = answer.best
    if best is None:
        raise NotFoundError(f"no standard address resembles {text!r}; give lon/lat instead")
    if answer.ambiguous:
        candidates = "; ".join(f"{m.full_text}（{m.division_label}）" for m in answer.matches[:10])
        raise GeogridError(
            f"address {text!r} is ambiguous ({answer.reason}): {candidates}; give lon/lat or more detail"
        )
    return AddressMatch(best.full_text, best.lon, best.lat, best.score)


# --- creating ---------------------------------------------------------------------------------------------


def fingerprint(new: NewIncident, photos: Sequence[NewPhoto] = ()) -> str:
    """SHA-256 of a report's content (and photos): retries must repeat it exactly."""
    body = asdict(new)
    body["photos"] = [hashlib.sha256(p.data).hexdigest() for p in photos]
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def create(
    engine: Engine,
    new: NewIncident,
    *,
    catalogue: wf.Catalogue,
    idempotency_key: str | None = None,
    photos: Sequence[NewPhoto] = (),
    photo_dir: str | Path | None = None,
    now: datetime | None = None,
) -> Created:
    """Store a new incident, place it in its grid/village/township and index its H3 cell.

    Parameters
    ----------
    engine : Engine
    new : NewIncident
    catalogue : geogrid.incidents.Catalogue
        Gives the major category, the due dates and (later) the default department.
    idempotency_key : str, optional
        The same key never creates two incidents: a repeat with the same content returns the
        original (``created=False``); with different content it raises
        :class:`IdempotencyConflictError`.
    photos : sequence of NewPhoto
        Written as files under ``photo_dir/<public id>/`` in the same transaction as their rows.
    now : datetime, optional
        Creation time (timezone-aware); default: the current time.

    Returns
    -------
    Created
    """
    now = now or utcnow()
    category = catalogue.get(new.category)
    if new.source not in wf.SOURCES:
        raise GeogridError(f"source must be one of {list(wf.SOURCES)}, got {new.source!r}")
    check_lnglat(new.lon, new.lat)
    if photos and photo_dir is None:
        raise GeogridError("photos given but no photo_dir to store them in")
    ticket = check_ticket(new.hotline_ticket, new.source)
    digest = fingerprint(new, photos) if idempotency_key else None
    with engine.begin() as conn:
        params = _row(conn, new, category, catalogue.deadlines(category.code, now), now)
        new_id = conn.execute(
            sa.text(load_sql("incident_insert")), {**params, "ikey": idempotency_key, "ihash": digest}
        ).scalar()
        if new_id is None:
            return _replayed(conn, idempotency_key, digest, now)
        write_history(
            conn,
            new_id,
            None,
            "reported",
            "report",
            new.reporter_key_name or "anonymous",
            new.reporter_role,
            now,
            None,
            # The category's department's grid and unit for this base grid (多网合一), if it has a layer.
            {"source": new.source, **incident_route(conn, category.department, params["grid"])},
        )
        public_id = conn.execute(
            # created_at too: the planner then reads only this month's partition.
            sa.text("SELECT public_id FROM incidents WHERE id = :i AND created_at = :now"),
            {"i": new_id, "now": now},
        ).scalar_one()
        if ticket is not None:
            _store_ticket(conn, new_id, ticket)
        if photos:
            assert photo_dir is not None  # photos without a photo_dir were refused above
            _store_photos(conn, new_id, public_id, photos, Path(photo_dir))
        return Created(read_row(conn, public_id, now), created=True)


def _store_ticket(conn: Connection, incident_id: int, ticket: str) -> None:
    """The 12345 ticket number of a hotline report (one incident per ticket), waiting for its callback."""
    stored = conn.execute(
        sa.text(
            "INSERT INTO hotline_tickets (incident_id, ticket_no) VALUES (:i, :t) "
            "ON CONFLICT (ticket_no) DO NOTHING RETURNING incident_id"
        ),
        {"i": incident_id, "t": ticket},
    ).scalar()
    if stored is None:
        raise ConflictError(
            f"工单号 {ticket} 已登记 / hotline ticket {ticket} is already registered to another incident"
        )


def _row(conn: Connection, new: NewIncident, category: wf.Category, due: wf.Deadlines, now: datetime) -> dict:
    """The columns of a new incident: placed in its grid, queued at the lowest centre above it
    (at that centre's level; at the grid level where no centre is set up)."""
    where = place(conn, new.lon, new.lat)
    centre = queue_centre(
        centre_codes(conn, centres_above(where.village_code, where.township_code)),
        village_code=where.village_code,
        township_code=where.township_code,
    )
    return {
        "major": category.major_code,
        "minor": category.code,
        "description": new.description or "",
        "source": new.source,
        "lon": new.lon,
        "lat": new.lat,
        "address": new.address_text,
        "cell": int(heat.cells_for_points([new.lon], [new.lat], res=heat.STORED_RES)[0]),
        "grid": where.grid_code,
        "village": where.village_code,
        "township": where.township_code,
        "centre": centre,
        "level": division_level(centre) if centre else "grid",
        "rname": new.reporter_name,
        "rcontact": new.reporter_contact,
        "rkey": new.reporter_key_name,
        "adue": due.accept_due,
        "cdue": due.complete_due,
        "now": now,
    }


def _replayed(conn: Connection, idempotency_key: str | None, digest: str | None, now: datetime) -> Created:
    """The incident an earlier request with this idempotency key created (same content only)."""
    row = conn.execute(
        sa.text(
            "SELECT i.public_id, k.hash AS idempotency_hash FROM incident_keys k "
            "JOIN incidents i ON i.id = k.incident_id WHERE k.key = :k"
        ),
        {"k": idempotency_key},
    ).one()
    if row.idempotency_hash != digest:
        raise IdempotencyConflictError(
            f"Idempotency-Key {idempotency_key!r} was already used for a different report "
            f"({row.public_id}); use a new key for a new report"
        )
    return Created(read_row(conn, row.public_id, now), created=False)


def _store_photos(
    conn: Connection, incident_id: int, public_id: str, photos: Sequence[NewPhoto], root: Path
) -> None:
    folder = root / public_id
    folder.mkdir(parents=True, exist_ok=True)
    for n, photo in enumerate(photos, start=1):
        if photo.content_type not in _EXTENSIONS:
            raise GeogridError(f"photo {n}: type {photo.content_type!r} not allowed; use {list(_EXTENSIONS)}")
        rel = f"{public_id}/{n}.{_EXTENSIONS[photo.content_type]}"
        (root / rel).write_bytes(photo.data)
        conn.execute(
            sa.text(
                "INSERT INTO incident_photos (incident_id, path, content_type, size) VALUES (:i, :p, :t, :s)"
            ),
            {"i": incident_id, "p": rel, "t": photo.content_type, "s": len(photo.data)},
        )
