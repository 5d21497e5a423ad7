"""Limits on what one request may ask for, and the messages that explain them.

A county service is open to its whole intranet (and its reads often to anyone): one request
must not be able to occupy a worker for seconds or the server's memory.  These pure helpers
check texts, counts, JSON nesting and numbers against limits the caller passes in (the API
takes them from its settings) and raise :class:`~geogrid.errors.LimitError` (HTTP 400) or
:class:`~geogrid.errors.PayloadTooLargeError` (HTTP 413) with a message that says which
field, what the limit is and what was sent.

Messages are Chinese first, then English, and are all kept here (:data:`MESSAGES`), so a
language negotiation can pick one half.
"""

from __future__ import annotations

import json
from typing import Any

from geogrid.errors import LimitError, PayloadTooLargeError

__all__ = [
    "FIELD_NAMES",
    "MAX_ADDRESS_CHARS",
    "MAX_JSON_DEPTH",
    "MESSAGES",
    "check_count",
    "check_int",
    "check_text",
    "json_depth",
    "loads_json",
    "message",
]

#: Address text, after normalisation (a real address is well under 100 characters).
MAX_ADDRESS_CHARS = 200
#: JSON nesting: a GeoJSON MultiPolygon needs 6 levels inside a FeatureCollection's feature.
MAX_JSON_DEPTH = 32

#: Every message about a limit or an outage: (Chinese, English) templates.
MESSAGES: dict[str, tuple[str, str]] = {
    "text_too_long": (
        "{zh}过长（最多 {limit} 个字符，收到 {length} 个）",
        "{field} is too long (at most {limit} characters, got {length})",
    ),
    "too_many": (
        "{zh}过多（每次最多 {limit} 个，收到 {count} 个）",
        "too many {field} (at most {limit} per request, got {count})",
    ),
    "out_of_range": (
        "{zh}超出范围（应在 {lo} 到 {hi} 之间，收到 {value}）",
        "{field} is out of range (must be {lo} to {hi}, got {value})",
    ),
    "nul_char": ("{zh}含有 NUL (0x00) 字符", "{field} contains a NUL (0x00) character"),
    "not_integer": ("{zh}必须是整数，收到 {value}", "{field} must be a whole number, got {value}"),
    "json_too_deep": (
        "JSON 嵌套过深（最多 {limit} 层）",
        "JSON is nested too deeply (at most {limit} levels)",
    ),
    "json_invalid": ("请求体不是有效的 JSON：{reason}", "body is not valid JSON: {reason}"),
    "body_too_large": (
        "请求体过大（此接口最多 {limit} 字节）",
        "request body too large (this endpoint takes at most {limit} bytes)",
    ),
    "rate_limited": (
        "请求过于频繁，请 {retry_after} 秒后重试",
        "too many requests; retry in {retry_after} s",
    ),
    "db_unavailable": (
        "数据库暂时不可用，请稍后重试",
        "the database is unavailable for the moment; retry shortly",
    ),
    "query_timeout": (
        "查询超时（超过 {limit_ms} 毫秒）已取消，请缩小查询范围后重试",
        "the query took longer than {limit_ms} ms and was cancelled; narrow it and retry",
    ),
    "bad_value": ("数据值无效：{reason}", "invalid value: {reason}"),
}

#: Chinese names of the fields the messages mention.
FIELD_NAMES: dict[str, str] = {
    "address": "地址文本",
    "addresses": "地址",
    "points": "坐标点",
    "description": "描述",
    "note": "备注",
    "name": "名称",
    "reporter_name": "报告人姓名",
    "reporter_contact": "联系方式",
    "ids": "编号",
    "households": "户数",
    "address_count": "地址数",
    "Idempotency-Key": "幂等键",
    "code": "编码",
    "division_code": "区划编码",
    "kind": "类型",
    "head_name": "网格长姓名",
    "head_phone": "网格长电话",
}


