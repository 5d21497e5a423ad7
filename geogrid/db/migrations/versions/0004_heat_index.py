"""A covering index for incident heatmaps over a bbox.

Revision ID: 0004_heat_index
Revises: 0003_incidents

Heatmaps of a bbox read ranges of the stored res-12 H3 cell (see
``geogrid.heat.bbox_cell_ranges``).  With the filter columns and the location in the index,
those range scans are index-only: a city bbox no longer reads ~200k rows from heap pages in
random order.  Partial on ``status <> 'merged'``, the one filter every heatmap carries.
"""

from alembic import op

revision = "0004_heat_index"
down_revision = "0003_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_incidents_heat ON incidents (h3_cell) "
        "INCLUDE (status, created_at, category_major, category_minor, location) "
        "WHERE status <> 'merged'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_incidents_heat")
