"""The dispatch system through the API against the real PostGIS: keys issued from a roster, tiered
centres, a 吹哨报到 case with two departments (one late), an escalation village → township →
county, 改派, 督办, 报办分离, and who sees what.

The expected steps — who acts, what, and what answers — are written out here as tables, not
read from the code: a 403 for every actor outside its scope, a 409 for every step out of order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from incident_support import (
    COUNTY,
    G1,
    G3,
    IN_G1,
    IN_G3,
    IN_L1,
    IN_L2,
    JUSTICE,
    L1,
    POLICE,
    TOWNSHIP,
    V1,
    V2,
    department_code,
    install_organisation,
    publish_sample,
)

from api.deps import get_now
from geogrid.db import incidents as store
from geogrid.db import notify
from geogrid.db.staff import assign_staff, issue_keys
from geogrid.incidents import load_catalogue
from geogrid.staff import read_roster

CATALOGUE = load_catalogue()


class Clock:
    """The API's clock in these tests: starts now, moves when told."""

    def __init__(self) -> None:
        self.start = datetime.now(UTC).replace(microsecond=0)
        self.now = self.start

    def __call__(self) -> datetime:
        return self.now

    def at(self, hours: float) -> None:
        self.now = self.start + timedelta(hours=hours)


@pytest.fixture
def clock(app):
    c = Clock()
    app.dependency_overrides[get_now] = c
    yield c
    app.dependency_overrides.pop(get_now, None)


@pytest.fixture
def people(engine, api_key):
    """The slice's organisation, a roster of its people and a key for each, issued from the
    roster; plus keys of people outside every post (a viewer, a resident, another township)."""
    publish_sample(engine, link_groups=True)
    install_organisation(engine)
    hw = department_code(engine, "城市管理局")
    housing = department_code(engine, "住房和城乡建设局")
    roster = pd.DataFrame(
        [
            {"网格编码": G1, "网格长": "王芳 13800000001"},
            {"网格编码": G3, "网格长": "赵敏 13800000003"},
            {"网格编码": L1, "联户长": "冯大爷 13800000004"},
            {"网格编码": V1, "综治中心调度员": "东港调度 13800000011"},
            {"网格编码": V2, "综治中心调度员": "西塘调度 13800000012"},
            {"网格编码": TOWNSHIP, "综治中心调度员": "金港调度 13800000013"},
            {"网格编码": COUNTY, "综治中心调度员": "区调度 13800000014"},
            {"部门编码": POLICE, "部门联络员": "派出所长 13800000021"},
            {"部门编码": JUSTICE, "部门联络员": "司法所长 13800000022"},
            {"部门编码": hw, "部门联络员": "城管队长 13800000023"},
            {"部门编码": housing, "部门联络员": "住建科长 13800000024"},
        ],
        dtype=object,
    ).fillna("")
    assign_staff(engine, read_roster(roster))
    keys = {k.account.name: {"X-API-Key": k.key} for k in issue_keys(engine)}
    keys["viewer"] = api_key("viewer")
    keys["resident"] = api_key("resident", name="居民甲")
    keys["other township"] = api_key("dispatcher", division="320508020000", centre="320508020000")
    return keys


def do(client, who, pid, action, **body):
    return client.post(f"/incidents/{pid}/transitions", json={"action": action, **body}, headers=who)


def report(client, who, where, category="HW01"):
    r = client.post("/incidents", json={"category": category, "lon": where[0], "lat": where[1]}, headers=who)
    assert r.status_code == 201, r.text
    return r.json()


# Who stands outside each incident of the whistle case, and may do nothing to it.
OUTSIDERS = ["other township", "西塘调度", "赵敏", "城管队长", "viewer", "resident"]

