"""The ``geogrid`` command: local database, imports/exports, partitioning, the demo and the server."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from geogrid.errors import GeogridError, ImportRowsError

app = typer.Typer(help="geogrid: grid-based community management (网格化服务管理).", no_args_is_help=True)
db_app = typer.Typer(help="The PostGIS database (project-local cluster unless GEOGRID_DATABASE_URL is set).")
keys_app = typer.Typer(help="API keys with roles.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

console = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def _engine(*, schema: bool = True):
    """The project's database (never a new cluster: that is `geogrid db start`'s job), schema checked."""
    from geogrid.db import database_url, make_engine, require_schema

    try:
        engine = make_engine(database_url(create=False))
        if schema:
            require_schema(engine)
    except GeogridError as exc:
        _fail(str(exc))
    return engine


# -- db ------------------------------------------------------------------------------------
def _cluster():
    from geogrid.db import default_home
    from geogrid.db.cluster import LocalCluster

    return LocalCluster(default_home())


def _external_url() -> str | None:
    import os

    from geogrid.db import ENV_URL

    return os.environ.get(ENV_URL)


@db_app.command("start")
def db_start() -> None:
    """Start the project-local PostgreSQL + PostGIS (initialising it the first time), migrate, and
    create the coming months' incident partitions."""
    from geogrid.db import make_engine, migrate
    from geogrid.db.incidents.partitions import ensure_ahead

    try:
        url = _external_url() or _cluster().start()
        engine = make_engine(url)
        migrate.upgrade(engine)
        ensure_ahead(engine)  # the coming months' incident partitions, at every start
        engine.dispose()
    except GeogridError as exc:
        _fail(str(exc))
    console.print(f"database ready: {url}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the project-local server."""
    if _external_url():
        _fail("GEOGRID_DATABASE_URL is set: that server is not ours to stop")
    console.print("stopped" if _cluster().stop() else "was not running")


@db_app.command("status")
def db_status() -> None:
    """Whether the server runs, where its data lives, its URL."""
    if _external_url():
        console.print(f"external database: {_external_url()}")
        return
    from geogrid.db.home import find_home

    home = find_home()
    status = _cluster().status()
    console.print(
        f"home: {home.path} ({home.reason})\nrunning: {status.running}\n"
        f"data: {status.data_dir}\nurl: {status.url or '-'}"
    )
    from geogrid.db.replica import ReplicaCluster, replica_names

    replicas = [ReplicaCluster(_cluster(), name) for name in replica_names(home.path)]
    if replicas:
        listed = ", ".join(f"{r.name} ({'running' if r.is_running() else 'stopped'})" for r in replicas)
        console.print(f"replicas: {listed}  (geogrid db replica status)")
    if not status.running:
        raise typer.Exit(1)


@db_app.command("url")
def db_url() -> None:
    """Print the database URL (starting the local server if needed)."""
    from geogrid.db import database_url

    try:
        typer.echo(database_url(create=False))
    except GeogridError as exc:
        _fail(str(exc))


@db_app.command("migrate")
def db_migrate(
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
    down: Annotated[bool, typer.Option(help="migrate down to REVISION (default: base)")] = False,
) -> None:
    """Apply (or revert with --down) the schema migrations."""
    from geogrid.db import migrate

    engine = _engine(schema=False)
    if down:
        migrate.downgrade(engine, "base" if revision == "head" else revision)
    else:
        migrate.upgrade(engine, revision)
    console.print(f"schema at revision {migrate.current_revision(engine) or 'base (empty)'}")


@db_app.command("partitions")
def db_partitions(
    ahead: Annotated[int, typer.Option(help="months to create after the current one")] = 3,
) -> None:
    """Create the month partitions of the incidents up to AHEAD months from now and list them
    (run monthly, e.g. from cron; reports of a missing month go to incidents_default)."""
    from geogrid.db.incidents.partitions import ensure_ahead, partitions

    engine = _engine()
    try:
        created = ensure_ahead(engine, months=ahead)
    except GeogridError as exc:
        _fail(str(exc))
    table = Table("partition", "from (+08:00)", "to (+08:00)", "rows (estimate)")
    for part in partitions(engine):
        table.add_row(
            part.name,
            _local(part.start),
            _local(part.end),
            "-" if part.rows < 0 else f"{part.rows:,}",
        )
    console.print(table)
    console.print(f"created {created} partition(s)")


def _local(moment) -> str:
    from geogrid.times import local_iso

    return local_iso(moment) or "-"


# -- import / export -------------------------------------------------------------------------
class Kind(StrEnum):
    divisions = "divisions"
    addresses = "addresses"
    streets = "streets"
    staff = "staff"
    departments = "departments"
    centres = "centres"


def _parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"{pair!r}: use SOURCE=TARGET, e.g. 门牌号=house_number")
        source, target = pair.split("=", 1)
        mapping[source.strip()] = target.strip()
    return mapping


