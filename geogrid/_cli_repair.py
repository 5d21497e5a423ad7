"""``geogrid repair``: repair the published grids of a division with the least change.

:func:`register` adds the command to the main Typer app (``geogrid/cli.py`` calls it).
"""

from __future__ import annotations

from typing import Annotated

import typer

from geogrid.errors import ConflictError, GeogridError


def register(app: typer.Typer) -> None:
    """Add the ``repair`` command to ``app``."""

    @app.command("repair")
    def repair_cmd(
        division: Annotated[
            str,
            typer.Option(help="repair the published grids of this division (county, township or village)"),
        ],
        publish: Annotated[
            bool, typer.Option(help="publish the draft when every village was repaired")
        ] = False,
        max_changed: Annotated[
            int | None, typer.Option(help="most grids of each village that may change")
        ] = None,
        seed: Annotated[int, typer.Option(help="random seed of re-drawn parts")] = 0,
    ) -> None:
        """Bring grids pushed out of their household bounds (new housing, demolition) back within
        them, changing as few grids as possible; the result is saved as a draft plan.

        Exit 0 when the draft was saved (or nothing needed a repair), 1 when a village failed.
        """
        _repair(division, publish=publish, max_changed=max_changed, seed=seed)


def _repair(division: str, *, publish: bool, max_changed: int | None, seed: int) -> None:
    from rich.console import Console
    from rich.table import Table

    from geogrid.db import database_url, make_engine
    from geogrid.db.workflow import repair_scope

    console = Console()
    engine = make_engine(database_url())
    try:
        done = repair_scope(engine, division, seed=seed, max_changed=max_changed, publish=publish)
    except ConflictError as exc:
        console.print(f"nothing to repair: {exc}")
        raise typer.Exit(0) from None
    except GeogridError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    result = done.result
    table = Table(title=f"repair of {division}")
    for column in ("village", "status", "out of bounds", "changed", "grids before → after", "reason"):
        table.add_column(column)
    for row in result.villages.to_dict("records"):
        if row["status"] == "unchanged":
            continue
        grids = f"{row['grids_before']} → {row['grids_after']}"
        village = f"{row['code']} {row['name'] or ''}".strip()
        table.add_row(
            village, row["status"], str(row["out_of_bounds"]), str(row["changed"]), grids, row["reason"] or ""
        )
    console.print(table)
    for op in result.operations:
        console.print(f"  {op.describe()}")
    untouched = int((result.villages["status"] == "unchanged").sum())
    info = done.info
    console.print(
        f"{untouched} village(s) needed nothing and are unchanged; "
        f"plan {info.id} ({info.status}, scope {info.scope_code} v{info.version}): "
        f"{info.grid_count} grids, {info.households} households"
    )
    if done.dropped_subgrids:
        console.print(f"sub-grids of changed grids left out: {', '.join(done.dropped_subgrids)}")
    raise typer.Exit(1 if result.failed else 0)
