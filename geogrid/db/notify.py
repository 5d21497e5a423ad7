"""The notification outbox: events written with the change that caused them, delivered by webhook.

Every reminder — a department dispatched or summoned (吹哨), a 督办, a deadline turning
yellow or red — is one row of ``notifications``, written in the same transaction as the
change that caused it, under an **event key** that is unique (``summon:17:320508D03``,
``flag:E00000012:report_in:320508D03:red``): enqueueing the same event again does nothing.

:func:`deliver_due` POSTs the due rows to the webhook (``Idempotency-Key: <event key>``) and
records every attempt in ``notification_deliveries``.  A 2xx (for WeChat Work and DingTalk
robots: a 2xx with ``errcode`` 0) acknowledges the event and it is never sent again; anything
else is retried after ``base · 2^(attempt-1)`` seconds (capped), until acknowledged or
``max_attempts`` have failed (then ``dead``).  Rows are claimed with ``FOR UPDATE SKIP
LOCKED`` and a lease, so several workers (``geogrid notify run``, API processes) never send
one event at the same time; a worker that dies mid-send leaves its rows to be claimed again
when the lease runs out — the receiver then sees the same ``Idempotency-Key`` twice and drops
the repeat.

:func:`raise_flags` records the yellow and red flags of every open deadline once per
deadline and colour (``deadline_flags``) and enqueues one notification per flag.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geogrid import dispatch
from geogrid import incidents as wf
from geogrid.db import load_sql
from geogrid.errors import GeogridError
from geogrid.times import DEFAULT_TIMEZONE, local_iso

log = logging.getLogger("geogrid.notify")


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- enqueueing ---------------------------------------------------------------------------------------


def recipient(conn: Connection, kind: str, code: str | None) -> dict[str, Any]:
    """Who a notification is for: ``kind`` (department, centre, grid), code, Chinese name and
    the phones of the people holding that post (department liaisons, centre dispatchers,
    the grid's head and workers) — what an SMS gateway needs."""
    from geogrid.db.names import code_names
    from geogrid.db.organisation import names_of
    from geogrid.db.staff import contacts

    name = None
    if code:
        name = (names_of(conn, [code]) if kind in ("department", "centre") else code_names(conn, [code])).get(
            code
        )
    people = contacts(conn, [code]) if code else []
    return {
        "kind": kind,
        "code": code,
        "name": name,
        "people": people,
        "phones": [p["phone"] for p in people if p["phone"]],
    }


def incident_summary(conn: Connection, inc: Any, catalogue: wf.Catalogue, tz: str = DEFAULT_TIMEZONE) -> dict:
    """The incident as a notification shows it: id, category, status, place, queue, all named."""
    from geogrid.db.names import code_names
    from geogrid.db.organisation import names_of

    places = code_names(conn, [inc.grid_code, inc.village_code, inc.township_code])
    org = names_of(conn, [inc.centre_code, inc.department])
    return {
        "id": inc.public_id,
        "category": inc.category_minor,
        "category_name": catalogue.name_of(inc.category_minor),
        "status": inc.status,
        "status_name": wf.STATUS_NAMES.get(inc.status, inc.status),
        "grid_code": inc.grid_code,
        "grid_name": places.get(inc.grid_code or ""),
        "village_code": inc.village_code,
        "village_name": places.get(inc.village_code or ""),
        "centre_code": inc.centre_code,
        "centre_name": org.get(inc.centre_code or ""),
        "department": inc.department,
        "department_name": org.get(inc.department or ""),
        "address": inc.address_text,
        "created_at": local_iso(inc.created_at, tz),
    }


def enqueue(
    conn: Connection,
    *,
    event_key: str,
    kind: str,
    incident: Any,
    catalogue: wf.Catalogue,
    to: tuple[str, str | None],
    now: datetime,
    tz: str = DEFAULT_TIMEZONE,
    **facts: Any,
) -> bool:
    """Write one notification (in the caller's transaction); False when the event was already
    enqueued.  ``to`` is ``(kind, code)`` of the recipient; ``facts`` (``due``, ``deadline``,
    ``colour``, ``note``...) go into the payload, times in zone ``tz``."""
    payload: dict[str, Any] = {
        "event_key": event_key,
        "kind": kind,
        "kind_name": dispatch.NOTIFICATION_KINDS.get(kind, kind),
        "incident": incident_summary(conn, incident, catalogue, tz),
        "recipient": recipient(conn, *to),
        "created_at": local_iso(now, tz),
    }
    for key, value in facts.items():
        payload[key] = local_iso(value, tz) if isinstance(value, datetime) else value
    if "colour" in payload:
        payload["colour_name"] = dispatch.FLAG_NAMES.get(payload["colour"])
        payload["deadline_name"] = dispatch.DEADLINE_NAMES.get(payload.get("deadline", ""))
    payload["text"] = dispatch.notification_text(payload)
    inserted = conn.execute(
        sa.text(
            "INSERT INTO notifications (event_key, kind, incident_id, recipient_kind, recipient_code, payload, "
            "next_attempt_at, created_at) VALUES (:k, :kind, :i, :rk, :rc, CAST(:p AS jsonb), :now, :now) "
            "ON CONFLICT (event_key) DO NOTHING RETURNING id"
        ),
        {
            "k": event_key,
            "kind": kind,
            "i": incident.id,
            "rk": to[0],
            "rc": to[1],
            "p": json.dumps(payload, ensure_ascii=False, default=str),
            "now": now,
        },
    ).scalar()
    return inserted is not None


# --- flags ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """A flag raised: incident, deadline, subject (department or supervision), colour, due."""

    incident_id: int
    deadline: str
    subject: str
    colour: str
    due: datetime


def raise_flags(
    engine: Engine,
    *,
    catalogue: wf.Catalogue,
    now: datetime | None = None,
    yellow_at: float = dispatch.YELLOW_AT,
    tz: str = DEFAULT_TIMEZONE,
) -> list[Flag]:
    """Record the flags every open deadline shows at ``now`` (once per deadline and colour)
    and enqueue a notification for each new one; returns the new flags.

    Deadlines: to accept (while reported), to complete (while open), each summoned
    department's to report in and to act (while the summons is open and it has not), each
    督办's (while the incident is open).
    """
    from geogrid.db.incidents import get_many

    now = now or _utcnow()
    with engine.begin() as conn:
        rows = conn.execute(
            sa.text(load_sql("deadline_flags_raise")),
            {"now": now, "yellow_at": yellow_at, "open": sorted(wf.OPEN_STATUSES)},
        ).all()
        flags = [Flag(r.incident_id, r.deadline, r.subject, r.colour, r.due) for r in rows]
        if not flags:
            return []
        ids: dict[int, str] = dict(
            conn.execute(
                sa.text("SELECT id, public_id FROM incidents WHERE id = ANY(:ids)"),
                {"ids": sorted({f.incident_id for f in flags})},
            ).all()
        )
        incidents = {i.id: i for i in get_many(conn, list(ids.values()), now=now)}
        for f in flags:
            inc = incidents[f.incident_id]
            enqueue(
                conn,
                event_key=f"flag:{inc.public_id}:{f.deadline}:{f.subject}:{f.colour}",
                kind="flag",
                incident=inc,
                catalogue=catalogue,
                to=_flag_recipient(conn, inc, f),
                now=now,
                tz=tz,
                deadline=f.deadline,
                colour=f.colour,
                due=f.due,
            )
    return flags


def _flag_recipient(conn: Connection, inc: Any, f: Flag) -> tuple[str, str | None]:
    if f.deadline in ("report_in", "act"):
        return "department", f.subject
    if f.deadline == "supervise":
        row = conn.execute(
            sa.text("SELECT target_kind, target_code FROM supervisions WHERE id = :i"), {"i": int(f.subject)}
        ).one()
        return row.target_kind, row.target_code
    return dispatch.handler_of(inc)


# --- delivering -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryConfig:
    """Where and how notifications are delivered (``GEOGRID_NOTIFY_*`` settings).

    ``url``: the webhook (None: nothing is sent, rows wait); ``fmt``: ``json`` (geogrid's
    payload), ``wecom`` or ``dingtalk`` (a group robot's text message); ``secret``: signs
    ``json`` bodies (``X-Geogrid-Signature``) or DingTalk URLs (加签); retries wait
    ``base_s · 2^(attempt-1)`` seconds up to ``cap_s``, at most ``max_attempts`` times.
    """

    url: str | None = None
    fmt: str = "json"
    secret: str | None = None
    timeout_s: float = 10.0
    base_s: float = 30.0
    cap_s: float = 3600.0
    max_attempts: int = 20
    batch: int = 100
    lease_s: float = 120.0

    def __post_init__(self) -> None:
        if self.fmt not in dispatch.FORMATS:
            raise GeogridError(
                f"notification format must be one of {list(dispatch.FORMATS)}, got {self.fmt!r}"
            )

    def describe(self) -> str:
        """Where deliveries go, without the URL's query (robot URLs carry their token there)."""
        if not self.url:
            return "nowhere (no webhook URL set: notifications wait in the outbox)"
        return f"{self.url.split('?', 1)[0]} ({self.fmt})"

    @classmethod
    def from_environment(cls) -> DeliveryConfig:
        """The ``GEOGRID_NOTIFY_*`` variables, as the API's settings read them."""
        env = os.environ
        return cls(
            url=env.get("GEOGRID_NOTIFY_WEBHOOK_URL") or None,
            fmt=env.get("GEOGRID_NOTIFY_FORMAT", "json"),
            secret=env.get("GEOGRID_NOTIFY_SECRET") or None,
            base_s=float(env.get("GEOGRID_NOTIFY_RETRY_BASE_S", 30)),
            cap_s=float(env.get("GEOGRID_NOTIFY_RETRY_CAP_S", 3600)),
            max_attempts=int(env.get("GEOGRID_NOTIFY_MAX_ATTEMPTS", 20)),
        )


@dataclass
class DeliveryResult:
    """What one round did."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0
    flags: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Claimed:
    id: int
    event_key: str
    payload: dict
    attempt: int


def _claim(engine: Engine, config: DeliveryConfig, now: datetime) -> list[_Claimed]:
    """Take up to ``batch`` due notifications for this worker (a lease of ``lease_s``)."""
    with engine.begin() as conn:
        rows = conn.execute(
            sa.text(load_sql("notifications_claim")),
            {"now": now, "lease": now + timedelta(seconds=config.lease_s), "batch": config.batch},
        ).all()
    return [_Claimed(r.id, r.event_key, dict(r.payload), int(r.attempts)) for r in rows]


def _send(client: Any, config: DeliveryConfig, item: _Claimed) -> tuple[bool, int | None, str | None]:
    """POST one notification: (acknowledged, HTTP status, error)."""
    import httpx

    assert config.url is not None
    body = json.dumps(dispatch.notification_body(item.payload, config.fmt), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": item.event_key,
        "X-Geogrid-Event": str(item.payload.get("kind", "")),
    }
    if config.secret and config.fmt == "json":
        headers["X-Geogrid-Signature"] = dispatch.signature(body, config.secret)
    url = dispatch.signed_url(config.url, config.fmt, config.secret, now_ms=int(time.time() * 1000))
    try:
        answer = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return False, None, f"{type(exc).__name__}: {exc}"
    ok, why = dispatch.acknowledged(config.fmt, answer.status_code, answer.content)
    return ok, answer.status_code, why


def _settle(
    engine: Engine,
    config: DeliveryConfig,
    item: _Claimed,
    outcome: tuple[bool, int | None, str | None],
    *,
    at: datetime,
    duration_ms: int,
) -> str:
    ok, status_code, error = outcome
    if ok:
        state, next_at = "delivered", None
    elif item.attempt >= config.max_attempts:
        state, next_at = "dead", None
    else:
        state, next_at = (
            "pending",
            at + dispatch.backoff(item.attempt, base_s=config.base_s, cap_s=config.cap_s),
        )
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE notifications SET status = :s, lease_until = NULL, last_error = :e, "
                "delivered_at = CASE WHEN :s = 'delivered' THEN CAST(:at AS timestamptz) END, "
                "next_attempt_at = coalesce(CAST(:next AS timestamptz), next_attempt_at) WHERE id = :id"
            ),
            {"s": state, "e": error, "at": at, "next": next_at, "id": item.id},
        )
        conn.execute(
            sa.text(
                "INSERT INTO notification_deliveries (notification_id, attempt, at, status_code, ok, error, duration_ms) "
                "VALUES (:id, :n, :at, :code, :ok, :e, :ms)"
            ),
            {
                "id": item.id,
                "n": item.attempt,
                "at": at,
                "code": status_code,
                "ok": ok,
                "e": error,
                "ms": duration_ms,
            },
        )
    return state


def deliver_due(
    engine: Engine, config: DeliveryConfig, *, now: datetime | None = None, client: Any = None
) -> DeliveryResult:
    """Deliver the notifications due at ``now``: claim, POST, record; returns what happened.

    Nothing is claimed while no webhook URL is set.  ``client`` is an ``httpx.Client`` (one is
    made with ``config.timeout_s`` when not given).
    """
    import httpx

    result = DeliveryResult()
    if not config.url:
        return result
    now = now or _utcnow()
    items = _claim(engine, config, now)
    if not items:
        return result
    own = client is None
    client = client or httpx.Client(timeout=config.timeout_s)
    try:
        for item in items:
            started = time.perf_counter()
            outcome = _send(client, config, item)
            state = _settle(
                engine, config, item, outcome, at=now, duration_ms=int((time.perf_counter() - started) * 1000)
            )
            if state == "delivered":
                result.delivered += 1
            else:
                result.failed += 1
                result.dead += state == "dead"
                result.errors.append(f"{item.event_key}: {outcome[2]}")
    finally:
        if own:
            client.close()
    return result


def run_once(
    engine: Engine,
    config: DeliveryConfig,
    *,
    catalogue: wf.Catalogue | None = None,
    now: datetime | None = None,
    tz: str = DEFAULT_TIMEZONE,
) -> DeliveryResult:
    """One round of the worker: raise the flags due, then deliver what is due."""
    flags = raise_flags(engine, catalogue=catalogue or wf.load_catalogue(), now=now, tz=tz)
    result = deliver_due(engine, config, now=now)
    result.flags = len(flags)
    return result


def run_forever(
    engine: Engine,
    config: DeliveryConfig,
    *,
    interval_s: float = 5.0,
    catalogue: wf.Catalogue | None = None,
    stop: Any = None,
) -> None:
    """Rounds every ``interval_s`` until ``stop`` (a ``threading.Event``) is set or Ctrl-C.

    A round that fails (the database away, a bug) is logged and the next one tries again."""
    catalogue = catalogue or wf.load_catalogue()
    while stop is None or not stop.is_set():
        try:
            done = run_once(engine, config, catalogue=catalogue)
            if done.delivered or done.failed or done.flags:
                log.info("notify: %d flags, %d delivered, %d failed", done.flags, done.delivered, done.failed)
        except Exception:  # keep the worker alive; the log says what went wrong
            log.exception("notification round failed")
        if stop is not None:
            stop.wait(interval_s)
        else:
            time.sleep(interval_s)


# --- reading ----------------------------------------------------------------------------------------


def status_counts(engine: Engine) -> dict[str, int]:
    """Notifications per status (pending, sending, delivered, dead)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT status, count(*) FROM notifications GROUP BY status ORDER BY status")
        ).all()
    return {r[0]: int(r[1]) for r in rows}


