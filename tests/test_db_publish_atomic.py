"""Publishing and rolling back are all or nothing, and never leave two published plans on one spot.

Failures are injected into the real PostGIS: a trigger makes the address-assignment statement
fail, or a step of the publish is replaced by one that fails after doing its work.  Whatever
fails, the published plan, every address's grid and the tiles stay exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from geogrid.db import plans
from geogrid.db.rawpool import pool_for
from geogrid.db.tiles import data_version
from geogrid.errors import ConflictError
from tests.api_support import COUNTY, TOWNSHIP, V1, V2, load_township, plan_a, tile_of

TILE = "/collections/grids/tiles/WebMercatorQuad/{}/{}/{}".format(*tile_of(120.61, 31.31, 12))

_FAIL_FUNCTION = """
CREATE OR REPLACE FUNCTION geogrid_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'injected failure while assigning address %', NEW.source_id;
END $$
"""
# Only the statement that points addresses at their new grids fails (grid_code set, not cleared).
_FAIL_TRIGGER = (
    "CREATE TRIGGER geogrid_test_fail BEFORE UPDATE OF grid_code ON addresses "
    "FOR EACH ROW WHEN (NEW.grid_code IS NOT NULL) EXECUTE FUNCTION geogrid_test_fail()"
)


@pytest.fixture
def failing_assignment(engine) -> Iterator[Callable[[], None]]:
    """``arm()`` makes assigning an address to a grid raise inside the database until the test ends."""

    def arm() -> None:
        with engine.begin() as conn:
            conn.execute(sa.text(_FAIL_FUNCTION))
            conn.execute(sa.text(_FAIL_TRIGGER))

    try:
        yield arm
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER IF EXISTS geogrid_test_fail ON addresses"))
            conn.execute(sa.text("DROP FUNCTION IF EXISTS geogrid_test_fail()"))


def _state(engine, client) -> dict:
    """Everything a reader sees: plan statuses, every address's grid, grid counts, the tile."""
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.text("SELECT id, status FROM plans ORDER BY id")).all())
        published = conn.execute(
            sa.text("SELECT id, scope_code, version, published_at FROM plans WHERE status = 'published'")
        ).all()
        addresses = dict(conn.execute(sa.text("SELECT source_id, grid_code FROM addresses")).all())
        counts = conn.execute(
            sa.text("SELECT plan_id, code, households, address_count FROM grids ORDER BY plan_id, code")
        ).all()
    tile = client.get(TILE)
    assert tile.status_code == 200
    return {
        "statuses": statuses,
        "published": published,
        "addresses": addresses,
        "counts": counts,
        "data_version": data_version(pool_for(engine)),
        "tile": (tile.headers["etag"], tile.content),
    }


def test_publish_that_fails_while_assigning_addresses_changes_nothing(engine, client, failing_assignment):
    ids = load_township(engine, publish="a")
    failing_assignment()
    before = _state(engine, client)
    assert before["statuses"] == {ids["a"]: "published", ids["b"]: "draft"}
    with pytest.raises(sa.exc.DBAPIError, match="injected failure"):
        plans.publish_plan(engine, ids["b"])
    after = _state(engine, client)
    assert after == before
    etag = before["tile"][0]
    assert client.get(TILE, headers={"If-None-Match": etag}).status_code == 304


def test_rollback_that_fails_while_assigning_addresses_changes_nothing(engine, client, failing_assignment):
    ids = load_township(engine, publish="a")
    plans.publish_plan(engine, ids["b"])
    failing_assignment()
    before = _state(engine, client)
    assert before["statuses"] == {ids["a"]: "retired", ids["b"]: "published"}
    with pytest.raises(sa.exc.DBAPIError, match="injected failure"):
        plans.rollback_plan(engine, TOWNSHIP)
    assert _state(engine, client) == before


@pytest.mark.parametrize("step", ["_carry_staff", "_assign_addresses"])
def test_publish_failing_after_a_step_did_its_work_changes_nothing(engine, client, monkeypatch, step):
    ids = load_township(engine, publish="a")
    before = _state(engine, client)
    real = getattr(plans, step)

    def fail_after(conn, *args):
        real(conn, *args)  # the step's statements ran inside the publish transaction ...
        raise RuntimeError(f"injected failure after {step}")  # ... and then the publish fails

    monkeypatch.setattr(plans, step, fail_after)
    with pytest.raises(RuntimeError, match="injected failure"):
        plans.publish_plan(engine, ids["b"])
    monkeypatch.undo()
    assert _state(engine, client) == before
    # The same draft publishes cleanly once nothing fails.
    assert plans.publish_plan(engine, ids["b"]).status == "published"
    assert _state(engine, client)["addresses"] != before["addresses"]


# --------------------------------------------------------------------------- nested scopes


def _published_grids_at(engine, lon: float, lat: float) -> list[tuple[int, str]]:
    """(plan id, grid code) of every 15-digit published grid containing the point."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT p.id, g.code FROM grids g JOIN plans p ON p.id = g.plan_id "
                "WHERE p.status = 'published' AND length(g.code) = 15 "
                "AND ST_Intersects(g.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
            ),
            {"x": lon, "y": lat},
        ).all()


def _village_plan(village: str):
    frame = plan_a()
    return frame[frame["division_code"] == village].reset_index(drop=True)


@pytest.mark.parametrize("outer", [TOWNSHIP, COUNTY])
def test_publishing_a_larger_scope_retires_the_published_plans_inside_it(engine, outer):
    load_township(engine, publish=None)
    village = plans.save_plan(engine, _village_plan(V1), scope_code=V1)
    plans.publish_plan(engine, village)
    other = plans.save_plan(engine, _village_plan(V2), scope_code=V2)
    plans.publish_plan(engine, other)
    larger = plans.save_plan(engine, plan_a(), scope_code=outer)
    plans.publish_plan(engine, larger)
    assert plans.get_plan(engine, village).status == "retired"
    assert plans.get_plan(engine, other).status == "retired"
    with engine.connect() as conn:
        published = conn.execute(sa.text("SELECT id FROM plans WHERE status = 'published'")).scalars().all()
    assert published == [larger]
    for lon in (120.603, 120.607, 120.613, 120.617):
        assert [pid for pid, _ in _published_grids_at(engine, lon, 31.305)] == [larger]
    # Rolling the larger scope back has no earlier plan of its own scope to return to.
    with pytest.raises(ConflictError, match="no earlier"):
        plans.rollback_plan(engine, outer)
