"""Incidents in PostGIS: report, transition under a row lock, merge, overdue, statistics, heatmaps.

The workflow rules live in :mod:`geogrid.incidents` (pure); this module applies them inside
one transaction per change, so an incident's row and its history row are written together or
not at all, and two people acting on the same incident at once are serialised by
``SELECT ... FOR UPDATE`` (the second sees the first one's result and gets a 409 if its action
is no longer legal).

Every function takes the engine (or a connection) explicitly and a ``now`` for the clock, so
tests and back-fills control time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid import heat
from geogrid import incidents as wf
from geogrid.coords import BBox, check_bbox, check_lnglat
from geogrid.db import load_sql
from geogrid.db.layers import incident_route
from geogrid.errors import ConflictError, GeogridError, NotFoundError
from geogrid.times import DEFAULT_TIMEZONE, local_iso

#: Tokens that let statistics group by a column (API name → SQL expression).
_STAT_KEYS = {
    "none": "'all'",
    "grid": "i.grid_code",
    "village": "i.village_code",
    "township": "i.township_code",
    "department": "i.department",
    "worker": "i.assignee",
    "category": "i.category_major",
    "minor": "i.category_minor",
    "source": "i.source",
}
# Periods are calendar periods in the county's local time (China has one time zone).
_STAT_PERIODS = {
    "none": "'all'",
    "month": "to_char(i.created_at AT TIME ZONE :tz, 'YYYY-MM')",
    "quarter": "to_char(i.created_at AT TIME ZONE :tz, 'YYYY-\"Q\"Q')",
    "year": "to_char(i.created_at AT TIME ZONE :tz, 'YYYY')",
}
STAT_GROUPS = tuple(_STAT_KEYS)
STAT_PERIODS = tuple(_STAT_PERIODS)
LOCAL_TZ = DEFAULT_TIMEZONE

_COLUMNS = """
    i.id, i.public_id, i.category_major, i.category_minor, i.description, i.source, i.status, i.level,
    ST_X(i.location) AS lon, ST_Y(i.location) AS lat, i.address_text, i.h3_cell, i.grid_code,
    i.village_code, i.township_code, i.department, i.assignee, i.reporter_name, i.reporter_contact,
    i.reporter_key_name, i.accept_due, i.complete_due, i.accepted_at, i.resolved_at, i.closed_at,
    i.created_at, i.updated_at, (SELECT m.public_id FROM incidents m WHERE m.id = i.merged_into) AS merged_into
"""


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- records ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    """One row of an incident's append-only history."""

    from_status: str | None
    to_status: str
    action: str
    actor_name: str
    actor_role: str
    at: datetime
    note: str | None
    details: dict


@dataclass(frozen=True)
class Photo:
    id: int
    path: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Incident:
    """An incident as stored, with its overdue flags at the time it was read."""

    id: int
    public_id: str
    category_major: str
    category_minor: str
    description: str
    source: str
    status: str
    level: str
    lon: float
    lat: float
    address_text: str | None
    h3_cell: int
    grid_code: str | None
    village_code: str | None
    township_code: str | None
    department: str | None
    assignee: str | None
    reporter_name: str | None
    reporter_contact: str | None
    reporter_key_name: str | None
    accept_due: datetime
    complete_due: datetime
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    merged_into: str | None
    overdue: wf.Overdue = field(default_factory=lambda: wf.Overdue(False, False))

    def as_json(self, *, contact: bool = False, tz: str = DEFAULT_TIMEZONE) -> dict[str, Any]:
        """A JSON-ready dict, times in zone ``tz``; the reporter's name and contact only with
        ``contact=True``."""

        def _iso(t: datetime | None) -> str | None:
            return local_iso(t, tz)

        out: dict[str, Any] = {
            "id": self.public_id,
            "category": {"major": self.category_major, "minor": self.category_minor},
            "description": self.description,
            "source": self.source,
            "status": self.status,
            "level": self.level,
            "location": {"lon": self.lon, "lat": self.lat},
            "address": self.address_text,
            "h3_cell": heat.cell_to_str([self.h3_cell])[0],
            "grid_code": self.grid_code,
            "village_code": self.village_code,
            "township_code": self.township_code,
            "department": self.department,
            "assignee": self.assignee,
            "accept_due": _iso(self.accept_due),
            "complete_due": _iso(self.complete_due),
            "accepted_at": _iso(self.accepted_at),
            "resolved_at": _iso(self.resolved_at),
            "closed_at": _iso(self.closed_at),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "merged_into": self.merged_into,
            "overdue": {"accept": self.overdue.accept, "complete": self.overdue.complete},
        }
        if contact:
            out["reporter"] = {"name": self.reporter_name, "contact": self.reporter_contact}
        return out


def _incident(row: Any, now: datetime) -> Incident:
    m = dict(row._mapping)
    m["overdue"] = wf.overdue_flags(
        m["status"], accept_due=m["accept_due"], complete_due=m["complete_due"], now=now
    )
    return Incident(**m)


@dataclass(frozen=True)
class NewIncident:
    """What a report carries.  ``lon``/``lat`` are WGS-84 (convert GCJ-02/BD-09 first)."""

    category: str
    lon: float
    lat: float
    source: str
    description: str = ""
    address_text: str | None = None
    reporter_name: str | None = None
    reporter_contact: str | None = None
    reporter_key_name: str | None = None
    reporter_role: str = "anonymous"


