"""Incidents partitioned by month; a registry of incident ids that foreign keys point at.

Revision ID: 0013_incidents_by_month
Revises: 0012_evaluation

A province takes millions of reports a year; statistics, heatmaps and listings read a month or
a few.  ``incidents`` becomes a table partitioned by RANGE on ``created_at``, one partition per
calendar month **in China Standard Time** (``Asia/Shanghai``: the month a county reports in, so a
month's statistics read exactly one partition), named ``incidents_yYYYYmMM``, plus
``incidents_default`` so that an insert never fails for a month nobody created.

PostgreSQL only allows unique constraints on a partitioned table that include the partition key,
so what was unique on ``incidents`` moves:

- ``incident_ids`` (id PK, created_at): one row per incident, written by the trigger
  ``incidents_register`` in the same statement as the incident.  The id stays unique across
  partitions, and every foreign key that referenced ``incidents(id)`` (history, photos, contact
  reads, the dispatch tables, ``merged_into``, and whatever exists when this runs: the query
  reads ``pg_constraint``) now references ``incident_ids(id)``.  ``incidents.id`` itself
  references it, so no incident exists without its registry row.
- ``incident_keys`` (key PK, hash, incident_id): idempotency keys, so ``INSERT ... ON CONFLICT
  (key)`` keeps serialising concurrent first uses of a key (``incident_insert.sql``).
- ``public_id`` (computed from id) keeps a plain index: one probe per partition.

``incidents_month_partition(month)`` creates one month (moving rows that had landed in the
default partition), ``incidents_ensure_months(first, last)`` every month of a range; the
migration covers the months of existing rows and the next three, ``geogrid db partitions`` and
:func:`geogrid.db.incidents.partitions.ensure_months` add more (imports and the demo call it).
``created_at`` is the report time and is never updated.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0013_incidents_by_month"
down_revision = "0012_evaluation"
branch_labels = None
depends_on = None

#: Months created ahead of the current one by the migration.
AHEAD_MONTHS = 3

MONTH_PARTITION = """
CREATE FUNCTION incidents_month_partition(month date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    m_first date := date_trunc('month', month)::date;
    m_next date := (date_trunc('month', month) + interval '1 month')::date;
    part text := 'incidents_y' || to_char(m_first, 'YYYY') || 'm' || to_char(m_first, 'MM');
    lo timestamptz := make_timestamptz(
        extract(year FROM m_first)::int, extract(month FROM m_first)::int, 1, 0, 0, 0, 'Asia/Shanghai');
    hi timestamptz := make_timestamptz(
        extract(year FROM m_next)::int, extract(month FROM m_next)::int, 1, 0, 0, 0, 'Asia/Shanghai');
    cols text;
BEGIN
    -- Serialises creators of partitions; a second caller then finds the month there.
    PERFORM pg_advisory_xact_lock(hashtext('incidents_month_partition'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE incidents INCLUDING DEFAULTS INCLUDING GENERATED '
                   'INCLUDING CONSTRAINTS)', part);
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
    FROM pg_attribute
    WHERE attrelid = 'incidents'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
    -- Rows of this month that went to the default partition move into the new table first:
    -- attaching checks that the default partition holds none of them.
    EXECUTE format('WITH moved AS (DELETE FROM incidents_default WHERE created_at >= $1 '
                   'AND created_at < $2 RETURNING %s) INSERT INTO %I (%s) SELECT %s FROM moved',
                   cols, part, cols, cols) USING lo, hi;
    EXECUTE format('ALTER TABLE incidents ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
    RETURN true;
END $$
"""

ENSURE_MONTHS = """
CREATE FUNCTION incidents_ensure_months(first_at timestamptz, last_at timestamptz) RETURNS integer
LANGUAGE sql AS $$
    SELECT count(*) FILTER (WHERE incidents_month_partition(m::date))::int
    FROM generate_series(date_trunc('month', first_at AT TIME ZONE 'Asia/Shanghai'),
                         date_trunc('month', last_at AT TIME ZONE 'Asia/Shanghai'),
                         interval '1 month') AS m
$$
"""

REGISTER = """
CREATE FUNCTION incidents_register() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO incident_ids (id, created_at) VALUES (NEW.id, NEW.created_at);
    RETURN NEW;
END $$
"""

#: Foreign keys pointing at a table, except those of the given tables and inherited copies.
_FOREIGN_KEYS = """
SELECT c.conrelid::regclass::text AS tbl, c.conname AS name, pg_get_constraintdef(c.oid) AS def
FROM pg_constraint c
WHERE c.contype = 'f' AND c.confrelid = CAST(:target AS regclass) AND c.conparentid = 0
  AND c.conrelid <> ALL(CAST(:skip AS regclass[]))
ORDER BY 1, 2
"""

#: Plain indexes of a table (not those behind its constraints), as CREATE INDEX statements.
_INDEXES = """
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i
WHERE i.indrelid = CAST(:t AS regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY 1
"""


def _conn() -> sa.Connection:
    return op.get_bind()


def _columns(table: str) -> str:
    """The stored (not generated) columns of a table, comma-separated."""
    names = _conn().execute(
        sa.text(
            "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 "
            "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
        ),
        {"t": table},
    )
    return ", ".join(f'"{n}"' for (n,) in names)


def _repoint(old: str, new: str, skip: list[str]) -> None:
    """Every foreign key referencing ``old(id)`` (outside ``skip``) now references ``new(id)``."""
    rows = _conn().execute(sa.text(_FOREIGN_KEYS), {"target": old, "skip": skip}).all()
    for tbl, name, definition in rows:
        repointed = re.sub(rf"REFERENCES (public\.)?{old}\(", f"REFERENCES {new}(", definition)
        op.execute(f'ALTER TABLE {tbl} DROP CONSTRAINT "{name}"')
        op.execute(f'ALTER TABLE {tbl} ADD CONSTRAINT "{name}" {repointed}')


def _take_indexes(table: str) -> list[str]:
    """Drop the plain indexes of ``table``, returning their definitions (for any table name)."""
    rows = _conn().execute(sa.text(_INDEXES), {"t": table}).all()
    for name, _ in rows:
        op.execute(f"DROP INDEX {name}")
    return [definition.replace(" ON ONLY ", " ON ") for _, definition in rows]


def _registry() -> None:
    op.execute("CREATE TABLE incident_ids (id bigint PRIMARY KEY, created_at timestamptz NOT NULL)")
    op.execute("INSERT INTO incident_ids (id, created_at) SELECT id, created_at FROM incidents")
    op.execute(
        "CREATE TABLE incident_keys (key text PRIMARY KEY, hash varchar(64), "
        "incident_id bigint NOT NULL REFERENCES incident_ids (id))"
    )
    op.execute("CREATE INDEX ix_incident_keys_incident ON incident_keys (incident_id)")
    op.execute(
        "INSERT INTO incident_keys (key, hash, incident_id) "
        "SELECT idempotency_key, idempotency_hash, id FROM incidents WHERE idempotency_key IS NOT NULL"
    )


def _set_aside_plain() -> list[str]:
    """Rename the plain table out of the way, keeping its plain indexes' definitions."""
    indexes = _take_indexes("incidents")
    op.execute("ALTER SEQUENCE incidents_id_seq OWNED BY NONE")
    op.execute("ALTER TABLE incidents DROP CONSTRAINT incidents_public_id_key")
    op.execute("ALTER TABLE incidents DROP CONSTRAINT incidents_idempotency_key_key")
    op.execute("ALTER TABLE incidents RENAME CONSTRAINT incidents_pkey TO incidents_plain_pkey")
    op.execute("ALTER TABLE incidents RENAME TO incidents_plain")
    return indexes


def _create_partitioned(indexes: list[str]) -> None:
    op.execute(
        "CREATE TABLE incidents (LIKE incidents_plain INCLUDING DEFAULTS INCLUDING GENERATED "
        "INCLUDING CONSTRAINTS) PARTITION BY RANGE (created_at)"
    )
    op.execute("ALTER TABLE incidents DROP COLUMN idempotency_key, DROP COLUMN idempotency_hash")
    op.execute("ALTER SEQUENCE incidents_id_seq OWNED BY incidents.id")
    op.execute("ALTER TABLE incidents ADD CONSTRAINT incidents_pkey PRIMARY KEY (id, created_at)")
    op.execute(
        "ALTER TABLE incidents ADD CONSTRAINT incidents_id_fkey FOREIGN KEY (id) REFERENCES incident_ids (id)"
    )
    op.execute(
        "ALTER TABLE incidents ADD CONSTRAINT incidents_merged_into_fkey "
        "FOREIGN KEY (merged_into) REFERENCES incident_ids (id)"
    )
    for definition in indexes:
        op.execute(definition)
    op.execute("CREATE INDEX ix_incidents_public_id ON incidents (public_id)")
    op.execute("CREATE TABLE incidents_default PARTITION OF incidents DEFAULT")
    op.execute(MONTH_PARTITION)
    op.execute(ENSURE_MONTHS)
    op.execute(REGISTER)


def upgrade() -> None:
    _registry()
    _repoint("incidents", "incident_ids", ["incidents"])
    indexes = _set_aside_plain()
    _create_partitioned(indexes)
    op.execute(
        "SELECT incidents_ensure_months(coalesce((SELECT min(created_at) FROM incidents_plain), now()), "
        f"now() + interval '{AHEAD_MONTHS} months')"
    )
    cols = _columns("incidents")
    op.execute(f"INSERT INTO incidents ({cols}) SELECT {cols} FROM incidents_plain")
    op.execute(
        "CREATE TRIGGER incidents_register BEFORE INSERT ON incidents "
        "FOR EACH ROW EXECUTE FUNCTION incidents_register()"
    )
    op.execute("DROP TABLE incidents_plain")
    op.execute("ANALYZE incidents")


def downgrade() -> None:
    op.execute("DROP TRIGGER incidents_register ON incidents")
    indexes = [d for d in _take_indexes("incidents") if "ix_incidents_public_id" not in d]
    op.execute("ALTER SEQUENCE incidents_id_seq OWNED BY NONE")
    op.execute("ALTER TABLE incidents RENAME CONSTRAINT incidents_pkey TO incidents_parted_pkey")
    op.execute("ALTER TABLE incidents RENAME TO incidents_parted")
    op.execute(
        "CREATE TABLE incidents (LIKE incidents_parted INCLUDING DEFAULTS INCLUDING GENERATED "
        "INCLUDING CONSTRAINTS)"
    )
    op.execute(
        "ALTER TABLE incidents ADD COLUMN idempotency_key text, ADD COLUMN idempotency_hash varchar(64)"
    )
    op.execute("ALTER TABLE incidents ADD CONSTRAINT incidents_pkey PRIMARY KEY (id)")
    op.execute("ALTER TABLE incidents ADD CONSTRAINT incidents_public_id_key UNIQUE (public_id)")
    op.execute("ALTER TABLE incidents ADD CONSTRAINT incidents_idempotency_key_key UNIQUE (idempotency_key)")
    op.execute("ALTER SEQUENCE incidents_id_seq OWNED BY incidents.id")
    cols = _columns("incidents_parted")
    op.execute(
        f"INSERT INTO incidents ({cols}, idempotency_key, idempotency_hash) "
        f"SELECT {', '.join('p.' + c for c in cols.split(', '))}, k.key, k.hash "
        "FROM incidents_parted p LEFT JOIN incident_keys k ON k.incident_id = p.id"
    )
    op.execute(
        "ALTER TABLE incidents ADD CONSTRAINT incidents_merged_into_fkey "
        "FOREIGN KEY (merged_into) REFERENCES incidents (id)"
    )
    _repoint("incident_ids", "incidents", ["incidents_parted", "incident_keys"])
    for definition in indexes:
        op.execute(definition)
    op.execute("DROP TABLE incidents_parted, incident_keys, incident_ids")
    op.execute("DROP FUNCTION incidents_ensure_months(timestamptz, timestamptz)")
    op.execute("DROP FUNCTION incidents_month_partition(date)")
    op.execute("DROP FUNCTION incidents_register()")
