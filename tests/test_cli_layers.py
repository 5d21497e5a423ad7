"""``geogrid department``, ``geogrid register`` and ``geogrid linkgroups`` on the test database."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa
from layer_support import VILLAGE, cutting_layer, load_village
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.synthetic_register import make_register

runner = CliRunner()


@pytest.fixture
def cli_env(engine, db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("GEOGRID_DATABASE_URL", db_url)
    monkeypatch.setenv("GEOGRID_REGISTER_KEY", "ab" * 32)
    load_village(engine)
    return engine


def test_department_commands(cli_env, tmp_path):
    path = tmp_path / "综治网格.geojson"
    cutting_layer().to_file(path)
    result = runner.invoke(app, ["department", "import", "ZZB", str(path), "--name", "综治办"])
    assert result.exit_code == 0, result.output
    assert "综治办 (ZZB) layer v1: 6 grids" in result.stdout
    assert runner.invoke(app, ["department", "list"]).stdout.split() == [
        "ZZB",
        "综治办",
        "1",
        "version(s)",
        "v1",
        "部门导入",
    ]
    out, page = tmp_path / "crosswalk.csv", tmp_path / "report.html"
    result = runner.invoke(app, ["department", "report", "ZZB", "--crosswalk", str(out), "--map", str(page)])
    assert result.exit_code == 1  # it cuts through base grids
    assert "cut_base_grids: 12" in result.stdout
    assert len(pd.read_csv(out)) == 40 and page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    result = runner.invoke(app, ["department", "align", "ZZB", "--accept"])
    assert result.exit_code == 0, result.output
    assert "accepted as ZZB v2 (aligned, active)" in result.stdout
    assert (
        runner.invoke(app, ["department", "report", "ZZB"]).exit_code == 0
    )  # the aligned layer cuts nothing


def test_register_and_link_group_commands(cli_env, tmp_path):
    frame = make_register(pd.DataFrame({"address_id": ["A0000", "A0001"], "households": [2, 1]}), seed=3)
    good = tmp_path / "一户一档.xlsx"
    frame.to_excel(good, index=False)
    bad = tmp_path / "坏.csv"
    frame.assign(联系电话="999").to_csv(bad, index=False, encoding="gbk")
    result = runner.invoke(app, ["register", "import", str(bad)])
    assert result.exit_code == 2 and "field 'phone'" in result.output
    result = runner.invoke(app, ["register", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert f"imported {len(frame)} residents in 3 households" in result.stdout
    with cli_env.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT households FROM addresses WHERE source_id = 'A0000'")).scalar() == 2
        )
    result = runner.invoke(app, ["linkgroups", "form", "--division", VILLAGE])
    assert result.exit_code == 0, result.output
    assert "link groups of 1,199 households in 24 grids" in result.stdout
