"""WGS-84 / GCJ-02 / BD-09 conversion and coordinate validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from geogrid.coords import (
    CHINA_BBOX,
    BBox,
    LngLat,
    check_bbox,
    check_lnglat,
    convert,
    distance_m,
    from_wgs84,
    to_wgs84,
)
from geogrid.errors import InvalidGeometryError

# Published reference pair (Beijing railway station), used across converters' documentation:
# WGS-84 (116.42079, 39.90105) -> GCJ-02 (116.42703, 39.90245), 5 decimals.
BEIJING_STATION_WGS = (116.42079, 39.90105)
BEIJING_STATION_GCJ = (116.42703, 39.90245)
TIANANMEN_WGS = (116.391, 39.907)

# Within ~0.02 deg of the China rectangle's edge a shifted point can cross the edge, where
# GCJ-02 is discontinuous by definition; round trips are only promised away from it.
china_lon = st.floats(min_value=CHINA_BBOX.west + 0.05, max_value=CHINA_BBOX.east - 0.05)
china_lat = st.floats(min_value=CHINA_BBOX.south + 0.05, max_value=CHINA_BBOX.north - 0.05)


def test_reference_point_gcj02():
    p = from_wgs84(*BEIJING_STATION_WGS, crs="gcj02")
    assert isinstance(p, LngLat)
    assert p.lng == pytest.approx(BEIJING_STATION_GCJ[0], abs=2e-5)
    assert p.lat == pytest.approx(BEIJING_STATION_GCJ[1], abs=2e-5)
    back = to_wgs84(*BEIJING_STATION_GCJ, crs="gcj02")
    # The reference values are rounded to 5 decimals (~1 m), so compare at that level.
    assert distance_m(back.lng, back.lat, *BEIJING_STATION_WGS) < 2.0


def test_tiananmen_offset_is_a_few_hundred_metres_east_north():
    g = from_wgs84(*TIANANMEN_WGS, crs="gcj02")
    offset = distance_m(*TIANANMEN_WGS, g.lng, g.lat)
    assert 300 < offset < 800
    assert g.lng > TIANANMEN_WGS[0] and g.lat > TIANANMEN_WGS[1]
    b = from_wgs84(*TIANANMEN_WGS, crs="bd09")
    # BD-09 adds roughly another 0.0065 deg east / 0.006 deg north on top of GCJ-02.
    assert b.lng - g.lng == pytest.approx(0.0065, abs=0.0008)
    assert b.lat - g.lat == pytest.approx(0.006, abs=0.0008)


def test_outside_china_gcj02_is_identity_bd09_is_not():
    for lon, lat in [(2.35, 48.85), (-74.0, 40.7), (151.2, -33.9), (100.0, 60.0)]:
        assert from_wgs84(lon, lat, crs="gcj02") == (lon, lat)
        assert to_wgs84(lon, lat, crs="gcj02") == (lon, lat)
        # Baidu's rotation applies everywhere, and still round-trips.
        b = from_wgs84(lon, lat, crs="bd09")
        assert b != (lon, lat)
        w = to_wgs84(b.lng, b.lat, crs="bd09")
        assert distance_m(lon, lat, w.lng, w.lat) < 0.01


def test_wgs84_is_identity():
    assert to_wgs84(120.6, 31.3) == (120.6, 31.3)
    assert from_wgs84(120.6, 31.3, crs="WGS-84") == (120.6, 31.3)


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat, st.sampled_from(["gcj02", "bd09"]))
@example(116.391, 39.907, "gcj02")
@example(87.6, 43.8, "bd09")  # Urumqi
@example(109.5, 18.25, "gcj02")  # Sanya
def test_round_trip_below_a_millimetre(lon, lat, crs):
    fwd = from_wgs84(lon, lat, crs=crs)
    back = to_wgs84(fwd.lng, fwd.lat, crs=crs)
    assert distance_m(lon, lat, back.lng, back.lat) < 0.001
    # and the other direction: a reported (shifted) point maps back onto itself
    w = to_wgs84(lon, lat, crs=crs)
    again = from_wgs84(w.lng, w.lat, crs=crs)
    assert distance_m(lon, lat, again.lng, again.lat) < 0.001


def test_inverse_is_better_than_one_step_approximation():
    # The one-step inverse (subtract the offset computed at the shifted point) is ~metres off
    # in places; ours must be far below that everywhere on a dense sample.
    rng = np.random.default_rng(7)
    lon = rng.uniform(74, 134, 20_000)
    lat = rng.uniform(4, 53, 20_000)
    g = from_wgs84(lon, lat, crs="gcj02")
    back = to_wgs84(g.lng, g.lat, crs="gcj02")
    assert distance_m(lon, lat, back.lng, back.lat).max() < 1e-3
    one_step = g.lng - (from_wgs84(g.lng, g.lat, crs="gcj02").lng - g.lng)
    assert np.abs(one_step - lon).max() * 1e5 > 1.0  # >~1 m somewhere: the test can tell them apart


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_vectorised_matches_scalar(crs):
    rng = np.random.default_rng(3)
    lon = np.concatenate([rng.uniform(74, 134, 50), [2.35, -74.0]])
    lat = np.concatenate([rng.uniform(4, 53, 50), [48.85, 40.7]])
    vec_f = from_wgs84(lon, lat, crs=crs)
    vec_b = to_wgs84(lon, lat, crs=crs)
    assert isinstance(vec_f.lng, np.ndarray) and vec_f.lng.shape == lon.shape
    for i in range(lon.size):
        f = from_wgs84(float(lon[i]), float(lat[i]), crs=crs)
        b = to_wgs84(float(lon[i]), float(lat[i]), crs=crs)
        assert isinstance(f.lng, float)
        assert (vec_f.lng[i], vec_f.lat[i]) == pytest.approx(f, abs=1e-12)
        assert (vec_b.lng[i], vec_b.lat[i]) == pytest.approx(b, abs=1e-9)


def test_inputs_not_modified_and_lists_accepted():
    lon = np.array([116.391, 120.6])
    lat = np.array([39.907, 31.3])
    to_wgs84(lon, lat, crs="bd09")
    assert lon.tolist() == [116.391, 120.6]
    p = from_wgs84([116.391, 120.6], [39.907, 31.3], crs="gcj02")
    assert p.lng.shape == (2,)


def test_convert_between_gcj02_and_bd09():
    g = from_wgs84(*TIANANMEN_WGS, crs="gcj02")
    b = convert(g.lng, g.lat, src="gcj02", dst="bd09")
    assert b == pytest.approx(from_wgs84(*TIANANMEN_WGS, crs="bd09"), abs=1e-12)
    g2 = convert(b.lng, b.lat, src="bd09", dst="gcj02")
    assert distance_m(g.lng, g.lat, g2.lng, g2.lat) < 1e-3
    assert convert(1.0, 2.0, src="gcj02", dst="gcj02") == (1.0, 2.0)


def test_unknown_crs():
    with pytest.raises(InvalidGeometryError, match="unknown crs 'epsg:3857'"):
        to_wgs84(1, 2, crs="epsg:3857")


@pytest.mark.parametrize(
    ("lon", "lat", "match"),
    [
        (39.907, 116.391, r"latitude 116.391 is outside \[-90, 90\]; the pair looks swapped"),
        (200.0, 10.0, r"longitude 200.0 is outside \[-180, 180\]"),
        (float("nan"), 10.0, "finite"),
        (10.0, float("inf"), "finite"),
    ],
)
def test_check_lnglat_errors(lon, lat, match):
    with pytest.raises(InvalidGeometryError, match=match):
        check_lnglat(lon, lat)


def test_check_lnglat_out_of_range_without_swap_hint():
    with pytest.raises(InvalidGeometryError) as info:
        check_lnglat(150.0, 95.0)  # swapping would not help: lon 150 is no latitude
    assert "swapped" not in str(info.value)


def test_check_lnglat_expect_china_detects_swapped_western_china_point():
    # Urumqi (87.6, 43.8) given as (lat, lon) is a valid Arctic position: only a China check sees it.
    check_lnglat(43.8, 87.6)
    with pytest.raises(InvalidGeometryError, match=r"outside China.*did you mean lon=87.6, lat=43.8"):
        check_lnglat(43.8, 87.6, expect_china=True)
    check_lnglat(87.6, 43.8, expect_china=True)


def test_check_lnglat_arrays_report_first_bad_index():
    with pytest.raises(InvalidGeometryError, match=r"at index 2 \(2 bad of 4\)"):
        check_lnglat([120.0, 121.0, 31.0, 500.0], [31.0, 30.0, 120.0, 10.0])
    with pytest.raises(InvalidGeometryError, match="different shapes"):
        check_lnglat([1.0, 2.0], [1.0])
    with pytest.raises(InvalidGeometryError, match="swapped"):
        to_wgs84(np.array([31.3]), np.array([120.6]), crs="gcj02")


def test_bbox():
    b = BBox.parse(" 120.5, 31.2,120.7 ,31.4")
    assert b == BBox(120.5, 31.2, 120.7, 31.4)
    assert b.contains(120.6, 31.3) is True
    assert b.contains(np.array([120.6, 121.0]), np.array([31.3, 31.3])).tolist() == [True, False]
    assert b.to_polygon().bounds == tuple(b)
    with pytest.raises(InvalidGeometryError, match="4 comma-separated"):
        BBox.parse("1,2,3")
    with pytest.raises(InvalidGeometryError, match="numbers"):
        BBox.parse("a,b,c,d")
    with pytest.raises(InvalidGeometryError, match=r"west 121\.0 is east of east"):
        check_bbox((121.0, 31.2, 120.7, 31.4))
    with pytest.raises(InvalidGeometryError, match=r"south 32\.0 is north of north"):
        check_bbox((120.5, 32.0, 120.7, 31.4))
    with pytest.raises(InvalidGeometryError, match="swapped"):
        check_bbox((31.2, 120.5, 31.4, 120.7))