@app.command("import")
def import_file(
    kind: Annotated[Kind, typer.Argument(help="what the file holds")],
    path: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="CSV, Excel (.xlsx/.xls), KML/KMZ, GeoJSON, GeoPackage, Shapefile (also .zip), GeoParquet",
        ),
    ],
    map_: Annotated[
        list[str], typer.Option("--map", "-m", help="column mapping SOURCE=TARGET (repeatable)")
    ] = [],  # noqa: B006
    layer: Annotated[
        str | None, typer.Option(help="layer of a GeoPackage, folder of a KML, file inside a zip")
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(
            help="CRS of the coordinates when the file has none: EPSG:<code> (EPSG:4490 = CGCS2000), "
            "gcj02 (AMap/Gaode, Tencent) or bd09 (Baidu); default EPSG:4326 for lon/lat"
        ),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="text encoding of a CSV or Shapefile, e.g. gbk, utf-8 (default: detected)"),
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="Excel sheet: name or 1-based number")] = None,
    rejected: Annotated[
        Path | None, typer.Option(help="import the good rows and write the bad ones here")
    ] = None,
    replace: Annotated[bool, typer.Option(help="empty the table first")] = False,
    plan: Annotated[
        int | None, typer.Option(help="staff only: the plan whose grids get the roster (default: published)")
    ] = None,
    roles: Annotated[
        Path | None, typer.Option(help="staff only: a role set (JSON) instead of the shipped 4+N roles")
    ] = None,
) -> None:
    """Import a file into the database: all rows or none (unless --rejected is given).

    ``staff`` reads a roster (one row per post: 网格编码, 区划编码 or 部门编码, then a column per
    role: 网格长, 专职网格员, 兼职网格员, 网格指导员, 网格警务员, 网格法务员, 联户长, 综治中心调度员,
    部门联络员 …, phones as 网格长电话 or in the cells) and stores every role of every post.
    ``departments`` reads 部门编码, 部门名称, 所属区划, 层级, 服务区划; ``centres`` reads 区划编码
    and 名称 (综治中心).
    """
    from geogrid import io
    from geogrid.db import store

    if kind is Kind.staff:
        _import_staff(path, _parse_mapping(map_), plan, sheet=sheet, encoding=encoding, roles=roles)
        return
    if kind in (Kind.departments, Kind.centres):
        _import_organisation(
            kind, path, _parse_mapping(map_), sheet=sheet, encoding=encoding, replace=replace
        )
        return
    reader = {"divisions": io.read_divisions, "addresses": io.read_addresses, "streets": io.read_streets}[
        kind.value
    ]
    started = time.perf_counter()
    options: dict[str, Any] = {
        "columns": _parse_mapping(map_) or None,
        "layer": layer,
        "progress": True,
        "sheet": sheet,
        "encoding": encoding,
    }
    if crs:
        options["crs"] = crs
    try:
        engine = _engine()
        result = reader(path, on_error="skip", **options)
        if result.encoding is not None:
            console.print(f"{result.source}: text read as {result.encoding}")
        if result.errors and not rejected:
            raise ImportRowsError(result.source, result.errors)
        if result.errors:
            assert rejected is not None
            io.write_rejected(result, rejected)
            err.print(f"[yellow]{len(result.errors)} bad row(s) written to {rejected}[/]")
            for e in result.errors[:10]:
                err.print(f"  {e}")
        count = store.load(engine, kind.value, result.frame, source=str(path), replace=replace)
    except ImportRowsError as exc:
        _fail(str(exc), code=2)
    except GeogridError as exc:
        _fail(str(exc))
    console.print(f"imported {count} {kind.value} from {path} in {time.perf_counter() - started:.1f}s")


