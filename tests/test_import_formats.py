"""The files county offices actually have, built on the fly and imported through the CLI into PostGIS.

Each file is made here as the offices' tools make it (GBK Shapefile without ``.cpg``, Excel's
GBK or UTF-8-with-BOM CSV, ``.xlsx``, KML/KMZ from a mapping app with Chinese ExtendedData,
GCJ-02 coordinates copied from AMap, a Gauss-Krüger Shapefile without ``.prj``).  Either the
text round-trips exactly and points land within 1 m of the truth, or the refusal names the
file, the row, the field and what to do.
"""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import sqlalchemy as sa
from shapely.geometry import Point, box
from typer.testing import CliRunner

from geogrid.cli import app
from geogrid.coords import distance_m, from_wgs84
from geogrid.db import store

runner = CliRunner()

# Truth: 6 addresses in Suzhou (WGS-84), Chinese text in every text field.
LON = np.array([120.6101, 120.6123, 120.6145, 120.6167, 120.6189, 120.6211])
LAT = np.array([31.3011, 31.3023, 31.3035, 31.3047, 31.3059, 31.3071])
IDS = [f"320508-{i:03d}" for i in range(1, 7)]
TEXT = ["平江路1号", "平江路3号（东）", "钮家巷12号", "大儒巷5号·西", "丁香巷7号", "悬桥巷2号"]
HOUSEHOLDS = [3, 12, 1, 7, 25, 4]
TABLE = {"地址编码": IDS, "详细地址": TEXT, "户数": HOUSEHOLDS}


@pytest.fixture
def cli_env(engine, db_url, monkeypatch):
    monkeypatch.setenv("GEOGRID_DATABASE_URL", db_url)
    return engine


def _import(*args: str):
    return runner.invoke(app, ["import", *args])


def _stored(engine) -> gpd.GeoDataFrame:
    out = store.read_table(engine, "addresses")
    return out.sort_values("address_id").reset_index(drop=True)


def _assert_round_trip(engine, *, lon=LON, lat=LAT, tolerance_m: float = 1.0) -> None:
    got = _stored(engine)
    assert got["address_id"].tolist() == IDS
    assert got["full_text"].tolist() == TEXT  # exactly, full-width brackets and middle dots included
    assert got["households"].tolist() == HOUSEHOLDS
    off = distance_m(got.geometry.x.to_numpy(), got.geometry.y.to_numpy(), lon, lat)
    assert np.max(off) < tolerance_m, off


