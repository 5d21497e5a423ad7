"""Evaluation (考评) on hand-computed fixtures: every indicator per level, rates, the weighting,
grades by the 1:2:7 quota with ties, too few cases and empty periods, thresholds, periods in
the China calendar, exports opened with openpyxl, follow-up rules and the report page's HTML."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from openpyxl import load_workbook

from geogrid import evaluation as ev
from geogrid import evaluation_export as export
from geogrid import followup as fu
from geogrid import incidents as wf
from geogrid import report as rp
from geogrid.errors import ActionForbiddenError, GeogridError

A, B, C = "320508019001001", "320508019001002", "320508019002001"
B01 = B + "01"  # a link group (联户) of B
V1, V2, T = "320508019001", "320508019002", "320508019000"
D1, D2 = "320508019D01", "320508019D02"

# Five incidents of one month, by hand:
#  1  A   centre V1 dept D1  by w1  accepted on time, completed on time            满意
#  2  A   centre V1 —        by w1  accepted late, completed late, reopened        不满意
#  3  B01 centre V1 dept D2  —      accepted on time, open and overdue; D1 (on time) and D2 (late) summoned
#  4  C   centre T  dept D1  by w2  rejected (never accepted)
#  5  C   centre T  —        by w1  accepted on time, completed on time; D2 summoned (on time)  基本满意
FACTS = pd.DataFrame(
    {
        "id": [1, 2, 3, 4, 5],
        "grid_code": [A, A, B01, C, C],
        "village_code": [V1, V1, V1, V2, V2],
        "township_code": T,
        "centre_code": [V1, V1, V1, T, T],
        "department": [D1, None, D2, D1, None],
        "reporter_key_name": ["w1", "w1", None, "w2", "w1"],
        "accepted": [True, True, True, False, True],
        "accepted_on_time": [True, False, True, False, True],
        "completed": [True, True, False, False, True],
        "completed_on_time": [True, False, False, False, True],
        "reopened": [False, True, False, False, False],
        "overdue": [False, False, True, False, False],
        "verdict": ["satisfied", "unsatisfied", None, None, "basically_satisfied"],
    }
)
CALLS = pd.DataFrame({"id": [3, 3, 5], "department": [D1, D2, D2], "on_time": [True, False, True]})
SUPERVISIONS = pd.DataFrame({"id": [3, 2], "target_kind": ["department", "centre"], "target_code": [D2, V1]})
# P1 works grid A, P2 is the 联户长 of link group B01, P3 works grid B (which holds B01).
POSTS = pd.DataFrame({"unit": ["P1", "P2", "P3"], "post_code": [A, B01, B]})
REPORTERS = pd.DataFrame({"unit": ["P1", "P2"], "key_name": ["w1", "w2"]})

FIELDS = list(ev.COUNTS)


def _row(**given: int) -> dict[str, int]:
    return {k: given.get(k, 0) for k in FIELDS}


# cases, accepted, on time, summoned, checked in on time, completed, on time, reopened, overdue,
# supervised, follow-ups (满意, 基本满意, 不满意); reports = cases and valid = accepted except for workers
GRID_A = _row(reports=2, valid_reports=2, cases=2, accepted=2, accepted_on_time=1, completed=2,
              completed_on_time=1, reopened=1, supervised=1, followups=2, satisfied=1, unsatisfied=1)  # fmt: skip
GRID_B = _row(reports=1, valid_reports=1, cases=1, accepted=1, accepted_on_time=1, summoned=2,
              checked_in_on_time=1, overdue=1, supervised=1)  # fmt: skip
GRID_C = _row(reports=2, valid_reports=1, cases=2, accepted=1, accepted_on_time=1, summoned=1,
              checked_in_on_time=1, completed=1, completed_on_time=1, followups=1, basically_satisfied=1)  # fmt: skip
V1_ROW = {k: GRID_A[k] + GRID_B[k] for k in FIELDS}
ALL = {k: GRID_A[k] + GRID_B[k] + GRID_C[k] for k in FIELDS}
EXPECTED: dict[str, dict[str, dict[str, int]]] = {
    "grid": {A: GRID_A, B: GRID_B, C: GRID_C},
    "village": {V1: V1_ROW, V2: GRID_C},
    "township": {T: ALL},
    "centre": {V1: V1_ROW, T: GRID_C},
    "all": {"all": ALL},
    # D1: dispatched 1 and 4, summoned to 3; D2: dispatched 3, summoned to 3 and 5 — each
    # department's own calls and only the 督办 aimed at it
    "department": {
        D1: _row(
            reports=3,
            valid_reports=2,
            cases=3,
            accepted=2,
            accepted_on_time=2,
            summoned=1,
            checked_in_on_time=1,
            completed=1,
            completed_on_time=1,
            overdue=1,
            followups=1,
            satisfied=1,
        ),
        D2: _row(
            reports=2,
            valid_reports=2,
            cases=2,
            accepted=2,
            accepted_on_time=2,
            summoned=2,
            checked_in_on_time=1,
            completed=1,
            completed_on_time=1,
            overdue=1,
            supervised=1,
            followups=1,
            basically_satisfied=1,
        ),
    },
    # workers: cases of their posts (a grid holds its link groups), reports made with their keys
    "worker": {
        "P1": {**GRID_A, "reports": 3, "valid_reports": 3},
        "P2": {**GRID_B, "reports": 1, "valid_reports": 0},
        "P3": {**GRID_B, "reports": 0, "valid_reports": 0},
    },
}


@pytest.mark.parametrize("level", list(EXPECTED))
def test_every_indicator_of_every_level_on_a_hand_computed_month(level):
    counts = ev.count_indicators(
        level, FACTS, calls=CALLS, supervisions=SUPERVISIONS, posts=POSTS, reporters=REPORTERS
    )
    assert counts.to_dict("index") == EXPECTED[level]


def test_rates_from_counts():
    r = ev.rates(GRID_A)
    assert r == {
        "valid_report_rate": 1.0,
        "accept_on_time_rate": 0.5,
        "check_in_on_time_rate": None,  # nobody was summoned
        "completion_rate": 1.0,
        "on_time_completion_rate": 0.5,
        "rework_rate": 0.5,
        "supervision_rate": 0.5,
        "satisfaction_rate": 0.5,  # 满意 1 of 2 follow-ups
    }
    assert ev.rates(GRID_C)["satisfaction_rate"] == 1.0  # 基本满意 counts as satisfied
    assert ev.rates(GRID_B)["rework_rate"] is None  # nothing completed


def test_the_default_weighting_by_hand():
    weights = ev.load_config().weights["grid"]
    assert sum(weights.values()) == 100
    # A: 15×0.5 + 15×1 + 25×0.5 + 10×(1−0.5) + 10×(1−0.5) + 25×0.5 = 57.5
    assert ev.score(ev.rates(GRID_A), weights).value == 57.5
    # C: one of its two cases accepted on time, everything else perfect: 100 − 15×0.5
    assert ev.score(ev.rates(GRID_C), weights).value == 92.5
    # B has no rework or satisfaction rate: 15×1 + 15×0 + 25×0 + 10×(1−1) over 15+15+25+10 = 65
    s = ev.score(ev.rates(GRID_B), weights)
    assert s.value == round(100 * 15 / 65, 2) == 23.08
    assert s.missing == ("rework_rate", "satisfaction_rate")
    text = s.explain(ev.rates(GRID_B))
    assert "按时受理率 100.0%×15" in text and "÷65" in text and "本期无数据不计：返工率、满意率" in text
    assert ev.score({}, weights).value is None


def test_a_configured_weighting(tmp_path):
    path = tmp_path / "考评.json"
    path.write_text(
        '{"min_cases": 2, "grading": {"method": "thresholds", "thresholds": {"excellent": 95, "good": 85, "pass": 70}},'
        ' "weights": {"grid": {"on_time_completion_rate": 3, "satisfaction_rate": 1}}}',
        encoding="utf-8",
    )
    c = ev.load_config(path)
    assert (c.method, c.min_cases, c.thresholds["pass"]) == ("thresholds", 2, 70.0)
    # A: (3×0.5 + 1×0.5) / 4
    assert ev.score(ev.rates(GRID_A), c.weights["grid"]).value == 50.0
    path.write_text('{"weights": {"grid": {"speed": 1}}}', encoding="utf-8")
    with pytest.raises(GeogridError, match=r"weights\.grid\.speed: unknown rate"):
        ev.load_config(path)
    path.write_text('{"weights": {"grid": {"completion_rate": -1}}}', encoding="utf-8")
    with pytest.raises(GeogridError, match="≥ 0"):
        ev.load_config(path)
    with pytest.raises(GeogridError, match="1:2:7"):
        c.with_grading(quota="1-2-7")


CONFIG = ev.EvaluationConfig(weights={}, min_cases=5)


def _grades(scores: dict[str, float | None], cases: dict[str, int] | None = None, config=CONFIG):
    cases = cases or dict.fromkeys(scores, 10)
    return {g.unit: (g.rank, g.grade) for g in ev.grade(scores, cases, config)}


def test_quota_1_2_7_on_ten_units():
    scores = {f"u{i:02d}": 100.0 - i for i in range(10)}
    graded = _grades(scores)
    assert [graded[f"u{i:02d}"] for i in range(10)] == [
        (1, "excellent"), (2, "good"), (3, "good"), *[(i, "pass") for i in range(4, 11)]
    ]  # fmt: skip
    assert [ev.quota_counts(n, CONFIG.quota) for n in (0, 1, 4, 5, 10, 15, 20)] == [
        (0, 0), (0, 0), (0, 1), (1, 2), (1, 3), (2, 5), (2, 6)
    ]  # fmt: skip
    # another ratio
    two_three_five = CONFIG.with_grading(quota="2:3:5")
    assert sum(g == "excellent" for _r, g in _grades(scores, config=two_three_five).values()) == 2


def test_ties_share_a_rank_and_never_exceed_the_quota():
    # 1st and 2nd tie: two units for one 优秀 place → both 良好, the 3rd is still 良好 (3 places)
    scores = {"a": 99.0, "b": 99.0, **{f"u{i}": 90.0 - i for i in range(8)}}
    g = {x.unit: x for x in ev.grade(scores, dict.fromkeys(scores, 10), CONFIG)}
    assert (g["a"].rank, g["a"].grade, g["b"].rank, g["b"].grade) == (1, "good", 1, "good")
    assert (g["u0"].rank, g["u0"].grade) == (3, "good")
    assert "并列第1名" in g["a"].note and "优秀名额 1 个" in g["a"].note
    # a tie across the 良好 line: both 合格
    scores = {"a": 100.0, "b": 90.0, "c": 80.0, "d": 80.0, **{f"u{i}": 70.0 - i for i in range(6)}}
    graded = _grades(scores)
    assert graded["a"] == (1, "excellent") and graded["b"] == (2, "good")
    assert graded["c"] == graded["d"] == (3, "pass")
    # everybody tied: nobody may take the single 优秀 or the 良好 places alone
    assert set(_grades(dict.fromkeys("abcdefghij", 88.0)).values()) == {(1, "pass")}


def test_too_few_cases_and_empty_periods_are_explained_not_graded():
    scores = {"a": 90.0, "b": 80.0, "few": 100.0, "none": None}
    cases = {"a": 6, "b": 5, "few": 4, "none": 0}
    g = {x.unit: x for x in ev.grade(scores, cases, CONFIG)}
    assert (g["few"].rank, g["few"].grade, g["few"].grade_name) == (None, None, "不参评")
    assert g["few"].note == "案件数 4 件少于 5 件，不参评"
    assert g["none"].note == "本期无案件，不参评"
    assert (g["a"].rank, g["b"].rank) == (1, 2)  # the unit with 4 cases takes no place
    assert [x.unit for x in ev.grade(scores, cases, CONFIG)][-2:] == ["few", "none"]
    assert ev.grade({}, {}, CONFIG) == []
    # an empty period: every unit listed with zeros, none graded
    rows = ev.results("grid", ev.count_indicators("grid", FACTS.iloc[0:0]), names={A: "一网格", B: "二网格"},
                      households={A: 400, B: None}, config=CONFIG)  # fmt: skip
    assert [(r.name, r.counts["cases"], r.score, r.grade_name, r.per_100_households) for r in rows] == [
        ("一网格", 0, None, "不参评", 0.0),
        ("二网格", 0, None, "不参评", None),
    ]


def test_thresholds():
    config = CONFIG.with_grading("thresholds")
    graded = _grades({"a": 95.0, "b": 85.0, "c": 60.0, "d": 59.99}, config=config)
    assert graded == {"a": (1, "excellent"), "b": (2, "good"), "c": (3, "pass"), "d": (4, "fail")}


def test_results_rank_units_with_names_scores_and_households():
    counts = ev.count_indicators("grid", FACTS, calls=CALLS, supervisions=SUPERVISIONS)
    config = ev.EvaluationConfig(weights=ev.load_config().weights, min_cases=1)
    rows = ev.results("grid", counts, names={A: "一网格", B: "二网格", C: "三网格"},
                      households={A: 400, B: 200, C: 50}, config=config)  # fmt: skip
    assert [(r.name, r.score, r.rank) for r in rows] == [
        ("三网格", 92.5, 1),
        ("一网格", 57.5, 2),
        ("二网格", 23.08, 3),
    ]
    # three graded units: ⌊0.3 + ½⌋ = 0 优秀, ⌊0.9 + ½⌋ = 1 at least 良好
    assert [r.grade_name for r in rows] == ["良好", "合格", "合格"]
    assert rows[0].per_100_households == 4.0  # 2 cases per 50 households


# --- periods -----------------------------------------------------------------------------------------


def test_periods_follow_the_china_calendar():
    # 2024-03-31 17:00 UTC is 1 April 01:00 in China: April, Q2
    t = datetime(2024, 3, 31, 17, 0, tzinfo=UTC)
    assert ev.period_of("month", t).key == "2024-04"
    assert ev.period_of("quarter", t).key == "2024-Q2"
    assert ev.period_of("month", t, "UTC").key == "2024-03"
    q = ev.parse_period("2024-Q1")
    assert (q.start.isoformat(), q.end.isoformat()) == (
        "2024-01-01T00:00:00+08:00",
        "2024-04-01T00:00:00+08:00",
    )
    assert ev.parse_period("2024-01").previous().key == "2023-12"
    assert ev.parse_period("2024-Q1").previous(2).key == "2023-Q3"
    assert ev.parse_period("2024").previous().name == "2023年"
    for bad in ("2024-13", "2024-Q5", "May", ""):
        with pytest.raises(GeogridError, match="YYYY-MM"):
            ev.parse_period(bad)


# --- exports ------------------------------------------------------------------------------------------


def _evaluation() -> ev.Evaluation:
    counts = ev.count_indicators("grid", FACTS, calls=CALLS, supervisions=SUPERVISIONS)
    config = ev.EvaluationConfig(weights=ev.load_config().weights, min_cases=2)
    rows = ev.results(
        "grid", counts, names={A: "一网格", B: "二网格", C: "三网格"}, households={A: 400}, config=config
    )
    period = ev.parse_period("2024-05")
    return ev.Evaluation("grid", period, period.end, config, rows)


def test_xlsx_export_opens_with_openpyxl_with_chinese_sheets_and_headers(tmp_path):
    path = tmp_path / "考评.xlsx"
    path.write_bytes(export.to_xlsx(_evaluation()))
    wb = load_workbook(path)
    assert wb.sheetnames == ["考评结果", "指标权重", "评定规则"]
    sheet = wb["考评结果"]
    headers = [c.value for c in sheet[1]]
    assert headers[:5] == ["排名", "等次", "编码", "名称", "得分"]
    assert {"按期办结率", "满意率", "返工率", "超时未办结数", "被督办数", "每百户事件数", "评定说明"} <= set(
        headers
    )
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.bold
    rows = [[c.value for c in r] for r in sheet.iter_rows(min_row=2)]
    col = {h: i for i, h in enumerate(headers)}
    assert [(r[col["名称"]], r[col["得分"]], r[col["等次"]]) for r in rows] == [
        ("三网格", 92.5, "良好"),
        ("一网格", 57.5, "合格"),
        ("二网格", 23.08, "不参评"),  # scored, but one case is below min_cases 2
    ]
    assert rows[1][col["按期办结率"]] == 0.5
    assert sheet.cell(3, col["按期办结率"] + 1).number_format == "0.0%"
    assert rows[2][col["评定说明"]] == "案件数 1 件少于 2 件，不参评"
    weights = {r[0].value: r[2].value for r in wb["指标权重"].iter_rows(min_row=2)}
    assert weights["按期办结率"] == 25 and weights["有效上报率"] == 0
    rules = {r[0].value: r[1].value for r in wb["评定规则"].iter_rows(min_row=2)}
    assert "1：2：7" in rules["名额比例"] and rules["考评期间"].startswith("2024年5月")


def test_csv_export_is_utf8_with_a_bom_for_excel():
    data = export.to_csv(_evaluation())
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0] == list(export.HEADERS)
    assert [r[3] for r in table[1:]] == ["三网格", "一网格", "二网格"]
    assert table[3][0] == "" and table[3][4] == "23.08"  # not graded: no rank (an empty cell, not "None")


# --- follow-up rules -------------------------------------------------------------------------------


def test_follow_up_rules():
    t = datetime(2024, 5, 1, tzinfo=UTC)
    assert fu.parse_verdict("满意") == "satisfied"
    with pytest.raises(GeogridError, match="满意、基本满意 或 不满意"):
        fu.parse_verdict("还行")
    assert fu.reopen_decision("unsatisfied", closed_at=t, now=t + timedelta(days=15)).reopen
    assert not fu.reopen_decision("unsatisfied", closed_at=t, now=t + timedelta(days=15, seconds=1)).reopen
    assert fu.reopen_decision(
        "unsatisfied", closed_at=t, now=t + timedelta(days=2), within_days=1
    ).reason == ("结案已超过 1 天，不满意不再重办")
    assert not fu.reopen_decision("unsatisfied", closed_at=t, now=t, wanted=False).reopen
    assert not fu.reopen_decision("basically_satisfied", closed_at=t, now=t).reopen
    with pytest.raises(ActionForbiddenError):
        fu.check_channel(wf.Actor("w", "worker"), "hotline", reporter_key_name=None)
    fu.check_channel(wf.Actor("d", "dispatcher"), "centre", reporter_key_name="r1")
    with pytest.raises(GeogridError, match="4-32"):
        fu.check_ticket("12", "hotline")


# --- the report page -----------------------------------------------------------------------------------


def test_report_page_html_shows_headlines_rankings_and_overdue():
    period = ev.parse_period("2024-05")
    this, before = rp.figures(ALL), rp.figures(GRID_A)
    e = _evaluation()
    report = rp.MonthlyReport(
        "320508019000", "金港街道", period, period.end, rp.headlines(this, before),
        [{"label": "5月", **this}], "village", e.rows, [],
        [rp.OverdueItem("E00000003", "占道经营", "第2网格", "城管中队", "2024-05-02 09:00", 3.5)],
        {"type": "FeatureCollection", "features": []},
    )  # fmt: skip
    page = rp.render(report, assets={"chart.js": "/c.js", "leaflet.js": "/l.js", "leaflet.css": "/l.css"})
    assert "<title>金港街道 2024年5月 网格化服务管理工作通报</title>" in page
    # 受理率 4/5 = 80.0% against grid A's 2/2 the month before
    assert "80.0%" in page and "较上月 −20.0 个百分点" in page
    assert "E00000003" in page and "占道经营" in page and "3.5" in page
    assert "三网格" in page and "村(社区)考评排名" in page
    assert "@media print" in page and "https://" not in page  # no CDN