@dataclass(frozen=True)
class NewPhoto:
    """A photo to store with a report (already checked for type and size by the caller)."""

    data: bytes
    content_type: str


@dataclass(frozen=True)
class Created:
    """Result of :func:`create`: the incident and whether this call created it (False: a retry)."""

    incident: Incident
    created: bool


class IdempotencyConflictError(ConflictError):
    """An ``Idempotency-Key`` was reused with a different request."""


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


def resolve_address(conn: Connection, text: str, *, min_similarity: float = 0.3) -> AddressMatch:
    """The standard address meant by ``text``, matched as ``GET /lookup?address=`` matches it.

    Raises :class:`NotFoundError` when nothing resembles the text and :class:`GeogridError`
    naming the candidates when the match is ambiguous: an incident must not be filed in a
    guessed grid.
    """
    from geogrid.db.lookup import AMBIGUITY_MARGIN, judge_matches, match_addresses, normalise_address

    normalised = normalise_address(text or "")
    if not normalised:
        raise GeogridError("address text is empty")
    raw = conn.connection.driver_connection
    assert raw is not None  # a checked-out connection always holds its DBAPI connection
    with raw.cursor() as cursor:
        matches = match_addresses(cursor, [normalised], limit=5, min_score=min_similarity)[0]
    answer = judge_matches(text, normalised, matches, AMBIGUITY_MARGIN)
    best = answer.best
    if best is None:
        raise NotFoundError(f"no standard address resembles {text!r}; give lon/lat instead")
    if answer.ambiguous:
        candidates = "; ".join(m.full_text for m in answer.matches[:5])
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
    now = now or _utcnow()
    category = catalogue.get(new.category)
    if new.source not in wf.SOURCES:
        raise GeogridError(f"source must be one of {list(wf.SOURCES)}, got {new.source!r}")
    check_lnglat(new.lon, new.lat)
    if photos and photo_dir is None:
        raise GeogridError("photos given but no photo_dir to store them in")
    due = catalogue.deadlines(category.code, now)
    cell = int(heat.cells_for_points([new.lon], [new.lat], res=heat.STORED_RES)[0])
    digest = fingerprint(new, photos) if idempotency_key else None
    with engine.begin() as conn:
        where = place(conn, new.lon, new.lat)
        # Issue 15: the category's department's grid and unit for this base grid, if it has a layer.
        route = incident_route(conn, category.department, where.grid_code)
        params = {
            "major": category.major_code,
            "minor": category.code,
            "description": new.description or "",
            "source": new.source,
            "lon": new.lon,
            "lat": new.lat,
            "address": new.address_text,
            "cell": cell,
            "grid": where.grid_code,
            "village": where.village_code,
            "township": where.township_code,
            "rname": new.reporter_name,
            "rcontact": new.reporter_contact,
            "rkey": new.reporter_key_name,
            "ikey": idempotency_key,
            "ihash": digest,
            "adue": due.accept_due,
            "cdue": due.complete_due,
            "now": now,
        }
        # ON CONFLICT makes a concurrent retry with the same key wait for the first insert and
        # then do nothing, instead of failing or inserting twice.
        new_id = conn.execute(
            sa.text(
                "INSERT INTO incidents (category_major, category_minor, description, source, location, "
                "address_text, h3_cell, grid_code, village_code, township_code, reporter_name, reporter_contact, "
                "reporter_key_name, idempotency_key, idempotency_hash, accept_due, complete_due, created_at, updated_at) "
                "VALUES (:major, :minor, :description, :source, ST_SetSRID(ST_Point(:lon, :lat), 4326), :address, "
                ":cell, :grid, :village, :township, :rname, :rcontact, :rkey, :ikey, :ihash, :adue, :cdue, :now, :now) "
                "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
            ),
            params,
        ).scalar()
        if new_id is None:
            row = conn.execute(
                sa.text("SELECT public_id, idempotency_hash FROM incidents WHERE idempotency_key = :k"),
                {"k": idempotency_key},
            ).one()
            if row.idempotency_hash != digest:
                raise IdempotencyConflictError(
                    f"Idempotency-Key {idempotency_key!r} was already used for a different report "
                    f"({row.public_id}); use a new key for a new report"
                )
            return Created(_get(conn, row.public_id, now), created=False)
        _history(
            conn,
            new_id,
            None,
            "reported",
            "report",
            new.reporter_key_name or "anonymous",
            new.reporter_role,
            now,
            None,
            {"source": new.source, **route},
        )
        public_id = conn.execute(
            sa.text("SELECT public_id FROM incidents WHERE id = :i"), {"i": new_id}
        ).scalar_one()
        if photos:
            assert photo_dir is not None  # photos without a photo_dir were refused above
            _store_photos(conn, new_id, public_id, photos, Path(photo_dir))
        return Created(_get(conn, public_id, now), created=True)


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


