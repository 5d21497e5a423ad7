"""``geogrid department …``, ``geogrid register …`` and ``geogrid linkgroups …`` (issue 15).

:func:`register` adds the three command groups to the main Typer app (``geogrid/cli.py`` calls it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geogrid.errors import GeogridError, ImportRowsError

department_app = typer.Typer(help="Department layers (部门网格): import, compare with the base grids, align.")
register_app = typer.Typer(help="The base register (一户一档): houses, households and residents.")
links_app = typer.Typer(help="联户 link groups of 10–15 households under a 联户长.")


def register(app: typer.Typer) -> None:
    """Add the ``department``, ``register`` and ``linkgroups`` command groups to ``app``."""
    app.add_typer(department_app, name="department")
    app.add_typer(register_app, name="register")
    app.add_typer(links_app, name="linkgroups")


def _cli():
    from geogrid import cli

    return cli


def _run(work):
    cli = _cli()
    try:
        return work(cli._engine())
    except ImportRowsError as exc:
        cli._fail(str(exc), code=2)
    except GeogridError as exc:
        cli._fail(str(exc))


@department_app.command("import")
def department_import(
    code: Annotated[str, typer.Argument(help="the department's code, e.g. ZZB")],
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="its grid layer in any import format")
    ],
    name: Annotated[str, typer.Option(help="the department's Chinese name, e.g. 综治办")],
    scope: Annotated[str | None, typer.Option(help="division the layer covers (default: its county)")] = None,
    layer: Annotated[str | None, typer.Option(help="layer of a GeoPackage, file inside a zip")] = None,
    encoding: Annotated[str | None, typer.Option(help="text encoding of a Shapefile/CSV")] = None,
    crs: Annotated[
        str | None, typer.Option(help="CRS when the file has none: EPSG:<code>, gcj02, bd09")
    ] = None,
) -> None:
    """Import a department's own grid layer as its next version (all rows or none)."""
    from geogrid.db import layers as db_layers
    from geogrid.io import read_features

    def work(engine):
        frame, errors = read_features(path, layer=layer, encoding=encoding, crs=crs)
        if errors:
            raise ImportRowsError(str(path), errors)
        return db_layers.import_layer(
            engine, frame, department_code=code, department_name=name, scope_code=scope, source=path.name
        )

    info = _run(work)
    _cli().console.print(
        f"{info.department_name} ({info.department_code}) layer v{info.version}: {info.grid_count} grids, "
        f"scope {info.scope_code}, {info.status}"
    )


@department_app.command("list")
def department_list() -> None:
    """Departments with layers, their versions and active layer."""
    from geogrid.db import layers as db_layers

    for d in _run(db_layers.list_departments):
        active = f"v{d['active_version']} {d['active_kind_name']}" if d["active_version"] else "none active"
        _cli().console.print(
            f"{d['department_code']}\t{d['department_name']}\t{d['versions']} version(s)\t{active}"
        )


@department_app.command("report")
def department_report(
    code: Annotated[str, typer.Argument(help="the department's code")],
    version: Annotated[int | None, typer.Option(help="layer version (default: the active one)")] = None,
    crosswalk: Annotated[Path | None, typer.Option(help="write the crosswalk to this CSV")] = None,
    map_: Annotated[Path | None, typer.Option("--map", help="write the conflict map (HTML) here")] = None,
) -> None:
    """Crosswalk and conflicts of a layer against the published base grids."""
    from geogrid import layers
    from geogrid.db import layers as db_layers

    done = _run(lambda engine: db_layers.compare(engine, code, version))
    report = layers.conflicts(done.frames)
    console = _cli().console
    for key, value in report.summary().items():
        console.print(f"{key}: {value:,.0f}" if isinstance(value, float) else f"{key}: {value}")
    if crosswalk:
        layers.crosswalk(done.frames).to_csv(crosswalk, index=False, encoding="utf-8-sig")
        console.print(f"crosswalk written to {crosswalk}")
    if map_:
        from geogrid.layer_maps import layer_map
        from geogrid.maps import save_map

        title = f"{done.layer.department_name}网格与基础网格"
        save_map(layer_map(done.frames.base, done.frames.layer, report, title=title), map_)
        console.print(f"map written to {map_}")
    if not report.ok:
        raise typer.Exit(1)


