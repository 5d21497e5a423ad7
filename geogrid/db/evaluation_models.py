"""ORM description of the evaluation tables (created by migration ``0012_evaluation``).

Queries use SQL directly; these classes document the schema and let a notebook user query the
follow-ups (回访) and 12345 tickets with SQLAlchemy.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from geogrid.db.models import Base


class FollowUp(Base):
    """A follow-up (回访) of one closing of an incident: channel, reached, verdict, note, reopened."""

    __tablename__ = "incident_followups"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("incidents.id"))
    round_closed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str] = mapped_column(Text)
    reached: Mapped[bool] = mapped_column(Boolean)
    verdict: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    by_name: Mapped[str] = mapped_column(Text)
    by_role: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reopened: Mapped[bool] = mapped_column(Boolean, server_default="false")


class HotlineTicket(Base):
    """The 12345 ticket number (工单号) of a hotline incident and its callback status."""

    __tablename__ = "hotline_tickets"

    incident_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("incidents.id"), primary_key=True)
    ticket_no: Mapped[str] = mapped_column(Text, unique=True)
    callback_status: Mapped[str] = mapped_column(Text, server_default="pending")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
