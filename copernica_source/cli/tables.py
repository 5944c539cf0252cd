"""`copernica tables`: every table the source can load, with its primary key, how it is loaded and what a row is.

Read from the source's declarations (copernica_source/tables.py): no account access, no token needed.
Engagement tables exist once per mail product (html_*, draganddrop_*); profile tables are made per database
(`profiles_<database>`) and per collection (`subprofiles_<database>_<collection>`), so they are listed as
patterns with the resource that loads them: `copernica load --resources` takes that resource name or any table
name of the pattern.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from copernica_source.tables import (
    LOG_TABLES,
    PRODUCTS,
    PROFILES,
    STRUCTURE_TABLES,
    SUBPROFILES,
    Cursor,
    TableSpec,
    dlt_hints,
    engagement_tables,
)

LOADED: dict[Cursor, str] = {
    "whole": "whole, merged",
    "id": "incremental by id",
    "window": "incremental by timestamp windows, re-reading lookback_days",
    "date_window": "incremental by timestampsent date windows, re-reading lookback_days",
    "emailings": "incremental by timestamp, re-reading emailing_window_days",
    "per_parent": "per emailing read this run, merged",
    "modified": "incremental on modified, merged",
    "logfile": "opt-in: by day from daily logfiles, re-reading logfile_lookback_days",
}
"""How a table is loaded, in words, per cursor kind of tables.py."""

EXAMPLES = """\
examples:
  copernica tables                 # one line per table
  copernica tables --json          # for scripts, with each column's type and description and the references
  copernica tables | grep profile  # where the profile tables come from
  copernica load --resources html_clicks,profiles_customers
  copernica tables | grep _log_     # the opt-in tables read from Copernica's daily logfiles
"""

PROFILE_TABLE = re.compile(r"profiles_\w+")
SUBPROFILE_TABLE = re.compile(r"subprofiles_\w+")


@dataclass(frozen=True)
class TableInfo:
    table: str  # a table name, or a pattern (`profiles_<database>`) when `pattern`
    resource: str  # the `--resources` name that loads it
    primary_key: list[str]
    loaded: str
    description: str
    pattern: bool = False
    columns: list[dict[str, str]] = field(default_factory=list)  # name, data_type, description (the dlt schema's)
    references: list[dict[str, Any]] = field(default_factory=list)  # columns, referenced_table, referenced_columns


def catalog() -> list[TableInfo]:
    """Every table the source declares, in load order: engagement per product, structure, profile patterns, then
    the opt-in log tables."""
    out = [_info(f"{product}_{spec.name}", f"{product}_{spec.name}", spec, f"{product}_")
           for product in PRODUCTS for spec in engagement_tables(product)]
    out += [_info(spec.name, spec.name, spec) for spec in STRUCTURE_TABLES]
    out += [_info(pattern, spec.name, spec, pattern=True)
            for pattern, spec in (("profiles_<database>", PROFILES),
                                  ("subprofiles_<database>_<collection>", SUBPROFILES))]
    out += [_info(spec.name, spec.name, spec) for spec in LOG_TABLES]
    return out


def _info(table: str, resource: str, spec: TableSpec, prefix: str = "", pattern: bool = False) -> TableInfo:
    """A table as the dlt schema of a load describes it (tables.dlt_hints); a pattern lists the columns every table
    of it has (a run adds one per field and interest of the database or collection, and `deleted`)."""
    hints = dlt_hints(spec, prefix)
    columns = [{"name": c["name"], "data_type": c["data_type"], "description": c.get("description", "")}
               for c in hints["columns"].values()]
    return TableInfo(table, resource, list(spec.primary_key), LOADED[spec.cursor], spec.description, pattern,
                     columns, [dict(r) for r in hints["references"]])


def add_tables_command(commands: Any) -> None:
    p = commands.add_parser("tables", help="list every table the source can load (no token needed)",
                            description=__doc__, epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {table, resource, primary_key, loaded, description, pattern, columns, "
                        "references} instead of a text table; columns: name, data_type, description "
                        "(default: text)")
    p.set_defaults(run=run_tables)


def run_tables(args: argparse.Namespace) -> int:
    tables = catalog()
    if args.json:
        print(json.dumps([asdict(t) for t in tables], indent=2))
        return 0
    head = ("table", "resource", "primary key", "loaded", "a row is")
    rows = [(t.table, t.resource, ", ".join(t.primary_key), t.loaded, t.description) for t in tables]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    for row in [head, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[4])
    print("\nprofiles_<database> and subprofiles_<database>_<collection>: one table per database / collection, "
          "named after it; `--resources` takes the resource (profiles, subprofiles) or a table name, and "
          "loads every database's tables unless database_ids / collection_ids (--database-ids) limit them")
    return 0


@dataclass(frozen=True)
class Selection:
    resources: list[str]  # resource names to pass to `with_resources`, in the order first asked for
    notes: list[str]  # one line each, for stderr
    error: str = ""  # set: refuse the run with this line (exit 2)


def select_resources(wanted: Sequence[str], available: Collection[str]) -> Selection:
    """Map `--resources` names (resource or table names) to the source's resources.

    A `profiles_<db>`/`subprofiles_<db>_<col>` table name selects its resource; since the table is named after
    the database's name while the source limits by ID (`database_ids`), the whole resource loads."""
    resources: list[str] = []
    notes: list[str] = []
    known = {t.table for t in catalog() if not t.pattern} | {t.resource for t in catalog()}
    for name in wanted:
        chosen = name
        if name not in available and name not in known:
            template = "subprofiles" if SUBPROFILE_TABLE.fullmatch(name) else (
                "profiles" if PROFILE_TABLE.fullmatch(name) else "")
            if template:
                chosen = template
                notes.append(f"note: {name} comes from the resource '{template}', which loads every "
                             f"{'database' if template == 'profiles' else 'collection'}'s table unless "
                             f"database_ids{' / collection_ids' if template == 'subprofiles' else ''} "
                             "(--database-ids) limits them")
        if chosen not in available:
            if chosen in known:
                return Selection([], notes, f"table '{name}' is not loaded by this run (products or api_version "
                                            f"leave it out); this run loads: {', '.join(sorted(available))}")
            close = difflib.get_close_matches(name, sorted(known | set(available)), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            return Selection([], notes, f"unknown table '{name}'{hint} (copernica tables lists them)")
        if chosen not in resources:
            resources.append(chosen)
    return Selection(resources, notes)
