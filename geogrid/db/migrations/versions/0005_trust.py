"""Trust: a key version every process can check, last use of keys, an audit of contact reads.

Revision ID: 0005_trust
Revises: 0004_heat_index

- ``api_key_epoch``: one row whose ``version`` changes (transactionally, from a sequence that
  never repeats, even after a TRUNCATE) whenever a key is created, revoked, deleted or has its
  role, scope or name changed.  Each API process caches key records and reads this one row at
  most every half second: a revocation reaches every worker within a second without a key
  query per request.
- ``api_keys.last_used_at``: written at most once a minute per key and process.
- ``incident_contact_reads``: who read which incident's reporter name and contact, when
  (append-only, like the incident history).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_trust"
down_revision = "0004_heat_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True)))
    op.execute("CREATE SEQUENCE api_key_version_seq")
    op.create_table(
        "api_key_epoch",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_api_key_epoch_one_row"),
    )
    op.execute("INSERT INTO api_key_epoch (id, version) VALUES (1, nextval('api_key_version_seq'))")
    op.execute(
        """
        CREATE FUNCTION api_keys_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO api_key_epoch (id, version) VALUES (1, nextval('api_key_version_seq'))
            ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version;
            RETURN NULL;
        END $$
        """
    )
    # Statement-level: one bump per statement, however many keys it touches.  last_used_at is
    # not in the column list, so recording use never invalidates the caches.
    op.execute(
        "CREATE TRIGGER api_keys_bump_version AFTER INSERT OR DELETE "
        "OR UPDATE OF name, key_hash, role, scope, revoked_at ON api_keys "
        "FOR EACH STATEMENT EXECUTE FUNCTION api_keys_bump_version()"
    )
    op.execute(
        "CREATE TRIGGER api_keys_bump_version_truncate AFTER TRUNCATE ON api_keys "
        "FOR EACH STATEMENT EXECUTE FUNCTION api_keys_bump_version()"
    )
    op.create_table(
        "incident_contact_reads",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("incident_id", sa.BigInteger, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("reader_name", sa.Text, nullable=False),
        sa.Column("reader_role", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("endpoint", sa.Text),
    )
    op.create_index("ix_incident_contact_reads_incident", "incident_contact_reads", ["incident_id", "at"])
    op.create_index("ix_incident_contact_reads_reader", "incident_contact_reads", ["reader_name", "at"])
    op.execute(
        """
        CREATE FUNCTION incident_contact_reads_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'incident_contact_reads is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER incident_contact_reads_append_only BEFORE UPDATE OR DELETE "
        "ON incident_contact_reads FOR EACH ROW EXECUTE FUNCTION incident_contact_reads_append_only()"
    )


def downgrade() -> None:
    op.drop_table("incident_contact_reads")
    op.execute("DROP FUNCTION IF EXISTS incident_contact_reads_append_only()")
    op.execute("DROP TRIGGER IF EXISTS api_keys_bump_version_truncate ON api_keys")
    op.execute("DROP TRIGGER IF EXISTS api_keys_bump_version ON api_keys")
    op.execute("DROP FUNCTION IF EXISTS api_keys_bump_version()")
    op.drop_table("api_key_epoch")
    op.execute("DROP SEQUENCE IF EXISTS api_key_version_seq")
    op.drop_column("api_keys", "last_used_at")
