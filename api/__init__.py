"""The geogrid web service (FastAPI) over :mod:`geogrid.db`."""

from api.app import create_app

__all__ = ["create_app"]
