"""ORM description of the dispatch tables (created by migration ``0010_dispatch``).

Queries use SQL directly; these classes document the schema and let a notebook user (or an
evaluation, issue 14) query the facts with SQLAlchemy: who holds which post, who was summoned
and reported in on time, which 督办 and flags an incident got, which reminders went out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geogrid.db.models import Base


class Department(Base):
    """A department (职能部门): code, Chinese name, level, home division, divisions served."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    level: Mapped[str] = mapped_column(Text)
    division_code: Mapped[str] = mapped_column(String(12))
    serves: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Centre(Base):
    """A dispatch centre (综治中心) of a county, township or village: code = the division's code."""

    __tablename__ = "centres"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Staff(Base):
    """A person in a role at a post (grid, link group, division, department), with their key."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    post_kind: Mapped[str] = mapped_column(Text)
    post_code: Mapped[str] = mapped_column(Text)
    key_name: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Summons(Base):
    """A 吹哨: a centre summons departments to an incident, with deadlines to report in and act."""

    __tablename__ = "summons"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident_ids.id"))
    centre_code: Mapped[str | None] = mapped_column(String(12))
    called_by: Mapped[str] = mapped_column(Text)
    called_by_role: Mapped[str] = mapped_column(Text)
    called_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    report_due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    act_due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)  # open, completed (all acted), closed (by the centre)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[str | None] = mapped_column(Text)
    close_note: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)


class SummonedDepartment(Base):
    """One department of a summons: when it reported in (报到) and acted, by whom, what it did."""

    __tablename__ = "summon_departments"

    summon_id: Mapped[int] = mapped_column(ForeignKey("summons.id"), primary_key=True)
    department_code: Mapped[str] = mapped_column(Text, primary_key=True)
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_in_by: Mapped[str | None] = mapped_column(Text)
    check_in_note: Mapped[str | None] = mapped_column(Text)
    acted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acted_by: Mapped[str | None] = mapped_column(Text)
    act_note: Mapped[str | None] = mapped_column(Text)


class Supervision(Base):
    """A 督办: who pushed (and from which centre), the note, the deadline, on whom."""

    __tablename__ = "supervisions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident_ids.id"))
    centre_code: Mapped[str | None] = mapped_column(String(12))
    by_name: Mapped[str] = mapped_column(Text)
    by_role: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text)
    due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    target_kind: Mapped[str | None] = mapped_column(Text)
    target_code: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeadlineFlag(Base):
    """A yellow or red flag, recorded once per incident, deadline, subject and colour."""

    __tablename__ = "deadline_flags"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident_ids.id"))
    deadline: Mapped[str] = mapped_column(Text)  # accept, complete, report_in, act, supervise
    subject: Mapped[str] = mapped_column(Text)  # department code, supervision id, or ''
    colour: Mapped[str] = mapped_column(Text)
    due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    """An event of the outbox (unique ``event_key``) and its delivery state."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_key: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[str] = mapped_column(Text)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident_ids.id"))
    recipient_kind: Mapped[str | None] = mapped_column(Text)
    recipient_code: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text)  # pending, sending, delivered, dead
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class NotificationDelivery(Base):
    """One delivery attempt: when, the HTTP status, acknowledged or why not, how long it took."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