def _history(
    conn: Connection,
    incident_id: int,
    from_status: str | None,
    to_status: str,
    action: str,
    actor_name: str,
    actor_role: str,
    at: datetime,
    note: str | None,
    details: dict,
) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO incident_history (incident_id, from_status, to_status, action, actor_name, actor_role, "
            "at, note, details) VALUES (:i, :f, :t, :a, :n, :r, :at, :note, CAST(:d AS jsonb))"
        ),
        {
            "i": incident_id,
            "f": from_status,
            "t": to_status,
            "a": action,
            "n": actor_name,
            "r": actor_role,
            "at": at,
            "note": note,
            "d": json.dumps(details, ensure_ascii=False, default=str),
        },
    )


def _iso_utc(times: pd.Series) -> np.ndarray:
    """ISO 8601 UTC text of timezone-aware times, for COPY.

    Vectorised: ``Timestamp.isoformat`` row by row took ~4 s per million times, a quarter of a
    1M-incident import.  The times keep their own precision; PostgreSQL rounds to microseconds.
    """
    naive = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    return np.char.add(np.datetime_as_string(naive), "+00:00")


def import_incidents(
    engine: Engine, frame: pd.DataFrame, *, catalogue: wf.Catalogue, actor_name: str = "import"
) -> int:
    """Bulk-load reported incidents (e.g. a year of 12345 hotline cases) with ``COPY``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns ``lon``, ``lat`` (WGS-84), ``category`` (minor code), ``created_at``
        (timezone-aware), optional ``source`` (default ``hotline``) and ``description``.
    catalogue : geogrid.incidents.Catalogue

    Returns
    -------
    int
        Rows loaded.  All or nothing: a bad row raises before anything is written (unknown
        category, bad coordinates) or rolls the whole load back.

    Notes
    -----
    Grid, village and township are assigned afterwards by one spatial join against the
    published grids; each incident gets its ``report`` history row.  ~1M rows in well under
    a minute on 2 cores (see docs/BENCHMARKS.md).
    """
    import csv
    import io

    n = len(frame)
    if n == 0:
        return 0
    for col in ("lon", "lat", "category", "created_at"):
        if col not in frame.columns:
            raise GeogridError(f"incident frame needs a {col!r} column (has {list(frame.columns)})")
    lon = frame["lon"].to_numpy(dtype=float)
    lat = frame["lat"].to_numpy(dtype=float)
    cells = heat.cells_for_points(lon, lat, res=heat.STORED_RES)  # also validates the coordinates
    cats = frame["category"].astype(str)
    unknown = sorted(set(cats) - set(catalogue.categories))
    if unknown:
        first = int(np.flatnonzero(cats.to_numpy() == unknown[0])[0])
        raise wf.CategoryError(
            f"row {first + 1}: unknown category {unknown[0]!r} ({len(unknown)} unknown codes)"
        )
    created = pd.to_datetime(frame["created_at"])
    if created.dt.tz is None:
        raise GeogridError("created_at must be timezone-aware")
    accept_h = cats.map({c.code: c.accept_hours for c in catalogue}).to_numpy()
    complete_h = cats.map({c.code: c.complete_hours for c in catalogue}).to_numpy()
    major = cats.map({c.code: c.major_code for c in catalogue})
    source = frame["source"].astype(str) if "source" in frame.columns else pd.Series(["hotline"] * n)
    bad = ~source.isin(wf.SOURCES)
    if bad.any():
        raise GeogridError(
            f"row {int(np.flatnonzero(bad.to_numpy())[0]) + 1}: source must be one of {list(wf.SOURCES)}"
        )
    description = (
        frame["description"].fillna("").astype(str) if "description" in frame.columns else pd.Series([""] * n)
    )
    out = pd.DataFrame(
        {
            "category_major": major.to_numpy(),
            "category_minor": cats.to_numpy(),
            "description": description.to_numpy(),
            "source": source.to_numpy(),
            "location": [
                f"SRID=4326;POINT({x!r} {y!r})" for x, y in zip(lon.tolist(), lat.tolist(), strict=True)
            ],
            "h3_cell": cells,
            "accept_due": _iso_utc(created + pd.to_timedelta(accept_h, unit="h")),
            "complete_due": _iso_utc(created + pd.to_timedelta(complete_h, unit="h")),
            "created_at": _iso_utc(created),
        }
    )
    out["updated_at"] = out["created_at"]
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, header=False, quoting=csv.QUOTE_MINIMAL)
    buffer.seek(0)
    with engine.begin() as conn:
        first_id = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM incidents")).scalar_one()
        raw = conn.connection.driver_connection
        assert raw is not None  # a checked-out connection always holds its DBAPI connection
        cursor = raw.cursor()
        cols = ", ".join(out.columns)
        cursor.copy_expert(
            f"COPY incidents ({cols}) FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL (description))", buffer
        )
        conn.execute(
            sa.text(
                "UPDATE incidents i SET grid_code = g.code, village_code = g.division_code, "
                "township_code = left(g.division_code, 9) || '000' "
                "FROM grids g JOIN plans p ON p.id = g.plan_id AND p.status = 'published' "
                "WHERE i.id > :first AND ST_Intersects(g.geom, i.location)"
            ),
            {"first": first_id},
        )
        conn.execute(
            sa.text(
                "INSERT INTO incident_history (incident_id, from_status, to_status, action, actor_name, actor_role, at) "
                "SELECT id, NULL, 'reported', 'report', :actor, 'import', created_at FROM incidents WHERE id > :first"
            ),
            {"first": first_id, "actor": actor_name},
        )
    return n


