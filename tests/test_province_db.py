"""A province into PostGIS: COPY loads county by county, plans published while lookups are served."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import sqlalchemy as sa

from geogrid.db import plans
from geogrid.db.lookup import lookup_points
from geogrid.db.province import load_province, publish_province
from geogrid.db.rawpool import pool_for
from geogrid.errors import ImportRowsError
from geogrid.province import (
    county_files,
    partition_province,
    province_counties,
    read_manifest,
    write_province,
)

SEED = 21


@pytest.fixture(scope="module")
def province(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("province_db")
    write_province(folder, province_counties(2, households=2_000, seed=SEED), seed=SEED)
    return folder


def _count(engine, sql: str, **params) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


def test_a_bad_row_refuses_its_county_by_row_and_a_second_load_continues(engine, province, tmp_path):
    source = tmp_path / "province"
    shutil.copytree(province, source)
    first, second = sorted(read_manifest(source)["counties"])
    path = county_files(source, second)["addresses"]
    addresses = gpd.read_parquet(path)
    good = addresses.copy()
    addresses.loc[addresses.index[99], "households"] = -3  # row 100 breaks ck_addresses_households
    addresses.to_parquet(path)

    with pytest.raises(ImportRowsError) as info:
        load_province(engine, source)
    error = info.value.errors[0]
    assert info.value.source == str(path)
    assert error.row == 100 and "households" in error.field
    # The first county is in; nothing of the second (one transaction per county).
    assert _count(engine, "SELECT count(*) FROM addresses WHERE division_code LIKE :p", p=first + "%") > 0
    assert _count(engine, "SELECT count(*) FROM divisions WHERE code LIKE :p", p=second + "%") == 0
    assert _count(engine, "SELECT count(*) FROM addresses WHERE division_code LIKE :p", p=second + "%") == 0

    good.to_parquet(path)
    rows = load_province(engine, source)
    assert [(r["code"], r["skipped"]) for r in rows] == [(first, True), (second, False)]
    assert rows[1]["addresses"] == len(good)
    assert _count(engine, "SELECT count(*) FROM addresses") == sum(
        c["addresses"] for c in read_manifest(source)["counties"].values()
    )


def _expected(out: Path, code: str, points: gpd.GeoDataFrame) -> list[str | None]:
    """The grid of each point in the run's grids of ``code`` (finest, then smallest code)."""
    grids = gpd.read_parquet(out / "counties" / code / "grids.parquet")[["code", "geometry"]]
    hits = gpd.sjoin(points, grids, predicate="intersects")
    hits["rank"] = hits["code"].str.len()
    best = hits.sort_values(["rank", "code"], ascending=[False, True]).groupby(level=0)["code"].first()
    return [best.get(i) for i in points.index]


def test_publishing_a_province_county_by_county_keeps_lookups_consistent(engine, province, tmp_path):
    load_province(engine, province)
    codes = sorted(read_manifest(province)["counties"])
    run_a, run_b = tmp_path / "a", tmp_path / "b"
    partition_province(province, run_a, scheduler="synchronous", progress=False, seed=0)
    partition_province(province, run_b, scheduler="synchronous", progress=False, seed=1)
    rng = np.random.default_rng(0)
    samples = {}
    for code in codes:
        addresses = gpd.read_parquet(county_files(province, code)["addresses"])
        samples[code] = addresses.iloc[np.sort(rng.choice(len(addresses), 150, replace=False))]
    points = gpd.GeoDataFrame(
        {"county": np.repeat(codes, 150)},
        geometry=np.concatenate([samples[c].geometry.values for c in codes]),
        crs="EPSG:4326",
    )
    expected = {
        (run, code): _expected(run, code, points[points["county"] == code].reset_index(drop=True))
        for run in (run_a, run_b)
        for code in codes
    }
    assert any(expected[(run_a, c)] != expected[(run_b, c)] for c in codes)
    assert all(r["reason"] is None for r in publish_province(engine, run_a))

    pool = pool_for(engine)
    seen: dict[tuple[Path, str], int] = dict.fromkeys(expected, 0)
    problems: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        import json

        while not stop.is_set():
            answer = json.loads(lookup_points(pool, points.geometry.x, points.geometry.y))
            for code in codes:
                got = [
                    a["grid"]["code"] if a["grid"] else None
                    for a, c in zip(answer, points["county"], strict=True)
                    if c == code
                ]
                owners = [run for run in (run_a, run_b) if got == expected[(run, code)]]
                if not owners:
                    problems.append(f"county {code}: lookups from neither plan (or a mix): {got[:5]}…")
                else:
                    seen[(owners[0], code)] += 1

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        published = publish_province(engine, run_b)
        for code in codes:
            plans.rollback_plan(engine, code + "000000")
        for code in codes:
            plans.rollback_plan(engine, code + "000000")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert problems == []
    assert all(not r["skipped"] and r["reason"] is None for r in published)
    assert all(seen[(run_b, c)] > 0 for c in codes), seen
    # Back on plan B: every address points at the grid its point lies in, counts add up.
    with engine.connect() as conn:
        for code in codes:
            stored = dict(
                conn.execute(
                    sa.text("SELECT source_id, grid_code FROM addresses WHERE source_id = ANY(:ids)"),
                    {"ids": list(samples[code]["address_id"])},
                ).all()
            )
            assert [stored[a] for a in samples[code]["address_id"]] == expected[(run_b, code)]
        assert conn.execute(
            sa.text(
                "SELECT sum(g.households) FROM grids g JOIN plans p ON p.id = g.plan_id AND p.status = 'published'"
            )
        ).scalar_one() == _count(engine, "SELECT sum(households) FROM addresses")


def test_the_province_commands_generate_partition_load_and_publish(engine, db_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from geogrid.cli import app

    monkeypatch.setenv("GEOGRID_DATABASE_URL", db_url)
    monkeypatch.setenv("GEOGRID_DASK_SCHEDULER", "synchronous")  # the option's environment variable
    runner = CliRunner()
    prov, run = str(tmp_path / "prov"), str(tmp_path / "run")
    steps = [
        ["province", "generate", prov, "--counties", "2", "--households", "2000", "--seed", str(SEED)],
        ["province", "partition", prov, "--out", run],
        ["province", "load", prov],
        ["province", "publish", run],
    ]
    outputs = []
    for args in steps:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "2 counties, 4,000 households" in outputs[0]
    assert "2 counties partitioned, 0 already done, 0 failed on synchronous" in outputs[1]
    assert "2 county plans published" in outputs[3]
    assert _count(engine, "SELECT count(*) FROM plans WHERE status = 'published'") == 2
    assert _count(engine, "SELECT count(*) FROM addresses WHERE grid_code IS NULL") == 0
    again = runner.invoke(app, ["province", "publish", run])
    assert again.output.count("already published") == 2
