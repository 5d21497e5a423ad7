"""``geogrid evaluate`` and ``geogrid report monthly``: rankings, grades and the monthly report.

:func:`register` adds the commands to the main Typer app (``geogrid/cli.py`` calls it).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from geogrid.errors import GeogridError

if TYPE_CHECKING:
    from geogrid.evaluation import Evaluation


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` and ``report monthly`` to ``app``."""
    app.command("evaluate")(evaluate)
    report_app = typer.Typer(
        help="Reports a leader can forward: the monthly report of a division (月度通报)."
    )
    app.add_typer(report_app, name="report")
    report_app.command("monthly")(report_monthly)


def _now(at: str | None, tz: str) -> datetime:
    from geogrid.times import parse_local

    return parse_local(at, tz, name="--at") if at else datetime.now(UTC)


def evaluate(
    level: Annotated[
        str, typer.Option(help="worker, grid, village, township, department or centre")
    ] = "grid",
    period: Annotated[str, typer.Option(help="2024-05 (month), 2024-Q2 (quarter) or 2024 (year)")] = "",
    division: Annotated[
        str, typer.Option(help="only units and incidents of this division (code prefix)")
    ] = "",
    method: Annotated[str, typer.Option(help="quota (1:2:7) or thresholds")] = "",
    quota: Annotated[str, typer.Option(help="优秀:良好:合格, e.g. 1:2:7")] = "",
    min_cases: Annotated[
        int | None, typer.Option(help="fewest cases to be graded (default: the config's)")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="an evaluation JSON (weights, grading)")] = None,
    at: Annotated[str | None, typer.Option(help="the moment 'overdue now' refers to (default: now)")] = None,
    out: Annotated[
        Path | None, typer.Option(help="write the table to .xlsx or .csv (UTF-8 with BOM)")
    ] = None,
    timezone: Annotated[str, typer.Option(help="the county's time zone")] = "Asia/Shanghai",
) -> None:
    """Rank and grade the units of a level for a period (考评); print the table, optionally export it."""
    from geogrid import evaluation as ev
    from geogrid import evaluation_export as export
    from geogrid.cli import _engine, _fail, console
    from geogrid.db.evaluation import evaluate as run
    from geogrid.db.incidents import Filters

    try:
        now = _now(at, timezone)
        p = ev.parse_period(period, timezone) if period else ev.period_of("month", now, timezone)
        c = ev.load_config(config).with_grading(method or None, quota or None)
        if min_cases is not None:
            c = replace(c, min_cases=min_cases)
        if out is not None and out.suffix.lower() not in (".xlsx", ".csv"):
            raise GeogridError(f"--out must end in .xlsx or .csv, got {out.name}")
        e = run(
            _engine(),
            level=level,
            period=p,
            filters=Filters(division=division or None),
            config=c,
            now=now,
            tz=timezone,
        )
    except GeogridError as exc:
        _fail(str(exc))
    console.print(_table(e))
    if out is not None:
        out.write_bytes(export.to_xlsx(e) if out.suffix.lower() == ".xlsx" else export.to_csv(e))
        console.print(f"written to {out}")


def _table(e: Evaluation) -> Table:
    """The evaluation as a terminal table: rank, grade, name, score, cases, two rates, why."""
    from geogrid import evaluation_export as export

    table = Table(
        "排名", "等次", "名称", "得分", "案件数", "按期办结率", "满意率", "说明", title=export.title(e)
    )
    for r in e.rows:
        table.add_row(
            str(r.rank or ""),
            r.grade_name,
            r.name,
            "" if r.score is None else f"{r.score:.2f}",
            str(r.counts["cases"]),
            _pct(r.rates["on_time_completion_rate"]),
            _pct(r.rates["satisfaction_rate"]),
            r.note,
        )
    return table


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def report_monthly(
    division: Annotated[str, typer.Option(help="county, township or village code")],
    month: Annotated[str, typer.Option(help="2024-05 (default: this month)")] = "",
    out: Annotated[Path, typer.Option(help="the HTML file to write")] = Path("report.html"),
    at: Annotated[str | None, typer.Option(help="the moment 'overdue now' refers to (default: now)")] = None,
    timezone: Annotated[str, typer.Option(help="the county's time zone")] = "Asia/Shanghai",
) -> None:
    """Write the monthly report of a division as one HTML file (scripts embedded: opens anywhere)."""
    from geogrid import evaluation as ev
    from geogrid import report as rp
    from geogrid.assets import asset_text
    from geogrid.cli import _engine, _fail, console
    from geogrid.db.reports import monthly_report
    from geogrid.incidents import load_catalogue

    try:
        now = _now(at, timezone)
        p = ev.parse_period(month, timezone) if month else ev.period_of("month", now, timezone)
        r = monthly_report(
            _engine(), division=division, period=p, catalogue=load_catalogue(), now=now, tz=timezone
        )
        html = rp.render(r, assets={name: "" for name in ("chart.js", "leaflet.js", "leaflet.css")})
        html = _inline(html, {name: asset_text(name) for name in ("chart.js", "leaflet.js", "leaflet.css")})
    except GeogridError as exc:
        _fail(str(exc))
    out.write_text(html, encoding="utf-8")
    console.print(f"{r.title}: written to {out}")


def _inline(html: str, texts: dict[str, str]) -> str:
    """The page with its scripts and style embedded (a file mailed to a leader has no server)."""
    html = html.replace('<link rel="stylesheet" href="">', f"<style>{texts['leaflet.css']}</style>", 1)
    html = html.replace('<script src=""></script>', f"<script>{texts['chart.js']}</script>", 1)
    return html.replace('<script src=""></script>', f"<script>{texts['leaflet.js']}</script>", 1)