# --- reading -------------------------------------------------------------------------------------------


def _get(conn: Connection, public_id: str, now: datetime, *, lock: bool = False) -> Incident:
    row = conn.execute(
        sa.text(
            f"SELECT {_COLUMNS} FROM incidents i WHERE i.public_id = :p"
            + (" FOR UPDATE OF i" if lock else "")
        ),
        {"p": public_id},
    ).first()
    if row is None:
        raise NotFoundError(f"incident {public_id!r} does not exist")
    return _incident(row, now)


def get(engine: Engine, public_id: str, *, now: datetime | None = None) -> Incident:
    """One incident by its public id (``E00000001``); :class:`NotFoundError` if there is none."""
    with engine.connect() as conn:
        return _get(conn, public_id, now or _utcnow())


def get_many(engine: Engine, public_ids: Sequence[str], *, now: datetime | None = None) -> list[Incident]:
    """The incidents with these public ids, in the order asked, in one query; unknown ids are left out."""
    when = now or _utcnow()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(f"SELECT {_COLUMNS} FROM incidents i WHERE i.public_id = ANY(:ids)"),
            {"ids": list(public_ids)},
        ).all()
    found = {inc.public_id: inc for inc in (_incident(r, when) for r in rows)}
    return [found[p] for p in dict.fromkeys(public_ids) if p in found]


def history(engine: Engine, public_id: str) -> list[HistoryEntry]:
    """The incident's history, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT h.from_status, h.to_status, h.action, h.actor_name, h.actor_role, h.at, h.note, h.details "
                "FROM incident_history h JOIN incidents i ON i.id = h.incident_id WHERE i.public_id = :p ORDER BY h.id"
            ),
            {"p": public_id},
        ).all()
    return [HistoryEntry(*r) for r in rows]


def merged_ids(engine: Engine, public_id: str) -> list[str]:
    """Public ids of the incidents merged into ``public_id``."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT m.public_id FROM incidents m JOIN incidents i ON i.id = m.merged_into "
                    "WHERE i.public_id = :p ORDER BY m.id"
                ),
                {"p": public_id},
            ).scalars()
        )


def photos(engine: Engine, public_id: str) -> list[Photo]:
    """The incident's photos (paths relative to the photo folder)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT ph.id, ph.path, ph.content_type, ph.size FROM incident_photos ph "
                "JOIN incidents i ON i.id = ph.incident_id WHERE i.public_id = :p ORDER BY ph.id"
            ),
            {"p": public_id},
        ).all()
    return [Photo(*r) for r in rows]


@dataclass(frozen=True)
class ContactRead:
    """One read of an incident's reporter name and contact (the audit trail)."""

    reader_name: str
    reader_role: str
    at: datetime
    endpoint: str | None


def record_contact_read(
    engine: Engine, incident_id: int, actor: wf.Actor, *, endpoint: str | None = None
) -> None:
    """Write that ``actor`` was shown the reporter's name and contact of incident ``incident_id``."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO incident_contact_reads (incident_id, reader_name, reader_role, endpoint) "
                "VALUES (:i, :n, :r, :e)"
            ),
            {"i": incident_id, "n": actor.name, "r": actor.role, "e": endpoint},
        )


def contact_reads(engine: Engine, public_id: str) -> list[ContactRead]:
    """Who was shown the reporter's contact of ``public_id``, and when, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT r.reader_name, r.reader_role, r.at, r.endpoint FROM incident_contact_reads r "
                "JOIN incidents i ON i.id = r.incident_id WHERE i.public_id = :p ORDER BY r.id"
            ),
            {"p": public_id},
        ).all()
    return [ContactRead(*r) for r in rows]


