"""Repair from what is stored: the CLI (``geogrid repair --division``) and the API (a draft from a
repair request, then the existing validate / diff / publish) against the real PostGIS."""

from __future__ import annotations

import shapely
import sqlalchemy as sa
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.db import plans as db_plans
from geogrid.db import store
from geogrid.db.workflow import partition_scope
from geogrid.scenarios import growth
from geogrid.synthetic import make_county

COUNTY = "320506"
SCOPE = COUNTY + "000000"
runner = CliRunner()


def _load_published_county(engine) -> tuple[str, str]:
    """A small synthetic county, partitioned and published; new housing then built in one village.

    Returns the grown village's code and kind.
    """
    county = make_county(households=3_000, seed=2, county_code=COUNTY)
    for name in ("divisions", "addresses", "streets"):
        store.load(engine, name, getattr(county, name))
    done = partition_scope(engine, SCOPE, scheduler="synchronous", progress=False, publish=True)
    assert done.info.status == "published"
    published = db_plans.load_published(engine, SCOPE)
    village = published["division_code"].value_counts().index[0]
    kind = county.divisions.set_index("code").loc[village, "kind"]
    grids = published[published["division_code"] == village]
    mine = county.addresses[county.addresses["village_code"] == village]
    new = growth(grids, mine, kind, share=0.1, seed=4).addresses
    new = new[~new["address_id"].isin(mine["address_id"])].assign(full_text="新建小区")
    store.load(engine, "addresses", new, source="new estate")
    return village, kind


def _published_rows(engine) -> dict[str, bytes]:
    frame = db_plans.load_published(engine, SCOPE)
    return dict(zip(frame["code"], shapely.to_wkb(frame.geometry.values), strict=True))


def test_cli_repair_saves_a_draft_and_publishes_it(engine, db_url, monkeypatch):
    monkeypatch.setenv("GEOGRID_DATABASE_URL", db_url)
    village, _ = _load_published_county(engine)
    before = _published_rows(engine)
    result = runner.invoke(app, ["repair", "--division", village])
    assert result.exit_code == 0, result.output
    assert "拆分" in result.output or "调整边界" in result.output or "局部重划" in result.output
    drafts = [p for p in db_plans.list_plans(engine) if p.status == "draft"]
    assert len(drafts) == 1 and drafts[0].scope_code == village
    assert _published_rows(engine) == before  # a draft changes nothing that is published

    result = runner.invoke(app, ["repair", "--division", village, "--publish"])
    assert result.exit_code == 0, result.output
    after = _published_rows(engine)
    # The village's re-draw became the county's next version; other villages are untouched.
    assert db_plans.get_plan(engine, db_plans.published_plan_id(engine, SCOPE)).version == 2
    others = {c: w for c, w in before.items() if not c.startswith(village)}
    assert {c: after[c] for c in others} == others
    kept = [c for c in before if c.startswith(village) and after.get(c) == before[c]]
    assert len(kept) >= 0.9 * (sum(c.startswith(village) for c in before) - 1)

    again = runner.invoke(app, ["repair", "--division", SCOPE])
    assert again.exit_code == 0 and "nothing to repair" in again.output


def test_api_repair_is_a_draft_to_validate_diff_and_publish(client, engine, api_key):
    village, _ = _load_published_county(engine)
    planner = api_key("planner", name="规划员")
    response = client.post("/plans/repair", params={"division": SCOPE}, headers=planner)
    assert response.status_code == 201, response.text
    body = response.json()
    plan_id = body["id"]
    assert response.headers["location"] == f"/plans/{plan_id}" and body["status"] == "draft"
    repaired = body["repair"]["villages"]
    assert [v["code"] for v in repaired] == [village] and repaired[0]["status_zh"] == "已调整"
    assert repaired[0]["name"] and body["repair"]["unchanged_villages"] >= 1
    assert all(op["description"] for op in body["repair"]["operations"])

    validation = client.get(f"/plans/{plan_id}/validation").json()
    assert validation["ok"], validation["counts"]
    diff = client.get(f"/plans/{plan_id}/diff").json()
    changed = {g["code"] for g in diff["grids"] if g["change"] != "unchanged"}
    assert changed and all(c.startswith(village) for c in changed)
    published = client.post(f"/plans/{plan_id}/publish", headers=planner)
    assert published.status_code == 200, published.text

    nothing = client.post("/plans/repair", params={"division": SCOPE}, headers=planner)
    assert nothing.status_code == 409 and "nothing to repair" in nothing.json()["detail"]
    viewer = api_key("viewer")
    assert client.post("/plans/repair", params={"division": SCOPE}, headers=viewer).status_code == 403
    bad = client.post("/plans/repair", params={"division": "12345"}, headers=planner)
    assert bad.status_code == 400
    with engine.connect() as conn:
        drafts = conn.execute(sa.text("SELECT count(*) FROM plans WHERE status = 'draft'")).scalar()
    assert drafts == 0
