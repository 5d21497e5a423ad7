"""``geogrid validate`` and ``geogrid partition``: file-level commands over the pure core.

:func:`register` adds the commands to the main Typer app (``geogrid/cli.py`` calls it).
:func:`partition_division` is the pure function a database-backed ``--division CODE``
command calls once it has loaded the division, its addresses and its streets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd
import typer

from geogrid.errors import GeogridError, ImportRowsError
from geogrid.rules import Rule, resolve_rule


def parse_rule(text: str) -> Rule:
    """``"urban"``, ``"rural"``, ``"linked"`` or ``"lo,hi"`` → :class:`Rule`.

    Examples
    --------
    >>> parse_rule("10,20")
    Rule(lo=10, hi=20, name='custom')
    """
    if "," in text:
        lo, hi = (int(x) for x in text.split(",", 1))
        return resolve_rule((lo, hi))
    return resolve_rule(text.strip())


def partition_division(
    division,
    addresses: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame,
    *,
    rule: Rule | str | tuple[int, int] | None = None,
    barriers: gpd.GeoDataFrame | None = None,
    seed: int = 0,
    k: int | None = None,
):
    """Partition one village/community row of a divisions frame; grids get its code.

    ``rule`` defaults to the division's ``kind`` (urban → 300–500, rural → 50–100).
    Addresses and streets may cover more than the division: addresses outside it are
    ignored (and listed in the diagnostics); streets are used where they cut it.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString, Point, box
    >>> crs = "EPSG:32651"
    >>> div = gpd.GeoDataFrame({"code": ["320508019044"], "kind": ["rural"]},
    ...                        geometry=[box(0, 0, 200, 100)], crs=crs)
    >>> streets = gpd.GeoDataFrame(geometry=[LineString([(100, -5), (100, 105)])], crs=crs)
    >>> addresses = gpd.GeoDataFrame({"households": [60, 70]},
    ...                              geometry=[Point(50, 50), Point(150, 50)], crs=crs)
    >>> partition_division(div, addresses, streets).grids.code.tolist()
    ['320508019044001', '320508019044002']
    """
    from geogrid.partition import partition

    if isinstance(division, gpd.GeoDataFrame):
        if len(division) != 1:
            raise GeogridError(f"expected one division, got {len(division)}")
        area = division.geometry
        row = division.iloc[0]
    else:
        row = division
        area = gpd.GeoSeries([division.geometry], crs=getattr(division, "crs", None) or "EPSG:4326")
    kind = row.get("kind") if hasattr(row, "get") else None
    if rule is None:
        if kind not in ("urban", "rural"):
            raise GeogridError(f"division {row.get('code')} has kind {kind!r}; pass a rule")
        rule = kind
    code = row.get("code")
    return partition(
        area,
        addresses,
        streets,
        rule,
        barriers=barriers,
        k=k,
        kind=kind if kind in ("urban", "rural") else None,
        seed=seed,
        division_code=str(code) if code is not None else None,
    )


def print_report(report, *, title: str = "validation") -> None:
    """Print a ValidationReport as a rich table (one row per issue, at most 200)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if report.ok:
        console.print(f"[green]OK[/green] {report.summary()}")
        return
    table = Table(title=f"{title}: {len(report.issues)} issue(s)")
    for col in ("kind", "grids", "measure", "message"):
        table.add_column(col)
    for issue in report.issues[:200]:
        measure = "" if issue.measure is None else f"{issue.measure:.6g}"
        table.add_row(issue.kind, ", ".join(issue.codes), measure, issue.message)
    console.print(table)
    if len(report.issues) > 200:
        console.print(f"... {len(report.issues) - 200} more")
    console.print(report.summary())


