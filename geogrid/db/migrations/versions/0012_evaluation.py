"""Evaluation (考评): follow-ups (回访) with satisfaction verdicts, 12345 hotline tickets.

Revision ID: 0012_evaluation
Revises: 0007_publish_hot

- ``incident_followups``: one row per follow-up of a closed incident — who called back
  (the reporter themselves, the 12345 hotline on their behalf, a centre), whether the reporter
  was reached, the verdict (满意 ``satisfied``, 基本满意 ``basically_satisfied``, 不满意
  ``unsatisfied``), a note, and whether an unsatisfied verdict reopened the case.  One
  follow-up per closing (``closed_at`` of the round it follows up).
- ``hotline_tickets``: the 12345 ticket number (工单号) of a hotline case and its callback
  status (待回访 ``pending``, 已回访 ``done``, 未接通 ``unreachable``, 不满意重办 ``reopened``).
- a partial index on the history's ``reopen`` rows (rework counts per incident).

Only ``incidents`` and ``incident_history`` (0003) are needed, so the lead may chain it
anywhere after 0003.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_evaluation"
down_revision = "0007_publish_hot"
branch_labels = None
depends_on = None

VERDICTS = ("satisfied", "basically_satisfied", "unsatisfied")
CHANNELS = ("reporter", "hotline", "centre")
CALLBACK_STATUSES = ("pending", "done", "unreachable", "reopened")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_table(
        "incident_followups",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("incident_id", sa.BigInteger, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("round_closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("reached", sa.Boolean, nullable=False),
        sa.Column("verdict", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("by_name", sa.Text, nullable=False),
        sa.Column("by_role", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reopened", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.CheckConstraint(_in("channel", CHANNELS), name="ck_followups_channel"),
        sa.CheckConstraint(f"verdict IS NULL OR {_in('verdict', VERDICTS)}", name="ck_followups_verdict"),
        sa.CheckConstraint("reached = (verdict IS NOT NULL)", name="ck_followups_reached"),
        sa.CheckConstraint("NOT reopened OR verdict = 'unsatisfied'", name="ck_followups_reopened"),
        sa.UniqueConstraint("incident_id", "round_closed_at", name="ux_followups_round"),
    )
    op.create_index("ix_followups_incident", "incident_followups", ["incident_id", "at"])
    op.create_table(
        "hotline_tickets",
        sa.Column("incident_id", sa.BigInteger, sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("ticket_no", sa.Text, nullable=False, unique=True),
        sa.Column("callback_status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("ticket_no ~ '^[0-9A-Za-z-]{4,32}$'", name="ck_hotline_ticket_no"),
        sa.CheckConstraint(_in("callback_status", CALLBACK_STATUSES), name="ck_hotline_callback_status"),
    )
    op.execute(
        "CREATE INDEX ix_incident_history_reopen ON incident_history (incident_id) WHERE action = 'reopen'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_incident_history_reopen")
    op.drop_table("hotline_tickets")
    op.drop_table("incident_followups")
