"""Staff rosters: every role column kept or refused, row errors, storing per post, keys per person."""

from __future__ import annotations

import json
from importlib import resources

import geopandas as gpd
import pandas as pd
import pytest
from incident_support import G1, G2, G3, L1, V1, install_organisation, publish_sample
from shapely.geometry import box
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.db import plans
from geogrid.db.staff import assign_staff, issue_keys, read_staff
from geogrid.errors import ImportRowsError, InputFileError
from geogrid.organisation import load_roles
from geogrid.staff import parse_workers, read_roster
from geogrid.synthetic import make_roster
from tests.support import load_village

VILLAGE = "320508019001"

# Every role of the shipped role set, written out (not read from the code): header → role code.
ALL_ROLE_COLUMNS = {
    "网格长": "grid_head",
    "专职网格员": "full_time_worker",
    "兼职网格员": "part_time_worker",
    "网格指导员": "grid_instructor",
    "网格警务员": "grid_police",
    "网格法务员": "grid_legal",
    "网格信息员": "grid_informant",
    "联户长": "link_leader",
    "网格指挥长": "grid_commander",
    "综治中心调度员": "centre_dispatcher",
    "部门联络员": "department_liaison",
}
HEADER = ["序号", "网格编码", "网格名称", "部门编码", "网格长电话", *ALL_ROLE_COLUMNS]


def _csv(tmp_path, text: str, name: str = "roster.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8-sig")  # as Excel saves "CSV UTF-8"
    return path


def _full_roster() -> pd.DataFrame:
    """One post of every kind with every role column filled where the post allows it."""
    empty = dict.fromkeys(ALL_ROLE_COLUMNS, "")
    rows = [
        {
            **empty,
            "序号": 1,
            "网格编码": G1,
            "网格名称": "东港一网格",
            "网格长": "王芳",
            "网格长电话": "138 0000 0001",
            "专职网格员": "李强 13900000002；赵敏:0512-65123456",
            "兼职网格员": "钱进 13900000003",
            "网格指导员": "孙立 13900000004",
            "网格警务员": "周警官 13900000005",
            "网格法务员": "吴律师 13900000006",
            "网格信息员": "郑晓 13900000007",
        },
        {**empty, "序号": 2, "网格编码": L1, "网格名称": "一组联户", "联户长": "冯大爷 13900000008"},
        {
            **empty,
            "序号": 3,
            "网格编码": V1,
            "网格指挥长": "陈书记 13900000009",
            "综治中心调度员": "褚调度 13900000010、卫调度 13900000011",
        },
        {**empty, "序号": 4, "部门编码": "320508019D01", "部门联络员": "蒋所长 13900000012"},
    ]
    return pd.DataFrame(rows, columns=HEADER, dtype=object).fillna("")


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
    assert roster.attrs["roles"] == ["grid_head", "full_time_worker"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_role_column_is_kept(tmp_path, fmt):
    frame = _full_roster()
    path = tmp_path / f"roster.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False, encoding="utf-8-sig")
    else:
        frame.to_excel(path, index=False)
    roster = read_roster(path)
    assert sorted(roster.attrs["roles"]) == sorted(ALL_ROLE_COLUMNS.values())
    assert roster.attrs["ignored"] == ["序号", "网格名称"]
    assert roster["post"].tolist() == ["grid", "link_group", "division", "department"]
    people = {(p["role"], p["name"], p["phone"]) for ps in roster["people"] for p in ps}
    assert len(people) == 13
    assert ("grid_head", "王芳", "13800000001") in people
    assert ("link_leader", "冯大爷", "13900000008") in people
    assert ("centre_dispatcher", "卫调度", "13900000011") in people
    assert ("department_liaison", "蒋所长", "13900000012") in people
    assert {p["role"] for ps in roster["people"] for p in ps} == set(ALL_ROLE_COLUMNS.values())


def test_a_malformed_roster_is_refused_row_by_row(tmp_path):
    empty = dict.fromkeys(ALL_ROLE_COLUMNS, "")
    bad = pd.DataFrame(
        [
            {**empty, "网格编码": "32050801900", "网格长": "王芳"},  # 11 digits
            {**empty, "网格编码": G2, "网格长": "王芳", "网格长电话": "12345"},  # not a phone
            {**empty, "网格编码": G3, "网格长": "王芳、李强"},  # one head per grid
            {**empty, "网格编码": G2, "联户长": "冯大爷 13900000008"},  # a link group post on a grid
            {**empty, "网格编码": V1, "网格长": "王芳"},  # a grid role on a division
            {**empty, "网格编码": G1, "专职网格员": "李强 999"},  # bad phone in a cell
            {**empty, "网格编码": G1, "部门编码": "320508019D01"},  # two posts in one row
            {**empty, "网格编码": "", "网格长电话": "13800000001"},  # no post
            {**empty, "网格编码": G3},  # G3 again (row 3 was refused, so this is the first G3)
            {**empty, "网格编码": G3},  # duplicate of row 9
        ],
        columns=HEADER,
        dtype=object,
    ).fillna("")
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False, encoding="utf-8-sig")
    with pytest.raises(ImportRowsError) as info:
        read_roster(path)
    got = [(e.row, e.field) for e in info.value.errors]
    assert got == [
        (1, "网格编码"),
        (2, "网格长电话"),
        (3, "网格长"),
        (4, "联户长"),
        (5, "网格长"),
        (6, "专职网格员"),
        (7, "部门编码"),
        (8, "网格编码"),
        (10, "网格编码"),
    ]
    reasons = [e.reason for e in info.value.errors]
    assert "11 digits" in reasons[0] and "not a mainland phone" in reasons[1]
    assert "one 网格长" in reasons[2] and "link_group post" in reasons[3] and "division" in reasons[4]
    assert "already on row 9" in reasons[-1]