def register(app: typer.Typer) -> None:
    """Add the ``validate`` and ``partition`` commands to ``app``."""

    @app.command("validate")
    def validate_cmd(
        file: Annotated[
            Path, typer.Argument(exists=True, dir_okay=False, help="grids: GeoJSON, GeoPackage...")
        ],
        parent: Annotated[
            Path | None, typer.Option(exists=True, dir_okay=False, help="the division the grids must tile")
        ] = None,
        rule: Annotated[str | None, typer.Option(help="urban | rural | linked | lo,hi")] = None,
        addresses: Annotated[
            Path | None, typer.Option(exists=True, dir_okay=False, help="address points to count households")
        ] = None,
        encoding: Annotated[
            str | None, typer.Option(help="text encoding of CSV/Shapefile inputs (default: detected)")
        ] = None,
        crs: Annotated[
            str | None, typer.Option(help="CRS of coordinates without one: EPSG code, gcj02 or bd09")
        ] = None,
    ) -> None:
        """Check grids for overlaps, gaps, outside parts, household bounds and codes; exit 1 if invalid.

        Any format geogrid imports (Shapefile in GBK without .cpg, GeoPackage, GeoJSON, KML, zip,
        Excel/CSV with coordinates); unreadable rows are named and nothing is checked (exit 2).
        """
        from geogrid import io
        from geogrid.validate import validate

        options: dict[str, Any] = {key: v for key, v in {"encoding": encoding, "crs": crs}.items() if v}
        try:
            report = validate(
                _with_grid_names(_read_checked(file, options, "nothing checked")),
                parent=_read_checked(parent, options, "nothing checked") if parent else None,
                rule=parse_rule(rule) if rule else None,
                addresses=io.read_addresses(addresses, progress=False, **options) if addresses else None,
            )
        except (GeogridError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        print_report(report, title=str(file))
        raise typer.Exit(0 if report.ok else 1)

    @app.command("partition")
    def partition_cmd(
        division: Annotated[
            str | None,
            typer.Option(
                help="partition this stored division (county, township or village) into a draft plan"
            ),
        ] = None,
        area: Annotated[
            Path | None, typer.Option(exists=True, dir_okay=False, help="village/community polygon file")
        ] = None,
        addresses: Annotated[
            Path | None, typer.Option(exists=True, dir_okay=False, help="address points (households)")
        ] = None,
        streets: Annotated[
            Path | None, typer.Option(exists=True, dir_okay=False, help="street lines (street_class)")
        ] = None,
        out: Annotated[Path | None, typer.Option(help="output grids: .gpkg or .geojson")] = None,
        rule: Annotated[
            str | None, typer.Option(help="urban | rural | linked | lo,hi (default: by kind)")
        ] = None,
        barriers: Annotated[
            Path | None, typer.Option(exists=True, dir_okay=False, help="rivers, rail")
        ] = None,
        division_code: Annotated[
            str | None,
            typer.Option(
                "--division-code", help="12-digit code for numbering (default: the area file's code)"
            ),
        ] = None,
        drop_outside: Annotated[
            bool, typer.Option(help="leave addresses outside the area out (listed) instead of refusing them")
        ] = False,
        encoding: Annotated[
            str | None, typer.Option(help="text encoding of CSV/Shapefile inputs (default: detected)")
        ] = None,
        crs: Annotated[
            str | None, typer.Option(help="CRS of inputs that declare none: EPSG:<code>, gcj02 or bd09")
        ] = None,
        k: Annotated[int | None, typer.Option(help="number of grids (default: chosen)")] = None,
        seed: Annotated[int, typer.Option(help="random seed")] = 0,
        publish: Annotated[
            bool, typer.Option(help="with --division: publish the draft when every village succeeded")
        ] = False,
    ) -> None:
        """Partition into grids within household bounds.

        Either ``--division CODE`` (inputs from the database, result saved as a draft plan, or
        written to ``--out``) or ``--area/--addresses/--streets`` files with ``--out``.
        """
        if division:
            _partition_stored(division, rule=rule, seed=seed, out=out, publish=publish)
            return
        if not (area and addresses and streets and out):
            typer.echo("error: give --division CODE, or --area, --addresses, --streets and --out", err=True)
            raise typer.Exit(2)
        _partition_files(
            area,
            addresses,
            streets,
            out,
            rule=rule,
            barriers=barriers,
            division_code=division_code,
            k=k,
            seed=seed,
            drop_outside=drop_outside,
            read_options={"encoding": encoding, "crs": crs},
        )


def _with_grid_names(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Chinese field names of a grid file (网格编码, 户数...) as the names validate() reads."""
    from geogrid.io import CHINESE_FIELDS

    names = CHINESE_FIELDS["grids"]
    renames = {c: names[c] for c in grids.columns if c in names and names[c] not in grids.columns}
    return grids.rename(columns=renames)


def _read_checked(path: Path, options: dict, what: str) -> gpd.GeoDataFrame:
    """Features of ``path`` in EPSG:4326; :class:`ImportRowsError` naming its unreadable rows."""
    from geogrid.io import read_features

    frame, errors = read_features(path, **options)
    if errors:
        raise ImportRowsError(str(path), errors, what=what)
    return frame


def _partition_stored(division: str, *, rule: str | None, seed: int, out: Path | None, publish: bool) -> None:
    from rich.console import Console

    from geogrid.db import database_url, make_engine, require_schema
    from geogrid.db.workflow import partition_scope

    console = Console()
    try:
        engine = make_engine(database_url(create=False))
        require_schema(engine)
        done = partition_scope(
            engine,
            division,
            rule=parse_rule(rule) if rule else None,
            seed=seed,
            publish=publish and out is None,
        )
    except GeogridError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    result = done.result
    for code, reason in result.failed.items():
        console.print(f"[yellow]village {code} not partitioned:[/] {reason}")
    if out is not None:
        from geogrid.io import write_frame

        write_frame(result.grids.drop(columns=["blocks"], errors="ignore"), out)
        console.print(f"{len(result.grids)} grids → {out}")
    info = done.info
    console.print(
        f"plan {info.id} ({info.status}, scope {info.scope_code} v{info.version}): "
        f"{info.grid_count} grids, {info.households} households"
    )
    raise typer.Exit(1 if result.failed else 0)


def _read_area(path: Path, read_options: dict) -> tuple[gpd.GeoDataFrame, str | None, str | None]:
    """The area file as EPSG:4326 polygons, with its division code and kind when it has one each."""
    from geogrid.errors import InputFileError
    from geogrid.io import CHINESE_FIELDS

    frame = _read_checked(path, read_options, "nothing partitioned")
    names = {**CHINESE_FIELDS["divisions"], "code": "code", "kind": "kind"}
    found = {ours: c for c in frame.columns if (ours := names.get(str(c)))}
    values = {
        ours: sorted({str(v).strip() for v in frame[col] if v is not None and str(v).strip()})
        for ours, col in found.items()
    }
    code = values.get("code", [None])[0] if len(values.get("code", [])) == 1 else None
    if len(values.get("code", [])) > 1:
        raise InputFileError(f"{path}: the area holds {len(values['code'])} division codes; give one village")
    kind = values.get("kind", [None])[0] if len(values.get("kind", [])) == 1 else None
    return frame, code, kind if kind in ("urban", "rural") else None


def _partition_files(
    area: Path,
    addresses: Path,
    streets: Path,
    out: Path,
    *,
    rule: str | None,
    barriers: Path | None,
    division_code: str | None,
    k: int | None,
    seed: int,
    drop_outside: bool = False,
    read_options: dict | None = None,
) -> None:
    from rich.console import Console

    from geogrid import io
    from geogrid.partition import partition
    from geogrid.partition_inputs import check_addresses

    console = Console(soft_wrap=True)
    options = {key: v for key, v in (read_options or {}).items() if v is not None}
    try:
        area_frame, area_code, area_kind = _read_area(area, options)
        points = io.read_addresses(addresses, progress=False, **options)
        lines = io.read_streets(streets, progress=False, **options)
        barrier_frame = io.read_features(barriers, **options)[0] if barriers else None
        dropped = check_addresses(area_frame, points, drop_outside=drop_outside, source=str(addresses))
        for e in dropped[:10]:
            console.print(f"[yellow]left out:[/] {addresses} {e}")
        if len(dropped) > 10:
            console.print(f"[yellow]... and {len(dropped) - 10} more addresses left out[/]")
        result = partition(
            area_frame,
            points,
            lines,
            parse_rule(rule or area_kind or "rural"),
            barriers=barrier_frame,
            k=k,
            seed=seed,
            division_code=division_code or area_code,
            drop_outside=drop_outside,
        )
    except GeogridError as exc:
        if isinstance(exc, ImportRowsError) and exc.what == "nothing imported":
            exc.what = "nothing partitioned"
        details = getattr(exc, "details", None)
        typer.echo(f"error: {exc}" + (f"\n{details}" if details else ""), err=True)
        raise typer.Exit(1) from None
    grids = result.grids.copy()
    grids["blocks"] = grids["blocks"].map(lambda b: ",".join(map(str, b)))
    grids.to_file(out, driver="GPKG" if out.suffix.lower() == ".gpkg" else "GeoJSON")
    d = result.diagnostics
    console.print(
        f"{d.k} grids, {d.total_households} households, CV {d.household_cv:.3f}, "
        f"[{d.households_min}, {d.households_max}] per grid, {d.n_blocks} blocks "
        f"({d.n_blocks_split} split), {d.seconds['total']:.2f} s → {out}"
    )
    if result.report is not None and not result.report.ok:
        print_report(result.report)
        raise typer.Exit(1)
