"""Incidents (事件) with an append-only history and photos.

Revision ID: 0003_incidents
Revises: 0002_access
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0003_incidents"
down_revision = "0002_access"
branch_labels = None
depends_on = None

STATUSES = (
    "reported",
    "accepted",
    "rejected",
    "dispatched",
    "in_progress",
    "resolved",
    "verified",
    "closed",
    "returned",
    "escalated",
    "merged",
)
SOURCES = ("patrol", "resident", "hotline")
LEVELS = ("grid", "village", "township", "county")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.BigInteger, primary_key=True),
        # Public ids never reveal how the table is keyed internally, but stay short for the phone.
        sa.Column(
            "public_id",
            sa.Text,
            sa.Computed("'E' || lpad(id::text, 8, '0')", persisted=True),
            nullable=False,
            unique=True,
        ),
        sa.Column("category_major", sa.Text, nullable=False),
        sa.Column("category_minor", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="reported"),
        sa.Column("level", sa.Text, nullable=False, server_default="grid"),
        sa.Column("location", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("address_text", sa.Text),
        sa.Column("h3_cell", sa.BigInteger, nullable=False),
        sa.Column("grid_code", sa.String(17)),
        sa.Column("village_code", sa.String(12)),
        sa.Column("township_code", sa.String(12)),
        sa.Column("department", sa.Text),
        sa.Column("assignee", sa.Text),
        sa.Column("reporter_name", sa.Text),
        sa.Column("reporter_contact", sa.Text),
        sa.Column("reporter_key_name", sa.Text),
        sa.Column("idempotency_key", sa.Text, unique=True),
        # SHA-256 of the request that used the key: a retry must carry the same request.
        sa.Column("idempotency_hash", sa.String(64)),
        sa.Column("accept_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("complete_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("merged_into", sa.BigInteger, sa.ForeignKey("incidents.id")),
        sa.CheckConstraint(_in("status", STATUSES), name="ck_incidents_status"),
        sa.CheckConstraint(_in("source", SOURCES), name="ck_incidents_source"),
        sa.CheckConstraint(_in("level", LEVELS), name="ck_incidents_level"),
        sa.CheckConstraint("(status = 'merged') = (merged_into IS NOT NULL)", name="ck_incidents_merged"),
        sa.CheckConstraint("merged_into IS DISTINCT FROM id", name="ck_incidents_not_self_merged"),
        sa.CheckConstraint("accept_due <= complete_due", name="ck_incidents_due_order"),
        sa.CheckConstraint(
            "grid_code IS NULL OR grid_code ~ '^[0-9]{15}([0-9]{2})?$'", name="ck_incidents_grid"
        ),
    )
    op.create_index("ix_incidents_location", "incidents", ["location"], postgresql_using="gist")
    op.create_index("ix_incidents_h3", "incidents", ["h3_cell"])
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index("ix_incidents_created", "incidents", ["created_at"])
    op.create_index("ix_incidents_grid", "incidents", ["grid_code"])
    op.create_index("ix_incidents_department", "incidents", ["department"])
    op.create_index("ix_incidents_reporter", "incidents", ["reporter_key_name"])
    op.create_index("ix_incidents_merged_into", "incidents", ["merged_into"])

    op.create_table(
        "incident_history",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("incident_id", sa.BigInteger, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("from_status", sa.Text),
        sa.Column("to_status", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("actor_name", sa.Text, nullable=False),
        sa.Column("actor_role", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("details", sa.dialects.postgresql.JSONB, nullable=False, server_default="{}"),
    )
    op.create_index("ix_incident_history_incident", "incident_history", ["incident_id", "id"])
    # The history is evidence for rankings and audits: the database itself refuses to rewrite it,
    # whatever client connects.  (TRUNCATE, used by tests and by an operator resetting a
    # database, stays possible: it is not a row-level statement.)
    op.execute(
        """
        CREATE FUNCTION incident_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'incident_history is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER incident_history_append_only BEFORE UPDATE OR DELETE ON incident_history "
        "FOR EACH ROW EXECUTE FUNCTION incident_history_append_only()"
    )

    op.create_table(
        "incident_photos",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("incident_id", sa.BigInteger, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("size > 0", name="ck_incident_photos_size"),
        sa.CheckConstraint(
            _in("content_type", ("image/jpeg", "image/png", "image/webp")), name="ck_incident_photos_type"
        ),
    )
    op.create_index("ix_incident_photos_incident", "incident_photos", ["incident_id"])


def downgrade() -> None:
    op.drop_table("incident_photos")
    op.drop_table("incident_history")
    op.execute("DROP FUNCTION IF EXISTS incident_history_append_only()")
    op.drop_table("incidents")