@dataclass(frozen=True)
class Notification:
    """A notification with its delivery state."""

    id: int
    event_key: str
    kind: str
    status: str
    attempts: int
    recipient_kind: str | None
    recipient_code: str | None
    payload: dict
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None


def notifications(
    engine: Engine, *, incident: str | None = None, statuses: Iterable[str] = (), limit: int = 100
) -> list[Notification]:
    """Notifications (of one incident, of some statuses), newest first."""
    params: dict[str, Any] = {"limit": int(limit), "st": list(statuses) or None, "inc": incident}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT n.id, n.event_key, n.kind, n.status, n.attempts, n.recipient_kind, n.recipient_code, "
                "n.payload, n.created_at, n.delivered_at, n.last_error FROM notifications n "
                "LEFT JOIN incidents i ON i.id = n.incident_id "
                "WHERE (CAST(:st AS text[]) IS NULL OR n.status = ANY(CAST(:st AS text[]))) "
                "AND (CAST(:inc AS text) IS NULL OR i.public_id = :inc) ORDER BY n.id DESC LIMIT :limit"
            ),
            params,
        ).all()
    return [Notification(*r) for r in rows]


def deliveries(engine: Engine, notification_id: int) -> list[dict[str, Any]]:
    """The delivery log of one notification, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT attempt, at, status_code, ok, error, duration_ms FROM notification_deliveries "
                "WHERE notification_id = :i ORDER BY id"
            ),
            {"i": notification_id},
        ).all()
    return [dict(r._mapping) for r in rows]
