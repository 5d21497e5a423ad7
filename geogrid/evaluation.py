"""Evaluation (考评): indicators per unit and period, a weighted score, grades by quota or thresholds.

Pure logic over plain tables (pandas): :mod:`geogrid.db.evaluation` reads the facts of each
incident from PostGIS; this module counts them per unit, turns the counts into rates, the
rates into a score and the scores into grades.  Nothing here reads settings or a database.

**Units** (:data:`LEVELS`): a grid worker (a person of the roster, by name), a grid, a village
(村/社区), a township (乡镇/街道), a department (职能部门) and a centre (综治中心).  An incident
belongs to the grid, village and township it lies in, to the centre whose queue holds it, to
the department it is dispatched to *and* every department summoned to it (吹哨), and to every
worker posted on its grid (a 17-digit link group's 联户长 only to incidents in that link group).

**Indicators** (counts, per unit, of the incidents reported in the period):

- ``reports`` 上报数 / ``valid_reports`` 有效上报数: for a worker the reports made with their own
  key and how many of them were accepted (立案); for other units the unit's cases;
- ``cases`` 案件数, ``accepted`` 受理数, ``accepted_on_time`` 按时受理数 (by ``accept_due``);
- ``summoned`` 吹哨次数 and ``checked_in_on_time`` 按时报到数: department calls of 吹哨报到 (a
  department's own calls; for other units every call on their cases);
- ``completed`` 办结数, ``completed_on_time`` 按期办结数 (resolved by ``complete_due``);
- ``reopened`` 返工数 (cases reopened at least once: failed verification, or 回访 不满意);
- ``overdue`` 超时未办结数 (at the moment asked: still open past a deadline);
- ``supervised`` 被督办数 (督办 received: on a department only those aimed at it);
- ``followups`` 回访数 with ``satisfied`` 满意, ``basically_satisfied`` 基本满意,
  ``unsatisfied`` 不满意 (the latest follow-up of each case);
- ``households`` and ``per_100_households`` 每百户事件数.

**Rates** (:data:`RATES`, None when the denominator is 0): valid-report rate = valid / reports;
on-time acceptance = accepted on time / cases (a case never accepted counts against it);
on-time check-in = checked in on time / summoned; completion = completed / accepted; on-time completion = completed on time /
accepted; rework = reopened / completed; supervision = supervised cases / cases;
satisfaction = (满意 + 基本满意) / follow-ups.

**Score**: ``100 × Σ wᵢ·vᵢ / Σ wᵢ`` over the rates a unit has (rework and supervision count as
``1 − rate``: lower is better); weights per level come from the configuration
(``geogrid/data/evaluation.json``).  **Grades**: units with fewer than ``min_cases`` cases are
not graded (不参评, with the reason).  By quota (default 优秀:良好:合格 = 1:2:7) the quota is a
ceiling: of n graded units, the best ``⌊n·1/10 + ½⌋`` are 优秀 and the best ``⌊n·3/10 + ½⌋`` at
least 良好; units tied on a score that would cross a boundary all get the lower grade (each
gets a note saying so).  By thresholds a score ≥ 90 is 优秀, ≥ 80 良好, ≥ 60 合格, else 不合格.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from fractions import Fraction
from importlib import resources
from math import floor
from pathlib import Path
from typing import Any

import pandas as pd

from geogrid.errors import GeogridError
from geogrid.times import DEFAULT_TIMEZONE, zone

LEVELS: tuple[str, ...] = ("worker", "grid", "village", "township", "department", "centre")
LEVEL_NAMES: dict[str, str] = {
    "worker": "网格员",
    "grid": "网格",
    "village": "村(社区)",
    "township": "乡镇(街道)",
    "department": "职能部门",
    "centre": "综治中心",
}
PERIOD_KINDS: tuple[str, ...] = ("month", "quarter", "year")
PERIOD_KIND_NAMES = {"month": "月度", "quarter": "季度", "year": "年度"}
GRADES: tuple[str, ...] = ("excellent", "good", "pass", "fail")
GRADE_NAMES: dict[str, str] = {"excellent": "优秀", "good": "良好", "pass": "合格", "fail": "不合格"}
VERDICTS: tuple[str, ...] = ("satisfied", "basically_satisfied", "unsatisfied")
VERDICT_NAMES: dict[str, str] = {
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
}

#: Counted indicators with their Chinese names, in the order tables show them.
COUNTS: dict[str, str] = {
    "reports": "上报数",
    "valid_reports": "有效上报数",
    "cases": "案件数",
    "accepted": "受理数",
    "accepted_on_time": "按时受理数",
    "summoned": "吹哨报到次数",
    "checked_in_on_time": "按时报到数",
    "completed": "办结数",
    "completed_on_time": "按期办结数",
    "reopened": "返工数",
    "overdue": "超时未办结数",
    "supervised": "被督办数",
    "followups": "回访数",
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
}
#: Rates: Chinese name, numerator(s), denominator, and whether lower is better.
RATES: dict[str, tuple[str, tuple[str, ...], str, bool]] = {
    "valid_report_rate": ("有效上报率", ("valid_reports",), "reports", False),
    "accept_on_time_rate": ("按时受理率", ("accepted_on_time",), "cases", False),
    "check_in_on_time_rate": ("按时报到率", ("checked_in_on_time",), "summoned", False),
    "completion_rate": ("办结率", ("completed",), "accepted", False),
    "on_time_completion_rate": ("按期办结率", ("completed_on_time",), "accepted", False),
    "rework_rate": ("返工率", ("reopened",), "completed", True),
    "supervision_rate": ("督办率", ("supervised",), "cases", True),
    "satisfaction_rate": ("满意率", ("satisfied", "basically_satisfied"), "followups", False),
}
RATE_NAMES: dict[str, str] = {k: v[0] for k, v in RATES.items()}

#: The facts of one incident that evaluation reads (one row per incident).
FACT_COLUMNS: tuple[str, ...] = (
    "id",
    "grid_code",
    "village_code",
    "township_code",
    "centre_code",
    "department",
    "reporter_key_name",
    "accepted",
    "accepted_on_time",
    "completed",
    "completed_on_time",
    "reopened",
    "overdue",
    "verdict",
)

# --- periods -----------------------------------------------------------------------------------------

_PERIOD_RE = re.compile(r"^(\d{4})(?:-(?:(\d{2})|Q([1-4])))?$")


@dataclass(frozen=True)
class Period:
    """A calendar month, quarter or year in a time zone: ``[start, end)`` local midnight."""

    kind: str
    key: str  # "2024-05", "2024-Q2", "2024"
    start: datetime
    end: datetime

    @property
    def name(self) -> str:
        """The Chinese name: ``2024年5月``, ``2024年第2季度``, ``2024年``."""
        year = self.key[:4]
        if self.kind == "month":
            return f"{year}年{int(self.key[5:])}月"
        if self.kind == "quarter":
            return f"{year}年第{self.key[-1]}季度"
        return f"{year}年"

    def previous(self, n: int = 1) -> Period:
        """The period ``n`` before this one (same kind)."""
        year, month = self.start.year, self.start.month
        step = {"month": 1, "quarter": 3, "year": 12}[self.kind] * n
        index = year * 12 + (month - 1) - step
        return period_of(self.kind, datetime(index // 12, index % 12 + 1, 1), str(self.start.tzinfo))


def parse_period(text: str, tz: str = DEFAULT_TIMEZONE) -> Period:
    """A period from ``2024-05`` (month), ``2024-Q2`` (quarter) or ``2024`` (year), in zone ``tz``.

    Raises
    ------
    GeogridError
        Anything else (the message shows the three forms).

    Examples
    --------
    >>> p = parse_period("2024-Q2")
    >>> p.kind, p.start.isoformat(), p.end.isoformat(), p.name
    ('quarter', '2024-04-01T00:00:00+08:00', '2024-07-01T00:00:00+08:00', '2024年第2季度')
    >>> parse_period("2024-12").end.isoformat(), parse_period("2024").name
    ('2025-01-01T00:00:00+08:00', '2024年')
    """
    m = _PERIOD_RE.match(str(text).strip())
    if not m or (m.group(2) and not 1 <= int(m.group(2)) <= 12):
        raise GeogridError(
            "考评期间格式为 2024-05（月）、2024-Q2（季度）或 2024（年） / "
            f"period must be YYYY-MM, YYYY-Qn or YYYY, got {text!r}"
        )
    year = int(m.group(1))
    if m.group(2):
        return period_of("month", datetime(year, int(m.group(2)), 1), tz)
    if m.group(3):
        return period_of("quarter", datetime(year, 3 * int(m.group(3)) - 2, 1), tz)
    return period_of("year", datetime(year, 1, 1), tz)


def period_of(kind: str, t: datetime, tz: str = DEFAULT_TIMEZONE) -> Period:
    """The ``kind`` period (month, quarter, year) holding ``t`` (a naive ``t`` is local time).

    Examples
    --------
    >>> from datetime import timezone
    >>> period_of("month", datetime(2024, 4, 30, 17, 0, tzinfo=timezone.utc)).key  # 01:00 on 1 May in China
    '2024-05'
    """
    if kind not in PERIOD_KINDS:
        raise GeogridError(f"period kind must be one of {list(PERIOD_KINDS)}, got {kind!r}")
    z = zone(tz)
    local = t.astimezone(z) if t.tzinfo else t
    first = {"month": local.month, "quarter": 3 * ((local.month - 1) // 3) + 1, "year": 1}[kind]
    months = {"month": 1, "quarter": 3, "year": 12}[kind]
    start = datetime(local.year, first, 1, tzinfo=z)
    index = local.year * 12 + first - 1 + months
    end = datetime(index // 12, index % 12 + 1, 1, tzinfo=z)
    key = {"month": f"{local.year}-{first:02d}", "quarter": f"{local.year}-Q{(first + 2) // 3}"}
    return Period(kind, key.get(kind, str(local.year)), start, end)


# --- configuration -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationConfig:
    """Weights per level, the grading method and its quota or thresholds, ``min_cases``."""

    weights: Mapping[str, Mapping[str, float]]
    min_cases: int = 5
    method: str = "quota"
    quota: Mapping[str, int] = field(default_factory=lambda: {"excellent": 1, "good": 2, "pass": 7})
    thresholds: Mapping[str, float] = field(
        default_factory=lambda: {"excellent": 90.0, "good": 80.0, "pass": 60.0}
    )
    worker_roles: tuple[str, ...] = ("grid_head", "full_time_worker", "part_time_worker")

    def with_grading(self, method: str | None = None, quota: str | None = None) -> EvaluationConfig:
        """This configuration with another method and/or a quota such as ``"1:2:7"``."""
        out = self
        if method:
            if method not in ("quota", "thresholds"):
                raise GeogridError(
                    f"评定方式为 quota 或 thresholds / method must be quota or thresholds, got {method!r}"
                )
            out = replace(out, method=method)
        if quota:
            parts = quota.replace("：", ":").split(":")
            if len(parts) != 3 or not all(p.strip().isdigit() for p in parts) or sum(map(int, parts)) == 0:
                raise GeogridError(f"名额比例形如 1:2:7 / quota must look like 1:2:7, got {quota!r}")
            out = replace(out, quota=dict(zip(("excellent", "good", "pass"), map(int, parts), strict=True)))
        return out


def load_config(path: str | Path | None = None) -> EvaluationConfig:
    """The evaluation configuration: ``path`` (JSON) or geogrid's default.

    Raises
    ------
    GeogridError
        An unknown level or rate, a negative weight, a bad method — naming the field.

    Examples
    --------
    >>> c = load_config()
    >>> c.method, dict(c.quota), c.min_cases, c.weights["department"]["on_time_completion_rate"]
    ('quota', {'excellent': 1, 'good': 2, 'pass': 7}, 5, 30.0)
    """
    if path is None:
        text = resources.files("geogrid").joinpath("data/evaluation.json").read_text(encoding="utf-8")
        where = "geogrid/data/evaluation.json"
    else:
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GeogridError(f"{where}: not JSON ({exc})") from None
    return _config(raw, where)


def _config(raw: Mapping[str, Any], where: str) -> EvaluationConfig:
    weights: dict[str, dict[str, float]] = {}
    for level, table in (raw.get("weights") or {}).items():
        if level not in LEVELS:
            raise GeogridError(f"{where}: weights.{level}: unknown level; levels are {list(LEVELS)}")
        for rate, w in table.items():
            if rate not in RATES:
                raise GeogridError(f"{where}: weights.{level}.{rate}: unknown rate; rates are {list(RATES)}")
            if not isinstance(w, int | float) or w < 0:
                raise GeogridError(f"{where}: weights.{level}.{rate}: a weight is a number ≥ 0, got {w!r}")
        weights[level] = {k: float(v) for k, v in table.items()}
    grading = raw.get("grading") or {}
    config = EvaluationConfig(
        weights=weights,
        min_cases=int(raw.get("min_cases", 5)),
        quota={
            k: int(v) for k, v in (grading.get("quota") or {"excellent": 1, "good": 2, "pass": 7}).items()
        },
        thresholds={k: float(v) for k, v in (grading.get("thresholds") or {}).items()}
        or {"excellent": 90.0, "good": 80.0, "pass": 60.0},
        worker_roles=tuple(raw.get("worker_roles") or ("grid_head", "full_time_worker", "part_time_worker")),
    )
    return config.with_grading(grading.get("method", "quota"))


# --- indicators ----------------------------------------------------------------------------------------


def members(
    level: str, facts: pd.DataFrame, calls: pd.DataFrame, posts: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Which incidents belong to which unit of ``level``: a frame of ``unit``, ``id``.

    ``calls`` (``id``, ``department``, ...) adds the departments summoned to an incident;
    ``posts`` (``unit``, ``post_code``) gives each worker's grids and link groups.
    """
    if level == "all":  # one unit: every incident (a division's totals)
        out = facts[["id"]].assign(unit="all")[["unit", "id"]]
    elif level == "month":  # one unit per calendar month (``month``: "2024-05"), for trends
        out = facts[["month", "id"]].rename(columns={"month": "unit"})
    elif level == "grid":  # a 17-digit link group's incidents count for its grid
        out = pd.DataFrame({"unit": facts["grid_code"].str[:15], "id": facts["id"]})
    elif level in ("village", "township", "centre"):
        column = {"village": "village_code", "township": "township_code"}.get(level, "centre_code")
        out = facts[[column, "id"]].rename(columns={column: "unit"})
    elif level == "department":
        out = pd.concat(
            [
                facts[["department", "id"]].rename(columns={"department": "unit"}),
                calls[["department", "id"]].rename(columns={"department": "unit"}),
            ]
        )
    elif level == "worker":
        out = _worker_members(
            facts, posts if posts is not None else pd.DataFrame(columns=["unit", "post_code"])
        )
    else:
        raise GeogridError(f"level must be one of {list(LEVELS)}, got {level!r}")
    return out.dropna(subset=["unit"]).drop_duplicates().reset_index(drop=True)