def _points(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(TABLE, geometry=[Point(x, y) for x, y in zip(LON, LAT, strict=True)], crs=4326)
    return frame.to_crs(crs)


def _gbk_shapefile(folder: Path, frame: gpd.GeoDataFrame, name: str = "地址") -> Path:
    """A Shapefile as Chinese desktop GIS writes it: GBK text, Chinese field names, no .cpg."""
    path = folder / f"{name}.shp"
    pyogrio.write_dataframe(frame, path, encoding="GBK")
    path.with_suffix(".cpg").unlink()
    with pytest.raises(UnicodeDecodeError):  # GBK bytes, not UTF-8
        path.with_suffix(".dbf").read_bytes().decode("utf-8")
    return path


# ------------------------------------------------------------------ Shapefiles


def test_gbk_shapefile_without_cpg_imports_with_chinese_fields(cli_env, tmp_path):
    shp = _gbk_shapefile(tmp_path, _points())
    result = _import("addresses", str(shp))
    assert result.exit_code == 0, result.output
    assert "GB18030 (GBK) (detected)" in result.output  # says which encoding it used
    assert "rows" in result.output  # progress counted in rows
    _assert_round_trip(cli_env)


def test_wrong_encoding_is_refused_naming_file_field_and_what_to_do(cli_env, tmp_path):
    shp = _gbk_shapefile(tmp_path, _points())
    result = _import("addresses", str(shp), "--encoding", "latin-1")
    assert result.exit_code != 0
    assert str(shp) in result.output and "µØÖ·±àÂë" in result.output and "地址编码" in result.output
    assert "--encoding gbk" in result.output
    # ASCII field names, GBK cells read as Latin-1: every bad cell is named by row and field.
    ascii_fields = _points().rename(columns={"地址编码": "addr_id", "详细地址": "full_text", "户数": "hh"})
    shp2 = _gbk_shapefile(tmp_path, ascii_fields, name="ascii")
    result = _import("addresses", str(shp2), "--encoding", "latin-1", "--map", "addr_id=address_id")
    assert result.exit_code == 2
    assert "row 1, field 'full_text'" in result.output and "row 6, field 'full_text'" in result.output
    assert "平江路1号" in result.output and "--encoding gbk" in result.output
    with cli_env.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM addresses")).scalar() == 0


def test_cpg_that_lies_is_refused(cli_env, tmp_path):
    shp = _gbk_shapefile(tmp_path, _points())
    shp.with_suffix(".cpg").write_text("UTF-8")
    result = _import("addresses", str(shp))
    assert result.exit_code == 1
    assert ".cpg says utf-8" in result.output and "GB18030" in result.output and "--encoding" in result.output
    assert _import("addresses", str(shp), "--encoding", "gbk").exit_code == 0
    _assert_round_trip(cli_env)


def test_zipped_gbk_shapefile_of_divisions(cli_env, tmp_path):
    villages = gpd.GeoDataFrame(
        {"区划代码": ["320508001001", "320508001002"], "名称": ["平江社区", "桃园社区"]},
        geometry=[box(120.60, 31.30, 120.61, 31.31), box(120.61, 31.30, 120.62, 31.31)],
        crs="EPSG:4490",  # CGCS2000, as county data comes
    )
    _gbk_shapefile(tmp_path, villages, name="村界")
    archive = tmp_path / "村界.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in tmp_path.glob("村界.*"):
            if part.suffix != ".zip":
                z.write(part, part.name)
    result = _import("divisions", str(archive))
    assert result.exit_code == 0, result.output
    got = store.read_table(cli_env, "divisions").sort_values("code")
    assert got["name"].tolist() == ["平江社区", "桃园社区"]
    assert got["level"].tolist() == ["village", "village"]


def test_gauss_kruger_shapefile_without_prj_names_the_zone_then_imports_with_crs(cli_env, tmp_path):
    # Tianjin, CGCS2000 3-degree Gauss-Krüger zone 39 (117°E), the zone number in the false easting.
    lon, lat = LON - 3.5, LAT + 7.8
    frame = gpd.GeoDataFrame(TABLE, geometry=[Point(x, y) for x, y in zip(lon, lat, strict=True)], crs=4490)
    shp = _gbk_shapefile(tmp_path, frame.to_crs("EPSG:4527"), name="gk")
    shp.with_suffix(".prj").unlink()
    result = _import("addresses", str(shp))
    assert result.exit_code == 1
    assert str(shp) in result.output and "zone 39" in result.output and "--crs EPSG:4527" in result.output
    result = _import("addresses", str(shp), "--crs", "EPSG:4527")
    assert result.exit_code == 0, result.output
    _assert_round_trip(cli_env, lon=lon, lat=lat)


# ------------------------------------------------------------------ CSV and Excel


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig"])
def test_csv_from_excel_gbk_or_utf8_bom(cli_env, tmp_path, encoding):
    csv = tmp_path / "addresses.csv"
    pd.DataFrame({**TABLE, "经度": LON, "纬度": LAT}).to_csv(csv, index=False, encoding=encoding)
    assert csv.read_bytes().startswith(codecs.BOM_UTF8) == (encoding == "utf-8-sig")
    result = _import("addresses", str(csv))
    assert result.exit_code == 0, result.output
    assert ("GB18030" if encoding == "gbk" else "byte-order mark") in result.output
    _assert_round_trip(cli_env)


def test_csv_given_the_wrong_encoding_names_the_row(cli_env, tmp_path):
    csv = tmp_path / "addresses.csv"
    pd.DataFrame({**TABLE, "经度": LON, "纬度": LAT}).to_csv(csv, index=False, encoding="gbk")
    result = _import("addresses", str(csv), "--encoding", "utf-8")
    assert result.exit_code == 1
    assert str(csv) in result.output and "the header" in result.output and "--encoding" in result.output


def test_gcj02_csv_lands_within_a_metre_with_crs_gcj02(cli_env, tmp_path):
    shifted = from_wgs84(LON, LAT, crs="gcj02")  # what AMap shows for the true positions
    csv = tmp_path / "amap.csv"
    frame = pd.DataFrame({**TABLE, "经度": shifted.lng, "纬度": shifted.lat})
    frame.to_csv(csv, index=False, encoding="utf-8", float_format="%.10f")
    assert np.min(distance_m(shifted.lng, shifted.lat, LON, LAT)) > 100  # the shift is real
    result = _import("addresses", str(csv), "--crs", "gcj02")
    assert result.exit_code == 0, result.output
    _assert_round_trip(cli_env, tolerance_m=0.01)


def test_xlsx_first_sheet_or_named_sheet(cli_env, tmp_path):
    book = tmp_path / "地址.xlsx"
    with pd.ExcelWriter(book, engine="openpyxl") as xl:
        pd.DataFrame({"说明": ["这一页不是地址"]}).to_excel(xl, sheet_name="说明", index=False)
        pd.DataFrame({**TABLE, "经度": LON, "纬度": LAT}).to_excel(xl, sheet_name="标准地址", index=False)
    first = _import("addresses", str(book))
    assert first.exit_code == 1 and "no longitude column" in first.output
    result = _import("addresses", str(book), "--sheet", "标准地址")
    assert result.exit_code == 0, result.output
    _assert_round_trip(cli_env)
    assert _import("addresses", str(book), "--sheet", "2", "--replace").exit_code == 0
    assert "its sheets are" in _import("addresses", str(book), "--sheet", "9").output


# ------------------------------------------------------------------ KML / KMZ


def _kml(folder: Path) -> Path:
    marks = []
    for i, (x, y) in enumerate(zip(LON, LAT, strict=True)):
        data = f'<Data name="地址编码"><value>{IDS[i]}</value></Data><Data name="户数"><value>{HOUSEHOLDS[i]}</value></Data>'
        if i == 2:  # a field only some placemarks have
            data += '<Data name="备注"><value>新建</value></Data>'
        marks.append(
            f"<Placemark><name>{TEXT[i]}</name><ExtendedData>{data}</ExtendedData>"
            f"<Point><coordinates>{x:.10f},{y:.10f},0</coordinates></Point></Placemark>"
        )
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f"<name>我的地点</name><Folder><name>平江街道</name>{''.join(marks[:4])}</Folder>"
        f"{''.join(marks[4:])}</Document></kml>"
    )
    path = folder / "我的地点.kml"
    path.write_text(doc, encoding="utf-8")
    return path


