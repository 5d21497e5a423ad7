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
        "a2,人民路2号,-4,120.62,31.30\n"      # negative households
        "a3,人民路3号,2,200.0,31.30\n"        # longitude out of range
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
