"""Replaying stored incidents through the workflow in bulk (the demo county's incidents).

Reads the reported incidents and the organisation (centres, departments, the roster's people),
writes each incident's script (:func:`geogrid.simulate.scripts`), replays it with the
workflow's rules (:func:`geogrid.replay.replay`) and writes the outcome in one transaction:
incident columns, history rows, summonses with their departments, 督办 — with ``COPY``, so
thousands of incidents take a second or two instead of minutes one action at a time.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid import incidents as wf
from geogrid.db import load_sql
from geogrid.db.organisation import list_centres, list_departments
from geogrid.db.staff import read_staff
from geogrid.organisation import RoleSet, load_roles
from geogrid.replay import Case, Organisation, Step, replay
from geogrid.simulate import People
from geogrid.staff import accounts

_CASE_COLUMNS = (
    "status",
    "level",
    "department",
    "assignee",
    "centre_code",
    "accepted_at",
    "resolved_at",
    "closed_at",
    "updated_at",
)


def load_cases(conn: Connection, *, prefix: str = "") -> list[Case]:
    """The reported incidents (of divisions under ``prefix``) as cases to replay, oldest first."""
    rows = conn.execute(
        sa.text(
            "SELECT id, public_id, category_minor, grid_code, village_code, township_code, created_at, "
            "reporter_key_name, status, level, department, assignee, centre_code, accepted_at, resolved_at, "
            "closed_at, updated_at FROM incidents WHERE status = 'reported' "
            "AND coalesce(village_code, township_code, '') LIKE :p ORDER BY created_at, id"
        ),
        {"p": prefix + "%"},
    ).all()
    return [
        Case(
            r.id,
            r.public_id,
            r.category_minor,
            r.grid_code,
            r.village_code,
            r.township_code,
            r.created_at,
            {c: getattr(r, c) for c in _CASE_COLUMNS},
            reporter_key_name=r.reporter_key_name,
        )
        for r in rows
    ]


def organisation(conn: Connection) -> Organisation:
    """The stored centres and departments, as the replay reads them."""
    return Organisation(
        frozenset(c.code for c in list_centres(conn)), {d.code: d for d in list_departments(conn)}
    )


def people(conn: Connection, catalogue: wf.Catalogue, roles: RoleSet | None = None) -> People:
    """Who acts, from the stored roster: each grid's 网格长, each centre's dispatcher, each
    department's liaison, named as their keys are (:attr:`geogrid.staff.Account.base_name`)."""
    staff = read_staff(conn)
    grids: dict[str, wf.Actor] = {}
    centres: dict[str, wf.Actor] = {}
    departments: dict[str, wf.Actor] = {}
    for a in accounts(staff, roles or load_roles()):
        actor = wf.Actor(a.base_name, a.key_role, a.scope)
        for post in a.posts:
            if a.key_role == "worker" and "grid_head" in a.roles:
                grids.setdefault(post, actor)
            elif a.key_role == "dispatcher":
                centres.setdefault(post, actor)
            elif a.key_role == "department":
                departments.setdefault(post, actor)
    depts = list_departments(conn)
    by_name = {d.name: d.code for d in depts}
    township: dict[str, list[str]] = {}
    for d in depts:
        if d.level == "township":
            township.setdefault(d.division_code, []).append(d.code)
    return People(
        grids,
        centres,
        departments,
        {c.department: by_name[c.department] for c in catalogue if c.department in by_name},
        township,
    )


def _reserve(conn: Connection, table: str, n: int) -> Iterable[int]:
    """``n`` ids from ``table``'s id sequence (the replay writes them into the history)."""
    if n == 0:
        return iter(())
    return iter(
        conn.execute(
            sa.text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table, "n": n},
        ).scalars()
    )


def _copy(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(
            [
                "\\N" if v is None else json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v
                for v in row
            ]
        )
    buffer.seek(0)
    raw = conn.connection.driver_connection
    assert raw is not None  # a checked-out connection always holds its DBAPI connection
    with raw.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer
        )


