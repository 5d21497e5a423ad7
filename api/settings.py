"""The service's one settings class (environment variables with the ``GEOGRID_`` prefix)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _home_photos() -> Path:
    from geogrid.db.home import find_home

    return find_home().path / "photos"


class Settings(BaseSettings):
    """Configuration of the API, read when :func:`api.create_app` builds the app.

    ``database_url`` empty means: use (and start if needed) the project-local cluster.
    """

    model_config = SettingsConfigDict(env_prefix="GEOGRID_", env_file=None, extra="ignore")

    database_url: str | None = None
    # Reading grids, tiles and lookups without an API key (typical inside a government intranet).
    open_read: bool = True
    # Basemap for map pages, e.g. an internal tile server or Tianditu; None = no basemap (offline).
    basemap_url: str | None = None
    basemap_attribution: str = ""
    max_batch: int = Field(10_000, ge=1)
    page_limit_max: int = Field(10_000, ge=1)
    tile_cache_entries: int = Field(20_000, ge=0)
    tile_cache_max_age_s: int = Field(300, ge=0)
    # Next to the project's database (geogrid.db.home), whatever directory the server runs from.
    photo_dir: Path = Field(default_factory=lambda: _home_photos())
    photo_max_bytes: int = Field(5 * 1024 * 1024, ge=1)
    public_url: str = "http://127.0.0.1:8000"
    # Incidents (issue 5): category catalogue, a JSON file or a shipped one by name (None =
    # "grid_duties", the grid-duty list; "urban" = the city-management list; see geogrid/data/),
    # and the defaults of duplicate suggestions (same category within a radius and time window).
    incident_catalogue: Path | None = None
    duplicate_radius_m: float = Field(100.0, gt=0)
    duplicate_window_h: float = Field(48.0, gt=0)
    # Issue 11: browser origins (comma-separated) allowed to read features, tiles, heatmaps and
    # lookups across origins (none by default: same origin only), and the language of messages
    # for clients whose Accept-Language says nothing (zh-CN or en).
    cors_origins: str = ""
    language: str = Field("zh-CN", pattern=r"^(zh|zh-CN|en)$")
    # Map pages' basemap beyond basemap_url/basemap_attribution: tile subdomains (e.g. "01234567"
    # for {s}), a place-name overlay, or Tianditu (天地图) with its key (tk) when no URL is given.
    basemap_subdomains: str = ""
    basemap_labels_url: str | None = None
    tianditu_key: str | None = None
    # Trust (issue 9).  Time zone of every timestamp shown and of times given without an offset.
    timezone: str = "Asia/Shanghai"
    # Longest a request-path SQL statement may run before PostgreSQL cancels it (→ 504 problem).
    statement_timeout_ms: int = Field(10_000, ge=100)
    # Retry-After (seconds) of 503 answers while the database is unreachable.
    retry_after_s: int = Field(2, ge=1)
    # How often each process re-reads the key version: the bound on a revocation's delay.
    key_check_interval_s: float = Field(0.5, gt=0, le=1)
    # Request bodies, counted while they stream in: JSON by default, larger for batches and plans
    # (incident photos: PHOTO_MAX_BYTES per photo on top of MAX_BODY_BYTES).
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    batch_max_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    plan_max_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    max_json_depth: int = Field(32, ge=8, le=500)
    address_max_chars: int = Field(200, ge=10, le=2000)
    max_batch_addresses: int = Field(1000, ge=1)
    max_ids: int = Field(100, ge=1)
    # Token buckets per API key and per client address: requests per second, bursts of
    # RATE_LIMIT_BURST_S seconds' worth; 0 turns a limit off.  Per process (workers multiply it).
    rate_limit_per_key: float = Field(20.0, ge=0)
    rate_limit_per_address: float = Field(50.0, ge=0)
    rate_limit_burst_s: float = Field(10.0, gt=0)
    # What anonymous and resident readers see of other people's reports: locations rounded to
    # this many decimals of a degree (3 ≈ 100 m) and heatmaps no finer than this H3 resolution.
    public_location_decimals: int = Field(3, ge=0, le=4)
    public_heat_max_res: int = Field(10, ge=0, le=12)
    # Dispatch (issue 13).  报办分离: the reporter of an incident may not verify or close it.
    reporter_handler_separation: bool = True
    # Notifications (reminders, 吹哨, 督办, yellow/red flags) are POSTed to this webhook, in
    # geogrid's JSON or as a WeChat Work (wecom) / DingTalk (dingtalk) group robot's text message;
    # the secret signs JSON bodies (X-Geogrid-Signature) or DingTalk URLs.  Failed deliveries are
    # retried after RETRY_BASE_S · 2^(attempt-1) seconds, at most RETRY_CAP_S apart, MAX_ATTEMPTS
    # times.  With a URL set, each API process also runs the worker every NOTIFY_INTERVAL_S
    # (unless NOTIFY_IN_API=false; `geogrid notify run` is the same worker on its own).
    notify_webhook_url: str | None = None
    notify_format: str = Field("json", pattern=r"^(json|wecom|dingtalk)$")
    notify_secret: str | None = None
    notify_retry_base_s: float = Field(30.0, gt=0)
    notify_retry_cap_s: float = Field(3600.0, gt=0)
    notify_max_attempts: int = Field(20, ge=1)
    notify_in_api: bool = True
    notify_interval_s: float = Field(5.0, gt=0)
    # Issue 15: the register's secret (64 hex characters; default: <home>/register.key, created on
    # first use, shared with the CLI) and the roles that may see residents within their scope.
    register_key: SecretStr | None = None
    register_roles: str = "admin,dispatcher,worker"
    # Evaluation (issue 14): the weights and grading (a JSON file; None: geogrid's default,
    # geogrid/data/evaluation.json), and the days after closing within which an unsatisfied
    # follow-up (回访 不满意) reopens the case.
    evaluation: Path | None = None
    reopen_within_days: float = Field(15.0, ge=0)
    # Read replicas (issue 16): comma-separated URLs of streaming standbys of DATABASE_URL.  Reads
    # (lookups, tiles, features, heatmaps, stats, maps) go to them, writes and the workflow reads
    # (incidents, Open311, plans) to the primary; see docs/DEPLOYMENT.md.  SERVED_BY_HEADER adds
    # X-Geogrid-Served-By (which server answered) to every response, for tests and debugging.
    replica_urls: str = ""
    served_by_header: bool = False
    # A replica more WAL than this behind the primary is read only after the primary (0: never).
    replica_max_lag_mb: float = Field(16.0, ge=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai") from None
        return value

    def replica_url_list(self) -> list[str]:
        """``replica_urls`` as a list (empty entries dropped)."""
        return [url.strip() for url in self.replica_urls.split(",") if url.strip()]
