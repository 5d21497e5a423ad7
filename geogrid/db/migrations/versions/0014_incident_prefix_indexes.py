"""Incidents of a division found by index: prefix indexes on their grid and village codes.

Revision ID: 0014_incident_prefix_indexes
Revises: 0013_incidents_by_month

Every listing, statistic and heatmap restricted to a division filters
``grid_code LIKE '<prefix>%' OR village_code LIKE '<prefix>%'``.  The cluster's collation is not
"C", so the plain B-tree on ``grid_code`` cannot answer a prefix: every such request read all the
incidents of the period (all of them without one), which is what kept statistics by division from
scaling (docs/BENCHMARKS.md, province scale).  ``text_pattern_ops`` B-trees answer prefixes; on
the partitioned table they are created on every month's partition.
"""

from alembic import op

revision = "0014_incident_prefix_indexes"
down_revision = "0013_incidents_by_month"
branch_labels = None
depends_on = None

_INDEXES = (("ix_incidents_grid_prefix", "grid_code"), ("ix_incidents_village_prefix", "village_code"))


def upgrade() -> None:
    for name, column in _INDEXES:
        op.create_index(name, "incidents", [column], postgresql_ops={column: "text_pattern_ops"})


def downgrade() -> None:
    for name, _ in _INDEXES:
        op.drop_index(name, table_name="incidents")
