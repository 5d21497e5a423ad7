"""The monthly report of a division (月度通报): a printable HTML page a leader can forward as is.

Headline rates with the change from the month before, trend charts of the last twelve months
(Chart.js), the best and worst units one level down and the departments (by the evaluation
score), the overdue list and a map of incidents per 100 households per grid (Leaflet).  Every
script is linked from the service (``/static/vendor``, vendored from npm: no CDN), the page
prints on A4 (``@media print``).  Pure: :mod:`geogrid.db.reports` gathers the numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

from geogrid.evaluation import LEVEL_NAMES, Period, UnitResult, rates

#: Headline figures: key, Chinese name, kind (``rate`` or ``count``), whether lower is better.
HEADLINES: tuple[tuple[str, str, str, bool], ...] = (
    ("cases", "事件数", "count", False),
    ("acceptance_rate", "受理率", "rate", False),
    ("accept_on_time_rate", "按时受理率", "rate", False),
    ("completion_rate", "办结率", "rate", False),
    ("on_time_completion_rate", "按期办结率", "rate", False),
    ("satisfaction_rate", "满意率", "rate", False),
    ("rework_rate", "返工率", "rate", True),
    ("overdue", "超时未办结", "count", True),
    ("supervised", "督办", "count", True),
)
#: Series of the trend charts: key and Chinese name.
TREND_RATES: tuple[tuple[str, str], ...] = (
    ("acceptance_rate", "受理率"),
    ("completion_rate", "办结率"),
    ("on_time_completion_rate", "按期办结率"),
    ("satisfaction_rate", "满意率"),
)


def figures(counts: Mapping[str, int]) -> dict[str, float | int | None]:
    """Headline figures of one set of counts: the counts themselves, every evaluation rate and
    the acceptance rate (accepted / cases).

    Examples
    --------
    >>> f = figures({"cases": 4, "accepted": 3, "completed": 3, "completed_on_time": 2, "overdue": 1})
    >>> f["acceptance_rate"], f["completion_rate"], f["on_time_completion_rate"], f["overdue"]
    (0.75, 1.0, 0.6667, 1)
    """
    out: dict[str, float | int | None] = {k: int(v) for k, v in counts.items()}
    out.update(rates(counts))
    cases = int(counts.get("cases", 0))
    out["acceptance_rate"] = round(int(counts.get("accepted", 0)) / cases, 4) if cases else None
    return out


@dataclass(frozen=True)
class Headline:
    """One headline figure this month and the month before."""

    key: str
    name: str
    kind: str
    value: float | int | None
    previous: float | int | None
    lower_is_better: bool

    @property
    def shown(self) -> str:
        return _show(self.value, self.kind)

    @property
    def change(self) -> str:
        """``较上月 +1.2 个百分点`` / ``较上月 −3 件`` (empty without both months)."""
        if self.value is None or self.previous is None:
            return ""
        d = float(self.value) - float(self.previous)
        if self.kind == "rate":
            return f"较上月 {d * 100:+.1f} 个百分点".replace("-", "−")
        return f"较上月 {d:+.0f} 件".replace("-", "−")

    @property
    def better(self) -> bool | None:
        if self.value is None or self.previous is None or self.value == self.previous:
            return None
        return (self.value < self.previous) == self.lower_is_better


def _show(value: float | int | None, kind: str) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.1f}%" if kind == "rate" else f"{int(value):,}"


@dataclass(frozen=True)
class OverdueItem:
    """One overdue incident of the list (what a notice board may show)."""

    id: str
    category: str
    place: str
    holder: str
    due: str
    overdue_days: float


@dataclass(frozen=True)
class MonthlyReport:
    """Everything the page shows."""

    division_code: str
    division_name: str
    period: Period
    generated_at: datetime
    headlines: list[Headline]
    trend: list[dict[str, Any]]
    unit_level: str
    units: list[UnitResult]
    departments: list[UnitResult]
    overdue: list[OverdueItem]
    grids: dict
    public: bool = False
    top_n: int = 5
    #: Fewest cases a unit needs to be graded (the evaluation configuration's).
    min_cases: int = 5
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.division_name} {self.period.name} 网格化服务管理工作通报"

    def best_and_worst(self, rows: Sequence[UnitResult]) -> tuple[list[UnitResult], list[UnitResult]]:
        """The ``top_n`` best and worst graded units (the worst listed worst first)."""
        graded = [r for r in rows if r.rank is not None]
        n = min(self.top_n, len(graded) // 2 if len(graded) > 1 else len(graded))
        return graded[:n], list(reversed(graded))[:n] if len(graded) > 1 else []


def headlines(this: Mapping[str, Any], before: Mapping[str, Any]) -> list[Headline]:
    """The headline figures of this month against the month before (:func:`figures` of each)."""
    return [Headline(k, name, kind, this.get(k), before.get(k), lower) for k, name, kind, lower in HEADLINES]


def render(report: MonthlyReport, *, assets: Mapping[str, str]) -> str:
    """The page's HTML; ``assets`` maps ``chart.js``, ``leaflet.js`` and ``leaflet.css`` to URLs.

    Examples
    --------
    >>> from geogrid.evaluation import parse_period
    >>> p = parse_period("2024-05")
    >>> r = MonthlyReport("320508", "金港区", p, p.end, headlines({}, {}), [], "township", [], [], [], {})
    >>> html = render(r, assets={"chart.js": "/c.js", "leaflet.js": "/l.js", "leaflet.css": "/l.css"})
    >>> "金港区 2024年5月 网格化服务管理工作通报" in html and '<script src="/c.js">' in html
    True
    """
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
    text = resources.files("geogrid").joinpath("data/monthly_report.html").read_text(encoding="utf-8")
    template = env.from_string(text)
    units_best, units_worst = report.best_and_worst(report.units)
    depts_best, depts_worst = report.best_and_worst(report.departments)
    chart = {
        "labels": [t["label"] for t in report.trend],
        "cases": [t.get("cases", 0) for t in report.trend],
        "rates": [
            {
                "name": name,
                "values": [None if t.get(k) is None else round(100 * t[k], 1) for t in report.trend],
            }
            for k, name in TREND_RATES
        ],
    }
    return template.render(
        r=report,
        assets=assets,
        unit_level_name=LEVEL_NAMES[report.unit_level],
        units_best=units_best,
        units_worst=units_worst,
        depts_best=depts_best,
        depts_worst=depts_worst,
        chart_json=json.dumps(chart, ensure_ascii=False),
        grids_json=json.dumps(report.grids, ensure_ascii=False, separators=(",", ":")),
        show=_show,
    )