@pytest.mark.parametrize("kmz", [False, True])
def test_kml_and_kmz_keep_chinese_extended_data(cli_env, tmp_path, kmz):
    path = _kml(tmp_path)
    if kmz:
        archive = tmp_path / "我的地点.kmz"
        with zipfile.ZipFile(archive, "w") as z:
            z.write(path, "doc.kml")
        path = archive
    result = _import("addresses", str(path))
    assert result.exit_code == 0, result.output
    _assert_round_trip(cli_env)
    folder = _import("addresses", str(path), "--layer", "平江街道", "--replace")
    assert folder.exit_code == 0 and "imported 4 addresses" in folder.output


# ------------------------------------------------------------------ export in CGCS2000


def test_export_in_cgcs2000_and_gauss_kruger(cli_env, tmp_path):
    csv = tmp_path / "a.csv"
    pd.DataFrame({**TABLE, "经度": LON, "纬度": LAT}).to_csv(csv, index=False)
    assert _import("addresses", str(csv)).exit_code == 0
    for crs in ("EPSG:4490", "EPSG:4549"):  # CGCS2000 lon/lat; 3-degree Gauss-Krüger CM 120°E
        out = tmp_path / f"out-{crs[5:]}.gpkg"
        result = runner.invoke(app, ["export", "addresses", str(out), "--crs", crs])
        assert result.exit_code == 0, result.output
        back = gpd.read_file(out)
        assert back.crs.to_epsg() == int(crs[5:])
        ll = back.sort_values("address_id").to_crs(4326)
        assert np.max(distance_m(ll.geometry.x.to_numpy(), ll.geometry.y.to_numpy(), LON, LAT)) < 1
        assert back.sort_values("address_id")["full_text"].tolist() == TEXT
    refused = runner.invoke(app, ["export", "addresses", str(tmp_path / "x.geojson"), "--crs", "EPSG:4490"])
    assert refused.exit_code == 1 and "RFC 7946" in refused.output