_HISTORY = (
    "incident_id",
    "from_status",
    "to_status",
    "action",
    "actor_name",
    "actor_role",
    "at",
    "note",
    "details",
)
_SUMMONS = (
    "id",
    "incident_id",
    "centre_code",
    "called_by",
    "called_by_role",
    "called_at",
    "report_due",
    "act_due",
    "note",
    "status",
    "closed_at",
    "closed_by",
    "close_note",
    "outcome",
)
_SUMMONED = (
    "summon_id",
    "department_code",
    "checked_in_at",
    "checked_in_by",
    "check_in_note",
    "acted_at",
    "acted_by",
    "act_note",
)
_SUPERVISIONS = (
    "id",
    "incident_id",
    "centre_code",
    "by_name",
    "by_role",
    "note",
    "due",
    "target_kind",
    "target_code",
    "created_at",
)


def write(conn: Connection, cases: Sequence[Case]) -> None:
    """Store what the replay did: columns, history, summonses and their departments, 督办."""
    changed = [c for c in cases if c.history]
    _write_columns(conn, changed)
    _copy(conn, "incident_history", _HISTORY, ([h[k] for k in _HISTORY] for c in changed for h in c.history))
    summons = [s for c in changed for s in c.summons]
    _copy(conn, "summons", _SUMMONS, ([s.get(k) for k in _SUMMONS] for s in summons))
    _copy(
        conn,
        "summon_departments",
        _SUMMONED,
        (
            [
                s["id"],
                code,
                e.checked_in_at,
                *s["by"].get((code, "check_in"), (None, None)),
                e.acted_at,
                *s["by"].get((code, "act"), (None, None)),
            ]
            for s in summons
            for code, e in s["entries"].items()
        ),
    )
    supervisions = (v for c in changed for v in c.supervisions)
    _copy(conn, "supervisions", _SUPERVISIONS, ([v[k] for k in _SUPERVISIONS] for v in supervisions))


def _write_columns(conn: Connection, changed: Sequence[Case]) -> None:
    """The incidents' new columns, through a temporary table and one UPDATE."""
    columns = ", ".join(f"{c} text" for c in _CASE_COLUMNS)
    conn.execute(sa.text(f"CREATE TEMP TABLE replayed (id bigint, {columns}) ON COMMIT DROP"))
    rows = ([c.id, *(_text(c.columns[k]) for k in _CASE_COLUMNS)] for c in changed)
    _copy(conn, "replayed", ("id", *_CASE_COLUMNS), rows)
    conn.execute(sa.text(load_sql("incident_replayed_update")))


def _text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def replay_incidents(
    engine: Engine,
    catalogue: wf.Catalogue,
    *,
    now: datetime,
    seed: int = 0,
    prefix: str = "",
    scripts: dict[int, list[Step]] | None = None,
) -> Counter:
    """Give the reported incidents under ``prefix`` their lives up to ``now`` (or run the given
    ``scripts``, by incident id), in one transaction; returns the count of each final status."""
    from geogrid.simulate import scripts as write_scripts

    with engine.begin() as conn:
        cases = load_cases(conn, prefix=prefix)
        org = organisation(conn)
        plans = (
            scripts
            if scripts is not None
            else write_scripts(cases, people(conn, catalogue), catalogue, now=now, seed=seed)
        )
        steps = Counter(s.action for plan in plans.values() for s in plan)
        pools = {
            "summons": _reserve(conn, "summons", steps["summon"]),
            "supervisions": _reserve(conn, "supervisions", steps["supervise"]),
        }
        replay(cases, plans, org, catalogue, ids=lambda table: next(iter(pools[table])))
        write(conn, cases)
    return Counter(c.status for c in cases)


# --- who reported, and the follow-ups (the demo county) ----------------------------------------------


