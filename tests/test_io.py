"""Reading and checking input files: every bad-row path, all-or-nothing, skip mode, CRS, formats."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, MultiLineString, Point, Polygon, box

from geogrid import io
from geogrid.errors import GeogridError, ImportRowsError, InputFileError, RowError
from geogrid.synthetic import make_village

SQ = box(120.60, 31.30, 120.61, 31.31)
BOWTIE = Polygon([(120.60, 31.30), (120.61, 31.31), (120.61, 31.30), (120.60, 31.31)])


def divisions_frame(**overrides) -> gpd.GeoDataFrame:
    rows = {
        "code": ["320508001000", "320508001001", "320508001002", "320508100201"],
        "name": ["平江街道", "平江社区", "桃园社区", "东渚村"],
        "geometry": [
            box(120.60, 31.30, 120.62, 31.31),
            SQ,
            box(120.61, 31.30, 120.62, 31.31),
            box(120.7, 31.3, 120.71, 31.31),
        ],
    }
    rows.update(overrides)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def only(errors: list[RowError], row: int) -> RowError:
    found = [e for e in errors if e.row == row]
    assert len(found) == 1, errors
    return found[0]


def read_errors(reader, source, **kw) -> list[RowError]:
    with pytest.raises(ImportRowsError) as info:
        reader(source, **kw)
    return info.value.errors


# ------------------------------------------------------------------ divisions


def test_good_divisions_get_level_parent_and_kind_from_the_code():
    out = io.read_divisions(divisions_frame())
    assert out["level"].tolist() == ["township", "village", "village", "village"]
    assert out["parent_code"].tolist() == ["320508000000", "320508001000", "320508001000", "320508100000"]
    assert out["kind"].tolist() == ["urban", "urban", "urban", "rural"]
    assert out["code"].dtype == object and out.crs.to_epsg() == 4326


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        (BOWTIE, "invalid geometry: Self-intersection"),
        (Polygon(), "empty geometry"),
        (None, "missing geometry"),
        (Point(120.6, 31.3), "Point where Polygon or MultiPolygon is expected"),
    ],
)
def test_bad_division_geometry_is_reported_with_its_row(geometry, reason):
    geoms = [box(120.60, 31.30, 120.62, 31.31), SQ, geometry, box(120.7, 31.3, 120.71, 31.31)]
    errors = read_errors(io.read_divisions, divisions_frame(geometry=geoms))
    e = only(errors, 3)
    assert e.field == "geometry" and e.reason.startswith(reason)
    assert len(errors) == 1


@pytest.mark.parametrize(
    ("code", "field", "reason"),
    [
        (None, "code", "missing code"),
        ("32050800100", "code", "expected 12 digits (leading zero lost?"),
        ("3205080010a1", "code", "malformed code '3205080010a1'"),
        ("320508000000", "code", "is a county"),
        ("320508001001", "code", "duplicate code 320508001001 (first at row 2)"),
    ],
)
def test_bad_division_codes(code, field, reason):
    codes = ["320508001000", "320508001001", code, "320508100201"]
    errors = read_errors(io.read_divisions, divisions_frame(code=codes))
    e = only(errors, 3)
    assert (e.field, reason in e.reason) == (field, True), e


def test_parent_and_level_must_agree_with_the_code():
    frame = divisions_frame(
        parent_code=["320508000000", "320508002000", None, "320508100000"],
        level=["township", "village", "township", "村"],
    )
    errors = read_errors(io.read_divisions, frame)
    assert [(e.row, e.field) for e in errors] == [(2, "parent_code"), (3, "level")]
    assert "expected 320508001000" in errors[0].reason
    assert "contradicts code 320508001002" in errors[1].reason


def test_numeric_codes_from_a_spreadsheet_are_read_as_text():
    frame = divisions_frame(code=[320508001000, 320508001001.0, "320508001002", 320508100201])
    assert io.read_divisions(frame)["code"].tolist()[:2] == ["320508001000", "320508001001"]


def test_all_bad_rows_are_listed_and_nothing_is_returned():
    geoms = [BOWTIE, SQ, None, Point(0, 0)]
    frame = divisions_frame(geometry=geoms, code=["320508001000", "x", "320508001002", "320508001002"])
    with pytest.raises(ImportRowsError) as info:
        io.read_divisions(frame)
    rows = [(e.row, e.field) for e in info.value.errors]
    assert rows == [(1, "geometry"), (2, "code"), (3, "geometry"), (4, "geometry"), (4, "code")]
    assert isinstance(info.value, GeogridError)
    assert "5 bad row(s), nothing imported" in str(info.value) and "row 4, field 'code'" in str(info.value)


# ------------------------------------------------------------------ addresses


def addresses_csv(tmp_path: Path, rows: list[dict], name: str = "addr.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("-3", "negative household count -3"),
        ("2.5", "household count 2.5 is not a whole number"),
        ("abc", "household count 'abc' is not a number"),
        ("", "missing household count"),
    ],
)
def test_bad_household_counts(tmp_path, value, reason):
    path = addresses_csv(
        tmp_path,
        [
            {"经度": 120.61, "纬度": 31.31, "户数": "4"},
            {"经度": 120.62, "纬度": 31.32, "户数": value},
        ],
    )
    errors = read_errors(io.read_addresses, path)
    assert errors == [RowError(2, "户数", reason)]


def test_csv_rows_are_counted_below_the_header_and_every_problem_reported(tmp_path):
    path = addresses_csv(
        tmp_path,
        [
            {"id": "A1", "lon": 120.61, "lat": 31.31, "households": 3},
            {"id": "A2", "lon": "east", "lat": 31.31, "households": 3},
            {"id": "A3", "lon": None, "lat": None, "households": 3},
            {"id": "A1", "lon": 120.63, "lat": 31.33, "households": 1},
            {"id": "A5", "lon": 31.3, "lat": 120.6, "households": 1},
        ],
    )
    errors = read_errors(io.read_addresses, path)
    assert [(e.row, e.field) for e in errors] == [(2, "lon/lat"), (3, "lon/lat"), (4, "id"), (5, "lon/lat")]
    assert errors[0].reason.startswith("malformed coordinates")
    assert errors[1].reason == "missing geometry"
    assert errors[2].reason == "duplicate address_id A1 (first at row 1)"
    assert "outside the valid area of EPSG:4326" in errors[3].reason
    assert errors[3].reason.endswith("latitude and longitude look swapped")


def test_wrong_geometry_type_for_addresses():
    frame = gpd.GeoDataFrame(
        {"households": [1, 2]},
        geometry=[Point(120.6, 31.3), LineString([(120.6, 31.3), (120.7, 31.3)])],
        crs="EPSG:4326",
    )
    assert read_errors(io.read_addresses, frame) == [
        RowError(2, "geometry", "LineString where Point is expected")
    ]


def test_point_outside_the_valid_area_of_a_projected_crs(tmp_path):
    # EPSG:4547 is the Gauss-Krüger zone for 112.5°E-115.5°E; Suzhou (120.6°E) lies outside it.
    pts = gpd.GeoSeries([Point(114.3, 30.6), Point(120.6, 31.3)], crs="EPSG:4326").to_crs("EPSG:4547")
    frame = gpd.GeoDataFrame({"households": [5, 6]}, geometry=pts.values, crs="EPSG:4547")
    path = tmp_path / "gk.gpkg"
    frame.to_file(path)
    errors = read_errors(io.read_addresses, path)
    assert len(errors) == 1 and errors[0].row == 2 and errors[0].field == "geometry"
    assert "outside the valid area of EPSG:4547" in errors[0].reason


@pytest.mark.parametrize("epsg", [3857, 4547, 4549])
def test_files_in_projected_crs_come_back_in_lonlat_at_the_right_place(tmp_path, epsg):
    lon, lat = (114.30, 30.60) if epsg == 4547 else (120.60, 31.30)
    pts = gpd.GeoSeries([Point(lon, lat), Point(lon + 0.01, lat + 0.01)], crs="EPSG:4326").to_crs(epsg)
    path = tmp_path / f"pts_{epsg}.gpkg"
    gpd.GeoDataFrame({"户数": [3, 4]}, geometry=pts.values, crs=epsg).to_file(path)
    out = io.read_addresses(path)
    assert out.crs.to_epsg() == 4326
    np.testing.assert_allclose(
        shapely.get_coordinates(out.geometry.values), [[lon, lat], [lon + 0.01, lat + 0.01]], atol=1e-7
    )
    assert out["households"].tolist() == [3, 4]


def test_csv_with_a_given_crs_is_transformed(tmp_path):
    x, y = gpd.GeoSeries([Point(120.6, 31.3)], crs=4326).to_crs(3857).iloc[0].coords[0]
    path = addresses_csv(tmp_path, [{"X": x, "Y": y, "户数": 2}])
    out = io.read_addresses(path, crs="EPSG:3857")
    np.testing.assert_allclose(out.geometry.iloc[0].coords[0], (120.6, 31.3), atol=1e-9)


@pytest.mark.parametrize(
    ("lon", "lat", "kwargs"),
    [
        ("经度", "纬度", {}),
        ("lng", "lat", {}),
        ("Longitude", "Latitude", {}),
        ("x", "y", {}),
        ("东经", "北纬", {"lon": "东经", "lat": "北纬"}),
    ],
)
def test_csv_coordinate_columns_are_detected(tmp_path, lon, lat, kwargs):
    path = addresses_csv(tmp_path, [{lon: 120.61, lat: 31.31, "户数": 9}])
    out = io.read_addresses(path, **kwargs)
    assert out.geometry.iloc[0].coords[0] == (120.61, 31.31)


def test_csv_without_coordinates_is_refused(tmp_path):
    path = addresses_csv(tmp_path, [{"东经": 120.61, "北纬": 31.31}])
    with pytest.raises(InputFileError, match="no longitude column"):
        io.read_addresses(path)


def test_csv_with_wkt_geometry(tmp_path):
    path = addresses_csv(
        tmp_path, [{"geometry": "POINT (120.6 31.3)", "户数": 2}, {"geometry": "POINT (120.6", "户数": 2}]
    )
    errors = read_errors(io.read_addresses, path)
    assert errors == [RowError(2, "geometry", "malformed coordinates (not a number or not WKT)")]


def test_chinese_fields_are_mapped_and_leading_zeros_kept(tmp_path):
    path = addresses_csv(
        tmp_path,
        [
            {
                "地址编码": "000123",
                "经度": 120.61,
                "纬度": 31.31,
                "户数": 12,
                "地址": "姑苏区人民路1号",
                "门牌号": "1号",
                "街路巷": "人民路",
                "村社区代码": "320508001001",
                "备注": "临街",
            },
        ],
    )
    out = io.read_addresses(path)
    row = out.iloc[0]
    assert (row["address_id"], row["households"], row["full_text"]) == ("000123", 12, "姑苏区人民路1号")
    assert (row["house_number"], row["street"], row["village_code"], row["备注"]) == (
        "1号",
        "人民路",
        "320508001001",
        "临街",
    )


def test_ambiguous_chinese_fields_are_left_alone_and_the_mapping_wins(tmp_path):
    rows = [{"lon": 120.61, "lat": 31.31, "地址": "甲", "标准地址": "乙", "户数": 2, "住户数": 3}]
    path = addresses_csv(tmp_path, rows)
    out = io.read_addresses(path, columns={"住户数": "households"})
    assert out["households"].tolist() == [3]
    assert "地址" in out.columns and "标准地址" in out.columns and out["full_text"].iloc[0] is None
    assert out["户数"].tolist() == ["2"]


def test_missing_household_column_means_one_and_full_text_is_composed():
    frame = gpd.GeoDataFrame(
        {"street": ["人民路"], "house_number": ["3号"]}, geometry=[Point(120.6, 31.3)], crs=4326
    )
    out = io.read_addresses(frame)
    assert out["households"].tolist() == [1] and out["full_text"].tolist() == ["人民路3号"]
    assert out["address_id"].tolist() == ["1"]


def test_mapping_that_names_an_absent_column_is_refused():
    with pytest.raises(InputFileError, match="not in the file"):
        io.read_addresses(
            gpd.GeoDataFrame(geometry=[Point(120.6, 31.3)], crs=4326), columns={"户": "households"}
        )


# ------------------------------------------------------------------ skip mode and rejected file


def test_skip_mode_returns_good_rows_and_rejected_rows(tmp_path):
    path = addresses_csv(
        tmp_path,
        [
            {"id": "a", "lon": 120.61, "lat": 31.31, "户数": 3},
            {"id": "b", "lon": 120.62, "lat": 31.32, "户数": -1},
            {"id": "c", "lon": 120.63, "lat": 31.33, "户数": 4},
            {"id": "a", "lon": 120.64, "lat": 31.34, "户数": "x"},
        ],
    )
    result = io.read_addresses(path, on_error="skip")
    assert isinstance(result, io.ReadResult) and not result.ok
    assert result.frame["address_id"].tolist() == ["a", "c"]
    assert result.frame["households"].tolist() == [3, 4]
    assert result.rejected["row"].tolist() == [2, 4]
    assert result.rejected["id"].tolist() == ["b", "a"]  # source names, as in the file
    assert result.rejected["error"].tolist()[1] == (
        "id: duplicate address_id a (first at row 1); 户数: household count 'x' is not a number"
    )
    out = io.write_rejected(result, tmp_path / "bad.csv")
    back = pd.read_csv(out, dtype=str)
    assert back["row"].tolist() == ["2", "4"] and back["geometry"].iloc[0] == "POINT (120.62 31.32)"
    gpkg = io.write_rejected(result, tmp_path / "bad.gpkg")
    assert pyogrio.read_dataframe(gpkg)["error"].str.contains("户数").all()


def test_skip_mode_with_no_errors_writes_an_empty_rejected_file(tmp_path):
    result = io.read_divisions(divisions_frame(), on_error="skip")
    assert result.ok and len(result.frame) == 4 and len(result.rejected) == 0
    path = io.write_rejected(result, tmp_path / "none.gpkg")
    assert len(pyogrio.read_dataframe(path)) == 0


def test_unknown_on_error_is_refused():
    with pytest.raises(ValueError):
        io.read_divisions(divisions_frame(), on_error="ignore")


# ------------------------------------------------------------------ streets


def test_streets_classes_from_osm_and_chinese_grades_and_multilines_split():
    frame = gpd.GeoDataFrame(
        {"道路名称": ["人民路", "3巷", None, "x"], "等级": ["主干路", "alley", "footway", "cobbled"]},
        geometry=[
            LineString([(120.6, 31.3), (120.61, 31.3)]),
            MultiLineString([[(120.6, 31.31), (120.61, 31.31)], [(120.62, 31.31), (120.63, 31.31)]]),
            LineString([(120.6, 31.32), (120.61, 31.32)]),
            LineString([(120.6, 31.33), (120.61, 31.33)]),
        ],
        crs=4326,
    )
    assert read_errors(io.read_streets, frame) == [
        RowError(
            4,
            "等级",
            "unknown street class 'cobbled': use one of arterial, street, lane, path or an OSM highway value",
        )
    ]
    out = io.read_streets(frame.iloc[:3])
    assert out["street_class"].tolist() == ["arterial", "lane", "lane", "path"]
    assert out["name"].tolist() == ["人民路", "3巷", "3巷", ""]
    assert (out.geom_type == "LineString").all()


# ------------------------------------------------------------------ round trips


@pytest.fixture(scope="module")
def village():
    return make_village(households=600, kind="urban", seed=4, village_code="320508001002")


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".parquet"])
def test_addresses_round_trip_losslessly(tmp_path, village, suffix):
    original = io.read_addresses(village.addresses)
    path = io.write_frame(original, tmp_path / f"addresses{suffix}")
    back = io.read_addresses(path)
    pd.testing.assert_frame_equal(back.drop(columns="geometry"), original.drop(columns="geometry"))
    assert back["households"].dtype == np.int64
    assert back["full_text"].str.startswith("江苏省苏州市姑苏区").all()
    assert back.geometry.geom_equals_exact(original.geometry, 1e-9).all()


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".parquet"])
def test_divisions_and_streets_round_trip_losslessly(tmp_path, village, suffix):
    frame = divisions_frame(code=["110101001000", "110101001001", "110101001002", "110101100201"])
    for reader, original in (
        (io.read_divisions, io.read_divisions(frame)),
        (io.read_streets, io.read_streets(village.streets)),
    ):
        path = io.write_frame(original, tmp_path / f"{reader.__name__}{suffix}")
        back = reader(path)
        pd.testing.assert_frame_equal(back.drop(columns="geometry"), original.drop(columns="geometry"))
        assert back.geometry.geom_equals_exact(original.geometry, 1e-9).all()


def test_gpkg_layers_and_shapefile(tmp_path, village):
    path = tmp_path / "county.gpkg"
    io.write_frame(village.streets, path, layer="streets")
    io.write_frame(village.addresses, path, layer="addresses")
    assert len(io.read_streets(path, layer="streets")) == len(village.streets)
    assert len(io.read_addresses(path, layer="addresses")) == len(village.addresses)
    shp = tmp_path / "addr.shp"
    pyogrio.write_dataframe(
        village.addresses[["address_id", "households", "full_text", "geometry"]], shp, encoding="UTF-8"
    )
    out = io.read_addresses(shp)
    assert out["full_text"].tolist() == village.addresses["full_text"].tolist()


def test_unreadable_inputs(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        io.read_divisions(tmp_path / "nope.gpkg")
    with pytest.raises(InputFileError, match="cannot write"):
        io.write_frame(divisions_frame(), tmp_path / "x.kml")
    frame = gpd.GeoDataFrame({"名称": ["a"]}, geometry=[SQ], crs=4326)
    with pytest.raises(InputFileError, match="no division code column"):
        io.read_divisions(frame)


def test_progress_bar_for_large_inputs(capsys):
    n = 60_000
    rng = np.random.default_rng(0)
    frame = gpd.GeoDataFrame(
        {"households": rng.integers(0, 5, n)},
        geometry=shapely.points(rng.uniform(120, 121, n), rng.uniform(31, 32, n)),
        crs=4326,
    )
    out = io.read_addresses(frame)  # default: a bar above 50,000 rows
    assert len(out) == n
    assert "checking addresses" in capsys.readouterr().err
