"""What a command prints for an error it knows, and its exit code: one line that says what was wrong and what to
do. `main` prints it; `copernica load` writes the same line into its --summary-json, so a scheduler's log and the
orchestrator that reads the JSON tell the same story."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dlt.common.configuration.exceptions import (
    ConfigFieldMissingException,
    ConfigurationException,
    ConfigValueCannotBeCoercedException,
    InvalidNativeValue,
)
from dlt.common.destination.exceptions import UnknownDestinationModule
from dlt.pipeline.exceptions import InvalidPipelineName, PipelineStepFailed

from copernica_source.errors import CopernicaError, causes, copernica_cause, exception_text, root_message

KNOWN = (UnknownDestinationModule, InvalidPipelineName, CopernicaError, ConfigurationException, PipelineStepFailed)
"""The errors `main` turns into one line (any other is a bug and keeps its traceback). A failed dlt step is one: a
traceback of it can quote a secret (dlt's innermost error repeats a malformed connection string)."""

DRIVERS = {"psycopg2": "postgres", "snowflake": "snowflake", "google": "bigquery", "pyodbc": "mssql",
           "databricks": "databricks", "clickhouse_driver": "clickhouse", "motherduck": "motherduck",
           "sqlalchemy": "sqlalchemy"}
"""The module a dlt destination imports its driver from, and the dlt extra that installs it."""
OWN_EXTRAS = frozenset({"postgres", "snowflake", "bigquery"})
"""This package's extras for them (pyproject.toml)."""


def failure_line(exc: BaseException) -> tuple[str, int]:
    """The one line (without "error: ") and exit code for `exc`: 2 for a usage error, 1 otherwise."""
    if isinstance(exc, UnknownDestinationModule):
        return (f"unknown destination {exc.ref!r}: use a dlt destination name such as duckdb, postgres, snowflake, "
                "bigquery or filesystem", 2)
    if isinstance(exc, InvalidPipelineName):
        return pipeline_name_error_line(exc), 1
    if isinstance(exc, ConfigurationException):
        return config_error_line(exc), 1
    missing = missing_driver_line(exc)
    if missing:
        return missing, 1
    cause = copernica_cause(exc)
    if cause is not None:
        return str(cause), 1
    configuration = next((e for e in causes(exc) if isinstance(e, ConfigurationException)), None)
    if configuration is not None:
        return config_error_line(configuration), 1
    return root_message(exc), 1


def missing_driver_line(exc: BaseException) -> str | None:
    """A destination's database driver not installed: the pip line that installs it."""
    for error in causes(exc):
        if isinstance(error, ModuleNotFoundError):
            extra = DRIVERS.get((error.name or "").split(".")[0])
            if extra:
                package = f"copernica-source[{extra}]" if extra in OWN_EXTRAS else f"dlt[{extra}]"
                return (f"the {extra} destination needs its driver ({error.name}), which is not installed: "
                        f"pip install \"{package}\"")
    return None


def pipeline_name_error_line(exc: InvalidPipelineName) -> str:
    """dlt names the pipeline's folder after it, so it must be one plain folder name (dlt also bans `. % { }`)."""
    return (f"invalid --pipeline-name {exc.pipeline_name!r}: it names the pipeline's folder; "
            "use letters, digits, '_' and '-' only")


def config_error_line(exc: ConfigurationException) -> str:
    """dlt's configuration errors on one line that says which setting and where to put it."""
    if isinstance(exc, ConfigFieldMissingException):
        destination = _destination_of(exc)
        if destination:
            fields = ", ".join(exc.fields)
            keys = " ".join(f"DESTINATION__{destination.upper()}__{f.upper()}" for f in exc.fields)
            return (f"missing {fields} of the {destination} destination: put it in [destination.{destination}] of "
                    f".dlt/secrets.toml, or set {keys}")
        names = ", ".join(exc.fields)
        keys = " ".join(f"SOURCES__COPERNICA__{f.upper()}" for f in exc.fields)
        return (f"missing setting {names}: put it in [sources.copernica] of .dlt/secrets.toml (or config.toml), "
                f"or set {keys}")
    if isinstance(exc, InvalidNativeValue):  # never the value: it may be a secret (a connection string)
        what = ".".join(exc.embedded_sections) or "a setting"
        detail = exception_text(exc.inner_exception) if exc.inner_exception else ""
        return (f"{what} cannot be read as {exc.spec.__name__} (the value is not shown: it may be a secret)"
                + (f": {detail}" if detail else ""))
    if isinstance(exc, ConfigValueCannotBeCoercedException):
        hint = getattr(exc.hint, "__name__", exc.hint)
        secret = any(word in exc.field_name.lower() for word in ("password", "token", "secret", "key", "credential"))
        value = "(not shown: it may be a secret)" if secret else repr(exc.field_value)
        return f"setting {exc.field_name} = {value} is not a valid {hint}"
    return " ".join(str(exc).split())[:300]


def _destination_of(exc: ConfigFieldMissingException) -> str | None:
    """The destination whose settings are missing ("postgres"), read from where dlt looked for them."""
    def traces(found: Any) -> Iterator[Any]:
        if hasattr(found, "sections"):  # a LookupTrace (a named tuple: asked before tuples)
            yield found
        elif hasattr(found, "traces"):  # LookupTraces of a nested spec (credentials)
            yield from traces(found.traces)
        elif isinstance(found, dict):
            for value in found.values():
                yield from traces(value)
        elif isinstance(found, list | tuple):
            for value in found:
                yield from traces(value)

    for trace in traces(exc.traces):
        sections = list(trace.sections)
        if len(sections) > 1 and sections[0] == "destination" and sections[1] != "credentials":
            return str(sections[1])
    return None
