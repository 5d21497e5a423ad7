"""``geogrid org``, ``geogrid keys issue`` and ``geogrid notify``: the dispatch organisation.

:func:`register` adds the commands to the main Typer app (``geogrid/cli.py`` calls it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from geogrid.errors import GeogridError, ImportRowsError


def register(app: typer.Typer) -> None:
    """Add ``org``, ``keys issue`` and ``notify`` to ``app``."""
    from geogrid.cli import keys_app

    org_app = typer.Typer(help="The dispatch organisation: centres (综治中心) and departments (职能部门).")
    app.add_typer(org_app, name="org")
    org_app.command("defaults")(org_defaults)
    org_app.command("list")(org_list)
    keys_app.command("issue")(keys_issue)
    notify_app = typer.Typer(help="Reminders and flags: the notification outbox and its webhook delivery.")
    app.add_typer(notify_app, name="notify")
    _register_notify(notify_app)


def org_defaults(
    county: Annotated[str, typer.Option(help="6-digit county code (default: every stored division)")] = "",
) -> None:
    """Store the default organisation of the stored divisions: a 综治中心 per county, township and
    village, the catalogue's departments per county and each township's 派出所 and 司法所."""
    from geogrid.cli import _engine, _fail, console
    from geogrid.db.organisation import install_defaults
    from geogrid.incidents import load_catalogue

    try:
        done = install_defaults(_engine(), load_catalogue(), county_prefix=county)
    except GeogridError as exc:
        _fail(str(exc))
    console.print(f"stored {done.centres} centres (综治中心) and {done.departments} departments (职能部门)")


def org_list(
    within: Annotated[str | None, typer.Option(help="only centres inside this division")] = None,
) -> None:
    """The centres and departments: codes with their Chinese names."""
    from geogrid.cli import _engine, console
    from geogrid.db import organisation as org
    from geogrid.organisation import LEVEL_NAMES

    engine = _engine()
    centres = Table("综治中心 code", "name", "level", title="centres")
    for c in org.list_centres(engine, within=within):
        centres.add_row(c.code, c.name, LEVEL_NAMES[c.level])
    console.print(centres)
    departments = Table("部门 code", "name", "level", "serves", title="departments")
    for d in org.list_departments(engine, serving=within):
        departments.add_row(d.code, d.name, LEVEL_NAMES[d.level], "、".join(d.serves))
    console.print(departments)


def keys_issue(
    roster: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="import this roster first (as `geogrid import staff`)"
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="CSV of the keys to hand out (UTF-8 with BOM for Excel)")] = Path(
        "keys.csv"
    ),
    roles: Annotated[Path | None, typer.Option(help="a role set (JSON) instead of the shipped one")] = None,
    sheet: Annotated[str | None, typer.Option(help="Excel sheet of the roster")] = None,
    reissue: Annotated[bool, typer.Option(help="revoke and replace keys people already have")] = False,
) -> None:
    """Issue an API key to every person of the roster who has none, scoped to their posts.

    Grid staff get ``worker`` keys on their grids (sub-grids included), 联户长 on their link
    group, centre staff ``dispatcher`` keys on their centre's division, department liaisons
    ``department`` keys.  The keys are written to --out, once: hand them out, then delete it.
    """
    from geogrid.cli import _engine, _fail, _import_staff, console
    from geogrid.db.staff import issue_keys, write_keys
    from geogrid.organisation import load_roles
    from geogrid.staff import read_roster

    try:
        role_set = load_roles(roles)
        posts = None
        if roster is not None:
            _import_staff(roster, {}, None, sheet=sheet, encoding=None, roles=roles)
            posts = read_roster(roster, sheet=sheet, roles=role_set)["code"].tolist()
        issued = issue_keys(_engine(), roles=role_set, posts=posts, reissue=reissue)
    except ImportRowsError as exc:
        _fail(str(exc), code=2)
    except GeogridError as exc:
        _fail(str(exc))
    write_keys(issued, out, role_names=role_set.names())
    counts: dict[str, int] = {}
    for k in issued:
        counts[k.account.key_role] = counts.get(k.account.key_role, 0) + 1
    summary = ", ".join(f"{n} {r}" for r, n in sorted(counts.items())) or "none (everyone has a key)"
    console.print(f"issued {len(issued)} keys ({summary}) → {out}; the keys are shown only there")


def _register_notify(notify_app: typer.Typer) -> None:
    """``geogrid notify run`` and ``geogrid notify status``."""

    @notify_app.command("run")
    def notify_run(
        once: Annotated[bool, typer.Option(help="one round (flags, then deliveries), then exit")] = False,
        interval: Annotated[float, typer.Option(help="seconds between rounds")] = 5.0,
    ) -> None:
        """Raise deadline flags (yellow/red) and deliver due notifications to the webhook
        (GEOGRID_NOTIFY_WEBHOOK_URL), retrying with exponential backoff until acknowledged."""
        from geogrid.cli import _engine, _fail, console
        from geogrid.db.notify import DeliveryConfig, run_forever, run_once

        try:
            config = DeliveryConfig.from_environment()
            engine = _engine()
            if once:
                done = run_once(engine, config)
                console.print(
                    f"flags raised: {done.flags}; delivered: {done.delivered}; failed: {done.failed}"
                )
                return
            console.print(f"delivering to {config.describe()} every {interval:g}s (Ctrl-C to stop)")
            run_forever(engine, config, interval_s=interval)
        except GeogridError as exc:
            _fail(str(exc))

    @notify_app.command("status")
    def notify_status() -> None:
        """Notifications by status, and the latest failed deliveries."""
        from geogrid.cli import _engine, console
        from geogrid.db.notify import status_counts

        table = Table("status", "count", title="notifications")
        for status, count in status_counts(_engine()).items():
            table.add_row(status, str(count))
        console.print(table)
