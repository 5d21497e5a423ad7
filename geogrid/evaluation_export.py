"""Evaluation tables for Excel: ``.xlsx`` (formatted, Chinese headers) and CSV (UTF-8 with BOM).

The same columns in both: rank, grade, code, name, score, every counted indicator, every rate,
incidents per 100 households, how the score was made and why a unit was not graded.  The
workbook adds a sheet with the weights of the level and one with the grading rules.

Examples
--------
>>> from geogrid.evaluation import EvaluationConfig, Evaluation, parse_period
>>> e = Evaluation("grid", parse_period("2024-05"), parse_period("2024-06").start, EvaluationConfig(weights={}), [])
>>> to_csv(e)[:3] == b"\\xef\\xbb\\xbf"  # Excel reads Chinese CSV by its byte-order mark
True
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from geogrid.evaluation import COUNTS, GRADE_NAMES, LEVEL_NAMES, RATES, Evaluation

#: (key, Chinese header, kind) of every column: kind ``text``, ``int``, ``score`` or ``rate``.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("rank", "排名", "int"),
    ("grade_name", "等次", "text"),
    ("code", "编码", "text"),
    ("name", "名称", "text"),
    ("score", "得分", "score"),
    *((k, v, "int") for k, v in COUNTS.items()),
    *((k, v[0], "rate") for k, v in RATES.items()),
    ("households", "户数", "int"),
    ("per_100_households", "每百户事件数", "score"),
    ("explanation", "得分计算", "text"),
    ("note", "评定说明", "text"),
)
HEADERS: tuple[str, ...] = tuple(h for _k, h, _t in COLUMNS)


def rows(e: Evaluation) -> list[list[Any]]:
    """The table's rows (rates as fractions, None where there is nothing to count)."""
    out = []
    for r in e.rows:
        values = {**r.counts, **r.rates, **{k: getattr(r, k) for k in _FIELDS}}
        out.append([values.get(k) for k, _h, _t in COLUMNS])
    return out


_FIELDS = (
    "rank",
    "grade_name",
    "code",
    "name",
    "score",
    "households",
    "per_100_households",
    "explanation",
    "note",
)


def title(e: Evaluation) -> str:
    """``2024年第2季度 网格考评``."""
    return f"{e.period.name} {LEVEL_NAMES[e.level]}考评"


def to_csv(e: Evaluation) -> bytes:
    """The table as CSV in UTF-8 with a byte-order mark (Excel opens Chinese text correctly)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for row in rows(e):
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(e: Evaluation) -> bytes:
    """A workbook: 考评结果 (the table, formatted), 指标权重 (weights), 评定规则 (grading).

    Written in openpyxl's write-only mode (rows streamed, one style object per kind of cell), so
    a county's few thousand grid workers take well under a second.
    """
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    _result_sheet(wb.create_sheet("考评结果"), e)
    _weights_sheet(wb.create_sheet("指标权重"), e)
    _rules_sheet(wb.create_sheet("评定规则"), e)
    wb.properties.title = title(e)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _header(sheet, headers: Sequence[str], widths: Sequence[float]) -> None:
    """Column widths, a frozen bold white-on-blue header row (write-only sheets: before any row)."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    font, fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor="1F4E79")
    align = Alignment(horizontal="center", vertical="center", wrap_text=True)
    cells = []
    for h in headers:
        cell = WriteOnlyCell(sheet, value=h)
        cell.font, cell.fill, cell.alignment = font, fill, align
        cells.append(cell)
    sheet.append(cells)


_WIDTHS = {"text": 14, "int": 9, "score": 9, "rate": 10}
_FORMATS = {"rate": "0.0%", "score": "0.00"}
_GRADE_FILLS = {"优秀": "C6EFCE", "良好": "DDEBF7", "不合格": "FFC7CE"}


def _result_sheet(sheet, e: Evaluation) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import PatternFill
    from openpyxl.utils import get_column_letter

    widths = [{"name": 32, "explanation": 60, "note": 36}.get(k, _WIDTHS[kind]) for k, _h, kind in COLUMNS]
    _header(sheet, HEADERS, widths)
    fills = {g: PatternFill("solid", fgColor=c) for g, c in _GRADE_FILLS.items()}
    formatted = [(i, _FORMATS[kind]) for i, (_k, _h, kind) in enumerate(COLUMNS) if kind in _FORMATS]
    data = rows(e)
    for row in data:
        values: list = list(row)
        for i, fmt in formatted:
            if values[i] is not None:
                cell = WriteOnlyCell(sheet, value=values[i])
                cell.number_format = fmt
                values[i] = cell
        if row[1] in fills:
            cell = WriteOnlyCell(sheet, value=row[1])
            cell.fill = fills[row[1]]
            values[1] = cell
        sheet.append(values)
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{len(data) + 1}"


def _weights_sheet(sheet, e: Evaluation) -> None:
    _header(sheet, ("指标", "代码", "权重", "计算方法", "方向"), [14, 26, 8, 30, 24])
    for key, (name, numerators, denominator, lower) in RATES.items():
        weight = e.weights.get(key, 0)
        formula = " + ".join(COUNTS[n] for n in numerators) + " ÷ " + COUNTS[denominator]
        sheet.append([name, key, weight, formula, "越低越好（按 1−率 计分）" if lower else "越高越好"])


def _rules_sheet(sheet, e: Evaluation) -> None:
    c = e.config
    _header(sheet, ("项目", "内容"), [12, 90])
    quota = "：".join(str(c.quota.get(g, 0)) for g in ("excellent", "good", "pass"))
    lines = [
        (
            "考评期间",
            f"{e.period.name}（{e.period.start.date()} 至 {e.period.end.date()} 前，{e.period.start.tzinfo}）",
        ),
        ("考评对象", LEVEL_NAMES[e.level]),
        ("得分", "100 × Σ(权重 × 指标) ÷ Σ权重；本期无数据的指标不计，其余权重按比例计"),
        ("评定方式", "按名额比例" if c.method == "quota" else "按分数线"),
        ("名额比例", f"优秀：良好：合格 = {quota}（名额为上限，四舍五入；同分跨越名额线的并列评为较低等次）"),
        (
            "分数线",
            "；".join(f"{GRADE_NAMES[g]} ≥ {c.thresholds[g]:g}" for g in ("excellent", "good", "pass")),
        ),
        ("参评条件", f"本期案件数不少于 {c.min_cases} 件"),
        (
            "统计时点",
            "超时未办结数按 " + e.at.astimezone(e.period.start.tzinfo).isoformat(timespec="minutes"),
        ),
    ]
    for line in lines:
        sheet.append(list(line))
