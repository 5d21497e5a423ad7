"""Grid staff rosters: reading and checking, assigning to stored grids, carrying over on re-draws."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.db import plans
from geogrid.db.staff import assign_staff
from geogrid.errors import ImportRowsError
from geogrid.staff import parse_workers, read_roster
from geogrid.synthetic import make_roster
from tests.support import load_village

VILLAGE = "320508019001"
G1, G2 = VILLAGE + "001", VILLAGE + "002"


def _csv(tmp_path, text: str):
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8-sig")  # as Excel saves "CSV UTF-8"
    return path


def test_roster_with_chinese_headers(tmp_path):
    path = _csv(
        tmp_path,
        "网格编码,网格长,联系电话,网格员\n"
        f"{G1},王芳,138 0000 0001,李强 13900000002；赵敏:0512-65123456\n"
        f"{G2},陈杰,+8613700000003,\n",
    )
    roster = read_roster(path)
    assert roster["code"].tolist() == [G1, G2]
    assert roster["head_phone"].tolist() == ["13800000001", "13700000003"]
    assert roster["workers"].iloc[0] == [
        {"name": "李强", "phone": "13900000002"},
        {"name": "赵敏", "phone": "051265123456"},
    ]
    assert roster["workers"].iloc[1] == []


@pytest.mark.parametrize(
    ("row", "field", "needle"),
    [
        ("32050801900,王芳,13800000001,", "code", "11 digits"),
        (f"{VILLAGE},王芳,13800000001,", "code", "not a grid code"),
        (f"{G2},王芳,12345,", "head_phone", "not a mainland phone"),
        (f"{G2},,13800000001,", "head_name", "without a grid head"),
        (f"{G2},王芳,13800000001,李强 999", "workers", "not a mainland phone"),
        (f"{G1},王芳,13800000001,", "code", "already on row 1"),
    ],
)
def test_bad_roster_rows_are_named(tmp_path, row, field, needle):
    path = _csv(tmp_path, f"网格编码,网格长,联系电话,网格员\n{G1},陈杰,13700000003,\n{row}\n")
    with pytest.raises(ImportRowsError) as info:
        read_roster(path)
    (error,) = info.value.errors
    assert (error.row, error.field) == (2, field)
    assert needle in error.reason


def test_workers_text_that_is_not_name_and_phone():
    with pytest.raises(ValueError, match="cannot read"):
        parse_workers("13800000000 李强")


@pytest.fixture
def published(engine):
    load_village(engine, VILLAGE, (120.60, 31.30, 120.62, 31.31))
    grids = gpd.GeoDataFrame(
        {"code": [G1, G2], "division_code": [VILLAGE] * 2, "households": [350, 360]},
        geometry=[box(120.60, 31.30, 120.61, 31.31), box(120.61, 31.30, 120.62, 31.31)],
        crs="EPSG:4326",
    )
    pid = plans.save_plan(engine, grids, scope_code=VILLAGE)
    plans.publish_plan(engine, pid)
    return grids


def test_assign_then_lookup_shows_the_head(client, engine, published):
    assert assign_staff(engine, make_roster([G1, G2], seed=3)) == 2
    answer = client.get("/lookup", params={"lon": 120.605, "lat": 31.305}).json()
    expected = make_roster([G1, G2], seed=3).iloc[0]
    assert answer["grid"]["head"] == {"name": expected.head_name, "phone": expected.head_phone}
    assert answer["grid"]["workers"] == expected.workers


def test_unknown_codes_write_nothing(engine, published):
    roster = make_roster([G1, VILLAGE + "009"], seed=1)
    with pytest.raises(ImportRowsError) as info:
        assign_staff(engine, roster)
    assert info.value.errors[0].row == 2 and "no published grid" in info.value.errors[0].reason
    assert plans.load_published(engine, VILLAGE)["head_name"].isna().all()


def test_staff_carries_over_to_a_redraw_that_keeps_the_code(engine, published):
    assign_staff(engine, make_roster([G1, G2], seed=5))
    before = plans.load_published(engine, VILLAGE).set_index("code")
    redraw = published.copy()
    redraw.loc[1, "code"] = VILLAGE + "003"  # the east grid is new; the west one keeps its code
    plans.publish_plan(engine, plans.save_plan(engine, redraw, scope_code=VILLAGE))
    after = plans.load_published(engine, VILLAGE).set_index("code")
    assert after.loc[G1, "head_name"] == before.loc[G1, "head_name"]
    assert after.loc[G1, "workers"] == before.loc[G1, "workers"]
    assert pd.isna(after.loc[VILLAGE + "003", "head_name"])


def test_cli_import_staff(engine, db_url, published, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOGRID_DATABASE_URL", db_url)
    path = _csv(tmp_path, f"网格编码,网格长,联系电话\n{G2},陈杰,13700000003\n")
    result = CliRunner().invoke(app, ["import", "staff", str(path)])
    assert result.exit_code == 0, result.output
    assert plans.load_published(engine, VILLAGE).set_index("code").loc[G2, "head_name"] == "陈杰"
    bad = _csv(tmp_path, f"网格编码,网格长,联系电话\n{VILLAGE}999,陈杰,13700000003\n")
    assert CliRunner().invoke(app, ["import", "staff", str(bad)]).exit_code == 2
