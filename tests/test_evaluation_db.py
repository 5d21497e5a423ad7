"""Evaluation on PostGIS with incidents run through the real workflow: indicators of grids,
roster staff (by name), departments and centres for a China-calendar month, follow-ups (回访)
that reopen within the window, 12345 tickets and their callback status."""

from __future__ import annotations

import pytest
from evaluation_support import ADMIN, CAT, IN_G1, IN_G2, MAY, NOW, ONE_CASE, R, _do, _h, _report, build_month
from incident_support import (
    G1,
    G2,
    G3,
    JUSTICE,
    POLICE,
    TOWNSHIP,
    V1,
    V2,
)

from geogrid import evaluation as ev
from geogrid import incidents as wf
from geogrid.db import evaluation as evdb
from geogrid.db import followups as fudb
from geogrid.db import incidents as store
from geogrid.db.organisation import department_code
from geogrid.errors import ActionForbiddenError, ConflictError


@pytest.fixture
def month(engine):
    return build_month(engine)


def _counts(engine, level, period=MAY, **kw):
    e = evdb.evaluate(engine, level=level, period=period, config=ONE_CASE, now=NOW, **kw)
    return e, {r.code: {k: v for k, v in r.counts.items() if v} for r in e.rows}


G1_MAY = {"reports": 2, "valid_reports": 2, "cases": 2, "accepted": 2, "accepted_on_time": 1, "completed": 1,
          "completed_on_time": 1, "reopened": 1, "overdue": 1, "followups": 2, "satisfied": 1, "unsatisfied": 1}  # fmt: skip
G2_MAY = {"reports": 1, "cases": 1, "overdue": 1}
G3_MAY = {"reports": 2, "valid_reports": 1, "cases": 2, "accepted": 1, "accepted_on_time": 1, "summoned": 2,
          "checked_in_on_time": 1, "completed": 1, "completed_on_time": 1, "supervised": 1, "followups": 1,
          "basically_satisfied": 1}  # fmt: skip


def _add(*rows):
    return {k: sum(r.get(k, 0) for r in rows) for k in {k for r in rows for k in r}}


def test_grid_village_township_and_centre_indicators_of_a_china_month(engine, month):
    _e, grids = _counts(engine, "grid")
    assert grids == {G1: G1_MAY, G2: G2_MAY, G3: G3_MAY}
    assert _counts(engine, "village")[1] == {V1: _add(G1_MAY, G2_MAY), V2: G3_MAY}
    assert _counts(engine, "township")[1] == {TOWNSHIP: _add(G1_MAY, G2_MAY, G3_MAY)}
    # every incident is queued at its village's centre (none escalated); the township's centre and
    # the county's have nothing this month
    centres = _counts(engine, "centre")[1]
    assert centres[V1] == _add(G1_MAY, G2_MAY) and centres[V2] == G3_MAY
    assert centres[TOWNSHIP] == {} and centres["320508000000"] == {}
    # April holds only the report of 23:30 on 30 April; the quarter holds both months
    assert _counts(engine, "grid", ev.parse_period("2024-04"))[1] == {G1: {"reports": 1, "cases": 1, "overdue": 1},
                                                                      G2: {}, G3: {}}  # fmt: skip
    assert _counts(engine, "grid", ev.parse_period("2024-Q2"))[1][G1]["cases"] == 3
    assert _counts(engine, "grid", ev.parse_period("2024-06"))[1] == {
        G1: {},
        G2: {},
        G3: {},
    }  # an empty month


def test_scores_ranks_and_grades_by_hand(engine, month):
    e, _ = _counts(engine, "grid")
    # G3: on-time acceptance 1/2, completion 1, on time 1, rework 0, supervised 1/2, satisfied 1
    #     15×0.5 + 15 + 25 + 10 + 10×0.5 + 25 = 87.5
    # G1: 15×0.5 + 15×0.5 + 25×0.5 + 10×(1−1) + 10×1 + 25×0.5 = 50
    # G2: only on-time acceptance (0) and supervision (none: 1) count: 10 / 25 = 40
    assert [(r.code, r.score, r.rank, r.grade_name) for r in e.rows] == [
        (G3, 87.5, 1, "良好"),  # 3 graded units: 0 优秀 places, 1 at least 良好
        (G1, 50.0, 2, "合格"),
        (G2, 40.0, 3, "合格"),
    ]
    assert [r.name for r in e.rows] == ["西塘网格", "东港一网格", "东港二网格"]
    assert e.rows[1].per_100_households == 0.5  # 2 cases, 400 households
    default = evdb.evaluate(engine, level="grid", period=MAY, now=NOW)  # min_cases 5: nobody is graded
    assert {r.grade_name for r in default.rows} == {"不参评"}
    assert "案件数 2 件少于 5 件" in default.rows[0].note


def test_roster_staff_are_evaluated_by_name(engine, month):
    e, workers = _counts(engine, "worker")
    names = {r.code: r.name for r in e.rows}
    by_name = {names[c].split("（")[0]: v for c, v in workers.items()}
    # 王芳's reports are counted from her key, her cases from her grid
    assert by_name["王芳"] == G1_MAY
    assert by_name["李雷"] == {"cases": 1, "overdue": 1}  # reported nothing himself
    assert by_name["赵敏"] == {k: v for k, v in G3_MAY.items() if k not in ("reports", "valid_reports")}
    assert sorted(names.values()) == [
        "李雷（专职网格员，东港二网格）",
        "王芳（网格长，东港一网格）",
        "赵敏（网格长，西塘网格）",
    ]
    # a township scope lists the workers posted there
    scoped = evdb.evaluate(engine, level="worker", period=MAY, config=ONE_CASE, now=NOW,
                           filters=store.Filters(division=V2))  # fmt: skip
    assert [r.name.split("（")[0] for r in scoped.rows] == ["赵敏"]


