"""Division, grid and sub-grid codes: round trips, errors, numbering and re-coding."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from geogrid.codes import (
    check_code,
    grid_code,
    is_ancestor,
    is_valid_code,
    number_grids,
    parent_code,
    parse_code,
    recode,
    sequence_of,
    spatial_order,
    subgrid_code,
)
from geogrid.errors import GridCodeError
from tests.geometries import METRIC

provinces = st.sampled_from(["11", "32", "44", "65", "82"])
county_tail = st.integers(1, 9999).map(lambda n: f"{n:04d}")
part3 = st.integers(1, 999).map(lambda n: f"{n:03d}")
villages = st.builds(lambda p, c, t, v: p + c + t + v, provinces, county_tail, part3, part3)


@settings(max_examples=200)
@given(village=villages, seq=st.integers(1, 999), sub=st.integers(1, 99))
@example(village="320508019044", seq=1, sub=1)
@example(village="110101001001", seq=999, sub=99)
def test_encode_decode_round_trip(village, seq, sub):
    g = grid_code(village, seq)
    s = subgrid_code(g, sub)
    pg, ps = parse_code(g), parse_code(s)
    assert (len(g), len(s)) == (15, 17)
    assert pg.level == "grid" and ps.level == "subgrid"
    assert pg.grid_seq == seq == ps.grid_seq and ps.subgrid_seq == sub
    assert pg.county + pg.township + pg.village == village == ps.division_code
    assert parent_code(s) == g and parent_code(g) == village
    assert sequence_of(g) == seq and sequence_of(s) == sub
    assert is_ancestor(village, s) and is_ancestor(village[:9] + "000", s)
    # the chain ends at the county and then None
    chain = [s]
    while (up := parent_code(chain[-1])) is not None:
        chain.append(up)
    assert chain[-1] == village[:6] + "000000"
    assert [parse_code(c).level for c in chain] == ["subgrid", "grid", "village", "township", "county"]


@given(st.text(min_size=0, max_size=20))
@example("32050801904400")  # 14 digits
@example("3205080190440031")  # 16 digits
def test_arbitrary_text_is_valid_only_when_parse_agrees(text):
    try:
        parse_code(text)
        parsed = True
    except GridCodeError:
        parsed = False
    assert is_valid_code(text) == parsed
    if parsed:
        assert text.isdigit() and len(text) in (12, 15, 17)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("32050801904X", "only the digits"),
        ("3205080190440", "13 digits"),
        ("990508019044", "province"),
        ("320000019044", "county"),
        ("320508000044", "under township 000"),
        ("320508019044000", "sequence 000"),
        ("32050801904400300", "sequence 00"),
        ("320508019000001", "must extend a village"),
    ],
)
def test_malformed_codes_say_why(code, reason):
    with pytest.raises(GridCodeError, match=reason):
        parse_code(code)


def test_level_checks_and_bad_sequences():
    assert check_code("320508019044", level="village") == "320508019044"
    with pytest.raises(GridCodeError, match="expected a grid code"):
        check_code("320508019044", level="grid")
    with pytest.raises(GridCodeError):
        grid_code("320508019044", 1000)
    with pytest.raises(GridCodeError):
        grid_code("320508019000", 1)  # a township cannot hold grids directly
    with pytest.raises(GridCodeError):
        subgrid_code("320508019044001", 0)


def _grid_frame(boxes):
    return gpd.GeoDataFrame(
        {"division_code": "320508019044"}, index=range(len(boxes)), geometry=boxes, crs=METRIC
    )


def test_number_grids_west_to_east_then_north_to_south():
    # 3 x 2 lattice of 100 m cells, given in scrambled order
    cells = {(c, r): box(c * 100, r * 100, c * 100 + 100, r * 100 + 100) for c in range(3) for r in range(2)}
    keys = [(2, 0), (0, 1), (1, 0), (2, 1), (0, 0), (1, 1)]
    grids = _grid_frame([cells[k] for k in keys])
    out = number_grids(grids, "320508019044")
    # north row (r=1) first, west to east; then south row
    expected = [(0, 1), (1, 1), (2, 1), (0, 0), (1, 0), (2, 0)]
    got = [(int(g.bounds[0] // 100), int(g.bounds[1] // 100)) for g in out.geometry]
    assert got == expected
    assert out["code"].tolist() == [f"320508019044{i:03d}" for i in range(1, 7)]


@settings(max_examples=30, deadline=None)
@given(st.permutations(list(range(12))))
def test_numbering_does_not_depend_on_input_order(perm):
    rng = np.random.default_rng(0)
    boxes = [box(x, y, x + 90, y + 90) for x, y in rng.uniform(0, 1000, (12, 2))]
    base = number_grids(_grid_frame(boxes), "320508019044")
    shuffled = number_grids(_grid_frame([boxes[i] for i in perm]), "320508019044")
    as_map = lambda df: {g.wkb: c for g, c in zip(df.geometry, df["code"], strict=True)}  # noqa: E731
    assert as_map(base) == as_map(shuffled)


def test_subgrid_numbering_and_capacity():
    boxes = [box(i * 10, 0, i * 10 + 10, 10) for i in range(3)]
    out = number_grids(_grid_frame(boxes), "320508019044003")
    assert out["code"].tolist() == ["32050801904400301", "32050801904400302", "32050801904400303"]
    assert (out["division_code"] == "320508019044").all()
    with pytest.raises(GridCodeError, match="do not fit"):
        number_grids(_grid_frame([box(i, 0, i + 1, 1) for i in range(100)]), "320508019044003")
    assert len(spatial_order(gpd.GeoSeries([], crs=METRIC))) == 0


def test_recode_keeps_unchanged_grids_and_never_reuses_codes():
    prev = gpd.GeoDataFrame(
        {"code": [f"320508019044{i:03d}" for i in (1, 2, 3, 4)]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100), box(200, 0, 300, 100), box(300, 0, 400, 100)],
        crs=METRIC,
    )
    # grid 1 unchanged, grid 2 nudged (IoU 0.9), grids 3+4 redrawn as 3 strips
    new = _grid_frame(
        [
            box(0, 0, 100, 100),
            box(100, 0, 195, 100),
            box(195, 0, 265, 100),
            box(265, 0, 335, 100),
            box(335, 0, 400, 100),
        ]
    )
    result = recode(new, prev, retired=["320508019044005", "320508019044007"])
    codes = result.grids["code"].tolist()
    assert codes[:2] == ["320508019044001", "320508019044002"]
    assert codes[2:] == ["320508019044006", "320508019044008", "320508019044009"]
    assert set(result.retired) == {"320508019044003", "320508019044004"}
    assert result.kept["320508019044001"] == pytest.approx(1.0)
    assert len(set(codes)) == len(codes)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 12),
    changed=st.sets(st.integers(0, 11)),
    retired=st.sets(st.integers(13, 60), max_size=10),
)
def test_recode_properties(n, changed, retired):
    prev = gpd.GeoDataFrame(
        {"code": [f"320508019044{i + 1:03d}" for i in range(n)]},
        geometry=[box(i * 100, 0, i * 100 + 100, 100) for i in range(n)],
        crs=METRIC,
    )
    # changed grids shrink to 60 % (IoU 0.6 < 0.8): they must get fresh codes
    boxes = [box(i * 100, 0, i * 100 + (60 if i in changed else 100), 100) for i in range(n)]
    retired_codes = [f"320508019044{r:03d}" for r in retired]
    result = recode(_grid_frame(boxes), prev, retired=retired_codes)
    codes = result.grids["code"].tolist()
    assert len(set(codes)) == n
    for i, c in enumerate(codes):
        if i in changed:
            assert c not in prev["code"].tolist() and c not in retired_codes
        else:
            assert c == prev["code"].iloc[i]
    assert sorted(result.retired) == sorted(prev["code"].iloc[sorted(c for c in changed if c < n)].tolist())


def test_recode_rejects_duplicates_and_missing_division():
    prev = gpd.GeoDataFrame({"code": ["320508019044001"] * 2}, geometry=[box(0, 0, 1, 1)] * 2, crs=METRIC)
    with pytest.raises(GridCodeError, match="duplicate"):
        recode(_grid_frame([box(0, 0, 1, 1)]), prev)
    ok_prev = prev.iloc[:1]
    with pytest.raises(GridCodeError, match="division_code"):
        recode(gpd.GeoDataFrame(geometry=[box(5, 5, 6, 6)], crs=METRIC), ok_prev)


def test_recode_never_keeps_a_code_of_another_village():
    """A village boundary moved: a grid of village A now lies in village B.  It matches A's old
    grid exactly, yet a kept code must belong to the new grid's own division."""
    a, b = "320508019044", "320508019045"
    prev = gpd.GeoDataFrame(
        {"code": [a + "001", b + "001"]}, geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=METRIC
    )
    new = gpd.GeoDataFrame(
        {"division_code": [b, b]}, geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=METRIC
    )
    result = recode(new, prev)
    assert result.grids["code"].tolist() == [b + "002", b + "001"]
    assert result.kept.keys() == {b + "001"}
    assert result.retired == [a + "001"]
    assert all(
        c.startswith(d) for c, d in zip(result.grids["code"], result.grids["division_code"], strict=True)
    )
