"""H3 heat aggregation: parents by bit operations, aggregation, GeoJSON, SQL expression."""

from __future__ import annotations

import re

import h3
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, shape

from geogrid.coords import BBox
from geogrid.errors import InvalidCellError, InvalidGeometryError
from geogrid.heat import (
    STORED_RES,
    aggregate,
    bbox_cell_ranges,
    bbox_cells,
    cell_resolutions,
    cell_to_str,
    cells_for_points,
    cells_to_geojson,
    parent_cells,
    parent_sql,
)


def _points(n, *, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(120.4, 120.8, n), rng.uniform(31.1, 31.5, n)


def _h3_parent(cell: int, res: int) -> int:
    return h3.str_to_int(h3.cell_to_parent(h3.int_to_str(cell), res))


def test_cells_for_points_match_h3_and_are_int64():
    lon, lat = _points(500, seed=1)
    cells = cells_for_points(lon, lat)
    assert cells.dtype == np.int64 and cells.shape == (500,)
    assert (cells > 0).all()
    for i in range(0, 500, 37):
        assert h3.int_to_str(int(cells[i])) == h3.latlng_to_cell(lat[i], lon[i], STORED_RES)
    assert (cell_resolutions(cells) == STORED_RES).all()


def test_cells_for_points_rejects_swapped_and_bad_res():
    with pytest.raises(InvalidGeometryError, match="swapped"):
        cells_for_points([31.3], [120.6])
    with pytest.raises(InvalidCellError, match=r"0\.\.15"):
        cells_for_points([120.6], [31.3], res=16)
    assert cells_for_points([], []).shape == (0,)


@pytest.mark.parametrize("res", range(0, STORED_RES + 1))
def test_parent_cells_match_h3_at_every_resolution(res):
    lon, lat = _points(300, seed=res)
    cells = cells_for_points(lon, lat)
    got = parent_cells(cells, res)
    want = np.array([_h3_parent(int(c), res) for c in cells], dtype=np.int64)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-179.9, 179.9),
    st.floats(-85, 85),
    st.integers(0, 15),
    st.integers(0, 15),
)
def test_parent_cells_property_worldwide(lon, lat, fine, coarse):
    fine, coarse = max(fine, coarse), min(fine, coarse)
    cell = int(cells_for_points([lon], [lat], res=fine)[0])
    assert int(parent_cells([cell], coarse)[0]) == _h3_parent(cell, coarse)


def test_parent_cells_including_pentagon_and_shape():
    pent = h3.str_to_int(next(iter(h3.get_pentagons(10))))
    assert int(parent_cells(np.array([pent]), 3)[0]) == _h3_parent(pent, 3)
    grid = cells_for_points(*_points(6, seed=2)).reshape(2, 3)
    assert parent_cells(grid, 5).shape == (2, 3)
    strs = [h3.int_to_str(int(c)) for c in grid.ravel()]
    np.testing.assert_array_equal(parent_cells(strs, 5), parent_cells(grid.ravel(), 5))


def test_parent_cells_errors():
    cells = cells_for_points([120.6], [31.3], res=7)
    with pytest.raises(InvalidCellError, match="resolution 7, coarser than the requested 9"):
        parent_cells(cells, 9)
    with pytest.raises(InvalidCellError, match="not an H3 cell index"):
        parent_cells(np.array([12345], dtype=np.int64), 3)
    with pytest.raises(InvalidCellError, match="integers"):
        parent_cells(np.array([1.5]), 3)
    assert parent_cells(cells, 7)[0] == cells[0]


def _eval_sql(expr: str, column: str, value: int) -> int:
    """Evaluate the generated SQL with Python ints, which have bigint two's-complement semantics
    for & and | on values in int64 range."""
    quoted = ".".join(f'"{p}"' for p in column.split("."))
    py = expr.replace(quoted, str(value)).replace("::bigint", "")
    assert re.fullmatch(r"[()\d &|\-]+", py), py  # nothing but integer bit arithmetic remains
    result = eval(py)
    assert -(2**63) <= result < 2**63
    return result


@pytest.mark.parametrize("res", [0, 5, 7, 8, 9, 12])
def test_parent_sql_has_h3_semantics(res):
    cells = cells_for_points(*_points(50, seed=res))
    expr = parent_sql("i.h3_cell", res)
    assert expr.startswith('(("i"."h3_cell" &')
    for c in cells.tolist():
        assert _eval_sql(expr, "i.h3_cell", c) == _h3_parent(c, res)


def test_parent_sql_rejects_injection_and_bad_res():
    for bad in ['h3"; drop table x; --', "a.b.c", "1col", "", None]:
        with pytest.raises(InvalidCellError, match="identifier"):
            parent_sql(bad, 8)
    with pytest.raises(InvalidCellError):
        parent_sql("h3_cell", 16)
    with pytest.raises(InvalidCellError):
        parent_sql("h3_cell", True)


