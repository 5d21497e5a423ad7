"""Incidents in PostGIS: migration, placement, idempotency, locked transitions, history,
merge, duplicates, overdue and statistics checked against hand-computed numbers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from incident_support import (
    G1,
    G2,
    G3,
    IN_G1,
    IN_G2,
    IN_G3,
    T0,
    TOWNSHIP,
    V1,
    V2,
    department_code,
    install_organisation,
    publish_sample,
)

from geogrid import heat
from geogrid import incidents as wf
from geogrid.db import incidents as st
from geogrid.db import make_engine, migrate
from geogrid.errors import ConflictError, GeogridError, NotFoundError
from tests.test_incidents_workflow import EXPECTED_ROLES, LEGAL

CAT = wf.load_catalogue()
DISPATCHER = wf.Actor("center", "dispatcher")
ADMIN = wf.Actor("root", "admin")
H = timedelta(hours=1)


@pytest.fixture
def county(engine):
    publish_sample(engine)
    install_organisation(engine, centres=False)  # departments only: the single-queue loop
    return engine


def dept(engine, name: str, key: str | None = None) -> wf.Actor:
    """A department's actor, scoped by the code of the department called ``name``."""
    return wf.Actor(key or name, "department", {"department": department_code(engine, name)})


def new(category="HW01", where=IN_G1, source="patrol", **kw) -> st.NewIncident:
    return st.NewIncident(category, where[0], where[1], source, **kw)


def make(engine, *, now=T0, **kw) -> str:
    return st.create(engine, new(**kw), catalogue=CAT, now=now).incident.public_id


def act(engine, pid, *actions, actor=ADMIN, now=T0, **kw):
    inc = None
    for a in actions:
        inc = st.transition(engine, pid, a, actor=actor, catalogue=CAT, now=now, **kw)
    return inc


def test_migration_up_and_down(fresh_db_url):
    engine = make_engine(fresh_db_url)
    try:
        migrate.upgrade(engine)
        tables = set(sa.inspect(engine).get_table_names())
        assert {"incidents", "incident_history", "incident_photos"} <= tables
        indexes = {i["name"] for i in sa.inspect(engine).get_indexes("incidents")}
        assert {
            "ix_incidents_location",
            "ix_incidents_h3",
            "ix_incidents_status",
            "ix_incidents_created",
            "ix_incidents_grid",
            "ix_incidents_heat",
        } <= indexes
        migrate.downgrade(engine, "0003_incidents")
        assert "ix_incidents_heat" not in {i["name"] for i in sa.inspect(engine).get_indexes("incidents")}
        migrate.downgrade(engine, "0002_access")
        tables = set(sa.inspect(engine).get_table_names())
        assert not tables & {"incidents", "incident_history", "incident_photos"} and "api_keys" in tables
        with engine.connect() as conn:
            assert (
                conn.execute(
                    sa.text("SELECT count(*) FROM pg_proc WHERE proname = 'incident_history_append_only'")
                ).scalar()
                == 0
            )
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_create_places_and_indexes(county):
    c = st.create(county, new(where=IN_G3, description="垃圾堆在路口"), catalogue=CAT, now=T0)
    inc = c.incident
    assert c.created and inc.public_id == "E00000001" and inc.status == "reported"
    assert (inc.grid_code, inc.village_code, inc.township_code) == (G3, V2, TOWNSHIP)
    assert inc.category_major == "HW" and inc.accept_due == T0 + 8 * H and inc.complete_due == T0 + 24 * H
    assert inc.h3_cell == int(heat.cells_for_points([IN_G3[0]], [IN_G3[1]], res=heat.STORED_RES)[0])
    # outside every grid and division: stored, unplaced
    far = st.create(county, new(where=(121.5, 31.2)), catalogue=CAT, now=T0).incident
    assert (far.grid_code, far.village_code, far.township_code) == (None, None, None)
    [h] = st.history(county, inc.public_id)
    assert (h.from_status, h.to_status, h.action) == (None, "reported", "report")


def test_create_rejects_bad_input(county):
    with pytest.raises(wf.CategoryError):
        st.create(county, new(category="NOPE"), catalogue=CAT, now=T0)
    with pytest.raises(GeogridError, match="source"):
        st.create(county, new(source="email"), catalogue=CAT, now=T0)
    with pytest.raises(GeogridError, match="swapped"):
        st.create(county, new(where=(31.305, 120.605)), catalogue=CAT, now=T0)