def test_an_unknown_column_is_refused_naming_it_or_mapped(tmp_path):
    path = _csv(tmp_path, f"网格编码,网格长,网格管理员\n{G1},王芳,李强 13900000002\n")
    with pytest.raises(InputFileError, match=r"'网格管理员'.*--roles.*--map"):
        read_roster(path)
    roster = read_roster(path, columns={"网格管理员": "专职网格员"})
    assert roster.iloc[0]["workers"] == [{"name": "李强", "phone": "13900000002"}]


def test_the_role_set_is_configurable(tmp_path):
    shipped = json.loads((resources.files("geogrid") / "data" / "roles.json").read_text(encoding="utf-8"))
    shipped["roles"].append(
        {"code": "safety_officer", "name": "网格安全员", "post": "grid", "key_role": "worker", "aliases": []}
    )
    roles_file = tmp_path / "roles.json"
    roles_file.write_text(json.dumps(shipped, ensure_ascii=False), encoding="utf-8")
    path = _csv(tmp_path, f"网格编码,网格安全员\n{G1},严安 13900000013\n")
    with pytest.raises(InputFileError, match="网格安全员"):
        read_roster(path)
    roster = read_roster(path, roles=load_roles(roles_file))
    assert roster.iloc[0]["people"] == [{"role": "safety_officer", "name": "严安", "phone": "13900000013"}]


def test_workers_text_that_is_not_name_and_phone():
    with pytest.raises(ValueError, match="cannot read"):
        parse_workers("13800000000 李强")


@pytest.fixture
def organisation(engine):
    publish_sample(engine, link_groups=True)
    install_organisation(engine)


def test_every_role_is_stored_per_post_and_keys_follow_the_posts(engine, organisation):
    assert assign_staff(engine, read_roster(_full_roster())) == 4
    staff = read_staff(engine)
    assert set(staff["role"]) == set(ALL_ROLE_COLUMNS.values())
    by_role = staff.groupby("role")["post_code"].first().to_dict()
    assert by_role["link_leader"] == L1 and by_role["grid_commander"] == V1
    assert by_role["department_liaison"] == "320508019D01"
    # the grids' head and workers (what lookups answer) follow the roster
    grids = plans.load_published(engine, V1).set_index("code")
    assert grids.loc[G1, "head_name"] == "王芳" and len(grids.loc[G1, "workers"]) == 3
    issued = {k.key_name: k for k in issue_keys(engine)}
    scopes = {(k.account.name, k.account.key_role): k.account.scope for k in issued.values()}
    assert scopes[("王芳", "worker")] == {"grid_codes": [G1]}
    assert scopes[("冯大爷", "worker")] == {"grid_codes": [L1]}
    assert scopes[("陈书记", "dispatcher")] == {"division": V1, "centre": V1}
    assert scopes[("蒋所长", "department")] == {"department": "320508019D01"}
    assert len(issued) == 13 and "王芳·0001" in issued
    assert set(read_staff(engine)["key_name"]) == set(issued)
    assert issue_keys(engine) == []  # everyone has a key
    again = issue_keys(engine, posts=[L1], reissue=True)
    assert [k.key_name for k in again] == ["冯大爷·0008#2"]


def test_a_second_roster_replaces_only_the_roles_it_has(engine, organisation):
    assign_staff(engine, read_roster(_full_roster()))
    update = pd.DataFrame({"网格编码": [G1], "网格警务员": ["许警官 13900000020"]})
    assign_staff(engine, read_roster(update))
    staff = read_staff(engine, posts=[G1])
    assert staff[staff["role"] == "grid_police"]["name"].tolist() == ["许警官"]
    assert staff[staff["role"] == "grid_head"]["name"].tolist() == ["王芳"]  # no column: left alone


