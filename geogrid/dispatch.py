"""吹哨报到, deadline flags and notifications: the rules, without a database or a network.

**吹哨报到** (红寺堡, 曲靖: "村居上报、乡镇吹哨、部门报到"): a centre summons one or more
departments to one incident with a deadline to report in (报到) and one to act.  Each
summoned department checks in (:func:`check_in`), then records what it did (:func:`act`);
the incident moves on when every department has acted (:func:`all_acted`) or when the
centre closes the summons.  Who came on time is :attr:`Summoned.checked_in_on_time`.

**Flags** (黄牌/红牌): every deadline — to accept, to complete, to report in, to act, to
answer a 督办 — shows yellow once :data:`YELLOW_AT` of its time has passed and red once it
has passed (:func:`flag`).

**Notifications** go through an outbox and are POSTed to a webhook: :func:`notification_body`
shapes one event for the receiver (geogrid's own JSON, or the text message a WeChat Work
(企业微信) or DingTalk (钉钉) group robot takes), :func:`acknowledged` tells an acknowledgement
from a refusal and :func:`backoff` spaces the retries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote_plus

from geogrid.catalogue import check_aware
from geogrid.errors import ConflictError, GeogridError

#: Share of a deadline's time after which it shows a yellow flag.
YELLOW_AT = 0.75
FLAG_NAMES: dict[str, str] = {"yellow": "黄牌", "red": "红牌"}
DEADLINE_NAMES: dict[str, str] = {
    "accept": "受理时限",
    "complete": "办结时限",
    "report_in": "报到时限",
    "act": "处置时限",
    "supervise": "督办时限",
}
NOTIFICATION_KINDS: dict[str, str] = {
    "dispatch": "派遣通知",
    "escalate": "上报通知",
    "summon": "吹哨通知",
    "supervise": "督办通知",
    "flag": "超时预警",
}
FORMATS = ("json", "wecom", "dingtalk")


# --- 吹哨报到 ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summoned:
    """One department of a summons, with its deadlines and what it did when."""

    department: str
    report_due: datetime
    act_due: datetime
    checked_in_at: datetime | None = None
    acted_at: datetime | None = None

    @property
    def checked_in_on_time(self) -> bool | None:
        """True/False once checked in; None while it has not."""
        return None if self.checked_in_at is None else self.checked_in_at <= self.report_due

    @property
    def acted_on_time(self) -> bool | None:
        return None if self.acted_at is None else self.acted_at <= self.act_due


def summons_deadlines(
    now: datetime,
    *,
    report_within_h: float | None = None,
    act_within_h: float | None = None,
    report_due: datetime | None = None,
    act_due: datetime | None = None,
    default_report_h: float = 2.0,
    default_act_h: float = 24.0,
) -> tuple[datetime, datetime]:
    """The deadlines of a summons called at ``now``: to report in, then to act.

    Give each as hours from now or as a time; the defaults are 2 hours to report in and a
    day to act.

    Raises
    ------
    GeogridError
        A deadline not after now, or acting due before reporting in.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 5, 1, 1, tzinfo=timezone.utc)
    >>> [d.hour for d in summons_deadlines(t, report_within_h=1)]
    [2, 1]
    """
    check_aware(now, "now")
    report = report_due or now + timedelta(hours=report_within_h or default_report_h)
    act = act_due or now + timedelta(hours=act_within_h or default_act_h)
    for value, name in ((report, "report_due"), (act, "act_due")):
        check_aware(value, name)
    if report <= now:
        raise GeogridError(f"报到时限须晚于现在 / report_due {report.isoformat()} must be after now")
    if act < report:
        raise GeogridError("处置时限不能早于报到时限 / act_due must not be before report_due")
    return report, act


def check_in(entry: Summoned, now: datetime) -> Summoned:
    """The department reports in (报到).

    Raises
    ------
    ConflictError
        It has already checked in.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
    >>> s = check_in(Summoned("GA", t + timedelta(hours=2), t + timedelta(hours=24)), t + timedelta(hours=3))
    >>> s.checked_in_on_time
    False
    """
    check_aware(now, "now")
    if entry.checked_in_at is not None:
        raise ConflictError(
            f"部门 {entry.department} 已报到 / department {entry.department} has already checked in"
        )
    return Summoned(entry.department, entry.report_due, entry.act_due, now, entry.acted_at)


def act(entry: Summoned, now: datetime) -> Summoned:
    """The department records what it did (处置反馈).

    Raises
    ------
    ConflictError
        It has not checked in yet, or has already recorded its action.
    """
    check_aware(now, "now")
    if entry.checked_in_at is None:
        raise ConflictError(
            f"部门 {entry.department} 须先报到 / department {entry.department} must check in first"
        )
    if entry.acted_at is not None:
        raise ConflictError(
            f"部门 {entry.department} 已反馈处置 / department {entry.department} has already acted"
        )
    return Summoned(entry.department, entry.report_due, entry.act_due, entry.checked_in_at, now)


def all_acted(entries: Iterable[Summoned]) -> bool:
    """Whether every summoned department has recorded what it did (the incident moves on).

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
    >>> all_acted([Summoned("GA", t, t, t, t), Summoned("SF", t, t, t, None)])
    False
    """
    entries = list(entries)
    return bool(entries) and all(e.acted_at is not None for e in entries)


def handler_of(incident: object) -> tuple[str, str | None]:
    """Who has an incident now, as ``(kind, code)``: its department, else its centre, else its grid.

    Examples
    --------
    >>> from types import SimpleNamespace as I
    >>> handler_of(I(department=None, centre_code="320508019000", grid_code="320508019001001"))
    ('centre', '320508019000')
    """
    department = getattr(incident, "department", None)
    if department:
        return "department", department
    centre = getattr(incident, "centre_code", None)
    if centre:
        return "centre", centre
    return "grid", getattr(incident, "grid_code", None)


# --- flags -------------------------------------------------------------------------------------------


def flag(start: datetime, due: datetime, now: datetime, *, yellow_at: float = YELLOW_AT) -> str | None:
    """``"red"`` past ``due``, ``"yellow"`` once ``yellow_at`` of the time from ``start`` has
    passed, else None.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> t0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
    >>> due = t0 + timedelta(hours=8)
    >>> [flag(t0, due, t0 + timedelta(hours=h)) for h in (1, 6, 9)]
    [None, 'yellow', 'red']
    """
    check_aware(now, "now")
    if now > due:
        return "red"
    if now >= start + (due - start) * yellow_at:
        return "yellow"
    return None


def yellow_time(start: datetime, due: datetime, *, yellow_at: float = YELLOW_AT) -> datetime:
    """When a deadline from ``start`` to ``due`` turns yellow."""
    return start + (due - start) * yellow_at


# --- notifications ----------------------------------------------------------------------------------


def notification_text(payload: Mapping) -> str:
    """The Chinese text of a notification (what an SMS or a group robot shows).

    Examples
    --------
    >>> notification_text({"kind": "flag", "colour": "red", "deadline": "report_in",
    ...     "incident": {"id": "E00000012", "category_name": "垃圾乱堆乱放", "grid_name": "东港一网格"},
    ...     "recipient": {"name": "城市管理局"}, "due": "2024-05-01T11:00:00+08:00"})
    '【红牌】城市管理局：事件E00000012（垃圾乱堆乱放，东港一网格）已超过报到时限（2024-05-01 11:00）。'
    """
    inc = payload.get("incident") or {}
    where = "，".join(
        x for x in (inc.get("category_name"), inc.get("grid_name") or inc.get("village_name")) if x
    )
    subject = f"事件{inc.get('id', '')}" + (f"（{where}）" if where else "")
    to = (payload.get("recipient") or {}).get("name") or ""
    due = str(payload.get("due") or "")[:16].replace("T", " ")
    kind = payload.get("kind")
    if kind == "flag":
        colour = payload.get("colour", "")
        deadline = DEADLINE_NAMES.get(str(payload.get("deadline")), "时限")
        state = "已超过" if colour == "red" else "即将到达"
        return f"【{FLAG_NAMES.get(colour, colour)}】{to}：{subject}{state}{deadline}（{due}）。"
    if kind == "summon":
        act_due = str(payload.get("act_due") or "")[:16].replace("T", " ")
        by = payload.get("centre_name") or "综治中心"
        return f"【吹哨】{by}召集{to}处置{subject}，请于{due}前报到，{act_due}前反馈处置结果。"
    if kind == "supervise":
        note = payload.get("note") or ""
        return (
            f"【督办】{to}：{subject}被督办"
            + (f"，{note}" if note else "")
            + (f"，请于{due}前办结。" if due else "。")
        )
    if kind == "escalate":
        return f"【上报】{to}：{subject}已上报至本中心，请及时受理派遣。"
    return f"【派遣】{to}：请处置{subject}" + (f"，{due}前办结。" if due else "。")


def notification_body(payload: Mapping, fmt: str = "json") -> dict:
    """The JSON body POSTed for one notification.

    ``json``: geogrid's payload as stored (``event_key``, ``kind``, ``incident``,
    ``recipient`` with ``phones``, ``text`` ...).  ``wecom``: a WeChat Work group robot's text
    message (``mentioned_mobile_list`` = the recipient's phones).  ``dingtalk``: a DingTalk
    group robot's text message (``at.atMobiles``).

    Examples
    --------
    >>> body = notification_body({"text": "【督办】…", "recipient": {"phones": ["13800000001"]}}, "dingtalk")
    >>> body["msgtype"], body["at"]["atMobiles"]
    ('text', ['13800000001'])
    """
    if fmt not in FORMATS:
        raise GeogridError(f"notification format must be one of {list(FORMATS)}, got {fmt!r}")
    text = str(payload.get("text") or notification_text(payload))
    phones = list((payload.get("recipient") or {}).get("phones") or [])
    if fmt == "wecom":
        return {"msgtype": "text", "text": {"content": text, "mentioned_mobile_list": phones}}
    if fmt == "dingtalk":
        return {"msgtype": "text", "text": {"content": text}, "at": {"atMobiles": phones, "isAtAll": False}}
    return dict(payload)


def acknowledged(fmt: str, status_code: int, body: bytes) -> tuple[bool, str | None]:
    """Whether a receiver acknowledged a notification, and why not.

    A 2xx acknowledges; WeChat Work and DingTalk robots answer 200 with ``{"errcode": 0}``
    and report refusals in ``errcode`` with a 200 too, so for them the body must say 0.

    Examples
    --------
    >>> acknowledged("json", 204, b""), acknowledged("wecom", 200, b'{"errcode":93000,"errmsg":"invalid"}')
    ((True, None), (False, 'errcode 93000: invalid'))
    """
    if not 200 <= status_code < 300:
        return False, f"HTTP {status_code}"
    if fmt == "json":
        return True, None
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        return False, "not a JSON answer"
    code = answer.get("errcode", 0) if isinstance(answer, dict) else None
    if code != 0:
        return (
            False,
            f"errcode {code}: {answer.get('errmsg', '') if isinstance(answer, dict) else ''}".strip(),
        )
    return True, None


def backoff(attempt: int, *, base_s: float = 30.0, cap_s: float = 3600.0) -> timedelta:
    """How long to wait after the ``attempt``-th failed delivery: ``base · 2^(attempt-1)``, capped.

    Examples
    --------
    >>> [backoff(n, base_s=30).total_seconds() for n in (1, 2, 3, 10)]
    [30.0, 60.0, 120.0, 3600.0]
    """
    return timedelta(seconds=min(cap_s, base_s * 2 ** max(0, attempt - 1)))


def signed_url(url: str, fmt: str, secret: str | None, *, now_ms: int) -> str:
    """``url`` with DingTalk's signature (加签: ``timestamp`` and ``sign`` query parameters) when
    ``fmt`` is ``dingtalk`` and a secret is set; otherwise ``url`` unchanged.

    Examples
    --------
    >>> signed_url("https://oapi.dingtalk.com/robot/send?access_token=x", "dingtalk", "SEC1", now_ms=1)  # doctest: +ELLIPSIS
    'https://oapi.dingtalk.com/robot/send?access_token=x&timestamp=1&sign=...'
    """
    if fmt != "dingtalk" or not secret:
        return url
    mac = hmac.new(secret.encode(), f"{now_ms}\n{secret}".encode(), hashlib.sha256).digest()
    sign = quote_plus(base64.b64encode(mac).decode())
    return f"{url}{'&' if '?' in url else '?'}timestamp={now_ms}&sign={sign}"


def signature(body: bytes, secret: str) -> str:
    """``sha256=<hex HMAC>`` of a body, sent as ``X-Geogrid-Signature`` so a receiver can check
    the notification came from this service.

    Examples
    --------
    >>> signature(b"{}", "s")[:7]
    'sha256='
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