@dataclass(frozen=True)
class Filters:
    """Filters shared by listings, statistics and heatmaps (all optional, combined with AND).

    ``division`` is a division or grid code prefix (a township's 9 digits, a village's 12...):
    trailing ``000`` groups of county/township codes are stripped so ``320508019000`` means
    the whole township.
    """

    status: tuple[str, ...] = ()
    category: str | None = None  # major or minor category code(s), comma-separated
    source: str | None = None
    division: str | None = None
    grid_code: str | None = None
    department: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    bbox: BBox | None = None
    #: Only these minor categories, never rejected or merged reports (the public view).
    public_codes: tuple[str, ...] | None = None
    #: Only what this actor may see (:func:`visibility_sql`).
    visible_to: wf.Actor | None = None

    def sql(self, params: dict[str, Any]) -> str:
        """``AND ...`` clauses over alias ``i`` with their parameters added to ``params``."""
        return self._filter_sql(params) + self._audience_sql(params)

    def _audience_sql(self, params: dict[str, Any]) -> str:
        out = public_sql(self.public_codes, params) if self.public_codes is not None else ""
        if self.visible_to is not None:
            out += visibility_sql(self.visible_to, params)
        return out

    def _filter_sql(self, params: dict[str, Any]) -> str:
        parts: list[str] = []
        if self.status:
            bad = [s for s in self.status if s not in wf.STATUSES]
            if bad:
                raise GeogridError(f"status {bad[0]!r} is not one of {list(wf.STATUSES)}")
            parts.append("i.status = ANY(CAST(:f_status AS text[]))")
            params["f_status"] = list(self.status)
        if self.category:
            # One code or a comma-separated list; major and minor codes may be mixed.
            parts.append(
                "(i.category_major = ANY(CAST(:f_cat AS text[])) OR i.category_minor = ANY(CAST(:f_cat AS text[])))"
            )
            params["f_cat"] = [c.strip() for c in self.category.split(",") if c.strip()]
        if self.source:
            parts.append("i.source = :f_source")
            params["f_source"] = self.source
        if self.division:
            prefix = division_prefix(self.division)
            parts.append("(i.grid_code LIKE :f_div OR i.village_code LIKE :f_div)")
            params["f_div"] = prefix + "%"
        if self.grid_code:
            parts.append("i.grid_code = :f_grid")
            params["f_grid"] = self.grid_code
        if self.department:
            parts.append("i.department = :f_dept")
            params["f_dept"] = self.department
        if self.date_from is not None:
            parts.append("i.created_at >= :f_from")
            params["f_from"] = self.date_from
        if self.date_to is not None:
            parts.append("i.created_at < :f_to")
            params["f_to"] = self.date_to
        if self.bbox is not None:
            b = check_bbox(self.bbox)
            # ST_Intersects, not just &&: index boxes are float4, so && alone also admits points
            # a few centimetres outside the box.
            parts.append("ST_Intersects(i.location, ST_MakeEnvelope(:f_w, :f_s, :f_e, :f_n, 4326))")
            params.update(f_w=b.west, f_s=b.south, f_e=b.east, f_n=b.north)
        return "".join(" AND " + p for p in parts)


#: Kept here for callers of the database layer; the rule lives in the pure workflow module.
division_prefix = wf.division_prefix


def visibility_sql(actor: wf.Actor, params: dict[str, Any], *, alias: str = "i") -> str:
    """``AND ...`` restricting ``alias`` to what ``actor`` may see (see :func:`geogrid.incidents.in_scope`):
    the role's part, inside the actor's division if it has one, or what the actor reported."""
    clauses = []
    if actor.role == "worker":
        params["v_grids"] = sorted(actor.grid_codes)
        clauses.append(f"{alias}.grid_code = ANY(CAST(:v_grids AS text[]))")
    elif actor.role == "department":
        params["v_dept"] = actor.department or ""
        clauses.append(f"{alias}.department = :v_dept")
    elif actor.role not in wf.READ_ALL_ROLES:
        clauses.append("FALSE")
    if actor.division is not None:
        params["v_div"] = actor.division + "%"
        clauses.append(f"({alias}.grid_code LIKE :v_div OR {alias}.village_code LIKE :v_div)")
    if not clauses:
        return ""
    params["v_me"] = actor.name
    return f" AND (({' AND '.join(clauses)}) OR {alias}.reporter_key_name = :v_me)"


def public_sql(public_codes: Sequence[str], params: dict[str, Any], *, alias: str = "i") -> str:
    """``AND ...`` restricting ``alias`` to what a public reader may see of other people's
    reports: public categories, not rejected, not merged."""
    params["p_codes"] = list(public_codes)
    return (
        f" AND {alias}.category_minor = ANY(CAST(:p_codes AS text[]))"
        f" AND {alias}.status NOT IN ('rejected', 'merged')"
    )


@dataclass(frozen=True)
class Page:
    """A page of incidents and how many match in all."""

    items: list[Incident]
    total: int


def list_incidents(
    engine: Engine,
    *,
    actor: wf.Actor,
    filters: Filters = Filters(),
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> Page:
    """Incidents ``actor`` may see, newest first."""
    now = now or _utcnow()
    params: dict[str, Any] = {"limit": int(limit), "offset": int(offset)}
    where = filters.sql(params) + visibility_sql(actor, params)
    with engine.connect() as conn:
        total = conn.execute(
            sa.text(f"SELECT count(*) FROM incidents i WHERE TRUE {where}"), params
        ).scalar_one()
        rows = conn.execute(
            sa.text(
                f"SELECT {_COLUMNS} FROM incidents i WHERE TRUE {where} ORDER BY i.created_at DESC, i.id DESC "
                "LIMIT :limit OFFSET :offset"
            ),
            params,
        ).all()
    return Page([_incident(r, now) for r in rows], int(total))


def overdue(
    engine: Engine,
    *,
    now: datetime,
    actor: wf.Actor | None = None,
    filters: Filters = Filters(),
    limit: int = 1000,
) -> list[Incident]:
    """Incidents past a deadline at ``now``: still ``reported`` after ``accept_due``, or open
    after ``complete_due``; the most overdue first."""
    params: dict[str, Any] = {"now": now, "open": sorted(wf.OPEN_STATUSES), "limit": int(limit)}
    where = filters.sql(params) + (visibility_sql(actor, params) if actor is not None else "")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT {_COLUMNS} FROM incidents i "
                "WHERE ((i.status = 'reported' AND i.accept_due < :now) "
                f"   OR (i.status = ANY(CAST(:open AS text[])) AND i.complete_due < :now)) {where} "
                "ORDER BY LEAST(CASE WHEN i.status = 'reported' THEN i.accept_due END, i.complete_due), i.id "
                "LIMIT :limit"
            ),
            params,
        ).all()
    return [_incident(r, now) for r in rows]


