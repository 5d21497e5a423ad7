"""API keys with roles.

Revision ID: 0002_access
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002_access"
down_revision = "0001_core"
branch_labels = None
depends_on = None

ROLES = ("viewer", "planner", "admin", "dispatcher", "worker", "department", "resident")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.Text, nullable=False),
        # e.g. {"grid_codes": [...]} for a grid worker, {"department": "城管"} for a department
        sa.Column("scope", JSONB, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")", name="ck_api_keys_role"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