# The whistle case, written out: (hour, who, action, body, HTTP status, status afterwards).
# The incident is reported by the grid head 王芳 at G1 (village 东港社区) at hour 0.
WHISTLE = [
    (0.5, "金港调度", "accept", {}, 403, "reported"),  # queued at the village centre, not the township's
    (0.5, "派出所长", "accept", {}, 403, "reported"),  # departments do not accept
    (1, "东港调度", "accept", {}, 200, "accepted"),
    (1, "东港调度", "accept", {}, 409, "accepted"),
    (2, "东港调度", "escalate", {}, 200, "escalated"),  # 村居上报
    (2, "东港调度", "summon", {"departments": [POLICE]}, 403, "escalated"),  # now the township's queue
    (2, "金港调度", "escalate", {"level": "village"}, 409, "escalated"),  # escalation goes up
    (2, "派出所长", "check_in", {}, 403, "escalated"),  # not summoned (yet): not its case
    (
        3,
        "金港调度",
        "summon",
        {"departments": ["金港街道派出所", JUSTICE], "report_within_h": 2},
        200,
        "summoned",
    ),
    (3, "金港调度", "summon", {"departments": [POLICE]}, 409, "summoned"),  # one summons at a time
    (3, "金港调度", "dispatch", {"department": "城市管理局"}, 409, "summoned"),
    (3, "金港调度", "escalate", {}, 409, "summoned"),
    (3, "金港调度", "close", {}, 409, "summoned"),
    (3, "城管队长", "check_in", {}, 403, "summoned"),  # not summoned
    (3, "王芳", "check_in", {}, 403, "summoned"),  # grid staff are not departments
    (3, "司法所长", "act", {"note": "已调解"}, 409, "summoned"),  # 报到 first
    (4, "派出所长", "check_in", {"note": "民警已到场"}, 200, "summoned"),  # on time (due at 5)
    (4, "派出所长", "check_in", {}, 409, "summoned"),  # once
    (4.5, "派出所长", "act", {}, 400, "summoned"),  # what it did must be said
    (4.5, "派出所长", "act", {"note": "已维持现场秩序"}, 200, "summoned"),
    (4.5, "派出所长", "act", {"note": "again"}, 409, "summoned"),
    (6, "司法所长", "check_in", {}, 200, "summoned"),  # late
    (7, "司法所长", "act", {"note": "已组织调解，双方达成协议"}, 200, "resolved"),  # the last: moves on
    (7, "王芳", "verify", {}, 403, "resolved"),  # 报办分离: the reporter does not verify
    (8, "金港调度", "verify", {}, 200, "verified"),
    (8, "王芳", "close", {}, 403, "verified"),
    (9, "金港调度", "close", {}, 200, "closed"),
    (9, "金港调度", "close", {}, 409, "closed"),
]


def test_a_whistle_case_end_to_end(client, engine, people, clock):
    clock.at(0)
    pid = report(client, people["王芳"], IN_G1)["id"]
    for hour, who, action, body, code, after in WHISTLE:
        clock.at(hour)
        for outsider in OUTSIDERS:
            r = do(client, people[outsider], pid, action, **body)
            assert r.status_code == 403, (hour, outsider, action, r.text)
        r = do(client, people[who], pid, action, **body)
        assert r.status_code == code, (hour, who, action, r.text)
        assert client.get(f"/incidents/{pid}", headers=people["金港调度"]).json()["status"] == after
        if (hour, who, action) == (4.5, "派出所长", "act") and code == 200:
            clock.at(5.5)  # the report-in deadline (hour 5) has passed: flags are raised now
            raised = notify.raise_flags(engine, catalogue=CATALOGUE, now=clock.now)
            assert {(f.deadline, f.subject, f.colour) for f in raised} >= {("report_in", JUSTICE, "red")}
            assert not [f for f in raised if f.subject == POLICE and f.deadline == "report_in"]

    detail = client.get(f"/incidents/{pid}", headers=people["金港调度"]).json()
    assert [h["action"] for h in detail["history"]] == [
        "report",
        "accept",
        "escalate",
        "summon",
        "check_in",
        "act",
        "check_in",
        "act",
        "summon_complete",
        "verify",
        "close",
    ]
    assert detail["history"][2]["details"]["to_centre"] == TOWNSHIP
    assert detail["history"][2]["details"]["to_centre_name"] == "金港街道综治中心"
    assert detail["centre_code"] == TOWNSHIP and detail["level"] == "township"
    [summons] = detail["summons"]
    assert summons["status"] == "completed" and summons["centre_name"] == "金港街道综治中心"
    by_dept = {d["department"]: d for d in summons["departments"]}
    assert (by_dept[POLICE]["checked_in_on_time"], by_dept[JUSTICE]["checked_in_on_time"]) == (True, False)
    assert by_dept[JUSTICE]["department_name"] == "金港街道司法所"
    assert by_dept[POLICE]["act_note"] == "已维持现场秩序" and by_dept[JUSTICE]["acted_on_time"] is True
    assert detail["history"][6]["details"]["on_time"] is False  # 司法所's late 报到, in the history too
    red = [f for f in detail["flags_raised"] if f["deadline"] == "report_in"]
    assert [(f["subject"], f["colour_name"]) for f in red] == [(JUSTICE, "红牌")]
    # the summoned departments see the case (and only the summoned ones)
    assert client.get(f"/incidents/{pid}", headers=people["司法所长"]).status_code == 200
    assert client.get("/incidents", headers=people["城管队长"]).json()["total"] == 0
    events = {n.event_key for n in notify.notifications(engine, incident=pid)}
    assert {f"summon:{summons['id']}:{POLICE}", f"summon:{summons['id']}:{JUSTICE}"} <= events
    assert any(e.startswith("escalate:") for e in events)
    assert f"flag:{pid}:report_in:{JUSTICE}:red" in events


