"""``geogrid dask …`` and ``geogrid province …``: a Dask cluster and a province, county by county."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from geogrid.errors import GeogridError

ENV_SCHEDULER = "GEOGRID_DASK_SCHEDULER"

dask_app = typer.Typer(
    help="A Dask distributed cluster (dask scheduler + dask worker processes) on this machine."
)
province_app = typer.Typer(
    help="Province scale: synthetic provinces, partitioned on Dask, loaded and published."
)
console = Console(soft_wrap=True)  # long paths stay on one line (logs, tests)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _cluster(folder: Path | None):
    from geogrid.dask_cluster import DaskCluster
    from geogrid.db.home import find_home

    return DaskCluster(folder or find_home().path / "dask")


@dask_app.command("start")
def dask_start(
    workers: Annotated[int, typer.Option(help="worker processes")] = 2,
    threads: Annotated[int, typer.Option(help="threads per worker")] = 1,
    host: Annotated[str, typer.Option(help="address the scheduler listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="scheduler port (0: any free port)")] = 8786,
    memory_limit: Annotated[str, typer.Option(help="memory per worker, e.g. 4GiB")] = "auto",
    state: Annotated[Path | None, typer.Option(help="state folder (default: <home>/dask)")] = None,
) -> None:
    """Start `dask scheduler` and `dask worker` processes; print the address to give geogrid."""
    try:
        address = _cluster(state).start(
            workers=workers, threads=threads, host=host, port=port, memory_limit=memory_limit
        )
    except GeogridError as exc:
        _fail(str(exc))
    console.print(f"dask scheduler: {address} ({workers} worker processes)")
    console.print(f"export {ENV_SCHEDULER}={address}")


@dask_app.command("stop")
def dask_stop(
    state: Annotated[Path | None, typer.Option(help="state folder (default: <home>/dask)")] = None,
) -> None:
    """Stop the workers and the scheduler started by `geogrid dask start`."""
    console.print("stopped" if _cluster(state).stop() else "no dask cluster was running")


@dask_app.command("status")
def dask_status(
    state: Annotated[Path | None, typer.Option(help="state folder (default: <home>/dask)")] = None,
) -> None:
    """The running cluster's address and processes, if any."""
    info = _cluster(state).status()
    console.print(json.dumps(info) if info else "no dask cluster is running")


@province_app.command("generate")
def province_generate(
    folder: Annotated[Path, typer.Argument(help="output folder (GeoParquet per county + province.json)")],
    scale: Annotated[str, typer.Option(help="1x, 10x or 100x the demo county")] = "1x",
    counties: Annotated[int | None, typer.Option(help="number of counties (instead of --scale)")] = None,
    households: Annotated[int, typer.Option(help="households per county")] = 100_000,
    seed: int = 0,
    province: Annotated[str, typer.Option(help="2-digit province code")] = "32",
) -> None:
    """Generate a seeded synthetic province county by county (resumes an interrupted generation)."""
    from geogrid.province import SCALES, province_counties, write_province

    if counties is None and scale not in SCALES:
        _fail(f"--scale must be one of {sorted(SCALES)}; got {scale!r}", 2)
    n = counties or SCALES[scale]
    try:
        specs = province_counties(n, households=households, seed=seed, province_code=province)
        manifest = write_province(
            folder,
            specs,
            seed=seed,
            on_county=lambda c: console.print(
                f"county {c['code']}: {c['households']:,} households, {c['addresses']:,} addresses, "
                f"{c['villages']} villages ({c['seconds']:.1f}s)"
            ),
        )
    except GeogridError as exc:
        _fail(str(exc))
    done = manifest["counties"].values()
    console.print(
        f"{folder}: {len(done)} counties, {sum(c['households'] for c in done):,} households, "
        f"{sum(c['addresses'] for c in done):,} addresses"
    )


@province_app.command("partition")
def province_partition(
    folder: Annotated[Path, typer.Argument(help="a province folder (geogrid province generate)")],
    out: Annotated[Path, typer.Option(help="run folder: grids per county + run.json; run again to resume")],
    scheduler: Annotated[
        str | None,
        typer.Option(
            envvar=ENV_SCHEDULER, help="tcp://host:port of a dask scheduler (default: a local cluster)"
        ),
    ] = None,
    retries: Annotated[int, typer.Option(help="retries of a failed county task")] = 2,
    seed: int = 0,
) -> None:
    """Partition every county on Dask, one task per county; counties already done are skipped."""
    from geogrid.province import partition_province

    try:
        run = partition_province(folder, out, scheduler=scheduler, retries=retries, seed=seed)
    except (GeogridError, OSError) as exc:
        _fail(str(exc))
    for code, reason in run.failed.items():
        console.print(f"[red]county {code} failed:[/] {reason}")
    console.print(
        f"{len(run.ran)} counties partitioned, {len(run.skipped)} already done, {len(run.failed)} failed "
        f"on {run.scheduler} in {run.seconds:.1f}s → {out}"
    )
    raise typer.Exit(1 if run.failed else 0)


@province_app.command("load")
def province_load(
    folder: Annotated[Path, typer.Argument(help="a province folder (geogrid province generate)")],
) -> None:
    """Load every county's divisions, addresses and streets by COPY, one transaction per county."""
    from geogrid.db.province import load_province

    engine = _engine()
    try:
        loaded = load_province(engine, folder, on_county=lambda row: console.print(_loaded_line(row)))
    except GeogridError as exc:
        _fail(str(exc))
    console.print(f"{len(loaded)} counties loaded from {folder}")


def _loaded_line(row: dict) -> str:
    if row.get("skipped"):
        return f"county {row['code']}: already loaded"
    return (
        f"county {row['code']}: {row['addresses']:,} addresses, {row['streets']:,} streets in "
        f"{row['seconds']:.1f}s ({row['addresses'] / max(row['seconds'], 1e-9):,.0f} addresses/s)"
    )


@province_app.command("publish")
def province_publish(
    out: Annotated[Path, typer.Argument(help="a run folder (geogrid province partition --out)")],
) -> None:
    """Save and publish every partitioned county's plan, one transaction per county."""
    from geogrid.db.province import publish_province

    engine = _engine()
    try:
        published = publish_province(engine, out, on_county=lambda row: console.print(_published_line(row)))
    except GeogridError as exc:
        _fail(str(exc))
    console.print(f"{len(published)} county plans published from {out}")


def _published_line(row: dict) -> str:
    if row["reason"]:
        return f"[yellow]county {row['code']} not published:[/] {row['reason']}"
    if row["skipped"]:
        return f"county {row['code']}: plan {row['plan_id']} already published"
    return f"county {row['code']}: plan {row['plan_id']} published in {row['publish_seconds']:.2f}s"


def _engine():
    from geogrid.db import database_url, make_engine, require_schema

    try:
        engine = make_engine(database_url(create=False))
        require_schema(engine)
    except GeogridError as exc:
        _fail(str(exc))
    return engine


def register(app: typer.Typer) -> None:
    app.add_typer(dask_app, name="dask")
    app.add_typer(province_app, name="province")