def _worker_members(facts: pd.DataFrame, posts: pd.DataFrame) -> pd.DataFrame:
    """Workers × incidents in their posts: a grid post holds its 17-digit link groups too."""
    grids = facts[["id", "grid_code"]].dropna()
    whole = grids.assign(post_code=grids["grid_code"].str[:15])
    linked = grids[grids["grid_code"].str.len() == 17].assign(post_code=lambda f: f["grid_code"])
    both = pd.concat([whole, linked])
    return posts.merge(both, on="post_code")[["unit", "id"]]


def count_indicators(
    level: str,
    facts: pd.DataFrame,
    *,
    calls: pd.DataFrame | None = None,
    supervisions: pd.DataFrame | None = None,
    posts: pd.DataFrame | None = None,
    reporters: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The counted indicators (:data:`COUNTS`) of every unit of ``level`` with at least one case
    or one report, indexed by unit.

    Parameters
    ----------
    facts : DataFrame
        One row per incident of the period, columns :data:`FACT_COLUMNS`.
    calls : DataFrame
        One row per department summoned (吹哨) to an incident: ``id``, ``department``, ``on_time``.
    supervisions : DataFrame
        One row per 督办: ``id``, ``target_kind``, ``target_code``.
    posts : DataFrame
        ``worker`` level: ``unit`` (the person), ``post_code`` (a grid or link group).
    reporters : DataFrame
        ``worker`` level: ``unit``, ``key_name`` (the names their keys act under).

    Examples
    --------
    >>> facts = pd.DataFrame({"id": [1, 2], "grid_code": ["A", "A"], "village_code": "V", "township_code": "T",
    ...     "centre_code": "C", "department": None, "reporter_key_name": None, "accepted": [True, True],
    ...     "accepted_on_time": [True, False], "completed": [True, False], "completed_on_time": [True, False],
    ...     "reopened": [False, False], "overdue": [False, True], "verdict": ["satisfied", None]})
    >>> c = count_indicators("grid", facts).loc["A"]
    >>> int(c.cases), int(c.accepted_on_time), int(c.completed), int(c.overdue), int(c.followups)
    (2, 1, 1, 1, 1)
    """
    calls = calls if calls is not None else pd.DataFrame(columns=["id", "department", "on_time"])
    supervisions = (
        supervisions
        if supervisions is not None
        else pd.DataFrame(columns=["id", "target_kind", "target_code"])
    )
    m = members(level, facts, calls, posts)
    joined = m.merge(facts, on="id")
    counts = _case_counts(joined)
    counts = counts.join(_call_counts(level, m, calls), how="left")
    counts = counts.join(_supervision_counts(level, m, supervisions), how="left")
    reports = _report_counts(level, facts, reporters, counts)
    counts = counts.join(reports, how="outer")
    counts = counts.fillna(0).astype(int)
    return counts[list(COUNTS)]


def _case_counts(joined: pd.DataFrame) -> pd.DataFrame:
    verdict = joined["verdict"]
    frame = pd.DataFrame(
        {
            "unit": joined["unit"],
            "cases": 1,
            "accepted": joined["accepted"].astype(bool),
            "accepted_on_time": joined["accepted_on_time"].astype(bool),
            "completed": joined["completed"].astype(bool),
            "completed_on_time": joined["completed_on_time"].astype(bool),
            "reopened": joined["reopened"].astype(bool),
            "overdue": joined["overdue"].astype(bool),
            "followups": verdict.notna(),
            **{v: verdict == v for v in VERDICTS},
        }
    )
    return frame.groupby("unit").sum().astype(int)


def _call_counts(level: str, m: pd.DataFrame, calls: pd.DataFrame) -> pd.DataFrame:
    """吹哨报到 calls: a department's own; every call on the cases of other units."""
    own = level == "department"
    joined = calls.rename(columns={"department": "unit"}) if own else m.merge(calls, on="id")
    frame = pd.DataFrame(
        {"unit": joined["unit"], "summoned": 1, "checked_in_on_time": joined["on_time"].astype(bool)}
    )
    return frame.groupby("unit").sum().astype(int)


def _supervision_counts(level: str, m: pd.DataFrame, supervisions: pd.DataFrame) -> pd.DataFrame:
    """Cases with a 督办: on a department only those aimed at it."""
    if level == "department":
        aimed = supervisions[supervisions["target_kind"] == "department"]
        pairs = aimed.rename(columns={"target_code": "unit"})[["unit", "id"]]
        pairs = pairs.merge(m, on=["unit", "id"])
    else:
        pairs = m.merge(supervisions[["id"]], on="id")
    return pairs.drop_duplicates().groupby("unit").size().rename("supervised").to_frame()


def _report_counts(
    level: str, facts: pd.DataFrame, reporters: pd.DataFrame | None, counts: pd.DataFrame
) -> pd.DataFrame:
    """上报数 and 有效上报数: a worker's own reports; for other units their cases."""
    if level != "worker":
        return pd.DataFrame({"reports": counts["cases"], "valid_reports": counts["accepted"]})
    if reporters is None or reporters.empty:
        return pd.DataFrame(columns=["reports", "valid_reports"])
    own = reporters.merge(facts, left_on="key_name", right_on="reporter_key_name")
    frame = pd.DataFrame({"unit": own["unit"], "reports": 1, "valid_reports": own["accepted"].astype(bool)})
    return frame.groupby("unit").sum().astype(int)


def rates(counts: Mapping[str, int]) -> dict[str, float | None]:
    """Every rate of :data:`RATES` from one unit's counts (None when its denominator is 0).

    Examples
    --------
    >>> r = rates({"reports": 4, "valid_reports": 3, "accepted": 3, "accepted_on_time": 3, "summoned": 0,
    ...            "checked_in_on_time": 0, "completed": 2, "completed_on_time": 1, "reopened": 1, "cases": 4,
    ...            "supervised": 1, "followups": 2, "satisfied": 1, "basically_satisfied": 1})
    >>> r["valid_report_rate"], r["on_time_completion_rate"], r["check_in_on_time_rate"], r["satisfaction_rate"]
    (0.75, 0.3333, None, 1.0)
    """
    out: dict[str, float | None] = {}
    for name, (_zh, numerators, denominator, _lower) in RATES.items():
        d = int(counts.get(denominator, 0))
        out[name] = round(sum(int(counts.get(n, 0)) for n in numerators) / d, 4) if d else None
    return out


# --- scores ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """A unit's score and how it was made: the weights used and the rates left out."""

    value: float | None
    used: dict[str, float]
    missing: tuple[str, ...]

    def explain(self, unit_rates: Mapping[str, float | None]) -> str:
        """``按期办结率 90.0%×30 + …`` in Chinese, and which rates had nothing to count."""
        if self.value is None:
            return "无可计分指标"
        parts = []
        for name, w in self.used.items():
            v = unit_rates[name]
            assert v is not None  # only rates with a value are used
            shown = (1 - v) if RATES[name][3] else v
            flip = "（1−率）" if RATES[name][3] else ""
            parts.append(f"{RATE_NAMES[name]}{flip} {shown * 100:.1f}%×{w:g}")
        text = " + ".join(parts) + f"，÷{sum(self.used.values()):g}"
        if self.missing:
            text += "；本期无数据不计：" + "、".join(RATE_NAMES[m] for m in self.missing)
        return text


def score(unit_rates: Mapping[str, float | None], weights: Mapping[str, float]) -> Score:
    """``100 × Σ wᵢ·vᵢ / Σ wᵢ`` over the weighted rates the unit has; lower-is-better rates
    count as ``1 − rate``; rates without a value are left out (listed in ``missing``).

    Examples
    --------
    >>> s = score({"on_time_completion_rate": 0.9, "rework_rate": 0.1, "satisfaction_rate": None},
    ...           {"on_time_completion_rate": 30, "rework_rate": 10, "satisfaction_rate": 20})
    >>> s.value, s.missing
    (90.0, ('satisfaction_rate',))
    """
    used = {k: float(w) for k, w in weights.items() if w > 0 and unit_rates.get(k) is not None}
    missing = tuple(k for k, w in weights.items() if w > 0 and unit_rates.get(k) is None)
    total = sum(used.values())
    if not total:
        return Score(None, {}, missing)
    points = 0.0
    for k, w in used.items():
        v = float(unit_rates[k])  # type: ignore[arg-type]  # used holds only rates with a value
        points += w * ((1 - v) if RATES[k][3] else v)
    return Score(round(100 * points / total, 2), used, missing)


# --- grades -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Graded:
    """One unit's place: rank among graded units (ties share a rank), grade and why."""

    unit: str
    score: float | None
    cases: int
    rank: int | None
    grade: str | None
    note: str

    @property
    def grade_name(self) -> str:
        return GRADE_NAMES[self.grade] if self.grade else "不参评"


def _half_up(x: Fraction) -> int:
    return floor(x + Fraction(1, 2))


def quota_counts(n: int, quota: Mapping[str, int]) -> tuple[int, int]:
    """How many of ``n`` graded units may be 优秀, and how many at least 良好 (half rounds up).

    Examples
    --------
    >>> [quota_counts(n, {"excellent": 1, "good": 2, "pass": 7}) for n in (1, 4, 5, 10, 15)]
    [(0, 0), (0, 1), (1, 2), (1, 3), (2, 5)]
    """
    total = sum(quota.values())
    e = _half_up(Fraction(n * quota.get("excellent", 0), total))
    g = _half_up(Fraction(n * (quota.get("excellent", 0) + quota.get("good", 0)), total))
    return e, g


def grade(
    scores: Mapping[str, float | None],
    cases: Mapping[str, int],
    config: EvaluationConfig,
) -> list[Graded]:
    """Rank and grade units by score (best first; ties share a rank and are listed by code).

    Units with fewer than ``config.min_cases`` cases, or no score, are listed last, not graded,
    with the reason.  See the module docstring for the quota and threshold rules.

    Examples
    --------
    >>> c = EvaluationConfig(weights={}, min_cases=1)
    >>> g = grade({"a": 95.0, "b": 90.0, "c": 90.0, "d": 70.0, "e": 60.0, "f": None}, dict.fromkeys("abcdef", 3), c)
    >>> [(x.unit, x.rank, x.grade) for x in g]  # doctest: +NORMALIZE_WHITESPACE
    [('a', 1, 'excellent'), ('b', 2, 'pass'), ('c', 2, 'pass'), ('d', 4, 'pass'), ('e', 5, 'pass'), ('f', None, None)]
    """
    eligible = sorted(
        (u for u, s in scores.items() if s is not None and cases.get(u, 0) >= config.min_cases),
        key=lambda u: (-float(scores[u]), u),  # type: ignore[arg-type]
    )
    out = _rank_and_grade(eligible, scores, cases, config)
    for u in sorted(set(scores) - set(eligible)):
        n = cases.get(u, 0)
        why = (
            "本期无案件，不参评"
            if n == 0
            else f"案件数 {n} 件少于 {config.min_cases} 件，不参评"
            if n < config.min_cases
            else "无可计分指标，不参评"
        )
        out.append(Graded(u, scores[u], n, None, None, why))
    return out


def _rank_and_grade(
    eligible: Sequence[str],
    scores: Mapping[str, float | None],
    cases: Mapping[str, int],
    config: EvaluationConfig,
) -> list[Graded]:
    excellent, good = quota_counts(len(eligible), config.quota)
    out: list[Graded] = []
    start = 0
    while start < len(eligible):
        s = scores[eligible[start]]
        tied = [u for u in eligible[start:] if scores[u] == s]
        end = start + len(tied)
        if config.method == "thresholds":
            g, note = _by_threshold(float(s), config.thresholds)  # type: ignore[arg-type]
        else:
            g, note = _by_quota(start, end, excellent, good)
        out += [Graded(u, s, cases.get(u, 0), start + 1, g, note) for u in tied]
        start = end
    return out


def _by_quota(start: int, end: int, excellent: int, good: int) -> tuple[str, str]:
    """The grade of the units at positions ``[start, end)`` (tied), and a note when a tie
    keeps them below a grade their position reaches."""
    tie = f"与{end - start - 1}个单位同分并列第{start + 1}名，" if end - start > 1 else ""
    if end <= excellent:
        return "excellent", f"第{start + 1}名，优秀名额 {excellent} 个"
    if start < excellent:
        return (
            "good" if end <= good else "pass"
        ), f"{tie}并列超出优秀名额 {excellent} 个，按名额上限评为较低等次"
    if end <= good:
        return "good", f"良好名额（含优秀）{good} 个"
    if start < good:
        return "pass", f"{tie}并列超出良好名额（含优秀）{good} 个，按名额上限评为合格"
    return "pass", ""


def _by_threshold(s: float, thresholds: Mapping[str, float]) -> tuple[str, str]:
    for g in ("excellent", "good", "pass"):
        if s >= thresholds[g]:
            return g, f"得分 ≥ {thresholds[g]:g}"
    return "fail", f"得分低于 {thresholds['pass']:g}"


# --- results ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitResult:
    """One unit's indicators, rates, score, rank and grade in a period."""

    code: str
    name: str
    counts: dict[str, int]
    rates: dict[str, float | None]
    households: int | None
    per_100_households: float | None
    score: float | None
    explanation: str
    rank: int | None
    grade: str | None
    grade_name: str
    note: str


@dataclass(frozen=True)
class Evaluation:
    """The evaluation of one level in one period: units best first, ungraded ones last."""

    level: str
    period: Period
    at: datetime
    config: EvaluationConfig
    rows: list[UnitResult]

    @property
    def weights(self) -> dict[str, float]:
        return dict(self.config.weights.get(self.level, {}))


def results(
    level: str,
    counts: pd.DataFrame,
    *,
    names: Mapping[str, str],
    households: Mapping[str, int | None],
    config: EvaluationConfig,
) -> list[UnitResult]:
    """Every unit's rates, score, rank and grade from its counts (:func:`count_indicators`);
    ``names`` lists the units (those without counts get zeros), ``households`` their households."""
    codes = sorted(set(names) | set(counts.index))
    empty = dict.fromkeys(COUNTS, 0)
    counted = counts.to_dict("index")
    per_unit = {c: ({k: int(v) for k, v in counted[c].items()} if c in counted else empty) for c in codes}
    weights = config.weights.get(level, {})
    unit_rates = {c: rates(per_unit[c]) for c in codes}
    scores = {c: score(unit_rates[c], weights) for c in codes}
    graded = grade({c: s.value for c, s in scores.items()}, {c: per_unit[c]["cases"] for c in codes}, config)
    out = []
    for g in graded:
        hh = households.get(g.unit)
        cases = per_unit[g.unit]["cases"]
        out.append(
            UnitResult(
                code=g.unit,
                name=names.get(g.unit, g.unit),
                counts=per_unit[g.unit],
                rates=unit_rates[g.unit],
                households=hh,
                per_100_households=round(100 * cases / hh, 2) if hh else None,
                score=g.score,
                explanation=scores[g.unit].explain(unit_rates[g.unit]),
                rank=g.rank,
                grade=g.grade,
                grade_name=g.grade_name,
                note=g.note,
            )
        )
    return out
