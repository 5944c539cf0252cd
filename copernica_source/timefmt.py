"""Copernica's time format: how its API writes times (in the account's time zone) and how its filters read them."""

from __future__ import annotations

COPERNICA_TIME = "%Y-%m-%d %H:%M:%S"  # "2026-03-01 14:05:09": strftime/strptime, and pyarrow.compute.strptime