def attribute_reports(engine: Engine, catalogue: wf.Catalogue, *, seed: int = 0, prefix: str = "") -> Counter:
    """Before the replay: patrol reports by their grid head's key, hotline reports with a 12345
    ticket number (:func:`geogrid.simulate.reporters`); returns the count per source."""
    from geogrid.simulate import reporters

    with engine.begin() as conn:
        cases = load_cases(conn, prefix=prefix)
        who = reporters(cases, people(conn, catalogue), seed=seed)
        ids = list(who)
        conn.execute(
            sa.text(
                "UPDATE incidents i SET source = w.source, reporter_key_name = w.reporter "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:sources AS text[]), CAST(:reporters AS text[])) "
                "AS w(id, source, reporter) WHERE i.id = w.id"
            ),
            {
                "ids": ids,
                "sources": [who[i].source for i in ids],
                "reporters": [who[i].reporter_key_name for i in ids],
            },
        )
        tickets = [(i, who[i].hotline_ticket) for i in ids if who[i].hotline_ticket]
        conn.execute(
            sa.text(
                "INSERT INTO hotline_tickets (incident_id, ticket_no) "
                "SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:tickets AS text[])) ON CONFLICT DO NOTHING"
            ),
            {"ids": [i for i, _t in tickets], "tickets": [t for _i, t in tickets]},
        )
    return Counter(w.source for w in who.values())


def follow_up_closed(
    engine: Engine, catalogue: wf.Catalogue, *, now: datetime, seed: int = 0, prefix: str = ""
) -> Counter:
    """After the replay: the 12345 hotline calls back the closed cases (:func:`geogrid.simulate.callbacks`);
    the follow-ups that reopen a case go through :func:`geogrid.db.followups.record`, the others
    are written in bulk with their history rows.  Returns the count per verdict."""
    from geogrid.db import followups as fudb
    from geogrid.simulate import callbacks

    with engine.connect() as conn:
        closed = conn.execute(
            sa.text(
                "SELECT i.id, i.public_id, i.closed_at FROM incidents i WHERE i.status = 'closed' "
                "AND coalesce(i.village_code, i.township_code, '') LIKE :p "
                "AND NOT EXISTS (SELECT 1 FROM incident_followups f WHERE f.incident_id = i.id) ORDER BY i.id"
            ),
            {"p": prefix + "%"},
        ).all()
    calls = callbacks([(r.id, r.closed_at) for r in closed], now=now, seed=seed)
    closed_at = {r.id: r.closed_at for r in closed}
    public = {r.id: r.public_id for r in closed}
    hotline = wf.Actor("12345热线", "dispatcher")
    with engine.begin() as conn:
        _write_callbacks(conn, [c for c in calls if not c.reopen], closed_at, hotline)
    for c in calls:
        if c.reopen:
            request = fudb.FollowUpRequest(c.verdict, "回访不满意", channel="hotline")
            fudb.record(engine, public[c.incident_id], request, actor=hotline, catalogue=catalogue, now=c.at)
    return Counter(("reopened" if c.reopen else c.verdict or "unreachable") for c in calls)


def _write_callbacks(
    conn: Connection, calls: Sequence[Any], closed_at: dict[int, datetime], by: wf.Actor
) -> None:
    """Follow-ups that reopen nothing, in bulk: their rows, history rows and tickets' callback status."""
    from geogrid.followup import callback_status

    followups, history = [], []
    for c in calls:
        followups.append([c.incident_id, closed_at[c.incident_id], "hotline", c.verdict is not None, c.verdict,
                          None, by.name, by.role, c.at, False])  # fmt: skip
        details = {"verdict": c.verdict, "channel": "hotline"}
        history.append([c.incident_id, "closed", "closed", "follow_up", by.name, by.role, c.at, details])
    _copy(conn, "incident_followups", _FOLLOWUP, followups)
    _copy(conn, "incident_history", _HISTORY_FOLLOWUP, history)
    conn.execute(
        sa.text(
            "UPDATE hotline_tickets t SET callback_status = s.status, updated_at = s.at "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:ats AS timestamptz[])) "
            "AS s(id, status, at) WHERE t.incident_id = s.id"
        ),
        {
            "ids": [c.incident_id for c in calls],
            "statuses": [callback_status(c.verdict is not None, False) for c in calls],
            "ats": [c.at for c in calls],
        },
    )


_FOLLOWUP = (
    "incident_id", "round_closed_at", "channel", "reached", "verdict", "note", "by_name", "by_role", "at", "reopened"
)  # fmt: skip
_HISTORY_FOLLOWUP = (
    "incident_id",
    "from_status",
    "to_status",
    "action",
    "actor_name",
    "actor_role",
    "at",
    "details",
)
