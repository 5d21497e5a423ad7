"""A month of incidents run through the workflow for evaluation tests (hand-countable)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from incident_support import G1, G2, G3, JUSTICE, POLICE, install_organisation, publish_sample

from geogrid import evaluation as ev
from geogrid import incidents as wf
from geogrid.db import followups as fudb
from geogrid.db import incidents as store
from geogrid.db.staff import assign_staff, issue_keys
from geogrid.staff import read_roster

CAT = wf.load_catalogue()
ADMIN = wf.Actor("admin", "admin")
T0 = datetime(2024, 5, 1, 1, 0, tzinfo=UTC)  # 09:00 on 1 May in China
NOW = T0 + timedelta(days=30)
MAY = ev.parse_period("2024-05")
ONE_CASE = ev.EvaluationConfig(weights=ev.load_config().weights, min_cases=1)


def _h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _report(engine, where, *, by: str, role: str, at: datetime, category="HW01", source=None, ticket=None):
    lon, lat = where
    new = store.NewIncident(
        category=category,
        lon=lon,
        lat=lat,
        source=source or wf.report_source(role),
        reporter_key_name=by,
        reporter_role=role,
        hotline_ticket=ticket,
    )
    return store.create(engine, new, catalogue=CAT, now=at).incident.public_id


def _do(engine, pid, steps):
    for hours, action, request in steps:
        store.transition(engine, pid, action, actor=ADMIN, catalogue=CAT, request=request, now=_h(hours))


R = wf.ActionRequest
IN_G1, IN_G2, IN_G3 = (120.605, 31.305), (120.615, 31.305), (120.630, 31.305)


def build_month(engine) -> dict[int, str]:
    """A May of six reports, written out (accept due after 8 h; HW01 done in 24 h, MD01 in 168 h):

    1. G1, 王芳's patrol report: accepted at 1 h, dispatched to 城市管理局, resolved at 5 h, closed; 回访 满意
    2. G1, 王芳's: accepted late (12 h), resolved late (30 h), verification failed (reopen), closed;
       回访 不满意 on day 3 → reopened (返工), open and overdue at the end of the month
    3. G3, a resident's dispute (MD01): 吹哨 派出所 (报到 on time) and 司法所 (late), resolved at 7 h,
       督办 while summoned; the resident's own verdict 基本满意
    4. G2, a 12345 hotline report (ticket 2024050100001): never accepted, overdue
    5. G3, reported 00:30 on 1 May China time (16:30 UTC on 30 April): rejected
    6. G1, 王芳's, 23:30 on 30 April China time: April, not May
    """
    publish_sample(engine)
    install_organisation(engine)
    roster = pd.DataFrame(
        [
            {"网格编码": G1, "网格长": "王芳 13800000001"},
            {"网格编码": G2, "专职网格员": "李雷 13800000002"},
            {"网格编码": G3, "网格长": "赵敏 13800000003"},
        ],
        dtype=object,
    ).fillna("")
    assign_staff(engine, read_roster(roster))
    wang = next(k.key_name for k in issue_keys(engine) if k.account.name == "王芳")
    ids = {}
    ids[1] = _report(engine, IN_G1, by=wang, role="worker", at=T0)
    _do(engine, ids[1], [(1, "accept", R()), (1, "dispatch", R()), (2, "start", R()), (5, "resolve", R()),
                         (6, "verify", R()), (7, "close", R())])  # fmt: skip
    fudb.record(engine, ids[1], fudb.FollowUpRequest("满意"), actor=ADMIN, catalogue=CAT, now=_h(48))
    ids[2] = _report(engine, IN_G1, by=wang, role="worker", at=_h(2))
    _do(engine, ids[2], [(12, "accept", R()), (13, "start", R()), (30, "resolve", R()), (31, "reopen", R()),
                         (32, "resolve", R()), (33, "verify", R()), (34, "close", R())])  # fmt: skip
    ids[3] = _report(engine, IN_G3, by="r1", role="resident", at=_h(1), category="MD01")
    police, justice = R(department=POLICE, note="已到场"), R(department=JUSTICE, note="已调解")
    _do(engine, ids[3], [(2, "accept", R()), (3, "summon", R(departments=(POLICE, JUSTICE), report_within_h=2)),
                         (3.5, "supervise", R(note="请尽快处置")), (4, "check_in", police), (4.5, "act", police),
                         (6, "check_in", justice), (7, "act", justice), (8, "verify", R()), (9, "close", R())])  # fmt: skip
    ids[4] = _report(engine, IN_G2, by="admin", role="admin", at=_h(3), ticket="2024050100001")
    ids[5] = _report(engine, IN_G3, by="r1", role="resident", at=datetime(2024, 4, 30, 16, 30, tzinfo=UTC))
    _do(engine, ids[5], [(1, "reject", R())])
    ids[6] = _report(engine, IN_G1, by=wang, role="worker", at=datetime(2024, 4, 30, 15, 30, tzinfo=UTC))
    resident = wf.Actor("r1", "resident")
    fudb.record(engine, ids[3], fudb.FollowUpRequest("基本满意", channel="reporter"), actor=resident, catalogue=CAT,
                now=_h(30))  # fmt: skip
    fudb.record(
        engine, ids[2], fudb.FollowUpRequest("不满意", "还是很脏"), actor=ADMIN, catalogue=CAT, now=_h(72)
    )
    return ids
