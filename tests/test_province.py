"""Province scale: the streaming generator and partition runs on a real Dask scheduler and workers.

The cluster is real: ``dask scheduler`` and ``dask worker`` processes started by
:class:`geogrid.dask_cluster.DaskCluster` for this module and stopped after it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest
from geopandas.testing import assert_geodataframe_equal

from geogrid.dask_cluster import DaskCluster
from geogrid.errors import GeogridError
from geogrid.province import (
    county_files,
    partition_province,
    province_counties,
    read_county,
    read_manifest,
    read_run,
    write_province,
)
from geogrid.synthetic import _check_county_code

SEED = 11
HOUSEHOLDS = 2_000


@pytest.fixture(scope="module")
def province(tmp_path_factory) -> Path:
    """Three small counties written by the generator (read-only for the tests)."""
    folder = tmp_path_factory.mktemp("province")
    write_province(folder, province_counties(3, households=HOUSEHOLDS, seed=SEED), seed=SEED)
    return folder


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory) -> Iterator[str]:
    """Address of a real `dask scheduler` with two `dask worker` processes (stopped afterwards)."""
    cluster = DaskCluster(tmp_path_factory.mktemp("dask"))
    address = cluster.start(workers=2, port=0)
    try:
        yield address
    finally:
        cluster.stop()
    assert cluster.status() is None


def test_counties_have_unique_well_formed_codes_and_lie_apart(province):
    specs = province_counties(100, seed=SEED)
    codes = [s.code for s in specs]
    assert len(set(codes)) == 100
    assert all(_check_county_code(c) == c and c.startswith("32") for c in codes)
    manifest = read_manifest(province)
    boxes = [c["bbox"] for c in manifest["counties"].values()]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1], "counties overlap"
    for code, entry in manifest["counties"].items():
        frames = read_county(province, code)
        assert set(frames["divisions"]["code"].str[:6]) == {code}
        assert int(frames["addresses"]["households"].sum()) == entry["households"] == HOUSEHOLDS
        assert frames["addresses"]["address_id"].is_unique


def test_generator_is_deterministic_per_seed(province, tmp_path):
    again = write_province(
        tmp_path / "same", province_counties(3, households=HOUSEHOLDS, seed=SEED)[:1], seed=SEED
    )
    other = write_province(
        tmp_path / "other", province_counties(1, households=HOUSEHOLDS, seed=SEED + 1), seed=SEED + 1
    )
    code = next(iter(again["counties"]))
    first, repeat = read_county(province, code), read_county(tmp_path / "same", code)
    for layer in ("divisions", "addresses", "streets"):
        assert_geodataframe_equal(first[layer], repeat[layer])
    different = read_county(tmp_path / "other", code)["addresses"]
    assert len(different) != len(first["addresses"]) or not different.geometry.equals(
        first["addresses"].geometry
    )
    assert other["counties"][code]["seed"] != again["counties"][code]["seed"]


def test_generator_streams_county_by_county(tmp_path):
    """Peak memory of 3 counties is that of 1: each county is written and dropped before the next."""
    write_province(tmp_path / "warm", province_counties(1, households=1_000, seed=1), seed=1)  # imports

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            write_province(tmp_path / f"n{n}", province_counties(n, households=1_500, seed=5), seed=5)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    one, three = peak(1), peak(3)
    assert three < 1.5 * one, (one, three)


def test_generation_resumes_and_refuses_another_province(tmp_path):
    specs = province_counties(2, households=1_000, seed=2)
    write_province(tmp_path, specs[:1], seed=2)
    written = county_files(tmp_path, specs[0].code)["addresses"].stat().st_mtime_ns
    seen: list[str] = []
    write_province(tmp_path, specs, seed=2, on_county=lambda c: seen.append(c["code"]))
    assert seen == [specs[1].code]  # the first county was kept, not generated again
    assert county_files(tmp_path, specs[0].code)["addresses"].stat().st_mtime_ns == written
    with pytest.raises(GeogridError, match="another synthetic province"):
        write_province(tmp_path, specs, seed=3)


def _worker_pids(run) -> set[int]:
    return {int(w.rsplit(":", 1)[1]) for w in run.counties["worker"]}


def test_partition_runs_on_the_dask_scheduler_and_workers(province, scheduler, tmp_path):
    run = partition_province(province, tmp_path, scheduler=scheduler, progress=False, seed=3)
    manifest = read_manifest(province)
    assert run.ok and sorted(run.ran) == sorted(manifest["counties"]) and run.skipped == []
    assert run.scheduler == scheduler
    # The counties were partitioned in the worker processes, not here.
    assert os.getpid() not in _worker_pids(run)
    for code, entry in manifest["counties"].items():
        grids = gpd.read_parquet(tmp_path / "counties" / code / "grids.parquet")
        assert grids["code"].is_unique and set(grids["code"].str[:6]) == {code}
        assert int(grids["households"].sum()) == entry["households"]
    again = partition_province(province, tmp_path, scheduler=scheduler, progress=False, seed=3)
    assert again.ran == [] and sorted(again.skipped) == sorted(manifest["counties"])
    with pytest.raises(GeogridError, match="seed 3"):
        partition_province(province, tmp_path, scheduler=scheduler, progress=False, seed=4)


def test_failed_county_is_retried_reported_and_resumed(province, scheduler, tmp_path):
    source = tmp_path / "province"
    shutil.copytree(province, source)
    codes = sorted(read_manifest(source)["counties"])
    broken = county_files(source, codes[1])["addresses"]
    good = broken.read_bytes()
    broken.write_bytes(b"not a parquet file")
    out = tmp_path / "run"
    first = partition_province(source, out, scheduler=scheduler, retries=1, progress=False)
    assert sorted(first.ran) == [codes[0], codes[2]]
    assert list(first.failed) == [codes[1]] and "parquet" in first.failed[codes[1]].lower()
    assert read_run(out)["counties"][codes[1]]["status"] == "failed"
    done_at = {c: (out / "counties" / c / "grids.parquet").stat().st_mtime_ns for c in first.ran}

    broken.write_bytes(good)
    second = partition_province(source, out, scheduler=scheduler, retries=1, progress=False)
    assert second.ran == [codes[1]] and sorted(second.skipped) == [codes[0], codes[2]] and second.ok
    assert {c: (out / "counties" / c / "grids.parquet").stat().st_mtime_ns for c in first.ran} == done_at


def test_killed_run_resumes_with_the_counties_not_done(province, tmp_path):
    out = tmp_path / "run"
    script = (
        "import sys; from geogrid.province import partition_province; "
        "partition_province(sys.argv[1], sys.argv[2], scheduler='synchronous', progress=False)"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(province), str(out)])
    try:
        while child.poll() is None:
            run_file = out / "run.json"
            counties = json.loads(run_file.read_text())["counties"] if run_file.exists() else {}
            if any(c["status"] == "done" for c in counties.values()):
                os.kill(child.pid, signal.SIGKILL)  # killed right after its first county
                break
            time.sleep(0.02)
    finally:
        child.wait()
    finished = {c for c, e in read_run(out)["counties"].items() if e["status"] == "done"}
    assert finished
    resumed = partition_province(province, out, scheduler="synchronous", progress=False)
    everything = set(read_manifest(province)["counties"])
    assert set(resumed.skipped) == finished
    assert set(resumed.ran) == everything - finished and resumed.ok
    for code in everything:
        assert len(gpd.read_parquet(out / "counties" / code / "grids.parquet")) > 0


def test_dask_cluster_reports_a_scheduler_that_cannot_start(tmp_path):
    from geogrid.dask_cluster import DaskClusterError

    with pytest.raises(DaskClusterError, match=re.escape("scheduler.log")):
        DaskCluster(tmp_path).start(host="203.0.113.1", port=0, timeout=60)  # not an address of this machine
    assert DaskCluster(tmp_path).status() is None


def test_dask_commands_start_report_and_stop_the_processes(tmp_path):
    from typer.testing import CliRunner

    from geogrid.cli import app

    runner = CliRunner()
    state = ["--state", str(tmp_path)]
    started = runner.invoke(app, ["dask", "start", "--workers", "1", "--port", "0", *state])
    try:
        assert started.exit_code == 0, started.output
        address = re.search(r"GEOGRID_DASK_SCHEDULER=(tcp://\S+)", started.output).group(1)
        assert address in runner.invoke(app, ["dask", "status", *state]).output
    finally:
        stopped = runner.invoke(app, ["dask", "stop", *state])
    assert "stopped" in stopped.output
    assert "no dask cluster is running" in runner.invoke(app, ["dask", "status", *state]).output