def test_idempotency_key(county):
    a = st.create(county, new(), catalogue=CAT, idempotency_key="k1", now=T0)
    b = st.create(county, new(), catalogue=CAT, idempotency_key="k1", now=T0 + H)
    assert a.created and not b.created and a.incident.public_id == b.incident.public_id
    with pytest.raises(st.IdempotencyConflictError, match="different report"):
        st.create(county, new(description="other"), catalogue=CAT, idempotency_key="k1", now=T0)
    with county.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM incidents")).scalar() == 1


def test_concurrent_retries_create_one_incident(county):
    results, errors = [], []

    def go():
        try:
            results.append(st.create(county, new(), catalogue=CAT, idempotency_key="same", now=T0))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({r.incident.public_id for r in results}) == 1 and sum(r.created for r in results) == 1


def test_full_loop_writes_history(county):
    pid = make(county)
    worker = wf.Actor("w1", "worker", {"grid_codes": [G1]})
    hw = dept(county, "城市管理局", "hw")
    act(county, pid, "accept", actor=worker, now=T0 + H)
    inc = act(county, pid, "dispatch", actor=DISPATCHER, now=T0 + 2 * H)
    assert inc.department == department_code(county, "城市管理局")  # the category's department by default
    act(county, pid, "start", actor=hw, now=T0 + 3 * H)
    act(county, pid, "resolve", actor=hw, now=T0 + 4 * H, note="已清运")
    act(county, pid, "verify", actor=worker, now=T0 + 5 * H)
    inc = act(county, pid, "close", actor=DISPATCHER, now=T0 + 6 * H)
    assert inc.status == "closed" and inc.accepted_at == T0 + H and inc.resolved_at == T0 + 4 * H
    assert inc.closed_at == T0 + 6 * H and inc.assignee == "hw"
    hist = st.history(county, pid)
    assert [(h.action, h.from_status, h.to_status, h.actor_name) for h in hist] == [
        ("report", None, "reported", "anonymous"),
        ("accept", "reported", "accepted", "w1"),
        ("dispatch", "accepted", "dispatched", "center"),
        ("start", "dispatched", "in_progress", "hw"),
        ("resolve", "in_progress", "resolved", "hw"),
        ("verify", "resolved", "verified", "w1"),
        ("close", "verified", "closed", "center"),
    ]
    assert hist[4].note == "已清运"
    assert hist[2].details == {"department": hw.department, "department_name": "城市管理局"}
    with pytest.raises(ConflictError, match="cannot accept an incident that is closed; it is final"):
        act(county, pid, "accept")
    assert len(st.history(county, pid)) == 7  # a refused action leaves no trace


def test_every_legal_and_illegal_transition_in_the_database(county):
    """Drive a stored incident into every status and try every action there."""
    paths = {
        "reported": [],
        "accepted": ["accept"],
        "rejected": ["reject"],
        "dispatched": ["accept", "dispatch"],
        "summoned": ["accept", "summon"],
        "in_progress": ["accept", "dispatch", "start"],
        "resolved": ["accept", "start", "resolve"],
        "verified": ["accept", "start", "resolve", "verify"],
        "closed": ["accept", "start", "resolve", "verify", "close"],
        "returned": ["accept", "dispatch", "return"],
        "escalated": ["accept", "escalate"],
    }
    police = department_code(county, "公安局")
    # What each action needs besides its name (the admin acts for the summoned department).
    request = st.ActionRequest(note="处置说明", department=police, departments=(police,))
    redispatch = st.ActionRequest(department="民政局")
    admin = wf.Actor("root", "admin")
    for status, path in paths.items():
        for action in EXPECTED_ROLES:
            if action == "merge":
                continue  # covered by test_merge (it needs a target)
            pid = make(county)
            act(county, pid, *path, actor=admin, request=request)
            assert st.get(county, pid).status == status
            options = redispatch if action == "redispatch" else request
            if action == "act" and status == "summoned":
                act(county, pid, "check_in", actor=admin, request=options)  # 报到 before acting
            if (status, action) in LEGAL:
                inc = act(county, pid, action, actor=admin, request=options)
                # the only summoned department acting completes the summons: the incident moves on
                expected = "resolved" if (status, action) == ("summoned", "act") else LEGAL[(status, action)]
                assert inc.status == expected
            else:
                with pytest.raises(ConflictError):
                    act(county, pid, action, actor=admin, request=options)