def test_aggregate_counts_and_weights():
    lon, lat = _points(5000, seed=4)
    cells = cells_for_points(lon, lat)
    df = aggregate(cells, res=7)
    assert list(df.columns) == ["cell", "count"]
    assert df["cell"].dtype == np.int64 and df["count"].dtype == np.int64
    assert df["count"].sum() == 5000
    assert df["cell"].is_monotonic_increasing and df["cell"].is_unique
    assert df.attrs["res"] == 7
    expected = pd.Series([_h3_parent(int(c), 7) for c in cells]).value_counts()
    assert dict(zip(df["cell"], df["count"], strict=True)) == expected.to_dict()

    w = np.full(5000, 0.5)
    dfw = aggregate(cells, res=7, weights=w)
    np.testing.assert_allclose(dfw["count"], df["count"] * 0.5)
    with pytest.raises(InvalidCellError, match="weights has 3 values for 5000 cells"):
        aggregate(cells, res=7, weights=[1, 2, 3])
    empty = aggregate(np.array([], dtype=np.int64), res=8)
    assert len(empty) == 0 and list(empty.columns) == ["cell", "count"]


def test_aggregate_one_million():
    """(How fast: ``scripts/bench/bench_heat.py``.)"""
    lon, lat = _points(20_000, seed=5)
    base = cells_for_points(lon, lat)
    rng = np.random.default_rng(6)
    cells = base[rng.integers(0, base.size, 1_000_000)]
    df = aggregate(cells, res=8)
    assert df["count"].sum() == 1_000_000
    assert (cell_resolutions(df["cell"].to_numpy()) == 8).all()


def test_cells_to_geojson_lonlat_ccw_and_properties():
    cells = cells_for_points([120.6, 120.61, 121.2], [31.3, 31.31, 31.0])
    df = aggregate(cells, res=8)
    df["share"] = df["count"] / df["count"].sum()
    fc = cells_to_geojson(df)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == len(df)
    for f, (cell, count) in zip(fc["features"], zip(df["cell"], df["count"], strict=True), strict=True):
        props = f["properties"]
        assert props["cell"] == h3.int_to_str(int(cell)) == f["id"]
        assert props["count"] == int(count) and isinstance(props["count"], int)
        assert isinstance(props["share"], float)
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) == 7
        assert all(120 < x < 122 and 30 < y < 32 for x, y in ring)  # lon first
        poly = shape(f["geometry"])
        assert poly.is_valid and poly.exterior.is_ccw
        lat, lng = h3.cell_to_latlng(props["cell"])
        assert poly.contains(Point(lng, lat))
    with pytest.raises(InvalidCellError, match="no 'cell' column"):
        cells_to_geojson(df.rename(columns={"cell": "h3"}))


def test_cell_to_str_roundtrip():
    cells = cells_for_points([120.6, 116.4], [31.3, 39.9], res=9)
    strs = cell_to_str(cells)
    assert [h3.str_to_int(s) for s in strs] == cells.tolist()


def test_bbox_cells_cover_points_inside():
    bbox = (120.5, 31.2, 120.7, 31.4)
    cells = bbox_cells(bbox, res=7)
    assert cells.dtype == np.int64 and (np.diff(cells) > 0).all()
    lon, lat = _points(2000, seed=9)
    inside = (lon >= 120.5) & (lon <= 120.7) & (lat >= 31.2) & (lat <= 31.4)
    parents = parent_cells(cells_for_points(lon[inside], lat[inside]), 7)
    assert np.isin(parents, cells).all()  # "overlap" leaves no gap at the edges
    centre = bbox_cells(bbox, res=7, contain="center")
    assert set(centre.tolist()) <= set(cells.tolist()) and len(centre) < len(cells)
    with pytest.raises(InvalidGeometryError, match="west"):
        bbox_cells((120.7, 31.2, 120.5, 31.4), res=7)
    with pytest.raises(InvalidCellError, match="contain"):
        bbox_cells(bbox, res=7, contain="inside")


def _in_ranges(cells, ranges):
    """Index of the range holding each cell (-1: none), by binary search on the sorted ranges."""
    k = np.searchsorted(ranges.lo, cells, side="right") - 1
    hit = (k >= 0) & (cells <= ranges.hi[np.maximum(k, 0)])
    return np.where(hit, k, -1)


