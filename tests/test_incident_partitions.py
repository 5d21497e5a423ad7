"""Incidents partitioned by month (migration 0013): rows moved by the migration and back, months
in China Standard Time, the default partition and the months created later, the id registry
that foreign keys reference, idempotency keys under concurrency, and partition pruning."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from incident_support import IN_G1, install_organisation, publish_sample

from geogrid import incidents as wf
from geogrid.db import incidents as st
from geogrid.db import make_engine, migrate

CAT = wf.load_catalogue()
BEFORE = "0013_incidents_by_month-1"  # the revision before 0013, wherever the chain puts it
#: Report times around the end of March 2025 in China Standard Time (+08:00).
MARCH_1_0100_CST = datetime(2025, 2, 28, 17, 0, tzinfo=UTC)
MARCH_31_2300_CST = datetime(2025, 3, 31, 15, 0, tzinfo=UTC)
APRIL_1_0030_CST = datetime(2025, 3, 31, 16, 30, tzinfo=UTC)

_OLD_INSERT = """
INSERT INTO incidents (category_major, category_minor, source, status, location, h3_cell,
    idempotency_key, idempotency_hash, merged_into, accept_due, complete_due, created_at, updated_at)
VALUES ('HW', 'HW01', 'patrol', :status, ST_SetSRID(ST_Point(120.6, 31.3), 4326), 1, :key, :hash,
    :merged, :at, :at, :at, :at)
