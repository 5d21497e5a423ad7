"""Times as a county reads them: ISO 8601 with the county's UTC offset (+08:00 in China).

Stored times are timezone-aware (PostgreSQL ``timestamptz``); what the API and the pages show
is the same instant in the county's zone, and a time typed without an offset is read in that
zone (a dispatcher's "2024-05-01 09:00" is 09:00 local time, not UTC).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

from geogrid.errors import GeogridError

#: The zone of every Chinese county (China has one time zone).
DEFAULT_TIMEZONE = "Asia/Shanghai"


@cache
def zone(name: str = DEFAULT_TIMEZONE) -> tzinfo:
    """The ``tzinfo`` of an IANA zone name (cached)."""
    return ZoneInfo(name)


def local_iso(t: datetime | None, tz: str | tzinfo = DEFAULT_TIMEZONE) -> str | None:
    """``t`` as ISO 8601 in zone ``tz`` (None stays None).

    Examples
    --------
    >>> from datetime import timezone
    >>> local_iso(datetime(2024, 5, 1, 1, 0, tzinfo=timezone.utc))
    '2024-05-01T09:00:00+08:00'
    >>> local_iso(None) is None
    True
    """
    if t is None:
        return None
    if t.tzinfo is None:
        raise GeogridError(f"cannot show a time without a zone: {t!r}")
    return t.astimezone(zone(tz) if isinstance(tz, str) else tz).isoformat()


def parse_local(text: str, tz: str | tzinfo = DEFAULT_TIMEZONE, *, name: str = "time") -> datetime:
    """An ISO 8601 date or datetime; one without an offset is read in zone ``tz``.

    Raises
    ------
    GeogridError
        When ``text`` is not ISO 8601 (the message names ``name``).

    Examples
    --------
    >>> parse_local("2024-05-01T09:00").isoformat()
    '2024-05-01T09:00:00+08:00'
    >>> parse_local("2024-05-01").isoformat()
    '2024-05-01T00:00:00+08:00'
    >>> parse_local("2024-05-01T01:00:00Z").isoformat()
    '2024-05-01T01:00:00+00:00'
    """
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            d = date.fromisoformat(text)
        except ValueError:
            raise GeogridError(
                f"{name} must be an ISO 8601 date or datetime (e.g. 2024-05-01T09:00), got {text!r}"
            ) from None
        t = datetime(d.year, d.month, d.day)
    if t.tzinfo is None:
        t = t.replace(tzinfo=zone(tz) if isinstance(tz, str) else tz)
    return t
