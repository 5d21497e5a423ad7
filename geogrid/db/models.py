"""The PostGIS data model (SQLAlchemy 2 + GeoAlchemy2).

The schema itself is created by the Alembic migrations in ``geogrid/db/migrations``;
these classes describe it for queries.  Geometries are EPSG:4326 (lon/lat).
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326

DIVISION_CODE_RE = "^[0-9]{12}$"
GRID_CODE_RE = "^[0-9]{15}([0-9]{2})?$"
PLAN_STATUSES = ("draft", "published", "retired")
ROLES = ("viewer", "planner", "admin", "dispatcher", "worker", "department", "resident")


class Base(DeclarativeBase):
    """The declarative base of geogrid's tables (the migrations create them)."""


class Division(Base):
    """A township/street (乡镇/街道) or village/community (村/社区); county rows are allowed as scope."""

    __tablename__ = "divisions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(Text)
    parent_code: Mapped[str | None] = mapped_column(String(12))
    kind: Mapped[str | None] = mapped_column(Text)
    boundary = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(f"code ~ '{DIVISION_CODE_RE}'", name="ck_divisions_code"),
        CheckConstraint("level IN ('county', 'township', 'village')", name="ck_divisions_level"),
        CheckConstraint("kind IS NULL OR kind IN ('urban', 'rural')", name="ck_divisions_kind"),
    )


class Plan(Base):
    """A versioned set of grids for a division scope: draft → published → retired."""

    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope_code: Mapped[str] = mapped_column(String(12))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(Text, default="draft")
    author: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Grid(Base):
    """One grid (网格) of a plan."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(17))
    division_code: Mapped[str] = mapped_column(ForeignKey("divisions.code"))
    level: Mapped[int] = mapped_column(SmallInteger, default=3)
    kind: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("POLYGON", srid=SRID, spatial_index=False), nullable=False)
    households: Mapped[int] = mapped_column(Integer, default=0)
    address_count: Mapped[int] = mapped_column(Integer, default=0)
    head_name: Mapped[str | None] = mapped_column(Text)
    head_phone: Mapped[str | None] = mapped_column(Text)
    workers: Mapped[list] = mapped_column(JSONB, default=list)
    properties: Mapped[dict] = mapped_column(JSONB, default=dict)


class Address(Base):
    """A standard address (标准地址): components, full text, point and household count."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source_id: Mapped[str | None] = mapped_column(Text, unique=True)
    province: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    county: Mapped[str | None] = mapped_column(Text)
    township: Mapped[str | None] = mapped_column(Text)
    village: Mapped[str | None] = mapped_column(Text)
    street: Mapped[str | None] = mapped_column(Text)
    house_number: Mapped[str | None] = mapped_column(Text)
    compound: Mapped[str | None] = mapped_column(Text)
    building: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(Text)
    room: Mapped[str | None] = mapped_column(Text)
    full_text: Mapped[str] = mapped_column(Text)
    households: Mapped[int] = mapped_column(Integer, default=1)
    division_code: Mapped[str | None] = mapped_column(String(12))
    grid_code: Mapped[str | None] = mapped_column(String(17))
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False), nullable=False)


class Street(Base):
    """A street or alley line used as a grid boundary (巷道定界)."""

    __tablename__ = "streets"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    street_class: Mapped[str] = mapped_column(Text)
    division_code: Mapped[str | None] = mapped_column(String(12))
    geom = mapped_column(Geometry("LINESTRING", srid=SRID, spatial_index=False), nullable=False)


class ApiKey(Base):
    """An API key (stored as a SHA-256 hash) with a role and an optional scope."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(Text)
    scope: Mapped[dict] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Written at most once a minute per key and API process (geogrid.db.keys.KeyCache).
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