# The escalation case, written out: reported by 赵敏 at G3 (village 西塘村) at hour 0.
ESCALATION = [
    (1, "西塘调度", "accept", {}, 200, "accepted", "320508019002"),
    (1, "金港调度", "dispatch", {"department": "城市管理局"}, 403, "accepted", "320508019002"),
    (2, "西塘调度", "escalate", {}, 200, "escalated", TOWNSHIP),
    (2, "西塘调度", "dispatch", {"department": "城市管理局"}, 403, "escalated", TOWNSHIP),
    (3, "金港调度", "escalate", {}, 200, "escalated", COUNTY),
    (3, "金港调度", "dispatch", {"department": "城市管理局"}, 403, "escalated", COUNTY),
    (3, "区调度", "escalate", {}, 409, "escalated", COUNTY),  # the highest centre
    (4, "区调度", "dispatch", {"department": "水务局"}, 400, "escalated", COUNTY),  # no such department
    (4, "区调度", "dispatch", {"department": "城市管理局"}, 200, "dispatched", COUNTY),
    (5, "区调度", "redispatch", {"department": "城市管理局"}, 409, "dispatched", COUNTY),  # same one
    (5, "金港调度", "redispatch", {"department": "住房和城乡建设局"}, 403, "dispatched", COUNTY),
    (5, "区调度", "redispatch", {"department": "住房和城乡建设局"}, 200, "dispatched", COUNTY),  # 改派
    (6, "金港调度", "supervise", {"note": "请尽快处理"}, 403, "dispatched", COUNTY),  # above the township
    (
        6,
        "区调度",
        "supervise",
        {"note": "群众反映强烈，请今日办结", "within_h": 4},
        200,
        "dispatched",
        COUNTY,
    ),
    (6, "城管队长", "start", {}, 403, "dispatched", COUNTY),  # no longer theirs
    (7, "住建科长", "start", {}, 200, "in_progress", COUNTY),
    (8, "住建科长", "resolve", {"note": "已修复"}, 200, "resolved", COUNTY),
    (9, "区调度", "verify", {}, 200, "verified", COUNTY),
    (9, "区调度", "close", {}, 200, "closed", COUNTY),
]


def test_escalation_from_village_to_township_to_county(client, engine, people, clock):
    clock.at(0)
    created = report(client, people["赵敏"], IN_G3, category="CG04")
    pid = created["id"]
    assert (created["centre_code"], created["centre_name"], created["level"]) == (
        V2,
        "西塘村综治中心",
        "village",
    )
    for hour, who, action, body, code, after, centre in ESCALATION:
        clock.at(hour)
        for outsider in ("other township", "东港调度", "王芳", "派出所长", "viewer", "resident"):
            assert do(client, people[outsider], pid, action, **body).status_code == 403, (
                hour,
                outsider,
                action,
            )
        r = do(client, people[who], pid, action, **body)
        assert r.status_code == code, (hour, who, action, r.text)
        now = client.get(f"/incidents/{pid}", headers=people["区调度"]).json()
        assert (now["status"], now["centre_code"]) == (after, centre), (hour, who, action)
        if code == 400:
            assert "unknown department '水务局'" in r.json()["detail"]
    history = client.get(f"/incidents/{pid}", headers=people["区调度"]).json()["history"]
    levels = [
        (h["details"]["from_level"], h["details"]["to_level"]) for h in history if h["action"] == "escalate"
    ]
    assert levels == [("village", "township"), ("township", "county")]
    redispatch = next(h for h in history if h["action"] == "redispatch")
    assert redispatch["details"]["from_department_name"] == "城市管理局"
    assert redispatch["action_name"] == "改派"
    [supervision] = store.supervisions_of(engine, pid)
    assert (supervision.target_kind, supervision.centre_code) == ("department", COUNTY)
    assert supervision.due == clock.start + timedelta(hours=10)