def _import_staff(
    path: Path,
    mapping: dict[str, str],
    plan: int | None,
    *,
    sheet: str | None,
    encoding: str | None,
    roles: Path | None = None,
) -> None:
    from geogrid.db.staff import assign_staff
    from geogrid.organisation import load_roles
    from geogrid.staff import read_roster

    try:
        role_set = load_roles(roles)
        roster = read_roster(path, columns=mapping or None, sheet=sheet, encoding=encoding, roles=role_set)
        count = assign_staff(_engine(), roster, plan_id=plan, source=str(path))
    except ImportRowsError as exc:
        _fail(str(exc), code=2)
    except GeogridError as exc:
        _fail(str(exc))
    kept = "、".join(role_set.roles[r].name for r in roster.attrs["roles"])
    console.print(f"staff of {count} posts set from {path}: {kept}")
    if roster.attrs["ignored"]:
        console.print(f"columns not imported (descriptions): {'、'.join(roster.attrs['ignored'])}")


def _import_organisation(
    kind: Kind, path: Path, mapping: dict[str, str], *, sheet: str | None, encoding: str | None, replace: bool
) -> None:
    from geogrid import organisation
    from geogrid.db import organisation as org

    try:
        if kind is Kind.departments:
            departments = organisation.read_departments(path, columns=mapping, sheet=sheet, encoding=encoding)
            count = org.save_departments(_engine(), departments, source=str(path), replace=replace)
        else:
            centres = organisation.read_centres(path, columns=mapping, sheet=sheet, encoding=encoding)
            count = org.save_centres(_engine(), centres, source=str(path), replace=replace)
    except ImportRowsError as exc:
        _fail(str(exc), code=2)
    except GeogridError as exc:
        _fail(str(exc))
    console.print(f"imported {count} {kind.value} from {path}")


@app.command("export")
def export_table(
    table: Annotated[str, typer.Argument(help="divisions, addresses, streets or grids")],
    path: Annotated[Path, typer.Argument(help="output .gpkg, .geojson or .parquet")],
    plan: Annotated[
        int | None, typer.Option(help="grids of this plan (default: all published plans)")
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(
            help="CRS to write, e.g. EPSG:4490 (CGCS2000) or a Gauss-Krüger zone (default EPSG:4326)"
        ),
    ] = None,
) -> None:
    """Export a table to a file that imports back unchanged."""
    from geogrid import io
    from geogrid.db import plans, store

    engine = _engine()
    if table == "grids":
        if plan is not None:
            frame = plans.load_plan(engine, plan)
        else:
            frame = store.read_table(
                engine,
                "grids",
                where="plan_id IN (SELECT id FROM plans WHERE status = 'published')",
                columns=[c for c in store.GRIDS.columns if c != "plan_id"],
            )
    elif table in store.SPECS:
        frame = store.read_table(engine, table)
    else:
        _fail(f"unknown table {table!r}; use one of {sorted(store.SPECS)}")
    try:
        io.write_frame(frame, path, crs=crs)
    except GeogridError as exc:
        _fail(str(exc))
    console.print(f"wrote {len(frame)} rows to {path}" + (f" in {crs}" if crs else ""))


# -- keys --------------------------------------------------------------------------------------
@keys_app.command("create")
def keys_create(
    name: str,
    role: Annotated[
        str, typer.Argument(help="viewer, planner, admin, dispatcher, worker, department, resident")
    ],
    scope: Annotated[str, typer.Option(help='JSON, e.g. \'{"grid_codes": ["320508019044003"]}\'')] = "{}",
) -> None:
    """Create an API key; it is printed once."""
    from geogrid.db import keys

    try:
        typer.echo(keys.create_key(_engine(), name, role, scope=json.loads(scope)))
    except (GeogridError, json.JSONDecodeError) as exc:
        _fail(str(exc))


