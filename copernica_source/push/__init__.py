"""Reverse path: rows into Copernica profiles.

destination (the dlt destination) -> writer (all HTTP of the push) -> validation (pure row checks) -> columns
(pure: which input column goes where, the key) -> loaded_table (pure: the loader's own column names read back, so
a loaded `profiles_<database>` table can be pushed as it is); journal (per-row results, fsynced); inputs (files
and DuckDB queries as Arrow batches, for the command)."""

from copernica_source.push.destination import copernica_profiles
from copernica_source.push.journal import read_results

__all__ = ["copernica_profiles", "read_results"]
