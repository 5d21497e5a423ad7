"""Core schema: divisions, plans, grids, addresses, streets.

Revision ID: 0001_core
Revises:
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

DIVISION = "^[0-9]{12}$"
GRID = "^[0-9]{15}([0-9]{2})?$"


def _geom(kind: str) -> Geometry:
    return Geometry(kind, srid=4326, spatial_index=False)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    op.create_table(
        "divisions",
        sa.Column("code", sa.String(12), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("parent_code", sa.String(12)),
        sa.Column("kind", sa.Text),
        sa.Column("boundary", _geom("MULTIPOLYGON"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(f"code ~ '{DIVISION}'", name="ck_divisions_code"),
        sa.CheckConstraint("level IN ('county', 'township', 'village')", name="ck_divisions_level"),
        sa.CheckConstraint("kind IS NULL OR kind IN ('urban', 'rural')", name="ck_divisions_kind"),
        # Nesting follows from the code: a village's parent is its township (first 9 digits),
        # a township's parent its county (first 6 digits).
        sa.CheckConstraint(
            "parent_code IS NULL"
            " OR (level = 'village' AND parent_code = left(code, 9) || '000')"
            " OR (level = 'township' AND parent_code = left(code, 6) || '000000')",
            name="ck_divisions_parent_prefix",
        ),
        sa.CheckConstraint(
            "ST_IsValid(boundary) AND NOT ST_IsEmpty(boundary)", name="ck_divisions_boundary_valid"
        ),
    )
    op.create_index("ix_divisions_boundary", "divisions", ["boundary"], postgresql_using="gist")
    op.create_index("ix_divisions_parent", "divisions", ["parent_code"])

    op.create_table(
        "plans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scope_code", sa.String(12), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="draft"),
        sa.Column("author", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(f"scope_code ~ '{DIVISION}'", name="ck_plans_scope_code"),
        sa.CheckConstraint("status IN ('draft', 'published', 'retired')", name="ck_plans_status"),
        sa.UniqueConstraint("scope_code", "version", name="uq_plans_scope_version"),
    )
    # At most one published plan per scope.
    op.create_index(
        "uq_plans_one_published",
        "plans",
        ["scope_code"],
        unique=True,
        postgresql_where=sa.text("status = 'published'"),
    )

    op.create_table(
        "grids",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("plans.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code", sa.String(17), nullable=False),
        sa.Column("division_code", sa.String(12), sa.ForeignKey("divisions.code"), nullable=False),
        sa.Column("level", sa.SmallInteger, nullable=False, server_default="3"),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("geom", _geom("POLYGON"), nullable=False),
        sa.Column("households", sa.Integer, nullable=False, server_default="0"),
        sa.Column("address_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("head_name", sa.Text),
        sa.Column("head_phone", sa.Text),
        sa.Column("workers", JSONB, nullable=False, server_default="[]"),
        sa.Column("properties", JSONB, nullable=False, server_default="{}"),
        sa.CheckConstraint(f"code ~ '{GRID}'", name="ck_grids_code"),
        sa.CheckConstraint("left(code, 12) = division_code", name="ck_grids_code_in_division"),
        sa.CheckConstraint("level BETWEEN 1 AND 3", name="ck_grids_level"),
        sa.CheckConstraint("kind IN ('urban', 'rural', 'dedicated')", name="ck_grids_kind"),
        sa.CheckConstraint("households >= 0 AND address_count >= 0", name="ck_grids_counts"),
        sa.UniqueConstraint("plan_id", "code", name="uq_grids_plan_code"),
    )
    op.create_index("ix_grids_geom", "grids", ["geom"], postgresql_using="gist")
    op.create_index("ix_grids_plan", "grids", ["plan_id"])
    op.create_index("ix_grids_code", "grids", ["code"])
    op.create_index("ix_grids_division", "grids", ["division_code"])

    op.create_table(
        "addresses",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("source_id", sa.Text, unique=True),
        *(
            sa.Column(name, sa.Text)
            for name in (
                "province",
                "city",
                "county",
                "township",
                "village",
                "street",
                "house_number",
                "compound",
                "building",
                "unit",
                "room",
            )
        ),
        sa.Column("full_text", sa.Text, nullable=False),
        sa.Column("households", sa.Integer, nullable=False, server_default="1"),
        sa.Column("division_code", sa.String(12)),
        sa.Column("grid_code", sa.String(17)),
        sa.Column("geom", _geom("POINT"), nullable=False),
        sa.CheckConstraint("households >= 0", name="ck_addresses_households"),
        sa.CheckConstraint(
            f"division_code IS NULL OR division_code ~ '{DIVISION}'", name="ck_addresses_division"
        ),
        sa.CheckConstraint(f"grid_code IS NULL OR grid_code ~ '{GRID}'", name="ck_addresses_grid"),
    )
    op.create_index("ix_addresses_geom", "addresses", ["geom"], postgresql_using="gist")
    op.create_index(
        "ix_addresses_full_text_trgm",
        "addresses",
        ["full_text"],
        postgresql_using="gin",
        postgresql_ops={"full_text": "gin_trgm_ops"},
    )
    op.create_index("ix_addresses_grid", "addresses", ["grid_code"])
    op.create_index("ix_addresses_division", "addresses", ["division_code"])

    op.create_table(
        "streets",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("street_class", sa.Text, nullable=False),
        sa.Column("division_code", sa.String(12)),
        sa.Column("geom", _geom("LINESTRING"), nullable=False),
        sa.CheckConstraint("street_class IN ('arterial', 'street', 'lane', 'path')", name="ck_streets_class"),
    )
    op.create_index("ix_streets_geom", "streets", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    for table in ("streets", "addresses", "grids", "plans", "divisions"):
        op.drop_table(table)
