"""The bulk replay writes what the workflow writes: the same scripts, once replayed in bulk and
once action by action through :func:`geogrid.db.incidents.transition`, store the same incidents,
history, summonses and 督办."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from conftest import truncate_all
from incident_support import G1, G2, G3, IN_G1, IN_G2, IN_G3, install_organisation, publish_sample

from geogrid import incidents as wf
from geogrid.db import incidents as st
from geogrid.db import replay as bulk
from geogrid.db.organisation import list_centres, list_departments
from geogrid.db.staff import assign_staff
from geogrid.errors import ActionForbiddenError
from geogrid.replay import Step
from geogrid.simulate import scripts
from geogrid.synthetic import make_roster

CAT = wf.load_catalogue()
NOW = datetime(2024, 6, 1, 4, tzinfo=UTC)


def setup_county(engine, n: int = 120) -> None:
    """The slice with its organisation, a roster and ``n`` reports over the 20 days before NOW."""
    publish_sample(engine)
    install_organisation(engine)
    centres = [c.code for c in list_centres(engine)]
    departments = [d.code for d in list_departments(engine)]
    assign_staff(engine, make_roster([G1, G2, G3], seed=1, centres=centres, departments=departments))
    rng = np.random.default_rng(5)
    categories = sorted(CAT.categories)
    for i in range(n):
        where = (IN_G1, IN_G2, IN_G3)[i % 3]
        created = NOW - timedelta(hours=float(rng.uniform(1, 480)))
        category = str(rng.choice(categories))
        st.create(engine, st.NewIncident(category, *where, "hotline"), catalogue=CAT, now=created)


def snapshot(engine) -> dict:
    queries = {
        "incidents": "SELECT id, status, level, department, assignee, centre_code, accepted_at, resolved_at, "
        "closed_at, updated_at FROM incidents ORDER BY id",
        "history": "SELECT incident_id, from_status, to_status, action, actor_name, actor_role, at, note, details "
        "FROM incident_history ORDER BY incident_id, at, id",
        "summons": "SELECT id, incident_id, centre_code, called_by, called_at, report_due, act_due, status, "
        "closed_at, outcome FROM summons ORDER BY id",
        "summoned": "SELECT * FROM summon_departments ORDER BY summon_id, department_code",
        "supervisions": "SELECT id, incident_id, centre_code, by_name, note, due, target_kind, target_code, "
        "created_at FROM supervisions ORDER BY id",
    }
    with engine.connect() as conn:
        return {k: [tuple(r) for r in conn.execute(sa.text(q)).all()] for k, q in queries.items()}


def test_bulk_replay_stores_what_the_workflow_stores(engine):
    setup_county(engine)
    with engine.connect() as conn:
        cases = bulk.load_cases(conn)
        plans = scripts(cases, bulk.people(conn, CAT), CAT, now=NOW, seed=2)
    actions = Counter(s.action for plan in plans.values() for s in plan)
    # the scripts exercise the whole system (else this test would prove less than it claims)
    for action in ("accept", "reject", "dispatch", "redispatch", "escalate", "summon", "check_in", "act"):
        assert actions[action] > 0, action
    assert actions["supervise"] > 0 and actions["close"] > 0 and actions["start"] > 0
    statuses = bulk.replay_incidents(engine, CAT, now=NOW, scripts=plans)
    assert {"closed", "rejected"} <= set(statuses) and set(statuses) & wf.OPEN_STATUSES  # some still open
    in_bulk = snapshot(engine)

    truncate_all(engine)
    setup_county(engine)
    by_id = {c.id: c.public_id for c in cases}
    for case_id, plan in plans.items():
        for step in plan:
            st.transition(
                engine,
                by_id[case_id],
                step.action,
                actor=step.actor,
                catalogue=CAT,
                request=step.request,
                now=step.at,
            )
    one_by_one = snapshot(engine)
    for table in in_bulk:
        assert in_bulk[table] == one_by_one[table], table
    late = [r for r in in_bulk["summoned"] if r[2] is not None]
    assert late  # departments checked in, some of them late: kept for evaluation


def test_a_step_the_workflow_refuses_is_refused_in_bulk_too(engine):
    setup_county(engine, n=1)
    with engine.connect() as conn:
        [case] = bulk.load_cases(conn)
    outsider = wf.Actor("外人", "worker", {"grid_codes": ["320508099001001"]})
    with pytest.raises(ActionForbiddenError, match=case.public_id):
        bulk.replay_incidents(engine, CAT, now=NOW, scripts={case.id: [Step("accept", outsider, NOW)]})
    assert st.get(engine, case.public_id).status == "reported"  # nothing written
