"""The service's one settings class (environment variables with the ``GEOGRID_`` prefix)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
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
    # Incidents (issue 5): category catalogue (None = the shipped data/incident_categories.json)
    # and the defaults of duplicate suggestions (same category within a radius and time window).
    incident_catalogue: Path | None = None
    duplicate_radius_m: float = Field(100.0, gt=0)
    duplicate_window_h: float = Field(48.0, gt=0)
    # Read replicas (issue 16): comma-separated URLs of streaming standbys of DATABASE_URL.  Reads
    # (lookups, tiles, features, heatmaps, stats, maps) go to them, writes and the workflow reads
    # (incidents, Open311, plans) to the primary; see docs/DEPLOYMENT.md.  SERVED_BY_HEADER adds
    # X-Geogrid-Served-By (which server answered) to every response, for tests and debugging.
    replica_urls: str = ""
    served_by_header: bool = False
    # A replica more WAL than this behind the primary is read only after the primary (0: never).
    replica_max_lag_mb: float = Field(16.0, ge=0)
    # Retry-After (seconds) of 503 answers while the database is unreachable.
    retry_after_s: int = Field(2, ge=1)

    def replica_url_list(self) -> list[str]:
        """``replica_urls`` as a list (empty entries dropped)."""
        return [url.strip() for url in self.replica_urls.split(",") if url.strip()]