def message(key: str, **values: Any) -> str:
    """The message ``key`` filled in: Chinese, then `` / ``, then English.

    ``field`` (if given) is also shown by its Chinese name (:data:`FIELD_NAMES`).

    Examples
    --------
    >>> message("text_too_long", field="address", limit=200, length=1000)
    '地址文本过长（最多 200 个字符，收到 1000 个） / address is too long (at most 200 characters, got 1000)'
    """
    zh, en = MESSAGES[key]
    field = values.get("field")
    values.setdefault("zh", FIELD_NAMES.get(field, field) if field else "")
    return f"{zh.format(**values)} / {en.format(**values)}"


def check_text(value: str | None, *, field: str, limit: int) -> str | None:
    """``value`` unchanged if it has at most ``limit`` characters; else :class:`LimitError`.

    Examples
    --------
    >>> check_text("平江路12号", field="address", limit=200)
    '平江路12号'
    >>> check_text("号" * 201, field="address", limit=200)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.LimitError: 地址文本过长（最多 200 个字符，收到 201 个） / ...
    """
    if value is not None and len(value) > limit:
        raise LimitError(message("text_too_long", field=field, limit=limit, length=len(value)))
    return value


def check_count(count: int, *, field: str, limit: int, too_large: bool = False) -> int:
    """``count`` if it is at most ``limit``; else :class:`LimitError` (or, with ``too_large``,
    :class:`PayloadTooLargeError`: a batch that is too big is a 413).

    Examples
    --------
    >>> check_count(3, field="ids", limit=100)
    3
    >>> check_count(101, field="ids", limit=100)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.LimitError: 编号过多（每次最多 100 个，收到 101 个） / ...
    """
    if count > limit:
        cls = PayloadTooLargeError if too_large else LimitError
        raise cls(message("too_many", field=field, limit=limit, count=count))
    return count


def check_int(value: Any, *, field: str, lo: int, hi: int) -> int:
    """``value`` as an ``int`` within ``lo..hi``; :class:`LimitError` for anything else
    (1e308, 2**63, 2.5, "x") instead of an overflow deep in numpy or PostgreSQL.

    Examples
    --------
    >>> check_int(80.0, field="households", lo=0, hi=1_000_000)
    80
    >>> check_int(1e308, field="households", lo=0, hi=1_000_000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.LimitError: 户数超出范围（应在 0 到 1000000 之间，收到 1e+308） / ...
    """
    if isinstance(value, bool):
        raise LimitError(message("not_integer", field=field, value=repr(value)))
    try:
        number = float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        raise LimitError(message("not_integer", field=field, value=repr(value))) from None
    if isinstance(number, float) and not number.is_integer():
        raise LimitError(message("not_integer", field=field, value=repr(value)))
    if not lo <= number <= hi:
        raise LimitError(message("out_of_range", field=field, lo=lo, hi=hi, value=value))
    return int(number)


def json_depth(document: Any) -> int:
    """Nesting depth of a parsed JSON document (a scalar is 0, ``[]`` is 1), without recursion.

    Examples
    --------
    >>> json_depth(5), json_depth([]), json_depth({"a": [[1, 2], {"b": []}]})
    (0, 1, 4)
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((c, depth) for c in children if isinstance(c, dict | list))
    return deepest


def loads_json(data: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON text, refusing anything nested deeper than ``max_depth``.

    Python's decoder recurses once per level and gives up with a ``RecursionError`` near
    1,000 levels (100,000 ``[`` used to be a 500); both that and a merely deep document
    become a :class:`LimitError`, bytes that are not UTF-8 or not JSON too.

    Examples
    --------
    >>> loads_json(b'{"points": [[120.6, 31.3]]}')
    {'points': [[120.6, 31.3]]}
    >>> loads_json(b"[" * 100_000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.LimitError: JSON 嵌套过深（最多 32 层） / ...
    """
    try:
        document = json.loads(data)
    except RecursionError:
        raise LimitError(message("json_too_deep", limit=max_depth)) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise LimitError(message("json_invalid", reason=exc)) from None
    if json_depth(document) > max_depth:
        raise LimitError(message("json_too_deep", limit=max_depth))
    return document
