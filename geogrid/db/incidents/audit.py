"""The audit trail of reads of reporters' names and contacts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geogrid import incidents as wf


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