def test_history_is_append_only(county):
    pid = make(county)
    with county.connect() as conn:
        for stmt in ("UPDATE incident_history SET note = 'x'", "DELETE FROM incident_history"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                conn.execute(sa.text(stmt))
            conn.rollback()
    assert len(st.history(county, pid)) == 1


def test_permissions_are_checked_on_current_data(county):
    pid = make(county, where=IN_G2)
    with pytest.raises(wf.ActionForbiddenError, match="own grids"):
        act(county, pid, "accept", actor=wf.Actor("w1", "worker", {"grid_codes": [G1]}))
    act(county, pid, "accept", actor=wf.Actor("w2", "worker", {"grid_codes": [G2]}))
    act(county, pid, "dispatch", department="水利局")
    with pytest.raises(wf.ActionForbiddenError, match="dispatched to it"):
        act(county, pid, "start", actor=dept(county, "城市管理局"))
    act(county, pid, "start", actor=dept(county, "水利局"))
    with pytest.raises(NotFoundError):
        act(county, "E99999999", "accept")
    with pytest.raises(GeogridError, match="merge with"):
        act(county, pid, "merge")


def test_escalation_and_return(county):
    pid = make(county)
    act(county, pid, "accept", "dispatch")
    inc = act(county, pid, "escalate", actor=dept(county, "城市管理局"))
    assert (inc.status, inc.level, inc.department) == ("escalated", "village", None)
    inc = act(county, pid, "escalate", level="county")
    assert inc.level == "county"
    with pytest.raises(ConflictError, match="already at the county level"):
        act(county, pid, "escalate")
    inc = act(county, pid, "dispatch", department="应急管理局")
    inc = act(county, pid, "return", actor=dept(county, "应急管理局"))
    assert (inc.status, inc.department) == ("returned", None)
    assert act(county, pid, "dispatch", department="民政局").department == department_code(county, "民政局")


def test_duplicates_and_merge(county):
    a = make(county, where=IN_G1, now=T0)
    near = make(county, where=(IN_G1[0] + 0.0003, IN_G1[1]), now=T0 + 2 * H)  # ~29 m east
    far = make(county, where=(IN_G1[0] + 0.003, IN_G1[1]), now=T0 + H)  # ~285 m
    late = make(county, where=IN_G1, now=T0 + 72 * H)
    other_cat = make(county, category="HW02", where=IN_G1, now=T0)
    dups = st.duplicates(county, a, radius_m=100, window=timedelta(hours=48))
    assert [d.public_id for d in dups] == [near]
    assert 25 < dups[0].distance_m < 35
    assert {d.public_id for d in st.duplicates(county, a, radius_m=500, window=timedelta(hours=48))} == {
        near,
        far,
    }
    assert late not in {
        d.public_id for d in st.duplicates(county, a, radius_m=500, window=timedelta(days=30))
    } - {late} and other_cat not in {d.public_id for d in dups}
    act(county, a, "accept")
    act(county, near, "accept", note="居民重复上报")
    target = st.merge(county, near, into=a, actor=DISPATCHER, note="同一堆垃圾", now=T0 + 3 * H)
    assert target.public_id == a and target.status == "accepted"
    dup = st.get(county, near)
    assert (dup.status, dup.merged_into) == ("merged", a)
    # both histories are kept; each records the merge
    assert [h.action for h in st.history(county, near)] == ["report", "accept", "merge"]
    assert [h.action for h in st.history(county, a)] == ["report", "accept", "absorb"]
    assert st.history(county, a)[-1].details == {"merged": near}
    assert st.merged_ids(county, a) == [near]
    with pytest.raises(ConflictError, match="cannot merge an incident that is merged"):
        st.merge(county, near, into=a, actor=DISPATCHER)
    with pytest.raises(ConflictError, match="cannot merge into"):
        st.merge(county, far, into=near, actor=DISPATCHER)
    with pytest.raises(ConflictError, match="itself"):
        st.merge(county, far, into=far, actor=DISPATCHER)
    with pytest.raises(wf.ActionForbiddenError):
        st.merge(county, far, into=a, actor=wf.Actor("w1", "worker", {"grid_codes": [G1]}))
    # a merged incident is not suggested again
    assert near not in {d.public_id for d in st.duplicates(county, a, radius_m=500, window=timedelta(days=9))}


def test_overdue_with_a_controlled_clock(county):
    r = make(county, category="HW01", now=T0)  # accept within 8 h, complete within 24 h
    acc = make(county, category="HW01", now=T0)
    act(county, acc, "accept", now=T0 + H)
    done = make(county, category="HW01", now=T0)
    act(county, done, "accept", "start", "resolve", now=T0 + 2 * H)
    assert st.overdue(county, now=T0 + 8 * H) == []  # deadlines are inclusive
    late = st.overdue(county, now=T0 + 9 * H)
    assert [i.public_id for i in late] == [r] and late[0].overdue == wf.Overdue(True, False)
    late = st.overdue(county, now=T0 + 25 * H)
    assert {i.public_id for i in late} == {r, acc}
    assert {i.public_id: i.overdue.complete for i in late} == {r: True, acc: True}
    # what a grid worker of another grid sees
    assert st.overdue(county, now=T0 + 25 * H, actor=wf.Actor("w", "worker", {"grid_codes": [G3]})) == []


def test_statistics_match_hand_computed_numbers(county):
    """Six incidents in two months, three grids, two departments.

    | id | month | grid | accepted (due +8h) | resolved (due +24h)   | status    |
    | 1  | 05    | G1   | +1h                | +10h (on time)        | closed    |
    | 2  | 05    | G1   | +9h (late)         | +30h (late)           | resolved  |
    | 3  | 05    | G2   | +2h                | -                     | dispatched|
    | 4  | 05    | G2   | -                  | -                     | reported  |
    | 5  | 06    | G3   | +1h                | +5h                   | verified  |
    | 6  | 06    | G3   | -                  | -                     | rejected  |
    + 7 (05, G1) merged into 1: never counted.
    """
    june = T0 + timedelta(days=31)
    ids = [
        make(county, where=IN_G1, now=T0),
        make(county, where=IN_G1, now=T0),
        make(county, where=IN_G2, now=T0),
        make(county, where=IN_G2, now=T0),
        make(county, where=IN_G3, now=june),
        make(county, where=IN_G3, now=june),
    ]
    dup = make(county, where=IN_G1, now=T0)
    water = department_code(county, "水利局")
    act(county, ids[0], "accept", now=T0 + H)
    act(county, ids[0], "dispatch", now=T0 + H)
    hw = dept(county, "城市管理局", "hw")
    act(county, ids[0], "start", "resolve", actor=hw, now=T0 + 10 * H)
    act(county, ids[0], "verify", "close", now=T0 + 11 * H)
    act(county, ids[1], "accept", now=T0 + 9 * H)
    act(county, ids[1], "dispatch", department=water, now=T0 + 9 * H)
    act(
        county,
        ids[1],
        "start",
        "resolve",
        actor=wf.Actor("water", "department", {"department": water}),
        now=T0 + 30 * H,
    )
    act(county, ids[2], "accept", now=T0 + 2 * H)
    act(county, ids[2], "dispatch", department=water, now=T0 + 2 * H)
    act(county, ids[4], "accept", now=june + H)
    act(
        county,
        ids[4],
        "start",
        "resolve",
        "verify",
        actor=wf.Actor("w3", "worker", {"grid_codes": [G3]}),
        now=june + 5 * H,
    )
    act(county, ids[5], "reject", now=june + H)
    st.merge(county, dup, into=ids[0], actor=DISPATCHER, now=T0 + H)
    now = june + 48 * H  # #3 (dispatched, due May 2) and #4 (reported) are overdue

    [total] = st.statistics(county, now=now)
    assert (
        total.total,
        total.accepted,
        total.completed,
        total.completed_on_time,
        total.closed,
        total.rejected,
    ) == (6, 4, 3, 2, 1, 1)
    assert (total.acceptance_rate, total.completion_rate, total.on_time_rate) == (0.6667, 0.75, 0.6667)
    assert (total.accept_overdue, total.complete_overdue, total.overdue) == (1, 2, 2)

    by_grid = {r.key: r for r in st.statistics(county, group_by="grid", now=now)}
    assert {k: (r.total, r.accepted, r.completed, r.overdue) for k, r in by_grid.items()} == {
        G1: (2, 2, 2, 0),
        G2: (2, 1, 0, 2),
        G3: (2, 1, 1, 0),
    }
    # ranked by on-time rate: G3 1.0, G1 0.5, G2 None (nothing completed) last
    assert [(r.key, r.rank) for r in st.statistics(county, group_by="grid", now=now)] == [
        (G3, 1),
        (G1, 2),
        (G2, 3),
    ]
    assert [(r.key, r.rank) for r in st.statistics(county, group_by="grid", now=now, rank_by="overdue")] == [
        (G1, 1),
        (G3, 1),
        (G2, 3),
    ]

    by_month = {r.period: r for r in st.statistics(county, period="month", now=now)}
    assert {p: (r.total, r.accepted, r.completed) for p, r in by_month.items()} == {
        "2024-05": (4, 3, 2),
        "2024-06": (2, 1, 1),
    }
    assert [r.period for r in st.statistics(county, period="quarter", now=now)] == ["2024-Q2"]
    assert [r.period for r in st.statistics(county, period="year", now=now)] == ["2024"]

    by_dept = {r.key: (r.total, r.completed) for r in st.statistics(county, group_by="department", now=now)}
    assert by_dept == {hw.department: (1, 1), water: (2, 1), None: (3, 1)}  # #5 was handled by its grid
    by_village = {r.key: r.total for r in st.statistics(county, group_by="village", now=now)}
    assert by_village == {V1: 4, V2: 2}
    assert {r.key: r.total for r in st.statistics(county, group_by="township", now=now)} == {TOWNSHIP: 6}
    assert {r.key: r.total for r in st.statistics(county, group_by="category", now=now)} == {"HW": 6}
    workers = {r.key: r.completed for r in st.statistics(county, group_by="worker", now=now)}
    assert workers == {"hw": 1, "water": 1, "w3": 1, None: 0}  # the assignee is whoever started it
    may = st.statistics(county, group_by="grid", filters=st.Filters(date_to=june), now=now)
    assert {r.key for r in may} == {G1, G2}
    with pytest.raises(GeogridError, match="group_by"):
        st.statistics(county, group_by="colour")


def test_heat_cells_equal_python_aggregation(county):
    import numpy as np

    rng = np.random.default_rng(7)
    lon = 120.60 + rng.random(300) * 0.04
    lat = 31.30 + rng.random(300) * 0.01
    for x, y in zip(lon, lat, strict=True):
        st.create(county, st.NewIncident("HW01", float(x), float(y), "patrol"), catalogue=CAT, now=T0)
    cells = heat.cells_for_points(lon, lat, res=heat.STORED_RES)
    for res in (7, 8, 9, 12):
        want = heat.aggregate(cells, res=res)
        got = st.heat_cells(county, res=res)
        assert (
            got["cell"].tolist() == want["cell"].tolist() and got["count"].tolist() == want["count"].tolist()
        )
    box = (120.60, 31.30, 120.62, 31.31)
    inside = lon <= 120.62
    got = st.heat_cells(county, res=8, filters=st.Filters(bbox=box))
    assert int(got["count"].sum()) == int(inside.sum())


def test_heat_cells_bbox_exact_at_its_edges(county):
    """A bbox heatmap (cell ranges on the covering index) counts exactly the points in the bbox,
    edges included, per cell: points on, just inside and just outside each edge, plus filters."""
    import numpy as np
    import pandas as pd

    box = (120.605, 31.302, 120.615, 31.308)
    rng = np.random.default_rng(11)
    n = 600
    lon = rng.uniform(box[0] - 0.002, box[2] + 0.002, n)
    lat = rng.uniform(box[1] - 0.002, box[3] + 0.002, n)
    eps = 1e-9  # ~0.1 mm: far below an H3 res-12 cell, so only the coordinate test can tell
    edge_lon = np.r_[box[0], box[0] - eps, box[0] + eps, box[2], box[2] + eps, box[2] - eps]
    edge_lat = np.r_[box[1], box[1] - eps, box[1] + eps, box[3], box[3] + eps, box[3] - eps]
    lon = np.r_[lon, edge_lon, rng.uniform(box[0], box[2], 6)]
    lat = np.r_[lat, rng.uniform(box[1], box[3], 6), edge_lat]
    cats = np.where(np.arange(lon.size) % 3 == 0, "HW01", "CG01")
    created = [T0 + timedelta(days=int(i % 20)) for i in range(lon.size)]
    frame = pd.DataFrame({"lon": lon, "lat": lat, "category": cats, "created_at": created})
    st.import_incidents(county, frame, catalogue=CAT)
    inside = (lon >= box[0]) & (lon <= box[2]) & (lat >= box[1]) & (lat <= box[3])
    cells = heat.cells_for_points(lon, lat, res=heat.STORED_RES)
    days = np.arange(lon.size) % 20
    for res, keep, f in (
        (9, inside, st.Filters(bbox=box)),
        (12, inside, st.Filters(bbox=box)),
        (8, inside & (cats == "HW01"), st.Filters(bbox=box, category="HW01")),
        (10, inside & (days < 5), st.Filters(bbox=box, date_to=T0 + timedelta(days=5))),
    ):
        want = heat.aggregate(cells[keep], res=res)
        got = st.heat_cells(county, res=res, filters=f)
        assert got["cell"].tolist() == want["cell"].tolist()
        assert got["count"].tolist() == want["count"].tolist()
