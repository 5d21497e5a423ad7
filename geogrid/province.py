"""Province scale: seeded synthetic provinces written county by county, partitioned on Dask.

A province of a hundred counties (10M households, ~3M addresses) does not fit comfortably in one
process, so nothing here holds more than one county at a time:

- :func:`write_province` generates the counties one after another with
  :func:`geogrid.synthetic.make_county` and streams each to GeoParquet files in its own folder
  (``counties/<code>/divisions.parquet``, ``addresses.parquet``, ``streets.parquet``); a
  manifest (``province.json``) is rewritten after every county, so an interrupted generation
  continues where it stopped;
- :func:`partition_province` partitions the counties as Dask tasks, one per county, on the
  scheduler it is given (a ``dask scheduler`` address, see :mod:`geogrid.dask_cluster`), with
  retries per county.  Each task writes its grids to the run folder and the run manifest
  (``run.json``) records the county as done the moment its files are complete: a failed or
  interrupted run, started again, partitions only the counties that are not done.

Files are the interface between the driver and the workers: on several machines the folders must
be on storage every worker reads (a shared file system).
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geogrid.errors import GeogridError
from geogrid.rules import Rule, resolve_rule

__all__ = [
    "DEMO_HOUSEHOLDS",
    "SCALES",
    "CountySpec",
    "ProvinceRun",
    "county_files",
    "partition_county_files",
    "partition_province",
    "province_counties",
    "read_manifest",
    "read_run",
    "write_province",
]

#: Households of the demo county (``geogrid demo``); a scenario of scale N has N such counties.
DEMO_HOUSEHOLDS = 100_000
#: Scenario sizes: counties of :data:`DEMO_HOUSEHOLDS` households each.
SCALES = {"1x": 1, "10x": 10, "100x": 100}

PROVINCE_MANIFEST = "province.json"
RUN_MANIFEST = "run.json"
_LAYERS = ("divisions", "addresses", "streets")
# Illustrative prefecture codes 71-99 (no real city of a province uses them), 10 counties each.
_FIRST_CITY, _COUNTIES_PER_CITY = 71, 10
_MAX_COUNTIES = (99 - _FIRST_CITY + 1) * _COUNTIES_PER_CITY
# Centre-to-centre distance of neighbouring counties for a 100k-household county (degrees): its
# generated extent is about 0.18 degrees, so neighbours never overlap.
_SPACING_DEG = 0.25


@dataclass(frozen=True)
class CountySpec:
    """One synthetic county of a province: its code, seed, households and centre (lon, lat)."""

    code: str
    seed: int
    households: int
    center: tuple[float, float]


def province_counties(
    n_counties: int,
    *,
    households: int = DEMO_HOUSEHOLDS,
    seed: int = 0,
    province_code: str = "32",
) -> list[CountySpec]:
    """The counties of a synthetic province: unique 6-digit codes, seeds and centres on a lattice.

    Codes are ``<province><city 71-99><county 01-10>`` (e.g. ``327101``): well-formed GB/T 2260
    county codes that no real county of the province uses.  Each county's seed derives from
    ``seed`` and its code, so a county is the same whatever the size of the province.

    Examples
    --------
    >>> specs = province_counties(12, households=5_000, seed=1)
    >>> [s.code for s in specs][:3], specs[10].code, len({s.code for s in specs})
    (['327101', '327102', '327103'], '327201', 12)
    >>> province_counties(2, seed=1)[1].seed == province_counties(30, seed=1)[1].seed
    True
    """
    from geogrid.synthetic import _PROVINCES

    if province_code not in _PROVINCES:
        raise GeogridError(f"province code must be one of {sorted(_PROVINCES)}; got {province_code!r}")
    if not 1 <= n_counties <= _MAX_COUNTIES:
        raise GeogridError(f"a synthetic province has 1 to {_MAX_COUNTIES} counties; got {n_counties}")
    if households < 1:
        raise GeogridError(f"households per county must be >= 1; got {households}")
    lon0, lat0 = _PROVINCES[province_code][1]
    spacing = _SPACING_DEG * max(math.sqrt(households / DEMO_HOUSEHOLDS), 0.2)
    side = math.ceil(math.sqrt(n_counties))
    specs = []
    for i in range(n_counties):
        code = f"{province_code}{_FIRST_CITY + i // _COUNTIES_PER_CITY:02d}{i % _COUNTIES_PER_CITY + 1:02d}"
        row, col = divmod(i, side)
        center = (
            round(lon0 + (col - (side - 1) / 2) * spacing, 6),
            round(lat0 + ((side - 1) / 2 - row) * spacing, 6),
        )
        county_seed = int(np.random.SeedSequence([seed, int(code)]).generate_state(1)[0])
        specs.append(CountySpec(code, county_seed, households, center))
    return specs


# --------------------------------------------------------------------------- manifests


def _write_json(path: Path, data: dict) -> None:
    """Replace ``path`` atomically: a reader (or a run killed mid-write) never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a province folder (``province.json``); GeogridError if there is none.

    Examples
    --------
    >>> import tempfile
    >>> read_manifest(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    geogrid.errors.GeogridError: ... holds no synthetic province (province.json missing)
    """
    folder = Path(folder)
    manifest = _read_json(folder / PROVINCE_MANIFEST)
    if manifest is None:
        raise GeogridError(f"{folder} holds no synthetic province ({PROVINCE_MANIFEST} missing)")
    return manifest


def read_run(out: str | Path) -> dict:
    """The manifest of a partition run folder (``run.json``); GeogridError if there is none.

    ``counties`` maps each county code to ``{"status": "done" | "failed", ...}`` with its grids,
    households, villages not partitioned, seconds and worker, or the reason it failed.

    Examples
    --------
    >>> import tempfile
    >>> read_run(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    geogrid.errors.GeogridError: ... holds no province partition run (run.json missing)
    """
    out = Path(out)
    manifest = _read_json(out / RUN_MANIFEST)
    if manifest is None:
        raise GeogridError(f"{out} holds no province partition run ({RUN_MANIFEST} missing)")
    return manifest


def county_files(folder: str | Path, code: str) -> dict[str, Path]:
    """Paths of a county's GeoParquet layers in a province folder (``divisions``, ``addresses``, ``streets``).

    Examples
    --------
    >>> county_files("prov", "327101")["addresses"].as_posix()
    'prov/counties/327101/addresses.parquet'
    """
    base = Path(folder) / "counties" / code
    return {layer: base / f"{layer}.parquet" for layer in _LAYERS}


# --------------------------------------------------------------------------- generation


def _write_frame(frame: gpd.GeoDataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _generate_county(folder: Path, spec: CountySpec) -> dict[str, Any]:
    """Generate one county, write its layers, return its manifest entry (the frames are dropped)."""
    from geogrid.synthetic import make_county

    t0 = time.perf_counter()
    county = make_county(
        households=spec.households, seed=spec.seed, county_code=spec.code, center=spec.center
    )
    paths = county_files(folder, spec.code)
    paths["divisions"].parent.mkdir(parents=True, exist_ok=True)
    frames = {"divisions": county.divisions, "addresses": county.addresses, "streets": county.streets}
    for layer, frame in frames.items():
        _write_frame(frame, paths[layer])
    return {
        "code": spec.code,
        "seed": spec.seed,
        "center": list(spec.center),
        "households": int(county.addresses["households"].sum()),
        "villages": len(county.villages),
        "townships": len(county.townships),
        "addresses": len(county.addresses),
        "streets": len(county.streets),
        "bbox": [round(float(v), 6) for v in county.divisions.total_bounds],
        "seconds": round(time.perf_counter() - t0, 3),
    }


def write_province(
    folder: str | Path,
    counties: Sequence[CountySpec],
    *,
    seed: int = 0,
    on_county: Callable[[dict[str, Any]], None] | None = None,
) -> dict:
    """Generate ``counties`` into ``folder`` one at a time; return the manifest.

    Each county is generated, written to GeoParquet and dropped before the next one starts, so
    memory stays that of one county whatever the size of the province.  Counties already in the
    folder's manifest are kept (an interrupted generation resumes); a folder holding another
    province (other seed or counties) is refused.

    Parameters
    ----------
    folder
        Output folder (created).
    counties
        From :func:`province_counties`.
    seed
        The province seed the counties derive from (recorded in the manifest).
    on_county
        Called with each county's manifest entry as it is written (progress).

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> manifest = write_province(folder, province_counties(2, households=1_500, seed=3), seed=3)
    >>> sorted(manifest["counties"]), sum(c["households"] for c in manifest["counties"].values())
    (['327101', '327102'], 3000)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {s.code: s for s in counties}
    manifest = _read_json(folder / PROVINCE_MANIFEST) or {"seed": seed, "counties": {}, "planned": []}
    if manifest["seed"] != seed or not set(manifest["counties"]) <= set(wanted):
        raise GeogridError(
            f"{folder} holds another synthetic province (seed {manifest['seed']}, "
            f"{len(manifest['counties'])} counties); use an empty folder"
        )
    manifest["planned"] = sorted(wanted)
    manifest["households_per_county"] = counties[0].households if counties else 0
    for code, spec in wanted.items():
        if code in manifest["counties"] and all(p.exists() for p in county_files(folder, code).values()):
            continue
        entry = _generate_county(folder, spec)
        manifest["counties"][code] = entry
        _write_json(folder / PROVINCE_MANIFEST, manifest)
        if on_county is not None:
            on_county(entry)
    _write_json(folder / PROVINCE_MANIFEST, manifest)
    return manifest


def read_county(folder: str | Path, code: str) -> dict[str, gpd.GeoDataFrame]:
    """One county of a province folder as frames (``divisions``, ``addresses``, ``streets``).

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_province(folder, province_counties(1, households=1_000, seed=2), seed=2)
    >>> frames = read_county(folder, "327101")
    >>> int(frames["addresses"]["households"].sum()), sorted(frames["divisions"]["level"].unique())
    (1000, ['township', 'village'])
    """
    return {layer: gpd.read_parquet(path) for layer, path in county_files(folder, code).items()}


# --------------------------------------------------------------------------- partition


def partition_county_files(
    province: str, out: str, code: str, seed: int, rule: Rule | None = None
) -> dict[str, Any]:
    """Partition one county of a province folder and write its grids to the run folder.

    Runs on a Dask worker.  Raises when the county cannot be read or written (Dask retries the
    task); villages that cannot be partitioned are listed in the result, not raised.  The grids
    and villages files appear complete or not at all.

    Examples
    --------
    >>> import tempfile
    >>> src, out = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> _ = write_province(src, province_counties(1, households=1_000, seed=2), seed=2)
    >>> done = partition_county_files(src, out, "327101", seed=0)
    >>> done["status"], done["households"], done["failed_villages"]
    ('done', 1000, [])
    """
    from geogrid.county import partition_county

    t0 = time.perf_counter()
    frames = read_county(province, code)
    result = partition_county(
        frames["divisions"],
        frames["addresses"],
        frames["streets"],
        rule=rule,
        scheduler="synchronous",
        progress=False,
        seed=seed,
    )
    target = Path(out) / "counties" / code
    target.mkdir(parents=True, exist_ok=True)
    grids = result.grids.drop(columns=["blocks"], errors="ignore")
    _write_frame(grids, target / "grids.parquet")
    villages = result.villages.copy()
    tmp = target / ".villages.parquet.tmp"
    villages.to_parquet(tmp, index=False)
    os.replace(tmp, target / "villages.parquet")
    return {
        "code": code,
        "status": "done",
        "grids": len(grids),
        "households": int(grids["households"].sum()) if len(grids) else 0,
        "villages": len(villages),
        "failed_villages": sorted(result.failed),
        "seconds": round(time.perf_counter() - t0, 3),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


@dataclass
class ProvinceRun:
    """What one call of :func:`partition_province` did.

    ``ran``: counties partitioned by this call; ``skipped``: done by an earlier call;
    ``failed``: county code → reason (after the retries); ``counties``: the run manifest's rows.
    """

    ran: list[str]
    skipped: list[str]
    failed: dict[str, str]
    counties: pd.DataFrame
    seconds: float
    scheduler: str
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def _open_run(out: Path, province: Path, seed: int, rule: Rule | None) -> dict:
    """The run manifest of ``out``, created if new; refused if it belongs to another run."""
    rule_text = f"{rule.lo}-{rule.hi}" if rule is not None else "by kind"
    run = _read_json(out / RUN_MANIFEST)
    if run is None:
        run = {
            "run_id": uuid.uuid4().hex[:12],
            "province": str(province.resolve()),
            "seed": seed,
            "rule": rule_text,
            "counties": {},
        }
    elif run["seed"] != seed or run["rule"] != rule_text or run["province"] != str(province.resolve()):
        raise GeogridError(
            f"{out} holds a run of {run['province']} with seed {run['seed']} and rule {run['rule']}; "
            "continue it with the same arguments or use another folder"
        )
    return run


def _finished(out: Path, run: dict, code: str) -> bool:
    entry = run["counties"].get(code)
    base = out / "counties" / code
    return bool(
        entry
        and entry.get("status") == "done"
        and (base / "grids.parquet").exists()
        and (base / "villages.parquet").exists()
    )


def partition_province(
    province: str | Path,
    out: str | Path,
    *,
    scheduler: Any = None,
    retries: int = 2,
    seed: int = 0,
    rule: Rule | str | tuple[int, int] | None = None,
    progress: bool = True,
    counties: Iterable[str] | None = None,
) -> ProvinceRun:
    """Partition every county of a province folder on Dask, one task per county; resumable.

    Parameters
    ----------
    province
        A folder written by :func:`write_province`.
    out
        Run folder: ``run.json`` and ``counties/<code>/grids.parquet`` (+ ``villages.parquet``).
        Counties it already holds as done are skipped: call again after a failure or an
        interruption and only the rest is partitioned.
    scheduler
        ``None``: a local cluster of 2 worker processes; a ``tcp://host:port`` address of a
        running ``dask scheduler`` (:mod:`geogrid.dask_cluster`); a ``distributed.Client``;
        ``"synchronous"``: in this process.
    retries
        Times Dask runs a county's task again after it raised (or its worker died).
    seed, rule
        As :func:`geogrid.county.partition_county`; a run folder keeps the ones it began with.
    progress
        Show a progress bar of counties.
    counties
        Only these county codes (default: all of the province).

    Returns
    -------
    ProvinceRun

    Examples
    --------
    >>> import tempfile
    >>> src, out = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> _ = write_province(src, province_counties(2, households=1_500, seed=3), seed=3)
    >>> run = partition_province(src, out, scheduler="synchronous", progress=False)
    >>> sorted(run.ran), run.skipped, run.ok
    (['327101', '327102'], [], True)
    >>> again = partition_province(src, out, scheduler="synchronous", progress=False)
    >>> again.ran, sorted(again.skipped)
    ([], ['327101', '327102'])
    """
    province, out = Path(province), Path(out)
    t0 = time.perf_counter()
    manifest = read_manifest(province)
    fixed_rule = resolve_rule(rule) if rule is not None else None
    out.mkdir(parents=True, exist_ok=True)
    run = _open_run(out, province, seed, fixed_rule)
    codes = sorted(manifest["counties"]) if counties is None else sorted(counties)
    unknown = sorted(set(codes) - set(manifest["counties"]))
    if unknown:
        raise GeogridError(f"{province} has no county {', '.join(unknown)}")
    skipped = [c for c in codes if _finished(out, run, c)]
    todo = [c for c in codes if c not in skipped]
    _write_json(out / RUN_MANIFEST, run)

    def record(code: str, entry: dict[str, Any]) -> None:
        run["counties"][code] = entry
        _write_json(out / RUN_MANIFEST, run)

    args = (str(province), str(out), seed, fixed_rule)
    name = _run_tasks(todo, args, record, scheduler=scheduler, retries=retries, progress=progress)
    failed = {c: run["counties"][c]["reason"] for c in todo if run["counties"][c]["status"] != "done"}
    rows = [{"code": c, **run["counties"][c]} for c in codes if c in run["counties"]]
    return ProvinceRun(
        ran=[c for c in todo if c not in failed],
        skipped=skipped,
        failed=failed,
        counties=pd.DataFrame(rows),
        seconds=time.perf_counter() - t0,
        scheduler=name,
        diagnostics={"run_id": run["run_id"], "retries": retries},
    )


def _run_tasks(
    codes: list[str],
    args: tuple,
    record: Callable[[str, dict[str, Any]], None],
    *,
    scheduler: Any,
    retries: int,
    progress: bool,
) -> str:
    """Run one task per county and ``record`` each outcome as it arrives; the scheduler's name."""
    from geogrid.county import DEFAULT_WORKERS, _executor

    province, out, seed, rule = args
    bar, advance = _progress_bar(len(codes), progress)
    client, close = _executor(scheduler) if codes else (None, lambda: None)
    try:
        if client is None:
            for code in codes:
                record(code, _attempt_here(province, out, code, seed, rule, retries))
                advance()
        else:
            from distributed import as_completed

            futures = {
                client.submit(
                    partition_county_files,
                    province,
                    out,
                    code,
                    seed,
                    rule,
                    key=f"geogrid-county-{code}-{uuid.uuid4().hex[:8]}",
                    retries=retries,
                    pure=False,
                ): code
                for code in codes
            }
            for future in as_completed(futures):
                code = futures[future]
                if future.status == "finished":
                    record(code, future.result())
                else:
                    record(code, {"status": "failed", "reason": _failure(future)})
                future.release()
                advance()
    finally:
        if bar is not None:
            bar.stop()
        close()
    if scheduler in ("synchronous", "sync"):
        return "synchronous"
    return str(scheduler) if scheduler is not None else f"LocalCluster({DEFAULT_WORKERS})"


def _attempt_here(province: str, out: str, code: str, seed: int, rule: Rule | None, retries: int) -> dict:
    """One county in this process, tried ``retries`` more times after an exception (like Dask)."""
    reason = ""
    for _ in range(retries + 1):
        try:
            return partition_county_files(province, out, code, seed, rule)
        except Exception as exc:  # as on Dask: any failure of the task is retried, then reported
            reason = f"{type(exc).__name__}: {exc}"
    return {"status": "failed", "reason": reason}


def _failure(future: Any) -> str:
    """Why a county's task failed after its retries (an exception, a lost worker, a cancellation)."""
    try:
        exc = future.exception()
    except BaseException as lost:  # a cancelled future raises instead of returning its exception
        exc = lost
    return f"{type(exc).__name__}: {exc}"


def _progress_bar(total: int, show: bool):
    if not show:
        return None, lambda: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bar = Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    )
    bar.start()
    task = bar.add_task("counties", total=total)
    return bar, lambda: bar.advance(task)
