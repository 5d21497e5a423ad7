"""Follow-ups (回访) and 12345 hotline tickets: verdicts, who may call back, when a case reopens.

After an incident is closed the reporter — or the 12345 hotline, or a centre, on their behalf —
gives a satisfaction verdict (满意 / 基本满意 / 不满意) and a note.  An unsatisfied verdict
reopens the case (结案 → 处置中, 返工) when it comes within a window after closing (configurable:
``GEOGRID_REOPEN_WITHIN_DAYS``, 15 days by default) and the caller does not say otherwise.
Hotline cases carry their 12345 ticket number (工单号) and a callback status.  Pure rules: the
database layer (:mod:`geogrid.db.followups`) applies them under the incident's row lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from geogrid import incidents as wf
from geogrid.errors import ActionForbiddenError, GeogridError
from geogrid.evaluation import VERDICT_NAMES, VERDICTS

CHANNELS: tuple[str, ...] = ("reporter", "hotline", "centre")
CHANNEL_NAMES: dict[str, str] = {"reporter": "群众自评", "hotline": "12345热线回访", "centre": "综治中心回访"}
CALLBACK_STATUSES: tuple[str, ...] = ("pending", "done", "unreachable", "reopened")
CALLBACK_STATUS_NAMES: dict[str, str] = {
    "pending": "待回访",
    "done": "已回访",
    "unreachable": "未接通",
    "reopened": "不满意重办",
}
#: Days after closing within which an unsatisfied verdict reopens the case (the default).
REOPEN_WITHIN_DAYS = 15.0
_TICKET = re.compile(r"^[0-9A-Za-z-]{4,32}$")


def parse_verdict(text: str | None) -> str | None:
    """A verdict code from its code or Chinese name (None stays None: the reporter was not reached).

    Examples
    --------
    >>> parse_verdict("基本满意"), parse_verdict("unsatisfied"), parse_verdict(None)
    ('basically_satisfied', 'unsatisfied', None)
    """
    if text is None or str(text).strip() == "":
        return None
    t = str(text).strip()
    by_name = {v: k for k, v in VERDICT_NAMES.items()}
    if t in VERDICTS:
        return t
    if t in by_name:
        return by_name[t]
    raise GeogridError(
        f"回访结果为 满意、基本满意 或 不满意 / verdict must be one of {list(VERDICTS)}, got {t!r}"
    )


def check_ticket(ticket: str | None, source: str) -> str | None:
    """A 12345 ticket number, checked: 4–32 letters, digits or dashes, on hotline reports only.

    Examples
    --------
    >>> check_ticket(" 2024050100123 ", "hotline")
    '2024050100123'
    >>> check_ticket("12345-1", "patrol")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.GeogridError: 只有12345热线来源的事件有工单号 / ...
    """
    if ticket is None or str(ticket).strip() == "":
        return None
    t = str(ticket).strip()
    if source != "hotline":
        raise GeogridError(
            f"只有12345热线来源的事件有工单号 / a ticket number needs source 'hotline', not {source!r}"
        )
    if not _TICKET.match(t):
        raise GeogridError(
            f"工单号为 4–32 位字母、数字或连字符 / hotline_ticket must be 4-32 letters, digits or dashes, got {t!r}"
        )
    return t


def check_channel(actor: wf.Actor, channel: str, *, reporter_key_name: str | None) -> None:
    """Whether ``actor`` may record a follow-up through ``channel``.

    The reporter records their own verdict (``reporter``); a centre's dispatcher or an admin
    records the hotline's or the centre's callback (``hotline``, ``centre``) on incidents they see.

    Examples
    --------
    >>> check_channel(wf.Actor("r1", "resident"), "reporter", reporter_key_name="r1")
    >>> check_channel(wf.Actor("r2", "resident"), "reporter", reporter_key_name="r1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geogrid.errors.ActionForbiddenError: 只有上报人本人可以评价 / ...
    """
    if channel not in CHANNELS:
        raise GeogridError(
            f"回访渠道为 {list(CHANNELS)} / channel must be one of {list(CHANNELS)}, got {channel!r}"
        )
    if channel == "reporter":
        if reporter_key_name is None or actor.name != reporter_key_name:
            raise ActionForbiddenError(
                f"只有上报人本人可以评价 / only the reporter gives a 'reporter' verdict; {actor.name!r} did not report it"
            )
        return
    if actor.role not in ("dispatcher", "admin"):
        raise ActionForbiddenError(
            f"热线或中心回访由调度员记录 / role {actor.role!r} may not record a {channel} follow-up; "
            "allowed: admin, dispatcher"
        )


@dataclass(frozen=True)
class ReopenDecision:
    """Whether a follow-up reopens the case, and why (in Chinese)."""

    reopen: bool
    reason: str


def reopen_decision(
    verdict: str | None,
    *,
    closed_at: datetime,
    now: datetime,
    within_days: float = REOPEN_WITHIN_DAYS,
    wanted: bool = True,
) -> ReopenDecision:
    """An unsatisfied verdict reopens the case when it comes within ``within_days`` of closing
    and the caller wants it (``wanted``).

    Examples
    --------
    >>> from datetime import datetime, timezone, timedelta
    >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
    >>> reopen_decision("unsatisfied", closed_at=t, now=t + timedelta(days=3)).reopen
    True
    >>> reopen_decision("unsatisfied", closed_at=t, now=t + timedelta(days=16)).reason
    '结案已超过 15 天，不满意不再重办'
    >>> reopen_decision("satisfied", closed_at=t, now=t).reopen
    False
    """
    if verdict != "unsatisfied":
        return ReopenDecision(False, "")
    if not wanted:
        return ReopenDecision(False, "不满意，未要求重办")
    if now - closed_at > timedelta(days=within_days):
        return ReopenDecision(False, f"结案已超过 {within_days:g} 天，不满意不再重办")
    return ReopenDecision(True, f"结案 {within_days:g} 天内不满意，重新处置（返工）")


def callback_status(reached: bool, reopened: bool) -> str:
    """The hotline ticket's callback status after a follow-up.

    Examples
    --------
    >>> callback_status(True, False), callback_status(False, False), callback_status(True, True)
    ('done', 'unreachable', 'reopened')
    """
    if reopened:
        return "reopened"
    return "done" if reached else "unreachable"
