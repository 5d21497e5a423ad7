"""Department layers beside the base grids, the base register (一户一档) and 联户 link groups.

Revision ID: 0011_layers_register
Revises: 0010_dispatch

- ``department_layers`` / ``department_grids``: each department's own grid layer, versioned per
  department (``imported`` from a file, or ``aligned``: accepted from an alignment, every grid
  the union of the base grids in ``base_codes``); one ``active`` layer per department is what
  lookups and incident routing use.
- ``register_houses`` / ``register_households`` / ``register_residents``: houses and households on
  standard addresses, residents in households.  ID numbers are stored masked (for display), as
  an HMAC-SHA256 (for exact search) and Fernet-encrypted; never in plain text.
- ``register_reads``: who read which resident's personal fields, when, through which endpoint
  (append-only, like ``incident_contact_reads``).
- ``link_groups`` / ``link_group_members``: 联户 groups (17-digit codes under a grid of a plan),
  their 联户长 and the households of each address in each group.

No table of another migration is altered, so the order among the migrations after 0004 does not
matter (only ``addresses`` and ``plans`` of 0001 are referenced).
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0011_layers_register"
down_revision = "0010_dispatch"
branch_labels = None
depends_on = None


def _geom(kind: str) -> Geometry:
    return Geometry(kind, srid=4326, spatial_index=False)


def _now() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def _layers() -> None:
    op.create_table(
        "department_layers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("department_code", sa.Text, nullable=False),
        sa.Column("department_name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="inactive"),
        sa.Column("scope_code", sa.String(12), nullable=False),
        sa.Column("aligned_from", sa.Integer, sa.ForeignKey("department_layers.id", ondelete="SET NULL")),
        sa.Column("base_plan_ids", ARRAY(sa.Integer), nullable=False, server_default="{}"),
        sa.Column("source", sa.Text),
        sa.Column("author", sa.Text),
        sa.Column("note", sa.Text),
        _now(),
        sa.CheckConstraint("department_code ~ '^[^[:space:]]{1,64}$'", name="ck_department_layers_code"),
        sa.CheckConstraint("kind IN ('imported', 'aligned')", name="ck_department_layers_kind"),
        sa.CheckConstraint("status IN ('active', 'inactive')", name="ck_department_layers_status"),
        sa.CheckConstraint("scope_code ~ '^[0-9]{12}$'", name="ck_department_layers_scope"),
        sa.UniqueConstraint("department_code", "version", name="uq_department_layers_version"),
    )
    op.create_index(
        "uq_department_layers_one_active",
        "department_layers",
        ["department_code"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "department_grids",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "layer_id", sa.Integer, sa.ForeignKey("department_layers.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("unit_code", sa.Text),
        sa.Column("unit_name", sa.Text),
        sa.Column("households", sa.Integer),
        sa.Column("base_codes", ARRAY(sa.Text)),
        sa.Column("properties", JSONB, nullable=False, server_default="{}"),
        sa.Column("geom", _geom("MULTIPOLYGON"), nullable=False),
        sa.CheckConstraint("ST_IsValid(geom) AND NOT ST_IsEmpty(geom)", name="ck_department_grids_geom"),
        sa.UniqueConstraint("layer_id", "code", name="uq_department_grids_code"),
    )
    op.create_index("ix_department_grids_geom", "department_grids", ["geom"], postgresql_using="gist")
    op.create_index(
        "ix_department_grids_base_codes", "department_grids", ["base_codes"], postgresql_using="gin"
    )


def _register() -> None:
    op.create_table(
        "register_houses",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "address_id", sa.BigInteger, sa.ForeignKey("addresses.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        sa.Column("kind", sa.Text),
        _now(),
    )
    op.create_index("ix_register_houses_address", "register_houses", ["address_id"])
    op.create_table(
        "register_households",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "house_id", sa.BigInteger, sa.ForeignKey("register_houses.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "address_id", sa.BigInteger, sa.ForeignKey("addresses.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        _now(),
    )
    op.create_index("ix_register_households_address", "register_households", ["address_id", "code"])
    op.create_table(
        "register_residents",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "household_id",
            sa.BigInteger,
            sa.ForeignKey("register_households.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.Text, nullable=False),
        # HMAC-SHA256 (hex) of the ID number under the server's search key: exact search only.
        sa.Column("id_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("id_masked", sa.Text, nullable=False),
        # Fernet token of the ID number under the server's encryption key: never shown.
        sa.Column("id_cipher", sa.Text, nullable=False),
        sa.Column("phone", sa.Text),
        sa.Column("relation", sa.Text),
        sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default="{}"),
        _now(),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 50", name="ck_register_residents_name"),
        sa.CheckConstraint("id_hash ~ '^[0-9a-f]{64}$'", name="ck_register_residents_hash"),
        sa.CheckConstraint(
            "id_masked ~ '^[0-9]{4}[*]{10}[0-9]{3}[0-9X]$'", name="ck_register_residents_mask"
        ),
    )
    op.create_index("ix_register_residents_household", "register_residents", ["household_id"])
    op.create_index("ix_register_residents_tags", "register_residents", ["tags"], postgresql_using="gin")
    op.create_table(
        "register_reads",
        sa.Column("id", sa.BigInteger, primary_key=True),
        # No foreign key: the record of a read outlives the resident's row.
        sa.Column("resident_id", sa.BigInteger, nullable=False),
        sa.Column("reader_name", sa.Text, nullable=False),
        sa.Column("reader_role", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False),
    )
    op.create_index("ix_register_reads_resident", "register_reads", ["resident_id", "at"])
    op.create_index("ix_register_reads_reader", "register_reads", ["reader_name", "at"])
    op.execute(
        """
        CREATE FUNCTION register_reads_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'register_reads is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER register_reads_append_only BEFORE UPDATE OR DELETE "
        "ON register_reads FOR EACH ROW EXECUTE FUNCTION register_reads_append_only()"
    )


