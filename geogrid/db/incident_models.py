"""ORM description of the incident tables (created by migration ``0003_incidents``; partitioned by
month, with the id registry and idempotency keys, by ``0013_incidents_by_month``).

Queries in :mod:`geogrid.db.incidents` use SQL directly; these classes document the schema
and let a notebook user query incidents with SQLAlchemy.
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, Computed, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geogrid.db.models import SRID, Base


class Incident(Base):
    """One incident (事件) and its current workflow state."""

    __tablename__ = "incidents"

    # The key includes created_at, the partition key (migration 0013): ids are unique through
    # the registry ``incident_ids``.
    id: Mapped[int] = mapped_column(ForeignKey("incident_ids.id"), primary_key=True)
    public_id: Mapped[str] = mapped_column(Text, Computed("'E' || lpad(id::text, 8, '0')", persisted=True))
    category_major: Mapped[str] = mapped_column(Text)
    category_minor: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="reported")
    level: Mapped[str] = mapped_column(Text, default="grid")
    location = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=False)
    address_text: Mapped[str | None] = mapped_column(Text)
    h3_cell: Mapped[int] = mapped_column(BigInteger)
    grid_code: Mapped[str | None] = mapped_column(String(17))
    village_code: Mapped[str | None] = mapped_column(String(12))
    township_code: Mapped[str | None] = mapped_column(String(12))
    department: Mapped[str | None] = mapped_column(Text)
    assignee: Mapped[str | None] = mapped_column(Text)
    reporter_name: Mapped[str | None] = mapped_column(Text)
    reporter_contact: Mapped[str | None] = mapped_column(Text)
    reporter_key_name: Mapped[str | None] = mapped_column(Text)
    accept_due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    complete_due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), primary_key=True
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("incident_ids.id"))
    #: The centre (综治中心, its division code) whose queue holds the incident (migration 0010).
    centre_code: Mapped[str | None] = mapped_column(String(12))


class IncidentId(Base):
    """The registry of incident ids (migration 0013): one row per incident, written with it by
    the trigger ``incidents_register``; what foreign keys to an incident reference, since the
    month-partitioned ``incidents`` can only be unique on (id, created_at)."""

    __tablename__ = "incident_ids"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IncidentKey(Base):
    """An idempotency key and the incident its first use created (migration 0013)."""

    __tablename__ = "incident_keys"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    #: SHA-256 of the request that used the key: a retry must carry the same request.
    hash: Mapped[str | None] = mapped_column(String(64))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident_ids.id"))


class IncidentHistory(Base):
    """One transition of an incident; append-only (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "incident_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident_ids.id"))
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    actor_name: Mapped[str] = mapped_column(Text)
    actor_role: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSONB, default=dict)


class IncidentPhoto(Base):
    """A photo attached to an incident, stored as a file under the service's photo folder."""

    __tablename__ = "incident_photos"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident_ids.id"))
    path: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IncidentContactRead(Base):
    """A read of an incident's reporter name and contact by staff (append-only audit)."""

    __tablename__ = "incident_contact_reads"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident_ids.id"))
    reader_name: Mapped[str] = mapped_column(Text)
    reader_role: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    endpoint: Mapped[str | None] = mapped_column(Text)