# --- changing --------------------------------------------------------------------------------------------


def transition(
    engine: Engine,
    public_id: str,
    action: str,
    *,
    actor: wf.Actor,
    catalogue: wf.Catalogue,
    note: str | None = None,
    department: str | None = None,
    level: str | None = None,
    assignee: str | None = None,
    now: datetime | None = None,
) -> Incident:
    """Perform ``action`` on an incident as ``actor`` and record it in the history.

    Raises
    ------
    NotFoundError
        No such incident.
    geogrid.incidents.ActionForbiddenError
        The actor's role/scope does not allow it (checked under the lock, on current data).
    ConflictError
        The action is not legal from the incident's current status.
    """
    if action == "merge":
        raise GeogridError(
            "merge with geogrid.db.incidents.merge (POST /incidents/{id}/merge), naming the target"
        )
    if action not in wf.TRANSITIONS:
        raise GeogridError(
            f"unknown action {action!r}; actions are {[a for a in wf.ACTIONS if a != 'merge']}"
        )
    now = now or _utcnow()
    with engine.begin() as conn:
        inc = _get(conn, public_id, now, lock=True)
        wf.authorize(
            actor, action, grid_code=inc.grid_code, department=inc.department, village_code=inc.village_code
        )
        cat = catalogue.categories.get(inc.category_minor)
        state = wf.IncidentState(
            inc.status, inc.level, inc.department, inc.assignee, cat.department if cat else None
        )
        change = wf.apply_action(
            state,
            action,
            now=now,
            department=department,
            level=level,
            assignee=assignee or (actor.name if action == "start" else None),
        )
        _update(conn, inc.id, change.updates)
        _history(
            conn,
            inc.id,
            change.from_status,
            change.to_status,
            action,
            actor.name,
            actor.role,
            now,
            note,
            change.details,
        )
        return _get(conn, public_id, now)


_UPDATABLE = frozenset(
    {
        "status",
        "level",
        "department",
        "assignee",
        "accepted_at",
        "resolved_at",
        "closed_at",
        "updated_at",
        "merged_into",
    }
)


def _update(conn: Connection, incident_id: int, updates: dict[str, Any]) -> None:
    cols = [c for c in updates if c in _UPDATABLE]
    sets = ", ".join(f'"{c}" = :u_{c}' for c in cols)
    conn.execute(
        sa.text(f"UPDATE incidents SET {sets} WHERE id = :id"),
        {"id": incident_id, **{f"u_{c}": updates[c] for c in cols}},
    )


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
        _get(conn, public_id, _utcnow())  # 404 for an unknown id rather than an empty list
        rows = conn.execute(sa.text(load_sql("incident_duplicates").format(visible=visible)), params).all()
    return [Duplicate(*r) for r in rows]


def _check_visible(actor: wf.Actor, inc: Incident) -> None:
    if not wf.in_scope(
        actor,
        grid_code=inc.grid_code,
        department=inc.department,
        reporter_key_name=inc.reporter_key_name,
        village_code=inc.village_code,
    ):
        raise wf.ActionForbiddenError(f"{inc.public_id} is outside what {actor.role} {actor.name!r} may see")


def merge(
    engine: Engine,
    public_id: str,
    *,
    into: str,
    actor: wf.Actor,
    note: str | None = None,
    now: datetime | None = None,
) -> Incident:
    """Merge incident ``public_id`` (a duplicate) into ``into``; returns the target.

    The duplicate becomes ``merged`` with ``merged_into`` set; both keep their histories, and
    the target's history records what it absorbed.
    """
    now = now or _utcnow()
    if public_id == into:
        raise ConflictError("an incident cannot be merged into itself")
    with engine.begin() as conn:
        # Lock both rows in id order so two merges of the same pair cannot deadlock.
        ids = (
            conn.execute(
                sa.text("SELECT public_id FROM incidents WHERE public_id IN (:a, :b) ORDER BY id FOR UPDATE"),
                {"a": public_id, "b": into},
            )
            .scalars()
            .all()
        )
        for p in (public_id, into):
            if p not in ids:
                raise NotFoundError(f"incident {p!r} does not exist")
        dup = _get(conn, public_id, now)
        target = _get(conn, into, now)
        wf.authorize(
            actor, "merge", grid_code=dup.grid_code, department=dup.department, village_code=dup.village_code
        )
        _check_visible(actor, target)  # no merging into an incident one may not see
        to_status = wf.next_status(dup.status, "merge")
        if target.status in ("merged", "rejected"):
            raise ConflictError(f"cannot merge into {into}: it is {target.status}")
        _update(conn, dup.id, {"status": to_status, "merged_into": target.id, "updated_at": now})
        _history(
            conn,
            dup.id,
            dup.status,
            to_status,
            "merge",
            actor.name,
            actor.role,
            now,
            note,
            {"merged_into": target.public_id},
        )
        _history(
            conn,
            target.id,
            target.status,
            target.status,
            "absorb",
            actor.name,
            actor.role,
            now,
            note,
            {"merged": dup.public_id},
        )
        conn.execute(
            sa.text("UPDATE incidents SET updated_at = :now WHERE id = :id"), {"now": now, "id": target.id}
        )
        return _get(conn, into, now)