RETURNING id
"""


def _old_incident(conn, at, *, key=None, merged=None) -> int:
    params = {"status": "merged" if merged else "reported", "key": key, "hash": "h" if key else None}
    new_id = conn.execute(sa.text(_OLD_INSERT), {**params, "merged": merged, "at": at}).scalar_one()
    conn.execute(
        sa.text(
            "INSERT INTO incident_history (incident_id, to_status, action, actor_name, actor_role) "
            "VALUES (:i, 'reported', 'report', 'test', 'admin')"
        ),
        {"i": new_id},
    )
    return new_id


_LATER_TABLE = (
    "CREATE TABLE callbacks (id bigserial PRIMARY KEY, "
    "incident_id bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE)"
)


def _fk_definition(conn, table: str) -> str:
    return conn.execute(
        sa.text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' AND conrelid = CAST(:t AS regclass)"
        ),
        {"t": table},
    ).scalar_one()


def _referencing(conn, table: str) -> set[str]:
    """Tables with a foreign key to ``table`` (inherited copies on partitions left out)."""
    rows = conn.execute(
        sa.text(
            "SELECT DISTINCT conrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND confrelid = CAST(:t AS regclass) AND conparentid = 0"
        ),
        {"t": table},
    )
    return {r for (r,) in rows}


def _partition_of(conn, incident_id: int) -> str:
    return conn.execute(
        sa.text("SELECT tableoid::regclass::text FROM incidents WHERE id = :i"), {"i": incident_id}
    ).scalar_one()


def _old_rows(engine) -> tuple[int, int, int]:
    with engine.begin() as conn:
        a = _old_incident(conn, MARCH_1_0100_CST, key="phone:1")
        b = _old_incident(conn, MARCH_31_2300_CST)
        c = _old_incident(conn, APRIL_1_0030_CST, merged=b)
    return a, b, c


def _check_partitioned(engine, a: int, b: int, c: int) -> None:
    with engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT relkind FROM pg_class WHERE relname = 'incidents'")).scalar() == "p"
        )
        # months of China Standard Time: 31 March 23:00 +08:00 is March, 1 April 00:30 is April
        assert [_partition_of(conn, i) for i in (a, b, c)] == [
            "incidents_y2025m03",
            "incidents_y2025m03",
            "incidents_y2025m04",
        ]
        keys = conn.execute(sa.text("SELECT key, hash, incident_id FROM incident_keys")).all()
        assert [tuple(k) for k in keys] == [("phone:1", "h", a)]
        assert not _referencing(conn, "incidents")
        assert {"incident_history", "incident_photos", "incident_contact_reads", "summons", "incidents"} <= (
            _referencing(conn, "incident_ids")
        )
    assert st.get(engine, f"E{c:08d}").merged_into == f"E{b:08d}"
    assert [h.action for h in st.history(engine, f"E{a:08d}")] == ["report"]


def test_migration_moves_rows_by_month_and_back(fresh_db_url):
    engine = make_engine(fresh_db_url)
    try:
        migrate.upgrade(engine, BEFORE)
        a, b, c = _old_rows(engine)
        with engine.begin() as conn:  # a table of a later issue that references incidents, like 0012's
            conn.execute(sa.text(_LATER_TABLE))
        migrate.upgrade(engine)
        _check_partitioned(engine, a, b, c)
        with engine.connect() as conn:
            assert "callbacks" in _referencing(conn, "incident_ids")
            assert "ON DELETE CASCADE" in _fk_definition(conn, "callbacks")
        with pytest.raises(sa.exc.IntegrityError, match="incident_ids"), engine.begin() as conn:
            _old_history(conn, 999)
        with pytest.raises(sa.exc.ProgrammingError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("UPDATE incident_history SET note = 'x'"))
        migrate.downgrade(engine, BEFORE)
        with engine.connect() as conn:
            assert (
                conn.execute(sa.text("SELECT relkind FROM pg_class WHERE relname = 'incidents'")).scalar()
                == "r"
            )
            rows = conn.execute(
                sa.text("SELECT id, idempotency_key, merged_into FROM incidents ORDER BY id")
            ).all()
            assert [tuple(r) for r in rows] == [(a, "phone:1", None), (b, None, None), (c, None, b)]
            assert {"incident_history", "callbacks"} <= _referencing(conn, "incidents")
            assert conn.execute(sa.text("SELECT to_regclass('incident_ids')")).scalar() is None
        migrate.upgrade(engine)
        _check_partitioned(engine, a, b, c)
    finally:
        engine.dispose()


def _old_history(conn, incident_id: int) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO incident_history (incident_id, to_status, action, actor_name, actor_role) "
            "VALUES (:i, 'reported', 'report', 'test', 'admin')"
        ),
        {"i": incident_id},
    )


@pytest.fixture
def county(engine):
    publish_sample(engine)
    install_organisation(engine, centres=False)
    return engine


def _new() -> st.NewIncident:
    return st.NewIncident("HW01", IN_G1[0], IN_G1[1], "patrol")


def test_a_month_without_partition_goes_to_default_until_created(county):
    when = datetime(2031, 5, 10, 4, 0, tzinfo=UTC)
    created = st.create(county, _new(), catalogue=CAT, now=when).incident
    with county.connect() as conn:
        assert _partition_of(conn, created.id) == "incidents_default"
    assert st.ensure_months(county, when, when) == 1
    assert st.ensure_months(county, when, when) == 0
    with county.connect() as conn:
        assert _partition_of(conn, created.id) == "incidents_y2031m05"
        registered = conn.execute(
            sa.text("SELECT created_at FROM incident_ids WHERE id = :i"), {"i": created.id}
        ).scalar_one()
    assert registered == when
    assert st.get(county, created.public_id).created_at == when
    [may] = [p for p in st.partitions(county) if p.name == "incidents_y2031m05"]
    assert (may.start, may.end) == (
        datetime(2031, 4, 30, 16, tzinfo=UTC),
        datetime(2031, 5, 31, 16, tzinfo=UTC),
    )
    assert st.partitions(county)[-1].name == "incidents_default"
    # the id stays unique across months: the registry refuses a second row with it
    with pytest.raises(sa.exc.IntegrityError, match="incident_ids_pkey"), county.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO incidents (id, category_major, category_minor, source, location, h3_cell, "
                "accept_due, complete_due, created_at, updated_at) "
                "SELECT id, category_major, category_minor, source, location, h3_cell, accept_due, "
                "complete_due, created_at - interval '2 months', updated_at FROM incidents WHERE id = :i"
            ),
            {"i": created.id},
        )


def test_twenty_parallel_first_uses_of_a_key_make_one_incident(county):
    when = datetime(2025, 6, 1, tzinfo=UTC)
    barrier = threading.Barrier(20)
    results, errors = [], []

    def go() -> None:
        barrier.wait()
        try:
            results.append(st.create(county, _new(), catalogue=CAT, idempotency_key="phone:same", now=when))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({r.incident.public_id for r in results}) == 1 and sum(r.created for r in results) == 1
    with county.connect() as conn:
        counts = [
            conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("incidents", "incident_ids", "incident_keys")
        ]
    assert counts == [1, 1, 1]


def _plan(conn, sql: str, params: dict) -> str:
    return "\n".join(r[0] for r in conn.execute(sa.text("EXPLAIN " + sql), params))


def test_a_months_stats_and_heatmap_read_one_partition(county):
    st.ensure_months(county, datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC))
    june = st.Filters(
        date_from=datetime(2025, 5, 31, 16, tzinfo=UTC),  # 1 June 00:00 +08:00
        date_to=datetime(2025, 6, 30, 16, tzinfo=UTC),
    )
    params: dict = {}
    where = june.sql(params)
    with county.connect() as conn:
        stats = _plan(
            conn, f"SELECT i.village_code, count(*) FROM incidents i WHERE TRUE {where} GROUP BY 1", params
        )
        whole = _plan(conn, "SELECT i.village_code, count(*) FROM incidents i GROUP BY 1", {})
    assert _months(stats) == ["incidents_y2025m06"]
    assert len(_months(whole)) > 12 and "incidents_default" in whole
    # the heatmap's own statement, through the library, reads the same single month
    st.create(county, _new(), catalogue=CAT, now=datetime(2025, 6, 2, tzinfo=UTC))
    st.create(county, _new(), catalogue=CAT, now=datetime(2025, 7, 2, tzinfo=UTC))
    assert int(st.heat_cells(county, res=8, filters=june)["count"].sum()) == 1


def _months(plan: str) -> list[str]:
    import re

    return sorted(set(re.findall(r"incidents_(?:y\d{4}m\d{2}|default)", plan)))


def test_import_creates_the_months_it_loads(county):
    import pandas as pd

    frame = pd.DataFrame(
        {
            "lon": [IN_G1[0]] * 2,
            "lat": [IN_G1[1]] * 2,
            "category": ["HW01"] * 2,
            "created_at": [
                datetime(2029, 1, 15, tzinfo=UTC),
                datetime(2029, 3, 15, tzinfo=UTC) + timedelta(hours=1),
            ],
        }
    )
    st.import_incidents(county, frame, catalogue=CAT, actor_name="test")
    with county.connect() as conn:
        where = (
            conn.execute(sa.text("SELECT tableoid::regclass::text FROM incidents ORDER BY id"))
            .scalars()
            .all()
        )
    assert where == ["incidents_y2029m01", "incidents_y2029m03"]
    assert {"incidents_y2029m01", "incidents_y2029m02", "incidents_y2029m03"} <= {
        p.name for p in st.partitions(county)
    }


def test_the_partitions_command_creates_months_ahead(county, db_url, monkeypatch):
    from typer.testing import CliRunner

    from geogrid.cli import app

    monkeypatch.setenv("GEOGRID_DATABASE_URL", db_url)
    result = CliRunner().invoke(app, ["db", "partitions", "--ahead", "14"])
    assert result.exit_code == 0, result.output
    with county.connect() as conn:
        in_14_months = conn.execute(
            sa.text(
                "SELECT 'incidents_y' || to_char(t, 'YYYY') || 'm' || to_char(t, 'MM') "
                "FROM (SELECT (now() AT TIME ZONE 'Asia/Shanghai') + interval '14 months' AS t) x"
            )
        ).scalar_one()
    names = [p.name for p in st.partitions(county)]
    assert in_14_months in names and "created " in result.output and "incidents_default" in result.output
    refused = CliRunner().invoke(app, ["db", "partitions", "--ahead", "-1"])
    assert refused.exit_code == 1 and "months must be 0..120" in refused.output


def test_a_divisions_incidents_are_found_by_prefix_index(county):
    """The division filter (grid or village code by prefix) can be answered by the pattern indexes
    of migration 0014 in every month, instead of reading every incident."""
    st.ensure_months(county, datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC))
    params: dict = {}
    where = st.Filters(division="320508019").sql(params)
    with county.begin() as conn:
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))  # tiny tables: ask what *can* be used
        plan = _plan(conn, f"SELECT count(*) FROM incidents i WHERE TRUE {where}", params)
    assert "Seq Scan" not in plan, plan
    assert plan.count("Bitmap Index Scan") >= 2 * 3, plan  # grid and village code, in each month
    assert "~>=~" in plan, plan  # the pattern operators: a prefix range, not a full index read