@keys_app.command("revoke")
def keys_revoke(name: str) -> None:
    """Revoke every key with this name (every API process refuses it within a second)."""
    from geogrid.db import keys

    console.print(f"revoked {keys.revoke_key(_engine(), name)} key(s)")


@keys_app.command("update")
def keys_update(
    name: str,
    role: Annotated[str | None, typer.Option(help="new role")] = None,
    scope: Annotated[str | None, typer.Option(help="new scope (JSON)")] = None,
) -> None:
    """Change the role and/or scope of the live keys with this name (effective within a second)."""
    from geogrid.db import keys

    try:
        changed = keys.update_key(_engine(), name, role=role, scope=json.loads(scope) if scope else None)
    except (GeogridError, json.JSONDecodeError) as exc:
        _fail(str(exc))
    console.print(f"updated {changed} key(s)")


@keys_app.command("list")
def keys_list(
    all_: Annotated[bool, typer.Option("--all", help="include revoked keys")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The keys: name, role, scope, created, last used (never the key itself)."""
    from geogrid.db import keys
    from geogrid.times import local_iso

    infos = keys.list_keys(_engine(), include_revoked=all_)
    if as_json:
        rows = [
            {
                "name": k.name,
                "role": k.role,
                "scope": k.scope,
                "created_at": local_iso(k.created_at),
                "last_used_at": local_iso(k.last_used_at),
                "revoked_at": local_iso(k.revoked_at),
            }
            for k in infos
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("name", "role", "scope", "created", "last used", "revoked")
    for k in infos:
        table.add_row(
            k.name,
            k.role,
            json.dumps(k.scope, ensure_ascii=False),
            (local_iso(k.created_at) or "")[:16].replace("T", " "),
            (local_iso(k.last_used_at) or "-")[:16].replace("T", " "),
            (local_iso(k.revoked_at) or "")[:16].replace("T", " "),
        )
    console.print(table)


# -- serve and demo ----------------------------------------------------------------------------
@app.command("serve")
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the API (grids, lookups, tiles, incidents, heatmaps, map pages) with uvicorn."""
    import os

    import uvicorn

    from geogrid.db import ENV_URL

    # Workers are separate processes: hand them the resolved URL rather than each starting a cluster.
    os.environ.setdefault(ENV_URL, str(_engine().url.render_as_string(hide_password=False)))
    uvicorn.run("api:create_app", factory=True, host=host, port=port, workers=workers, log_level="warning")


@app.command("demo")
def demo(
    households: Annotated[int, typer.Option(help="households in the synthetic county")] = 100_000,
    incidents: Annotated[int, typer.Option(help="synthetic incident reports for the heatmap")] = 5_000,
    seed: int = 0,
    county: Annotated[str, typer.Option(help="6-digit county code of the synthetic county")] = "320508",
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the API when done")] = True,
    port: int = 8000,
) -> None:
    """The main job: database, sample data, a partitioned and published county, the API serving maps."""
    from geogrid.demo import run_demo

    try:
        summary = run_demo(
            households=households, seed=seed, county_code=county, console=console, incidents=incidents
        )
    except GeogridError as exc:
        _fail(str(exc))
    table = Table(title="geogrid demo", show_header=False)
    for key, value in summary.items():
        table.add_row(key, str(value))
    console.print(table)
    if serve_api:
        console.print(
            f"\n[bold]serving[/] http://127.0.0.1:{port}/  —  map: http://127.0.0.1:{port}/maps/grids?division={county}"
            f"\ndashboard: http://127.0.0.1:{port}/maps/dashboard?division={county}"
            f"\nAPI docs: http://127.0.0.1:{port}/docs   (Ctrl-C to stop)"
        )
        serve(port=port)


def _register_plugins() -> None:
    """Commands that live next to the code they drive (partition, validate...)."""
    from importlib import import_module

    for name in (
        "geogrid._cli_partition",
        "geogrid._cli_repair",
        "geogrid._cli_dispatch",
        "geogrid._cli_layers",
        "geogrid._cli_province",
        "geogrid._cli_evaluation",
        "geogrid._cli_replica",
    ):
        import_module(name).register(app)


_register_plugins()

if __name__ == "__main__":  # pragma: no cover
    app()
