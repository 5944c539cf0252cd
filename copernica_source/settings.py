"""Connection settings for every entry point, read from the one place the source reads them:
`[sources.copernica]` in `.dlt/secrets.toml`/`.dlt/config.toml`, or `SOURCES__COPERNICA__<KEY>` env vars."""

from __future__ import annotations

import os
from typing import Any, TypedDict, Unpack
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dlt
import orjson
from dlt.common.configuration import with_config
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.typing import TSecretStrValue

from copernica_source.client import (
    DEFAULT_AUTH_URL,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_ANSWER_MB,
    CopernicaClient,
    RetryPolicy,
)
from copernica_source.errors import ConfigurationError
from copernica_source.private_files import PRIVATE_FILE_MODE, private_dir

DUCKDB_FILE = "copernica.duckdb"
DEFAULT_DATASET = "copernica_data"  # not "copernica": DuckDB cannot tell a schema from the catalog of copernica.duckdb
DUCKDB_MEMORY_LIMIT = "192MB"  # with the extract's leftovers released, a full load peaks under 500 MB
DEFAULT_TIMEZONE = "Europe/Amsterdam"  # Copernica's times carry no zone (assumption A14)
DUCKDB_STORAGE_VERSION = "v1.2.0"  # the oldest DuckDB that opens the files we create
LOAD_ID_ON_ROWS = "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID"  # dlt's setting: `_dlt_load_id` on Arrow rows


def time_zone(name: Any, setting: str = "timezone") -> ZoneInfo:
    """The zone `name` names, or a ConfigurationError that says which setting is wrong: the one check of a zone."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"{setting} {name!r} is not a time zone name (an IANA name such as "
                                 "Europe/Amsterdam or UTC)") from None


def _timezone(timezone: str = DEFAULT_TIMEZONE) -> str:
    return str(timezone)


_configured_timezone = with_config(_timezone, sections=("sources", "copernica"))


def account_timezone() -> str:
    """The account's time zone: the source's `timezone` setting, as `copernica load` reads it."""
    return str(_configured_timezone())


class ConnectionOverrides(TypedDict, total=False):
    """Connection settings a caller may give instead of `[sources.copernica]`; None means "from config"."""

    access_token: TSecretStrValue | None
    base_url: str | None
    api_version: int | None
    auth_url: str | None
    max_concurrency: int | None
    request_timeout: float | None
    retry_max_seconds: float | None
    max_answer_mb: float | None


def client_from_config(**overrides: Unpack[ConnectionOverrides]) -> CopernicaClient:
    """A client built from `[sources.copernica]`; keyword arguments that are not None win over config."""
    given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    try:
        return _client_from_config(**given)
    except ConfigFieldMissingException:
        raise ConfigurationError(
            "No Copernica access token: set sources.copernica.access_token in .dlt/secrets.toml "
            "or the env var SOURCES__COPERNICA__ACCESS_TOKEN"
        ) from None


def make_client(
    access_token: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    api_version: int = 4,
    auth_url: str = DEFAULT_AUTH_URL,
    max_concurrency: int = 8,
    request_timeout: float = 60.0,
    retry_max_seconds: float = 300.0,
    max_answer_mb: float = DEFAULT_MAX_ANSWER_MB,
) -> CopernicaClient:
    """The client every entry point (load, push-profiles, data-request) builds from the same settings.

    `retry_max_seconds` bounds how long one request is retried through 429/5xx/dropped connections before the
    run fails (and can be resumed); `request_timeout` bounds one attempt."""
    retry = RetryPolicy(max_attempts=max(1, int(retry_max_seconds)) + 1, max_total_seconds=float(retry_max_seconds))
    return CopernicaClient(
        access_token, base_url=base_url, api_version=api_version, auth_url=auth_url,
        max_concurrency=max_concurrency, timeout=float(request_timeout), retry=retry,
        max_answer_bytes=int(float(max_answer_mb) * 2**20),
    )


# the same settings, resolved from [sources.copernica] where the caller gives none
_client_from_config = with_config(make_client, sections=("sources", "copernica"))


def listed(value: Any) -> list[Any]:
    """A list setting as users write it: a TOML list, "[1, 4]", "1,4" or a single value (env vars are text)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise ConfigurationError(f"{value!r} is not a list: write [1, 4] or 1,4") from None
            return list(parsed)
        return [item.strip() for item in text.split(",") if item.strip()]
    if isinstance(value, (list, tuple, set)):
        return list(value)
    return [value]


def duckdb_destination(path: str | os.PathLike[str], memory_limit: str | None = DUCKDB_MEMORY_LIMIT) -> Any:
    """DuckDB with a bounded buffer for the loader's merges (it spills to disk beyond it): without a limit DuckDB
    may take most of the machine's memory to merge a large first load."""
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    # absolute: dlt keeps the resolved path in the pipeline's state, and a relative one would follow the cwd
    path = os.path.abspath(path)
    _create_private_duckdb(path)
    config = {"memory_limit": memory_limit} if memory_limit else None
    return dlt.destinations.duckdb(DuckDbCredentials(path, global_config=config))


def _create_private_duckdb(path: str) -> None:
    """A DuckDB file we create holds personal data (profiles, data requests): create it owner-only, in a folder
    created 0700 if it is new. A file that exists keeps its mode. DuckDB refuses an empty file, so an empty
    database is made and narrowed before dlt writes anything into it."""
    if os.path.exists(path):
        return
    import duckdb

    try:
        private_dir(os.path.dirname(path))
    except OSError as exc:
        raise ConfigurationError(f"cannot create the folder of the DuckDB file {path}: {exc.strerror or exc}") from None
    try:
        # in a storage format the DuckDB 1.2+ CLI and libraries also open (a file DuckDB 2 writes by default
        # cannot be opened by 1.x); the format is the file's for good, whatever DuckDB writes to it later
        duckdb.connect(path, config={"storage_compatibility_version": DUCKDB_STORAGE_VERSION}).close()
    except duckdb.Error:
        if not os.path.exists(path):
            raise
        return  # another process created it meanwhile: its file, its mode
    os.chmod(path, PRIVATE_FILE_MODE)


def pipelines_dir_help(what: str) -> str:
    """The help text of every command's --pipelines-dir, with the folder dlt really uses here (it depends on the
    user: ~/.dlt/pipelines, or /var/dlt/pipelines for root)."""
    from dlt.common.pipeline import get_dlt_pipelines_dir

    return f"where dlt keeps {what} (default here: {get_dlt_pipelines_dir()})"