def test_posts_that_name_nothing_stored_write_nothing(engine, organisation):
    roster = pd.DataFrame(
        {
            "网格编码": [G1, V1 + "009", "320508019003", ""],
            "部门编码": ["", "", "", "NOPE"],
            "网格长": ["王芳", "李强", "", ""],
            "综治中心调度员": ["", "", "褚调度", ""],
            "部门联络员": ["", "", "", "蒋所长"],
        }
    )
    with pytest.raises(ImportRowsError) as info:
        assign_staff(engine, read_roster(roster))
    assert [(e.row, e.field) for e in info.value.errors] == [(2, "code"), (3, "code"), (4, "department")]
    assert read_staff(engine).empty


@pytest.fixture
def published(engine):
    load_village(engine, VILLAGE, (120.60, 31.30, 120.62, 31.31))
    grids = gpd.GeoDataFrame(
        {
            "code": [VILLAGE + "001", VILLAGE + "002"],
            "division_code": [VILLAGE] * 2,
            "households": [350, 360],
        },
        geometry=[box(120.60, 31.30, 120.61, 31.31), box(120.61, 31.30, 120.62, 31.31)],
        crs="EPSG:4326",
    )
    pid = plans.save_plan(engine, grids, scope_code=VILLAGE)
    plans.publish_plan(engine, pid)
    return grids


def test_assign_then_lookup_shows_the_head(client, engine, published):
    codes = [VILLAGE + "001", VILLAGE + "002"]
    assert assign_staff(engine, make_roster(codes, seed=3)) == 2
    answer = client.get("/lookup", params={"lon": 120.605, "lat": 31.305}).json()
    expected = make_roster(codes, seed=3).iloc[0]
    assert answer["grid"]["head"] == {"name": expected.head_name, "phone": expected.head_phone}
    assert answer["grid"]["workers"] == expected.workers


def test_unknown_codes_write_nothing(engine, published):
    roster = make_roster([VILLAGE + "001", VILLAGE + "009"], seed=1)
    with pytest.raises(ImportRowsError) as info:
        assign_staff(engine, roster)
    assert info.value.errors[0].row == 2 and "no published grid" in info.value.errors[0].reason
    assert plans.load_published(engine, VILLAGE)["head_name"].isna().all()


def test_staff_carries_over_to_a_redraw_that_keeps_the_code(engine, published):
    g1 = VILLAGE + "001"
    assign_staff(engine, make_roster([g1, VILLAGE + "002"], seed=5))
    before = plans.load_published(engine, VILLAGE).set_index("code")
    redraw = published.copy()
    redraw.loc[1, "code"] = VILLAGE + "003"  # the east grid is new; the west one keeps its code
    plans.publish_plan(engine, plans.save_plan(engine, redraw, scope_code=VILLAGE))
    after = plans.load_published(engine, VILLAGE).set_index("code")
    assert after.loc[g1, "head_name"] == before.loc[g1, "head_name"]
    assert after.loc[g1, "workers"] == before.loc[g1, "workers"]
    assert pd.isna(after.loc[VILLAGE + "003", "head_name"])
    assert set(read_staff(engine, posts=[g1])["role"]) == {"grid_head", "full_time_worker"}


def test_cli_import_staff_and_issue_keys(engine, db_url, organisation, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOGRID_DATABASE_URL", db_url)
    path = tmp_path / "roster.csv"
    _full_roster().to_csv(path, index=False, encoding="utf-8-sig")
    result = CliRunner().invoke(app, ["import", "staff", str(path)])
    assert result.exit_code == 0, result.output
    assert "序号、网格名称" in result.output and "联户长" in result.output
    keys_file = tmp_path / "keys.csv"
    result = CliRunner().invoke(app, ["keys", "issue", "--roster", str(path), "--out", str(keys_file)])
    assert result.exit_code == 0, result.output
    handed = pd.read_csv(keys_file, dtype=str, encoding="utf-8-sig")
    assert len(handed) == 13 and handed["API密钥"].str.startswith("gg_").all()
    assert set(handed["账号角色"]) == {"worker", "dispatcher", "department"}
    head = handed[handed["姓名"] == "王芳"].iloc[0]
    assert head["岗位"] == "网格长" and json.loads(head["权限范围"]) == {"grid_codes": [G1]}
    bad = _csv(tmp_path, f"网格编码,网格长\n{VILLAGE}999,陈杰\n", name="bad.csv")
    assert CliRunner().invoke(app, ["import", "staff", str(bad)]).exit_code == 2
