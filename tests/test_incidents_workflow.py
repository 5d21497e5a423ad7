"""The pure incident workflow: every (status, action) pair, permissions, deadlines, catalogue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from geogrid import incidents as wf
from geogrid.errors import ConflictError, GeogridError

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)

# The workflow as the issue describes it, written out independently of wf.TRANSITIONS.
LEGAL = {
    ("reported", "accept"): "accepted",
    ("reported", "reject"): "rejected",
    ("accepted", "dispatch"): "dispatched",
    ("returned", "dispatch"): "dispatched",
    ("escalated", "dispatch"): "dispatched",
    # 改派: the dispatching centre sends it to another department.
    ("dispatched", "redispatch"): "dispatched",
    ("in_progress", "redispatch"): "dispatched",
    # 吹哨报到: summon departments; each checks in and acts; the centre may close the summons.
    ("accepted", "summon"): "summoned",
    ("returned", "summon"): "summoned",
    ("escalated", "summon"): "summoned",
    ("summoned", "check_in"): "summoned",
    ("summoned", "act"): "summoned",
    ("summoned", "close_summons"): "resolved",
    ("accepted", "start"): "in_progress",
    ("dispatched", "start"): "in_progress",
    ("dispatched", "return"): "returned",
    ("in_progress", "return"): "returned",
    ("in_progress", "resolve"): "resolved",
    ("resolved", "reopen"): "in_progress",
    ("resolved", "verify"): "verified",
    ("verified", "close"): "closed",
    **{
        (s, "escalate"): "escalated"
        for s in ("accepted", "dispatched", "in_progress", "returned", "escalated")
    },
    **{
        (s, "merge"): "merged"
        for s in ("reported", "accepted", "dispatched", "in_progress", "returned", "escalated")
    },
    # 督办 on anything still open; it changes no status.
    **{
        (s, "supervise"): s
        for s in ("reported", "accepted", "dispatched", "summoned", "in_progress", "returned", "escalated")
    },
}
# Who may take each action besides admin (报办分离: departments and grid workers handle, the
# dispatch centre dispatches, merges and closes), written out independently of wf.TRANSITIONS.
EXPECTED_ROLES = {
    "accept": {"dispatcher", "worker"},
    "reject": {"dispatcher", "worker"},
    "dispatch": {"dispatcher"},
    "redispatch": {"dispatcher"},
    "summon": {"dispatcher"},
    "check_in": {"department"},
    "act": {"department"},
    "close_summons": {"dispatcher"},
    "supervise": {"dispatcher"},
    "start": {"department", "worker"},
    "return": {"department", "worker"},
    "escalate": {"dispatcher", "worker", "department"},
    "resolve": {"department", "worker"},
    "reopen": {"dispatcher", "worker"},
    "verify": {"dispatcher", "worker"},
    "close": {"dispatcher"},
    "merge": {"dispatcher"},
}
EXPECTED_STATUSES = (
    "reported",
    "accepted",
    "rejected",
    "dispatched",
    "summoned",
    "in_progress",
    "resolved",
    "verified",
    "closed",
    "returned",
    "escalated",
    "merged",
)
PAIRS = [(s, a) for s in EXPECTED_STATUSES for a in EXPECTED_ROLES]


def test_the_code_has_exactly_the_expected_statuses_actions_and_roles():
    assert set(wf.STATUSES) == set(EXPECTED_STATUSES)
    assert set(wf.ACTIONS) == set(EXPECTED_ROLES)
    assert {a: set(t.roles) for a, t in wf.TRANSITIONS.items()} == EXPECTED_ROLES


@pytest.mark.parametrize(("status", "action"), PAIRS)
def test_every_status_action_pair(status, action):
    if (status, action) in LEGAL:
        assert wf.next_status(status, action) == LEGAL[(status, action)]
    else:
        with pytest.raises(ConflictError, match=f"cannot {action} an incident that is {status}"):
            wf.next_status(status, action)


def test_final_statuses_allow_nothing():
    for s in wf.FINAL_STATUSES:
        assert wf.allowed_actions(s) == []


def test_unknown_action_and_status():
    with pytest.raises(GeogridError, match="unknown action"):
        wf.next_status("reported", "teleport")
    with pytest.raises(GeogridError, match="unknown status"):
        wf.next_status("lost", "accept")


def test_dispatch_defaults_to_category_department_and_needs_one():
    c = wf.apply_action(wf.IncidentState("accepted", category_department="城市管理局"), "dispatch", now=T0)
    assert c.updates["department"] == "城市管理局" and c.details == {"department": "城市管理局"}
    c = wf.apply_action(
        wf.IncidentState("accepted", category_department="城市管理局"),
        "dispatch",
        now=T0,
        department="水务局",
        assignee="张三",
    )
    assert (c.updates["department"], c.updates["assignee"]) == ("水务局", "张三")
    with pytest.raises(GeogridError, match="needs a department"):
        wf.apply_action(wf.IncidentState("accepted"), "dispatch", now=T0)


def test_escalation_goes_up_one_level_at_a_time_or_to_a_named_higher_level():
    s = wf.IncidentState("accepted", level="grid", department="x")
    c = wf.apply_action(s, "escalate", now=T0)
    assert c.updates["level"] == "village" and c.updates["department"] is None
    assert c.details == {"from_level": "grid", "to_level": "village"}
    c = wf.apply_action(wf.IncidentState("escalated", level="village"), "escalate", now=T0, level="county")
    assert c.updates["level"] == "county"
    with pytest.raises(ConflictError, match="escalation goes up"):
        wf.apply_action(wf.IncidentState("escalated", level="township"), "escalate", now=T0, level="village")
    with pytest.raises(ConflictError, match="already at the county level"):
        wf.apply_action(wf.IncidentState("escalated", level="county"), "escalate", now=T0)
    with pytest.raises(GeogridError, match="level must be one of"):
        wf.apply_action(wf.IncidentState("accepted"), "escalate", now=T0, level="province")


def test_timestamps_follow_the_loop():
    assert wf.apply_action(wf.IncidentState("reported"), "accept", now=T0).updates["accepted_at"] == T0
    assert wf.apply_action(wf.IncidentState("in_progress"), "resolve", now=T0).updates["resolved_at"] == T0
    assert wf.apply_action(wf.IncidentState("resolved"), "reopen", now=T0).updates["resolved_at"] is None
    assert wf.apply_action(wf.IncidentState("verified"), "close", now=T0).updates["closed_at"] == T0
    r = wf.apply_action(
        wf.IncidentState("dispatched", department="水务局", assignee="李四"), "return", now=T0
    )
    assert r.updates["department"] is None and r.details == {"returned_by_department": "水务局"}
    with pytest.raises(GeogridError, match="timezone-aware"):
        wf.apply_action(wf.IncidentState("reported"), "accept", now=datetime(2024, 5, 1))


GRID = "320508019044003"
OTHER_GRID = "320508019044004"


@pytest.mark.parametrize("action", sorted(EXPECTED_ROLES))
def test_permissions_per_role(action):
    roles = EXPECTED_ROLES[action]
    admin = wf.Actor("root", "admin")
    wf.authorize(admin, action, grid_code=None, department=None)
    for role in ("viewer", "planner", "resident"):
        with pytest.raises(wf.ActionForbiddenError):
            wf.authorize(wf.Actor("x", role), action, grid_code=GRID, department="水务局")
    worker = wf.Actor("w", "worker", {"grid_codes": [GRID]})
    dept = wf.Actor("d", "department", {"department": "水务局"})
    dispatcher = wf.Actor("c", "dispatcher")
    if "worker" in roles:
        wf.authorize(worker, action, grid_code=GRID, department=None)
        with pytest.raises(wf.ActionForbiddenError, match="own grids"):
            wf.authorize(worker, action, grid_code=OTHER_GRID, department=None)
    else:
        with pytest.raises(wf.ActionForbiddenError, match="may not"):
            wf.authorize(worker, action, grid_code=GRID, department=None)
    if "department" in roles and action in ("check_in", "act"):
        wf.authorize(dept, action, grid_code=GRID, department=None, summoned_now={"水务局", "民政局"})
        with pytest.raises(wf.ActionForbiddenError, match="not summoned"):
            wf.authorize(dept, action, grid_code=GRID, department="水务局", summoned_now={"民政局"})
    elif "department" in roles:
        wf.authorize(dept, action, grid_code=GRID, department="水务局")
        with pytest.raises(wf.ActionForbiddenError, match="dispatched to it"):
            wf.authorize(dept, action, grid_code=GRID, department="城市管理局")
    else:
        with pytest.raises(wf.ActionForbiddenError):
            wf.authorize(dept, action, grid_code=GRID, department="水务局", summoned_now={"水务局"})
    if "dispatcher" in roles:
        wf.authorize(dispatcher, action, grid_code=OTHER_GRID, department=None)
    else:
        with pytest.raises(wf.ActionForbiddenError):
            wf.authorize(dispatcher, action, grid_code=GRID, department=None)


def test_visibility_and_contact():
    kw = {"grid_code": GRID, "department": "水务局", "reporter_key_name": "resident-1"}
    assert wf.in_scope(wf.Actor("v", "viewer"), **kw)
    assert not wf.may_see_contact(wf.Actor("v", "viewer"), **kw)
    assert wf.may_see_contact(wf.Actor("c", "dispatcher"), **kw)
    assert wf.may_see_contact(wf.Actor("resident-1", "resident"), **kw)
    assert not wf.in_scope(wf.Actor("resident-2", "resident"), **kw)
    assert wf.in_scope(wf.Actor("d", "department", {"department": "水务局"}), **kw)
    assert not wf.in_scope(wf.Actor("d", "department", {"department": "民政局"}), **kw)
    assert not wf.in_scope(wf.Actor("anonymous", "anonymous"), **kw)


def test_default_catalogue_is_the_grid_duty_list():
    cat = wf.load_catalogue()
    majors = {c.major_name for c in cat}
    # the grid duties of the county reports (网格事项清单)
    assert {"党建引领", "矛盾纠纷", "社会治安", "安全隐患", "民生服务", "防返贫监测", "疫情防控"} <= majors
    assert all(c.name_en and c.department and c.accept_hours <= c.complete_hours for c in cat)
    # incidents about people are private; hazards on the street may go on a notice board
    private = {c.major_code for c in cat if not c.public}
    assert {"MD", "ZA", "FP", "GA", "XF"} <= private and not {"AQ", "CG", "HW"} & private
    # accept within 8 hours unless the category says otherwise
    assert cat.get("HW01").accept_hours == 8 and cat.get("AQ02").accept_hours == 1
    d = cat.deadlines("HW01", T0)
    assert d == wf.Deadlines(T0 + timedelta(hours=8), T0 + timedelta(hours=24))
    with pytest.raises(wf.CategoryError, match="unknown category 'XX99'"):
        cat.get("XX99")


def test_categories_by_code_or_chinese_name():
    cat = wf.load_catalogue()
    for c in cat:
        assert cat.get(c.name) is c and cat.code_of(c.name) == c.code == cat.code_of(c.code)
        assert cat.code_of(c.major_name) == c.major_code and cat.name_of(c.major_code) == c.major_name
    with pytest.raises(wf.CategoryError, match="unknown category '没有这类'"):
        cat.code_of("没有这类")


def test_urban_catalogue_stays_as_an_alternative(tmp_path):
    urban = wf.load_catalogue("urban")
    assert {c.major_name for c in urban} >= {"城市管理", "环境卫生", "治安隐患", "安全生产"}
    assert urban.get("ZA01").public is False and urban.get("HW01").public is True
    # a path works too
    p = tmp_path / "mine.json"
    p.write_text(
        json.dumps(
            {
                "majors": [
                    {"code": "A", "name": "甲", "department": "d", "minors": [{"code": "A1", "name": "乙"}]}
                ]
            }
        ),
        encoding="utf-8",
    )
    assert wf.load_catalogue(p).get("乙").public is False  # private unless the file says otherwise


def test_catalogue_errors_name_the_entry(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(
        json.dumps(
            {
                "majors": [
                    {
                        "code": "A",
                        "name": "甲",
                        "department": "d",
                        "minors": [{"code": "A1", "name": "x", "accept_hours": 9, "complete_hours": 4}],
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(wf.CategoryError, match=r"majors\[0\].minors\[0\] \(A1\): need 0 < accept_hours"):
        wf.load_catalogue(p)
    p.write_text("{", encoding="utf-8")
    with pytest.raises(wf.CategoryError, match="not valid JSON"):
        wf.load_catalogue(p)
    with pytest.raises(wf.CategoryError, match="does not exist"):
        wf.load_catalogue(tmp_path / "missing.json")
    two = {"code": "A", "name": "甲", "department": "d", "minors": [{"code": "A1", "name": "甲"}]}
    p.write_text(json.dumps({"majors": [two]}), encoding="utf-8")
    with pytest.raises(wf.CategoryError, match="categories A and A1 have the same name '甲'"):
        wf.load_catalogue(p)
    two["minors"] = [{"code": "A1", "name": "乙", "public": "yes"}]
    p.write_text(json.dumps({"majors": [two]}), encoding="utf-8")
    with pytest.raises(wf.CategoryError, match="'public' must be true or false"):
        wf.load_catalogue(p)


def test_overdue_flags():
    a, c = T0 + timedelta(hours=8), T0 + timedelta(hours=24)
    assert wf.overdue_flags("reported", accept_due=a, complete_due=c, now=a) == wf.Overdue(False, False)
    assert wf.overdue_flags("reported", accept_due=a, complete_due=c, now=a + timedelta(seconds=1)).accept
    assert wf.overdue_flags(
        "in_progress", accept_due=a, complete_due=c, now=c + timedelta(hours=1)
    ) == wf.Overdue(False, True)
    for s in ("resolved", "verified", "closed", "rejected", "merged"):
        assert not wf.overdue_flags(s, accept_due=a, complete_due=c, now=c + timedelta(days=30)).any


def test_rate():
    assert wf.rate(1, 3) == 0.3333 and wf.rate(0, 0) is None