@department_app.command("align")
def department_align(
    code: Annotated[str, typer.Argument(help="the department's code")],
    version: Annotated[int | None, typer.Option(help="layer version (default: the active one)")] = None,
    accept: Annotated[
        bool, typer.Option(help="store the proposal as the department's aligned layer")
    ] = False,
    map_: Annotated[Path | None, typer.Option("--map", help="write the alignment map (HTML) here")] = None,
) -> None:
    """Propose the nearest layer of whole base grids (and accept it with --accept)."""
    from geogrid import layers
    from geogrid.db import layers as db_layers

    done = _run(lambda engine: db_layers.compare(engine, code, version))
    proposal = layers.align(done.frames)
    console = _cli().console
    for key, value in proposal.summary().items():
        console.print(f"{key}: {value}")
    if map_:
        from geogrid.layer_maps import alignment_map
        from geogrid.maps import save_map

        save_map(
            alignment_map(done.frames.layer, proposal, title=f"{done.layer.department_name}网格对齐方案"),
            map_,
        )
        console.print(f"map written to {map_}")
    if accept:
        info = _run(
            lambda engine: db_layers.accept_alignment(engine, code, done.layer.version, author="geogrid cli")
        )
        console.print(f"accepted as {info.department_code} v{info.version} (aligned, active)")


@register_app.command("import")
def register_import(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV or Excel, one row per resident")
    ],
    replace: Annotated[
        bool, typer.Option(help="first remove the register of the addresses in the file")
    ] = False,
    sheet: Annotated[str | None, typer.Option(help="Excel sheet: name or 1-based number")] = None,
    encoding: Annotated[str | None, typer.Option(help="text encoding of a CSV (default: detected)")] = None,
) -> None:
    """Import a register file (地址编码, 房屋编号, 户编号, 姓名, 公民身份号码, 联系电话, 与户主关系, 标签):
    all rows or none; households per address are then derived from the register."""
    from geogrid.db import register as db_register
    from geogrid.db.secrets import register_keys
    from geogrid.register import read_register

    def work(engine):
        rows = read_register(
            path, sheet=int(sheet) if sheet and sheet.isdigit() else sheet, encoding=encoding
        )
        return db_register.import_register(engine, rows, register_keys(), source=path.name, replace=replace)

    done = _run(work)
    console = _cli().console
    console.print(
        f"imported {done.residents} residents in {done.households} households, {done.houses} houses, "
        f"at {done.addresses} addresses"
        + (f" (replaced {done.replaced_households} households)" if replace else "")
    )
    if done.stale_link_groups:
        console.print(
            f"[yellow]{done.stale_link_groups} 联户 no longer match the households: re-form them[/]"
        )


@links_app.command("form")
def links_form(
    division: Annotated[str, typer.Option(help="division or grid code whose published grids to split")],
    rule: Annotated[str, typer.Option(help="households per group: lo,hi")] = "10,15",
    seed: int = 0,
) -> None:
    """Form the 联户 of every published grid of a division (a code that comes back keeps its 联户长)."""
    from geogrid._cli_partition import parse_rule
    from geogrid.db import link_groups as db_groups

    done = _run(lambda engine: db_groups.form(engine, division, rule=parse_rule(rule), seed=seed))
    console = _cli().console
    console.print(f"{done.groups} link groups of {done.households:,} households in {done.grids} grids")
    for code, notes in done.notes.items():
        console.print(f"[yellow]{code}:[/] {'; '.join(notes)}")