def test_departments_count_their_own_summons_and_supervisions(engine, month):
    hw = department_code(engine, "城市管理局")
    _e, depts = _counts(engine, "department")
    assert depts[hw] == {"reports": 1, "valid_reports": 1, "cases": 1, "accepted": 1, "accepted_on_time": 1,
                         "completed": 1, "completed_on_time": 1, "followups": 1, "satisfied": 1}  # fmt: skip
    common = {"reports": 1, "valid_reports": 1, "cases": 1, "accepted": 1, "accepted_on_time": 1, "summoned": 1,
              "completed": 1, "completed_on_time": 1, "followups": 1, "basically_satisfied": 1}  # fmt: skip
    assert depts[POLICE] == {**common, "checked_in_on_time": 1}
    assert depts[JUSTICE] == common  # checked in late
    # the 督办 went to the village centre that had the summoned case, not to a department
    assert all("supervised" not in v for v in depts.values())


def test_an_unsatisfied_follow_up_reopens_within_the_window(engine, month):
    inc = store.get(engine, month[2])
    assert inc.status == "in_progress" and inc.resolved_at is None and inc.closed_at is None
    assert inc.complete_due == _h(72 + 24)  # a fresh time limit for the rework
    history = store.history(engine, month[2])
    assert [h.action for h in history][-2:] == ["follow_up", "reopen"]
    [f] = fudb.followups_of(engine, inc.id)
    assert (f.verdict, f.note, f.reopened, f.channel) == ("unsatisfied", "还是很脏", True, "hotline")
    # case 1 was followed up (满意) after its closing: one follow-up per closing
    with pytest.raises(ConflictError, match="已回访"):
        fudb.record(engine, month[1], fudb.FollowUpRequest("不满意"), actor=ADMIN, catalogue=CAT, now=_h(50))
    assert store.get(engine, month[1]).status == "closed"


def test_follow_up_window_is_configurable_and_only_closed_cases_are_followed_up(engine, month):
    late = _report(engine, IN_G1, by="r2", role="resident", at=_h(100))
    _do(engine, late, [(101, "accept", R()), (102, "start", R()), (103, "resolve", R())])
    with pytest.raises(ConflictError, match="只能回访已结案"):
        fudb.record(engine, late, fudb.FollowUpRequest("满意"), actor=ADMIN, catalogue=CAT, now=_h(104))
    _do(engine, late, [(104, "verify", R()), (105, "close", R())])
    with pytest.raises(ActionForbiddenError, match="只有上报人本人"):
        fudb.record(engine, late, fudb.FollowUpRequest("满意", channel="reporter"), actor=wf.Actor("r1", "resident"),
                    catalogue=CAT, now=_h(106))  # fmt: skip
    done = fudb.record(engine, late, fudb.FollowUpRequest("不满意"), actor=ADMIN, catalogue=CAT, now=_h(105 + 48),
                       within_days=1)  # fmt: skip
    assert not done.followup.reopened and done.incident.status == "closed"
    assert done.reason == "结案已超过 1 天，不满意不再重办"


def test_hotline_tickets_and_their_callback_status(engine, month):
    inc = store.get(engine, month[4])
    assert (inc.hotline_ticket, inc.callback_status) == ("2024050100001", "pending")
    assert inc.as_json()["callback_status_name"] == "待回访"
    with pytest.raises(ConflictError, match="2024050100001"):
        _report(engine, IN_G2, by="admin", role="admin", at=_h(5), ticket="2024050100001")
    with pytest.raises(wf.GeogridError, match="12345"):
        _report(engine, IN_G2, by="w", role="worker", at=_h(5), ticket="2024050100002")  # patrol: no ticket
    pid = _report(engine, IN_G2, by="12345热线", role="dispatcher", at=_h(6), ticket="2024050100003")
    _do(
        engine,
        pid,
        [(7, "accept", R()), (7, "start", R()), (8, "resolve", R()), (9, "verify", R()), (10, "close", R())],
    )
    fudb.record(engine, pid, fudb.FollowUpRequest(None), actor=ADMIN, catalogue=CAT, now=_h(11))
    assert store.get(engine, pid).callback_status == "unreachable"


def test_the_orm_describes_the_evaluation_tables(engine, month):
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from geogrid.db.evaluation_models import FollowUp, HotlineTicket

    inspector = sa.inspect(engine)
    for model in (FollowUp, HotlineTicket):
        stored = {c["name"] for c in inspector.get_columns(model.__tablename__)}
        assert set(model.__table__.columns.keys()) == stored, model.__tablename__
    with Session(engine) as session:
        verdicts = sorted(v for v in session.scalars(sa.select(FollowUp.verdict)))
        assert verdicts == ["basically_satisfied", "satisfied", "unsatisfied"]
        assert session.scalars(sa.select(HotlineTicket.ticket_no)).all() == ["2024050100001"]
