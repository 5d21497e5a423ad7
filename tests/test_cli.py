"""The geogrid command: database commands, imports (all-or-nothing, rejected rows) and exports."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from geogrid.cli import app

REPO = Path(__file__).resolve().parents[1]
HELSINKI = REPO / "data" / "helsinki" / "helsinki.gpkg"

runner = CliRunner()


@pytest.fixture
def cli_env(engine, db_url, monkeypatch):
    monkeypatch.setenv("GEOGRID_DATABASE_URL", db_url)
    return engine


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


def test_db_url_and_status_use_the_configured_server(cli_env, db_url):
    assert runner.invoke(app, ["db", "url"]).stdout.strip() == db_url
    assert "external database" in runner.invoke(app, ["db", "status"]).stdout


def test_import_helsinki_area_and_addresses_then_export_round_trip(cli_env, tmp_path):
    result = runner.invoke(app, ["import", "divisions", str(HELSINKI), "--layer", "area"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["import", "addresses", str(HELSINKI), "--layer", "addresses"])
    assert result.exit_code == 0, result.output
    assert "imported 1468 addresses" in result.stdout
    assert _count(cli_env, "addresses") == 1468

    out = tmp_path / "addresses.gpkg"
    result = runner.invoke(app, ["export", "addresses", str(out)])
    assert result.exit_code == 0, result.output
    original = gpd.read_file(HELSINKI, layer="addresses").sort_values("address_id").reset_index(drop=True)
    exported = gpd.read_file(out).sort_values("address_id").reset_index(drop=True)
    assert list(exported["address_id"]) == list(original["address_id"])
    assert list(exported["households"]) == list(original["households"])
    assert list(exported["full_text"]) == list(original["full_text"])
    assert exported.geometry.geom_equals_exact(original.geometry, tolerance=1e-9).all()


def _broken_csv(path: Path) -> Path:
    path.write_text(
        "编号,地址,户数,经度,纬度\n"
        "a1,人民路1号,3,120.61,31.30\n"
        "a2,人民路2号,-4,120.62,31.30\n"  # negative households
        "a3,人民路3号,2,200.0,31.30\n"  # longitude out of range
        "a4,人民路4号,5,120.63,31.31\n",
        encoding="utf-8",
    )
    return path


def test_broken_file_is_reported_by_row_and_writes_nothing(cli_env, tmp_path):
    csv = _broken_csv(tmp_path / "addresses.csv")
    result = runner.invoke(app, ["import", "addresses", str(csv), "--map", "编号=address_id"])
    assert result.exit_code == 2
    assert "row 2" in result.output and "row 3" in result.output
    assert _count(cli_env, "addresses") == 0


def test_rejected_rows_go_to_a_file_and_the_rest_is_imported(cli_env, tmp_path):
    csv = _broken_csv(tmp_path / "addresses.csv")
    rejected = tmp_path / "rejected.csv"
    result = runner.invoke(
        app, ["import", "addresses", str(csv), "--map", "编号=address_id", "--rejected", str(rejected)]
    )
    assert result.exit_code == 0, result.output
    assert _count(cli_env, "addresses") == 2
    text = rejected.read_text(encoding="utf-8")
    assert "人民路2号" in text and "人民路3号" in text and "人民路1号" not in text


def test_partition_a_stored_village_into_a_published_plan(cli_env):
    from geogrid.db import plans, store
    from geogrid.synthetic import make_village

    village = make_village(households=900, kind="rural", seed=4, village_code="320508201201")
    store.load(cli_env, "divisions", village.divisions)
    store.load(cli_env, "addresses", village.addresses)
    store.load(cli_env, "streets", village.streets)
    code = "320508201201"
    result = runner.invoke(app, ["partition", "--division", code, "--publish"])
    assert result.exit_code == 0, result.output
    plan_id = plans.published_plan_id(cli_env, code)
    grids = plans.load_plan(cli_env, plan_id)
    assert grids["households"].sum() == 900
    assert grids["households"].between(50, 100).all()
    assert grids["code"].str.startswith(code).all()
    with cli_env.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM addresses WHERE grid_code IS NULL")).scalar() == 0


def test_partition_needs_a_division_or_files(cli_env):
    result = runner.invoke(app, ["partition"])
    assert result.exit_code == 2
    assert "--division" in result.output


def test_demo_loads_partitions_and_publishes(cli_env):
    from geogrid.demo import run_demo

    summary = run_demo(households=6000, seed=1, scheduler="synchronous", incidents=300)
    assert summary["households"] >= 6000  # the county plus the Helsinki sample
    assert summary["Helsinki plan"] != "none"
    assert summary["grids"] > 0
    assert "320508000000" in summary["published plan"]
    # Every address of the county and of Helsinki now belongs to a grid.
    assert summary["addresses in a grid"] == summary["addresses"]
    again = run_demo(households=6000, seed=1, scheduler="synchronous", incidents=300)  # idempotent
    assert again["published plan"] == summary["published plan"]
    assert summary["incidents"] == again["incidents"] == 300
    # issue 15: a synthetic register in two villages, their 联户, two department layers (loaded once)
    assert summary["register residents"] == again["register residents"] > 0
    assert summary["link groups (联户)"] == again["link groups (联户)"] > 0
    assert summary["department layers"] == again["department layers"] == 2
    with cli_env.connect() as conn:  # the synthetic reports landed in the county's grids
        placed = conn.execute(
            sa.text("SELECT count(*) FROM incidents WHERE grid_code LIKE '320508%'")
        ).scalar()
    assert placed > 250
    with cli_env.connect() as conn:  # every published grid has a (synthetic) grid head
        headless = conn.execute(
            sa.text(
                "SELECT count(*) FROM grids g JOIN plans p ON p.id = g.plan_id AND p.status = 'published' "
                "WHERE g.head_name IS NULL"
            )
        ).scalar()
    assert headless == 0
    with cli_env.connect() as conn:  # the reports ran through the workflow, as a county runs it
        statuses = dict(conn.execute(sa.text("SELECT status, count(*) FROM incidents GROUP BY 1")).all())
        late_check_ins = conn.execute(
            sa.text(
                "SELECT count(*) FROM summon_departments sd JOIN summons s ON s.id = sd.summon_id "
                "WHERE sd.checked_in_at > s.report_due"
            )
        ).scalar()
        actions = set(conn.execute(sa.text("SELECT DISTINCT action FROM incident_history")).scalars())
    assert statuses["closed"] > 150 and statuses.get("reported", 0) < 60
    assert {"accept", "dispatch", "summon", "check_in", "act", "escalate", "close"} <= actions
    assert late_check_ins > 0
