"""copernica-source: load Copernica into DuckDB or any dlt destination, push profiles back, serve data requests."""

from copernica_source import errors
from copernica_source.datarequests import data_requests
from copernica_source.push import copernica_profiles
from copernica_source.source import copernica_source

__all__ = ["copernica_source", "copernica_profiles", "data_requests", "errors"]