@settings(max_examples=60, deadline=None)
@given(
    west=st.floats(100.0, 125.0),
    south=st.floats(20.0, 45.0),
    width_m=st.floats(30.0, 60_000.0),
    height_m=st.floats(30.0, 60_000.0),
    seed=st.integers(0, 2**16),
)
def test_bbox_cell_ranges_cover_exactly_the_points_inside(west, south, width_m, height_m, seed):
    """Every point in the bbox has its stored cell in a range; points in "inside" ranges are in the bbox.

    Points are drawn in a band around each edge (half the band outside), where the H3 child/parent
    overhang and the cover's margin matter, plus on the edges and corners themselves.
    """
    east = west + width_m / (111_320 * np.cos(np.radians(south + 1)))
    north = south + height_m / 111_320
    ranges = bbox_cell_ranges((west, south, east, north))
    assert ranges is not None
    assert (ranges.lo <= ranges.hi).all() and (ranges.lo[1:] > ranges.hi[:-1]).all()
    rng = np.random.default_rng(seed)
    band_x, band_y = (east - west) * 0.1, (north - south) * 0.1
    n = 3000
    lon = rng.uniform(west - band_x, east + band_x, n)
    lat = rng.uniform(south - band_y, north + band_y, n)
    edge = rng.integers(0, 4, n)  # pull each point into the band of one edge
    lon = np.where(edge == 0, rng.uniform(west - band_x, west + band_x, n), lon)
    lon = np.where(edge == 1, rng.uniform(east - band_x, east + band_x, n), lon)
    lat = np.where(edge == 2, rng.uniform(south - band_y, south + band_y, n), lat)
    lat = np.where(edge == 3, rng.uniform(north - band_y, north + band_y, n), lat)
    lon = np.r_[lon, west, east, west, east, (west + east) / 2]
    lat = np.r_[lat, south, south, north, north, north]
    inside_box = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    k = _in_ranges(cells_for_points(lon, lat), ranges)
    assert (k[inside_box] >= 0).all()
    flagged = np.zeros(k.size, dtype=bool)
    flagged[k >= 0] = ranges.inside[k[k >= 0]]
    assert inside_box[flagged].all()


def test_bbox_cell_ranges_city_and_refusals():
    ranges = bbox_cell_ranges((120.55, 31.20, 120.76, 31.38))
    # A city: a few hundred ranges at most, most of its points in "inside" ranges.
    assert ranges is not None and len(ranges.lo) < 500 and ranges.res == 8
    lon, lat = _points(5000, seed=3)
    inside_box = (lon >= 120.55) & (lon <= 120.76) & (lat >= 31.20) & (lat <= 31.38)
    k = _in_ranges(cells_for_points(lon[inside_box], lat[inside_box]), ranges)
    assert (k >= 0).all() and ranges.inside[k].mean() > 0.7
    # Ranges hold res-12 cells only, and only descendants of the covering cells.
    assert set(cell_resolutions(np.r_[ranges.lo, ranges.hi]).tolist()) == {STORED_RES}
    # Where a lon/lat box is no good cell cover, the caller falls back to a spatial filter.
    assert bbox_cell_ranges((179.9, 10.0, 180.0, 11.0)) is None
    assert bbox_cell_ranges((10.0, 79.99, 11.0, 80.5)) is None
    with pytest.raises(InvalidGeometryError, match="west"):
        bbox_cell_ranges((120.7, 31.2, 120.5, 31.4))


def test_bbox_cell_ranges_are_cached_and_read_only():
    box = (120.55, 31.20, 120.76, 31.38)
    first = bbox_cell_ranges(box)
    again = bbox_cell_ranges(BBox(*box))  # the same view, given as a BBox
    assert first is again  # served from the cache
    assert first is not None and bbox_cell_ranges((120.55, 31.20, 120.76, 31.39)) is not first
    # A caller cannot change what the next caller gets.
    with pytest.raises(ValueError, match="read-only"):
        first.lo[0] = 0
    assert not first.hi.flags.writeable and not first.inside.flags.writeable


def test_cells_to_geojson_rings_are_cached_and_immutable():
    df = aggregate(cells_for_points([120.6], [31.3]), res=9)
    a = cells_to_geojson(df)["features"][0]["geometry"]["coordinates"][0]
    b = cells_to_geojson(df)["features"][0]["geometry"]["coordinates"][0]
    assert a is b  # second call served from the cache
    with pytest.raises(TypeError):
        a[0] = (0.0, 0.0)  # type: ignore[index]


def test_parents_are_at_exactly_the_requested_resolution_and_never_finer_than_the_cell():
    """Every (cell resolution, requested resolution) pair: a parent is at the requested resolution
    and an ancestor of the cell; asking a cell for a finer "parent" is refused, never guessed."""
    lon, lat = _points(5, seed=11)
    for have in range(16):
        cells = cells_for_points(lon, lat, res=have)
        for want in range(16):
            if want > have:
                with pytest.raises(InvalidCellError, match=f"resolution {have}, coarser than the requested"):
                    parent_cells(cells, want)
                continue
            parents = parent_cells(cells, want)
            assert (cell_resolutions(parents) == want).all(), (have, want)
            for cell, parent in zip(cells.tolist(), parents.tolist(), strict=True):
                assert h3.get_resolution(h3.int_to_str(parent)) == want
                assert h3.is_valid_cell(h3.int_to_str(parent))
                assert parent == _h3_parent(cell, want)
            counted = aggregate(cells, res=want)
            assert (cell_resolutions(counted["cell"].to_numpy()) == want).all()
