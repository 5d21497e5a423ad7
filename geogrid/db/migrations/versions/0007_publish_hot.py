"""Publishing rewrites addresses' grid codes as HOT updates: no index on grid_code, room on pages.

Revision ID: 0007_publish_hot
Revises: 0011_layers_register

Publishing a county plan points tens of thousands of addresses at their new grids.  With
``grid_code`` indexed and full pages, every such write also inserted into every index of the
table (GiST, trigram GIN, B-trees): seconds per county, more with each index added.  Without an
index on ``grid_code`` and with half of every page left free (``fillfactor``), PostgreSQL writes
the new row version next to the old one and touches no index (a heap-only tuple); the old
version is pruned on the page later.  Nothing looked addresses up by ``grid_code`` alone: the
publish statement and the features filter reach them through the GiST index of their points.
The table is rewritten once so that existing rows get the room too.
"""

from alembic import op

revision = "0007_publish_hot"
down_revision = "0011_layers_register"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_addresses_grid")
    op.execute("ALTER TABLE addresses SET (fillfactor = 50)")
    # Rewrites the table (and its indexes) with the new fillfactor; allowed in a transaction.
    op.execute("CLUSTER addresses USING addresses_pkey")
    op.execute("ALTER TABLE addresses SET WITHOUT CLUSTER")


def downgrade() -> None:
    op.execute("ALTER TABLE addresses RESET (fillfactor)")
    op.execute("CREATE INDEX ix_addresses_grid ON addresses (grid_code)")
