"""Reverse path: rows into Copernica profiles.

destination (the dlt destination) -> writer (all HTTP of the push) -> validation (pure row checks);
journal (per-row results, fsynced); inputs (files and DuckDB queries as Arrow batches, for the command)."""

from copernica_source.push.destination import copernica_profiles
from copernica_source.push.journal import read_results

__all__ = ["copernica_profiles", "read_results"]
