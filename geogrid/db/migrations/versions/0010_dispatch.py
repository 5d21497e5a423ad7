"""The dispatch organisation: departments, centres, staff with roles, 吹哨报到, 督办, flags, notifications.

Revision ID: 0010_dispatch
Revises: 0006_address_keys

- ``departments`` (职能部门): code, Chinese name, level, the division they belong to and the
  divisions they serve; ``centres`` (综治中心): one per division that dispatches, keyed by
  its division code.
- ``staff``: one row per person and post (a grid, a link group, a division, a department)
  with the role from the configurable role set (网格长, 专职网格员, 联户长 ...) and the API
  key issued to them.
- ``incidents.centre_code``: the centre whose queue holds the incident; the status
  ``summoned`` (已吹哨).
- ``summons`` and ``summon_departments``: who summoned which departments to which incident,
  with the deadlines to report in and to act, and when each department checked in and
  what it did — the facts evaluation reads.
- ``supervisions`` (督办) and ``deadline_flags`` (yellow/red, once per deadline and colour).
- ``notifications`` (an outbox: one row per event, unique event key) and
  ``notification_deliveries`` (every attempt: when, HTTP status, error).

No table here depends on another new migration's tables, so the lead may chain it anywhere
after 0005.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0010_dispatch"
down_revision = "0006_address_keys"
branch_labels = None
depends_on = None

OLD_STATUSES = (
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
STATUSES = (*OLD_STATUSES, "summoned")
LEVELS = ("county", "township", "village")
POSTS = ("grid", "link_group", "division", "department")
DEADLINES = ("accept", "complete", "report_in", "act", "supervise")
NOTIFICATION_STATUSES = ("pending", "sending", "delivered", "dead")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _time(name: str, **kw) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def _now(name: str) -> sa.Column:
    return _time(name, server_default=sa.func.now(), nullable=False)


def _organisation() -> None:
    op.create_table(
        "departments",
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("division_code", sa.String(12), nullable=False),
        sa.Column("serves", ARRAY(sa.Text), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.CheckConstraint("code ~ '^[0-9A-Za-z_-]{1,32}$'", name="ck_departments_code"),
        sa.CheckConstraint(_in("level", LEVELS), name="ck_departments_level"),
        sa.CheckConstraint("cardinality(serves) > 0", name="ck_departments_serves"),
    )
    op.create_table(
        "centres",
        sa.Column("code", sa.String(12), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        _now("created_at"),
        sa.CheckConstraint("code ~ '^[0-9]{12}$'", name="ck_centres_code"),
        sa.CheckConstraint(_in("level", LEVELS), name="ck_centres_level"),
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phone", sa.Text),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("post_kind", sa.Text, nullable=False),
        sa.Column("post_code", sa.Text, nullable=False),
        sa.Column("key_name", sa.Text),
        sa.Column("source", sa.Text),
        _now("created_at"),
        sa.CheckConstraint(_in("post_kind", POSTS), name="ck_staff_post_kind"),
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_staff_person_post ON staff (post_code, role, name, coalesce(phone, ''))"
    )
    op.create_index("ix_staff_key_name", "staff", ["key_name"])
    op.create_index("ix_staff_person", "staff", ["name", "phone"])


def _incident_columns() -> None:
    op.add_column("incidents", sa.Column("centre_code", sa.String(12)))
    op.create_index("ix_incidents_centre", "incidents", ["centre_code", "status"])
    op.drop_constraint("ck_incidents_status", "incidents", type_="check")
    op.create_check_constraint("ck_incidents_status", "incidents", _in("status", STATUSES))


def _summons() -> None:
    op.create_table(
        "summons",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("incident_id", sa.BigInteger, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("centre_code", sa.String(12)),
        sa.Column("called_by", sa.Text, nullable=False),
        sa.Column("called_by_role", sa.Text, nullable=False),
        _time("called_at", nullable=False),
        _time("report_due", nullable=False),
        _time("act_due", nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default="open"),
        _time("closed_at"),
        sa.Column("closed_by", sa.Text),
        sa.Column("close_note", sa.Text),
        sa.Column("outcome", sa.Text),
        sa.CheckConstraint(_in("status", ("open", "completed", "closed")), name="ck_summons_status"),
        sa.CheckConstraint("called_at < report_due AND report_due <= act_due", name="ck_summons_due_order"),
        sa.CheckConstraint("(status = 'open') = (closed_at IS NULL)", name="ck_summons_closed"),
    )
    op.create_index("ix_summons_incident", "summons", ["incident_id"])
    # One summons at a time per incident: the incident is "summoned" while it is open.
    op.execute("CREATE UNIQUE INDEX ux_summons_open ON summons (incident_id) WHERE status = 'open'")
    op.create_table(
        "summon_departments",
        sa.Column("summon_id", sa.BigInteger, sa.ForeignKey("summons.id"), primary_key=True),
        sa.Column("department_code", sa.Text, primary_key=True),
        _time("checked_in_at"),
        sa.Column("checked_in_by", sa.Text),
        sa.Column("check_in_note", sa.Text),
        _time("acted_at"),
        sa.Column("acted_by", sa.Text),
        sa.Column("act_note", sa.Text),
        sa.CheckConstraint(
            "acted_at IS NULL OR checked_in_at IS NOT NULL", name="ck_summon_act_after_check_in"
        ),
    )
    op.create_index("ix_summon_departments_department", "summon_departments", ["department_code"])


def _supervision_and_flags() -> None:
    op.create_table(
        "supervisions",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("incident_id", sa.BigInteger, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("centre_code", sa.String(12)),
        sa.Column("by_name", sa.Text, nullable=False),
        sa.Column("by_role", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        _time("due"),
        sa.Column("target_kind", sa.Text),
        sa.Column("target_code", sa.Text),
        _time("created_at", nullable=False),
    )
    op.create_index("ix_supervisions_incident", "supervisions", ["incident_id"])
    op.create_table(
        "deadline_flags",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("incident_id", sa.BigInteger, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("deadline", sa.Text, nullable=False),
        # The department (report_in, act) or supervision id (supervise) the deadline belongs to.
        sa.Column("subject", sa.Text, nullable=False, server_default=""),
        sa.Column("colour", sa.Text, nullable=False),
        _time("due", nullable=False),
        _time("raised_at", nullable=False),
        sa.CheckConstraint(_in("deadline", DEADLINES), name="ck_deadline_flags_deadline"),
        sa.CheckConstraint(_in("colour", ("yellow", "red")), name="ck_deadline_flags_colour"),
        sa.UniqueConstraint("incident_id", "deadline", "subject", "colour", name="ux_deadline_flags_once"),
    )


def _notifications() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger, primary_key=True),
        # One row per event: enqueueing the same event twice does nothing.
        sa.Column("event_key", sa.Text, nullable=False, unique=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("incident_id", sa.BigInteger, sa.ForeignKey("incidents.id")),
        sa.Column("recipient_kind", sa.Text),
        sa.Column("recipient_code", sa.Text),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        _now("next_attempt_at"),
        _time("lease_until"),
        _now("created_at"),
        _time("delivered_at"),
        sa.Column("last_error", sa.Text),
        sa.CheckConstraint(_in("status", NOTIFICATION_STATUSES), name="ck_notifications_status"),
        sa.CheckConstraint(
            "(status = 'delivered') = (delivered_at IS NOT NULL)", name="ck_notifications_delivered"
        ),
    )
    op.execute(
        "CREATE INDEX ix_notifications_due ON notifications (next_attempt_at, id) "
        "WHERE status IN ('pending', 'sending')"
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("notification_id", sa.BigInteger, sa.ForeignKey("notifications.id"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        _time("at", nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Integer),
    )
    op.create_index("ix_notification_deliveries_notification", "notification_deliveries", ["notification_id"])


def upgrade() -> None:
    _organisation()
    _incident_columns()
    _summons()
    _supervision_and_flags()
    _notifications()


def downgrade() -> None:
    for table in (
        "notification_deliveries",
        "notifications",
        "deadline_flags",
        "supervisions",
        "summon_departments",
        "summons",
        "staff",
        "centres",
        "departments",
    ):
        op.drop_table(table)
    op.execute("UPDATE incidents SET status = 'accepted' WHERE status = 'summoned'")
    op.drop_constraint("ck_incidents_status", "incidents", type_="check")
    op.create_check_constraint("ck_incidents_status", "incidents", _in("status", OLD_STATUSES))
    op.drop_index("ix_incidents_centre", table_name="incidents")
    op.drop_column("incidents", "centre_code")
