"""A dlt pipeline as the report's query function: `pipeline.sql_client()` reaches every SQL destination dlt
loads into, with the credentials dlt resolves for it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import dlt

from copernica_source.report.queries import Query


@contextlib.contextmanager
def sql_client_query(pipeline: dlt.Pipeline) -> Iterator[Query]:
    """A query function over one connection, open while the block runs. Column names are lower-cased: warehouses
    that fold unquoted names to upper case (Snowflake) then answer with the names the report asks for."""
    with pipeline.sql_client() as client:

        def query(sql: str) -> list[dict[str, Any]]:
            with client.execute_query(sql) as cursor:
                columns = [str(c[0]).lower() for c in cursor.description or ()]
                return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

        yield query


def destination_dataset(pipeline: dlt.Pipeline) -> str:
    """The dataset's name as the destination spells it (dlt normalizes `--dataset Marketing` to `marketing`)."""
    return str(pipeline.sql_client().dataset_name)