# --- statistics ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatRow:
    """Workflow numbers of one group in one period, with rates and a rank within the period."""

    key: str | None
    period: str
    total: int
    accepted: int
    accepted_on_time: int
    completed: int
    completed_on_time: int
    closed: int
    rejected: int
    accept_overdue: int
    complete_overdue: int
    overdue: int
    acceptance_rate: float | None = None
    completion_rate: float | None = None
    on_time_rate: float | None = None
    rank: int | None = None


RANK_BY = ("on_time_rate", "completion_rate", "acceptance_rate", "total", "overdue")


def statistics(
    engine: Engine,
    *,
    group_by: str = "none",
    period: str = "none",
    filters: Filters = Filters(),
    now: datetime | None = None,
    rank_by: str = "on_time_rate",
    tz: str = LOCAL_TZ,
) -> list[StatRow]:
    """Acceptance, completion and on-time rates and overdue counts per group and period.

    Parameters
    ----------
    group_by : {"none", "grid", "village", "township", "department", "worker", "category", "minor", "source"}
        ``worker`` groups by the incident's assignee; ``category`` by major category.
    period : {"none", "month", "quarter", "year"}
        Calendar periods of the report time in ``tz``.
    filters : Filters
        Which incidents count (merged duplicates never do).
    now : datetime
        The moment overdue counts refer to.
    rank_by : one of :data:`RANK_BY`
        Rank within each period: highest rate or total first; for ``overdue`` fewest first.
        Ties share a rank (competition ranking, "1224").

    Returns
    -------
    list of StatRow
        Ordered by period, then rank.
    """
    if group_by not in _STAT_KEYS:
        raise GeogridError(f"group_by must be one of {list(_STAT_KEYS)}, got {group_by!r}")
    if period not in _STAT_PERIODS:
        raise GeogridError(f"period must be one of {list(_STAT_PERIODS)}, got {period!r}")
    if rank_by not in RANK_BY:
        raise GeogridError(f"rank_by must be one of {list(RANK_BY)}, got {rank_by!r}")
    params: dict[str, Any] = {"now": now or _utcnow(), "open_statuses": sorted(wf.OPEN_STATUSES), "tz": tz}
    where = filters.sql(params)
    sql = load_sql("incident_stats").format(
        key=_STAT_KEYS[group_by], period=_STAT_PERIODS[period], where=where
    )
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql), params).all()
    out = [
        StatRow(
            **r._mapping,
            acceptance_rate=wf.rate(r.accepted, r.total),
            completion_rate=wf.rate(r.completed, r.accepted),
            on_time_rate=wf.rate(r.completed_on_time, r.completed),
        )
        for r in rows
    ]
    return rank_rows(out, by=rank_by)


def rank_rows(rows: Iterable[StatRow], *, by: str) -> list[StatRow]:
    """Rank rows within each period by ``by`` (None sorts last; ``overdue``: fewer is better)."""
    from dataclasses import replace

    def value(r: StatRow) -> float:
        v = getattr(r, by)
        if v is None:
            return float("-inf")
        return -float(v) if by == "overdue" else float(v)

    result: list[StatRow] = []
    by_period: dict[str, list[StatRow]] = {}
    for r in rows:
        by_period.setdefault(r.period, []).append(r)
    for p in sorted(by_period):
        group = sorted(by_period[p], key=lambda r: (-value(r), str(r.key)))
        rank, previous = 0, None
        for n, r in enumerate(group, start=1):
            if value(r) != previous:
                rank, previous = n, value(r)
            result.append(replace(r, rank=rank))
    return result


# --- heatmaps ---------------------------------------------------------------------------------------------


def heat_cells(engine: Engine | Connection, *, res: int, filters: Filters = Filters()) -> pd.DataFrame:
    """Incident counts per H3 cell at ``res``, aggregated in PostGIS from the stored fine cells.

    The parent cell is two bigint bit operations on ``incidents.h3_cell``
    (:func:`geogrid.heat.parent_sql`), so no geometry is touched after the bbox filter.
    A bbox is read as ranges of the stored cell (:func:`geogrid.heat.bbox_cell_ranges`) from
    the covering index ``ix_incidents_heat``; points are still counted exactly when they lie
    in the bbox, edges included.  Merged duplicates are not counted.

    Returns
    -------
    pandas.DataFrame
        ``cell`` (int64, ascending) and ``count`` (int64); ``attrs["res"] = res``.
    """
    from dataclasses import replace

    if not 0 <= int(res) <= heat.STORED_RES:
        raise GeogridError(
            f"res must be in 0..{heat.STORED_RES} (incidents store res-{heat.STORED_RES} cells), got {res}"
        )
    params: dict[str, Any] = {}
    parent = heat.parent_sql("i.h3_cell", int(res))
    bbox = filters.bbox
    ranges = heat.bbox_cell_ranges(bbox) if bbox is not None else None
    if bbox is not None and ranges is not None:
        b = check_bbox(bbox)
        where = replace(filters, bbox=None).sql(params)
        params.update(
            r_lo=ranges.lo.tolist(),
            r_hi=ranges.hi.tolist(),
            r_inside=ranges.inside.tolist(),
            b_w=b.west,
            b_s=b.south,
            b_e=b.east,
            b_n=b.north,
        )
        sql = load_sql("incident_heat_bbox").format(parent=parent, where=where)
    else:
        where = filters.sql(params)
        sql = (
            f"SELECT {parent} AS cell, count(*) AS count "
            f"FROM incidents i WHERE i.status <> 'merged' {where} GROUP BY 1 ORDER BY 1"
        )
    if isinstance(engine, Connection):
        rows = engine.execute(sa.text(sql), params).all()
    else:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(sql), params).all()
    df = pd.DataFrame(
        {
            "cell": np.array([r[0] for r in rows], dtype=np.int64),
            "count": np.array([r[1] for r in rows], dtype=np.int64),
        }
    )
    df.attrs["res"] = int(res)
    return df


