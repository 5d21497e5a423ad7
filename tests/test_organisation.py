"""The dispatch organisation: departments and centres imported all or nothing, defaults, tiers."""

from __future__ import annotations

import pandas as pd
import pytest
from incident_support import COUNTY, TOWNSHIP, V1, V2, publish_sample
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.db import organisation as org
from geogrid.errors import ConflictError, ImportRowsError, InputFileError
from geogrid.incidents import load_catalogue
from geogrid.organisation import (
    default_departments,
    escalation_target,
    queue_centre,
    read_centres,
    read_departments,
)

DEPARTMENTS_CSV = (
    "部门编码,部门名称,所属区划,层级,服务区划\n"
    "GA,公安局,320508,县级,\n"
    "JGPCS,金港派出所,320508019,乡镇级,320508019000、320508020000\n"
    "SW,水务局,320508000000,,320508\n"
)


def _write(tmp_path, text: str, name: str = "departments.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8-sig")
    return path


def test_departments_from_a_spreadsheet(tmp_path):
    depts = read_departments(_write(tmp_path, DEPARTMENTS_CSV))
    assert [(d.code, d.name, d.level, d.division_code) for d in depts] == [
        ("GA", "公安局", "county", COUNTY),
        ("JGPCS", "金港派出所", "township", TOWNSHIP),
        ("SW", "水务局", "county", COUNTY),
    ]
    assert depts[1].serves == (TOWNSHIP, "320508020000")
    assert depts[1].serves_place(V1 + "001") and not depts[1].serves_place("320508021001")
    frame = pd.read_csv(_write(tmp_path, DEPARTMENTS_CSV), dtype=str, encoding="utf-8-sig")
    frame.to_excel(tmp_path / "departments.xlsx", index=False)
    assert read_departments(tmp_path / "departments.xlsx") == depts


def test_bad_department_rows_are_named(tmp_path):
    text = (
        "部门编码,部门名称,所属区划,层级,服务区划\n"
        "公 安,公安局,320508,,\n"  # a space in the code
        "GA,,320508,,\n"  # no name
        "GA2,公安二局,3205,,\n"  # a malformed division
        "GA3,公安三局,320508019,县级,\n"  # a county department in a township
        "GA4,公安四局,320508,省级,\n"  # an unknown level
        "GA5,公安五局,320508,,320508019044003\n"  # serves a grid, not a division
        "SW,水务局,320508,,\n"
        "SW,水利局,320508,,\n"  # code again
        "SW2,水务局,320508,,\n"  # name again
    )
    with pytest.raises(ImportRowsError) as info:
        read_departments(_write(tmp_path, text))
    assert [(e.row, e.field) for e in info.value.errors] == [
        (1, "code"),
        (2, "name"),
        (3, "division_code"),
        (4, "level"),
        (5, "level"),
        (6, "serves"),
        (8, "code"),
        (9, "name"),
    ]
    with pytest.raises(InputFileError, match="'负责人' is not understood"):
        read_departments(_write(tmp_path, "部门编码,部门名称,所属区划,负责人\nGA,公安局,320508,张三\n"))


def test_centres_from_a_spreadsheet_and_their_errors(tmp_path):
    centres = read_centres(_write(tmp_path, f"区划编码,名称\n320508,\n{TOWNSHIP},金港综治中心\n{V1},\n"))
    assert [(c.code, c.level, c.name) for c in centres] == [
        (COUNTY, "county", ""),
        (TOWNSHIP, "township", "金港综治中心"),
        (V1, "village", ""),
    ]
    with pytest.raises(ImportRowsError) as info:
        read_centres(_write(tmp_path, f"区划编码\n{V1}003\n{V1}\n{V1}\n"))
    assert [(e.row, e.field) for e in info.value.errors] == [(1, "code"), (3, "code")]


def test_storing_needs_the_divisions_and_writes_all_or_nothing(engine, tmp_path):
    publish_sample(engine)
    depts = read_departments(_write(tmp_path, DEPARTMENTS_CSV))
    with pytest.raises(ImportRowsError) as info:
        org.save_departments(engine, depts)  # 320508020000 (served by the 派出所) is not stored
    assert [(e.row, e.field) for e in info.value.errors] == [(2, "serves")]
    assert org.list_departments(engine) == []
    org.save_departments(engine, [depts[0], depts[2]])
    assert org.find_department(engine, "水务局").code == "SW" and org.department_code(engine, "GA") == "GA"
    with pytest.raises(Exception, match=r"unknown department '城管局'.*GA 公安局"):
        org.find_department(engine, "城管局")
    centres = read_centres(_write(tmp_path, f"区划编码\n320508\n{TOWNSHIP}\n{V1}\n", "centres.csv"))
    org.save_centres(engine, centres)
    assert [(c.code, c.name) for c in org.list_centres(engine)] == [
        (COUNTY, "320508000000综治中心"),  # no county row: named by its code
        (TOWNSHIP, "金港街道综治中心"),
        (V1, "东港社区综治中心"),
    ]
    assert [c.code for c in org.list_centres(engine, within=V1)] == [V1]


