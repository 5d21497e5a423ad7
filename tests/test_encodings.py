"""Encodings and formats without the database: code-page byte, mojibake both ways, rosters and plans."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import box

from geogrid import io
from geogrid.db.uploads import read_plan_file
from geogrid.encodings import detect_encoding, mojibake_reason
from geogrid.errors import ImportRowsError, InputFileError
from geogrid.sources import read_source, shapefile_encoding
from geogrid.staff import read_roster

HANZI = st.text(
    alphabet=st.sampled_from("地址编码人民路号村社区网格长平江巷东西南北中新"), min_size=2, max_size=12
)


@given(HANZI)
def test_chinese_text_is_told_apart_in_gbk_and_utf8(text):
    assert detect_encoding(text.encode("gbk")).codec == "gb18030"
    assert detect_encoding(text.encode("utf-8")).codec == "utf-8"
    assert mojibake_reason(text, "gb18030") is None
    assert mojibake_reason(text.encode("gbk").decode("latin-1")) is not None


def test_finnish_and_ascii_text_are_not_mojibake():
    for text in ("Hämeentie 5", "Ääkkönen", "Mannerheimintie 12 A", "Töölönkatu"):
        assert mojibake_reason(text) is None, text


def test_dbf_code_page_byte_names_gbk(tmp_path):
    frame = gpd.GeoDataFrame({"名称": ["平江社区"]}, geometry=[box(120.6, 31.3, 120.61, 31.31)], crs=4490)
    shp = tmp_path / "村.shp"
    pyogrio.write_dataframe(frame, shp, encoding="GBK")
    shp.with_suffix(".cpg").unlink()
    dbf = shp.with_suffix(".dbf")
    data = bytearray(dbf.read_bytes())
    data[29] = 0x4D  # LDID: Chinese GBK (PRC)
    dbf.write_bytes(bytes(data))
    enc = shapefile_encoding(shp)
    assert (enc.codec, enc.source) == ("gb18030", "code page byte")
    assert read_source(shp).frame["名称"].tolist() == ["平江社区"]


def test_utf8_csv_forced_to_gbk_is_refused_by_row_and_field(tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_text("id,full_text,lon,lat\na1,地址编码,120.6,31.3\n", encoding="utf-8")
    with pytest.raises(ImportRowsError) as info:
        io.read_addresses(csv, encoding="gbk", columns={"id": "address_id"})
    (error,) = info.value.errors
    assert (error.row, error.field) == (1, "full_text")
    assert "UTF-8 text read as GBK" in error.reason and "地址编码" in error.reason


def test_projected_csv_without_crs_is_refused_with_a_guess(tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_text("x,y\n40500123.5,3460000.2\n40500200.1,3460100.9\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"zone 40.*--crs EPSG:4528"):
        io.read_addresses(csv)


def test_roster_from_gbk_csv_and_xlsx(tmp_path):
    table = pd.DataFrame(
        {
            "网格编码": ["320508019044003"],
            "网格长": ["王芳"],
            "联系电话": ["13800000000"],
            "网格员": ["李强 13900000000"],
        }
    )
    table.to_csv(tmp_path / "r.csv", index=False, encoding="gbk")
    table.assign(联系电话=[13800000000]).to_excel(tmp_path / "r.xlsx", index=False)
    for name in ("r.csv", "r.xlsx"):
        roster = read_roster(tmp_path / name)
        assert roster.iloc[0]["code"] == "320508019044003"
        assert roster.iloc[0]["head_name"] == "王芳" and roster.iloc[0]["head_phone"] == "13800000000"


def test_plan_upload_from_a_zipped_gbk_shapefile(tmp_path):
    grids = gpd.GeoDataFrame(
        {
            "code": ["320508001001001", "320508001001002"],
            "name": ["第1网格", "第2网格"],
            "households": [60, 70],
        },
        geometry=[box(120.60, 31.30, 120.605, 31.31), box(120.605, 31.30, 120.61, 31.31)],
        crs="EPSG:4326",
    ).to_crs("EPSG:4549")  # CGCS2000 3-degree Gauss-Krüger, central meridian 120°E
    shp = tmp_path / "方案.shp"
    pyogrio.write_dataframe(grids, shp, encoding="GBK")
    shp.with_suffix(".cpg").unlink()
    archive = tmp_path / "方案.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in Path(tmp_path).glob("方案.*"):
            if part.suffix != ".zip":
                z.write(part, part.name)
    plan = read_plan_file(archive)
    assert plan["name"].tolist() == ["第1网格", "第2网格"]
    assert plan.crs.to_epsg() == 4326
    assert abs(plan.geometry.iloc[0].bounds[0] - 120.60) < 1e-6