def tile_bbox(z: int, x: int, y: int) -> BBox:
    """The lon/lat box of a WebMercatorQuad tile."""
    import math

    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise GeogridError(f"tile {z}/{x}/{y} does not exist (0 <= x, y < 2**z, z <= 24)")
    n = 2.0**z

    def lat(t: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * t / n))))

    return BBox(x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y))


def heat_tile(engine: Engine, z: int, x: int, y: int, *, res: int, filters: Filters = Filters()) -> bytes:
    """A Mapbox Vector Tile (layer ``heat``: ``cell``, ``count``) of the H3 heatmap.

    Counts come from the incidents inside the tile (plus a margin of one cell so hexagons that
    straddle the tile edge are complete); PostGIS clips and encodes the hexagons.
    """
    from dataclasses import replace

    import shapely
    from h3.api import basic_int

    b = tile_bbox(z, x, y)
    # One res-`res` hexagon edge in degrees, roughly, as margin (edge length ~ 1.1 km / 2.65**(res-7)).
    margin = 0.012 / (2.65 ** (int(res) - 7)) * 3
    box = BBox(
        max(-180.0, b.west - margin),
        max(-85.06, b.south - margin),
        min(180.0, b.east + margin),
        min(85.06, b.north + margin),
    )
    df = heat_cells(engine, res=res, filters=replace(filters, bbox=box))
    polys = [
        shapely.Polygon([(lng, lat) for lat, lng in basic_int.cell_to_boundary(int(c))])
        for c in df["cell"].tolist()
    ]
    wkbs = [bytes(w) for w in shapely.to_wkb(polys)] if polys else []
    with engine.connect() as conn:
        tile = conn.execute(
            sa.text(load_sql("incident_heat_mvt")),
            {
                "z": z,
                "x": x,
                "y": y,
                "cells": heat.cell_to_str(df["cell"].to_numpy()) if len(df) else [],
                "counts": df["count"].astype(int).tolist(),
                "wkbs": wkbs,
            },
        ).scalar()
    return bytes(tile or b"")


@dataclass(frozen=True)
class GridRate:
    """Incident numbers of one published grid and its rate per 100 households."""

    code: str
    name: str | None
    division_code: str
    division_name: str | None
    kind: str
    households: int
    head_name: str | None
    incidents: int
    accepted: int
    completed: int
    completed_on_time: int
    overdue: int
    geometry: dict
    per_100_households: float | None = None
    completion_rate: float | None = None
    on_time_rate: float | None = None


def grid_rates(
    engine: Engine,
    *,
    filters: Filters = Filters(),
    division: str | None = None,
    bbox: BBox | None = None,
    now: datetime | None = None,
) -> list[GridRate]:
    """Published grids with their incident counts, incidents per 100 households and KPIs.

    ``filters`` select the incidents (period, category, status); ``division`` and ``bbox``
    select the grids.
    """
    from dataclasses import replace

    params: dict[str, Any] = {"now": now or _utcnow(), "open_statuses": sorted(wf.OPEN_STATUSES)}
    where = replace(filters, division=None, bbox=None).sql(params)
    grid_where = ""
    if division:
        grid_where += " AND g.code LIKE :g_div"
        params["g_div"] = division_prefix(division) + "%"
    if bbox is not None:
        b = check_bbox(bbox)
        grid_where += " AND g.geom && ST_MakeEnvelope(:g_w, :g_s, :g_e, :g_n, 4326)"
        params.update(g_w=b.west, g_s=b.south, g_e=b.east, g_n=b.north)
    sql = load_sql("incident_grid_rates").format(where=where, grid_where=grid_where)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql), params).all()
    out = []
    for r in rows:
        m = dict(r._mapping)
        m["geometry"] = json.loads(m["geometry"])
        out.append(
            GridRate(
                **m,
                per_100_households=round(100.0 * m["incidents"] / m["households"], 3)
                if m["households"]
                else None,
                completion_rate=wf.rate(m["completed"], m["accepted"]),
                on_time_rate=wf.rate(m["completed_on_time"], m["completed"]),
            )
        )
    return out


def grid_rates_geojson(rates: Sequence[GridRate]) -> dict:
    """A GeoJSON FeatureCollection of :func:`grid_rates` (properties: every field but geometry)."""
    features = []
    for g in rates:
        props = {k: v for k, v in asdict(g).items() if k != "geometry"}
        features.append({"type": "Feature", "id": g.code, "properties": props, "geometry": g.geometry})
    return {"type": "FeatureCollection", "features": features}