def test_default_organisation_from_the_catalogue(engine):
    publish_sample(engine)
    done = org.install_defaults(engine, load_catalogue(), county_names={"320508": "姑苏区"})
    names = {c.code: c.name for c in org.list_centres(engine)}
    assert names == {
        COUNTY: "姑苏区综治中心",
        TOWNSHIP: "金港街道综治中心",
        V1: "东港社区综治中心",
        V2: "西塘村综治中心",
    }
    depts = {d.name: d for d in org.list_departments(engine)}
    catalogue_departments = {c.department for c in load_catalogue()}
    assert catalogue_departments <= set(depts) and done.departments == len(depts)
    assert depts["金港街道派出所"].serves == (TOWNSHIP,) and depts["公安局"].level == "county"
    assert {d.name for d in org.list_departments(engine, serving=V2 + "001")} == set(depts)
    # pure: the same list, in catalogue order
    divisions = pd.DataFrame({"code": [TOWNSHIP], "name": ["金港街道"], "level": ["township"]})
    assert default_departments(load_catalogue(), divisions)[0].code == "320508D01"


def test_queues_and_escalation_go_up_the_centres():
    all_three = {V1, TOWNSHIP, COUNTY}
    assert queue_centre(all_three, village_code=V1, township_code=TOWNSHIP) == V1
    assert queue_centre({COUNTY}, village_code=V1, township_code=TOWNSHIP) == COUNTY
    up = escalation_target(all_three, current=V1, village_code=V1, township_code=TOWNSHIP)
    assert up == ("township", TOWNSHIP)
    assert escalation_target(all_three, current=TOWNSHIP, village_code=V1, township_code=TOWNSHIP) == (
        "county",
        COUNTY,
    )
    with pytest.raises(ConflictError, match="highest centre"):
        escalation_target(all_three, current=COUNTY, village_code=V1, township_code=TOWNSHIP)
    with pytest.raises(ConflictError, match="no township centre"):
        escalation_target({V1, COUNTY}, current=V1, village_code=V1, township_code=TOWNSHIP, level="township")


def test_cli_import_departments_centres_and_defaults(engine, db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOGRID_DATABASE_URL", db_url)
    publish_sample(engine)
    ok = _write(tmp_path, "部门编码,部门名称,所属区划\nGA,公安局,320508\n")
    result = CliRunner().invoke(app, ["import", "departments", str(ok)])
    assert result.exit_code == 0, result.output
    bad = _write(tmp_path, "部门编码,部门名称,所属区划\nGA,公安局,320509\n", "bad.csv")
    result = CliRunner().invoke(app, ["import", "departments", str(bad)])
    assert result.exit_code == 2 and "row 1" in result.output and "320509000000" in result.output
    centres = _write(tmp_path, f"区划编码,名称\n{TOWNSHIP},金港街道综治中心\n", "centres.csv")
    assert CliRunner().invoke(app, ["import", "centres", str(centres)]).exit_code == 0
    result = CliRunner().invoke(app, ["org", "defaults"])
    # defaults fill the gaps: the imported centre and department stay as they were
    assert result.exit_code == 0 and "stored 3 centres" in result.output, result.output
    assert org.find_department(engine, "公安局").code == "GA"
    listing = CliRunner().invoke(app, ["org", "list"])
    assert "西塘村综治中心" in listing.output and "金港街道派出所" in listing.output


def test_the_orm_describes_the_migrated_tables(engine):
    import sqlalchemy as sa

    from geogrid.db import dispatch_models
    from geogrid.db.incident_models import Incident, IncidentId, IncidentKey

    models = [
        m for m in vars(dispatch_models).values() if isinstance(m, type) and hasattr(m, "__tablename__")
    ]
    assert len(models) == 9
    inspector = sa.inspect(engine)
    for model in [*models, Incident, IncidentId, IncidentKey]:
        stored = {c["name"] for c in inspector.get_columns(model.__tablename__)}
        assert set(model.__table__.columns.keys()) == stored, model.__tablename__