def test_each_centre_sees_its_queue_and_its_division(client, people, clock):
    clock.at(0)
    a = report(client, people["王芳"], IN_G1)["id"]
    b = report(client, people["赵敏"], IN_G3)["id"]
    do(client, people["西塘调度"], b, "accept")
    do(client, people["西塘调度"], b, "escalate")
    queues = {c["code"]: c["queue"] for c in client.get("/centres").json()["items"]}
    assert (queues[V1]["open"], queues[V2]["open"], queues[TOWNSHIP]["open"], queues[COUNTY]["open"]) == (
        1,
        0,
        1,
        0,
    )
    listed = client.get(f"/incidents?centre={TOWNSHIP}", headers=people["金港调度"]).json()
    assert [i["id"] for i in listed["items"]] == [b]
    # a village centre sees its village only; the township both; another township nothing
    assert [i["id"] for i in client.get("/incidents", headers=people["东港调度"]).json()["items"]] == [a]
    assert client.get("/incidents", headers=people["金港调度"]).json()["total"] == 2
    assert client.get("/incidents", headers=people["other township"]).json()["total"] == 0
    assert client.get(f"/incidents/{a}", headers=people["西塘调度"]).status_code == 403


def test_grid_staff_see_their_link_groups_and_link_leaders_only_theirs(client, people, clock):
    clock.at(0)
    in_l1 = report(client, people["东港调度"], IN_L1)
    in_l2 = report(client, people["东港调度"], IN_L2)
    assert (in_l1["grid_code"], in_l2["grid_code"]) == (L1, G1 + "02")
    head = {i["id"] for i in client.get("/incidents", headers=people["王芳"]).json()["items"]}
    leader = {i["id"] for i in client.get("/incidents", headers=people["冯大爷"]).json()["items"]}
    assert head == {in_l1["id"], in_l2["id"]} and leader == {in_l1["id"]}
    assert do(client, people["冯大爷"], in_l2["id"], "accept").status_code == 403
    assert do(client, people["冯大爷"], in_l1["id"], "accept").status_code == 200


def test_reporter_handler_separation_is_a_setting(engine, people, clock):
    from fastapi.testclient import TestClient

    from api import create_app
    from api.settings import Settings

    settings = Settings(database_url=str(engine.url), reporter_handler_separation=False, rate_limit_per_key=0)
    app = create_app(settings, engine=engine)
    app.dependency_overrides[get_now] = clock
    with TestClient(app) as client:
        pid = report(client, people["王芳"], IN_G1)["id"]
        for action in ("accept", "start", "resolve", "verify"):
            r = do(client, people["王芳"], pid, action)
            assert r.status_code == 200, (action, r.text)  # one grid head does it all, when allowed


def test_departments_and_centres_are_listed_with_names(client, people):
    depts = {d["code"]: d for d in client.get("/departments").json()["items"]}
    assert depts[POLICE]["name"] == "金港街道派出所" and depts[POLICE]["serves_names"] == ["金港街道"]
    assert depts[POLICE]["level_name"] == "乡镇(街道)"
    serving = {d["code"] for d in client.get(f"/departments?serving={G3}").json()["items"]}
    assert POLICE in serving
    centres = {c["code"]: c["name"] for c in client.get("/centres").json()["items"]}
    assert centres == {
        COUNTY: "姑苏区综治中心",
        TOWNSHIP: "金港街道综治中心",
        V1: "东港社区综治中心",
        V2: "西塘村综治中心",
    }
    assert client.get("/notifications", headers=people["区调度"]).status_code == 403