def _link_groups() -> None:
    op.create_table(
        "link_groups",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("plans.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code", sa.String(17), nullable=False),
        sa.Column("grid_code", sa.String(15), nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("leader_name", sa.Text),
        sa.Column("leader_phone", sa.Text),
        sa.Column("households", sa.Integer, nullable=False, server_default="0"),
        sa.Column("geom", _geom("MULTIPOLYGON"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("code ~ '^[0-9]{17}$'", name="ck_link_groups_code"),
        sa.CheckConstraint("left(code, 15) = grid_code", name="ck_link_groups_in_grid"),
        sa.CheckConstraint("households >= 0", name="ck_link_groups_households"),
        sa.CheckConstraint("leader_phone IS NULL OR leader_name IS NOT NULL", name="ck_link_groups_leader"),
        sa.UniqueConstraint("plan_id", "code", name="uq_link_groups_code"),
    )
    op.create_index("ix_link_groups_geom", "link_groups", ["geom"], postgresql_using="gist")
    op.create_index("ix_link_groups_grid", "link_groups", ["grid_code"])
    op.create_table(
        "link_group_members",
        sa.Column(
            "link_group_id",
            sa.BigInteger,
            sa.ForeignKey("link_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "address_id",
            sa.BigInteger,
            sa.ForeignKey("addresses.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("households", sa.Integer, nullable=False),
        sa.CheckConstraint("households > 0", name="ck_link_group_members_households"),
    )
    op.create_index("ix_link_group_members_address", "link_group_members", ["address_id"])


def upgrade() -> None:
    _layers()
    _register()
    _link_groups()


def downgrade() -> None:
    op.drop_table("link_group_members")
    op.drop_table("link_groups")
    op.drop_table("register_reads")
    op.execute("DROP FUNCTION IF EXISTS register_reads_append_only()")
    op.drop_table("register_residents")
    op.drop_table("register_households")
    op.drop_table("register_houses")
    op.drop_table("department_grids")
    op.drop_table("department_layers")
