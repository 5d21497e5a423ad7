"""Matching keys of standard addresses: normalised text, parsed components, pinyin initials.

Revision ID: 0006_address_keys
Revises: 0005_trust

Address lookups match a parsed query (:mod:`geogrid.address`) on these keys: street and house
number exactly (btree), a street one character away (GIN over each street's edit keys), a
compound, the normalised text by trigram similarity when nothing parses, and prefixes of the
street / short address / their pinyin initials for type-ahead (``text_pattern_ops`` btrees).
Existing rows are back-filled in Python (the keys come from OpenCC, cn2an, cpca, pypinyin).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0006_address_keys"
down_revision = "0005_trust"
branch_labels = None
depends_on = None

_TEXT_COLUMNS = (
    "match_text",
    "street_key",
    "number_key",
    "compound_key",
    "building_key",
    "unit_key",
    "room_key",
    "township_key",
    "village_key",
    "short_text",
    "short_initials",
    "street_initials",
)
_INDEXES = {
    "ix_addresses_number_street": "(number_key, street_key)",
    "ix_addresses_street_keys": "USING gin (street_keys)",
    "ix_addresses_compound": "(compound_key, building_key)",
    "ix_addresses_match_text_trgm": "USING gin (match_text gin_trgm_ops)",
    "ix_addresses_street_prefix": "(street_key text_pattern_ops)",
    "ix_addresses_short_prefix": "(short_text text_pattern_ops)",
    "ix_addresses_short_initials": "(short_initials text_pattern_ops)",
    "ix_addresses_street_initials": "(street_initials text_pattern_ops)",
}


def upgrade() -> None:
    for name in _TEXT_COLUMNS:
        op.add_column("addresses", sa.Column(name, sa.Text))
    op.add_column("addresses", sa.Column("street_keys", ARRAY(sa.Text)))
    from geogrid.db.address_index import backfill

    backfill(op.get_bind())
    for name, spec in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON addresses {spec}")


def downgrade() -> None:
    for name in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for name in (*_TEXT_COLUMNS, "street_keys"):
        op.drop_column("addresses", name)
