"""The dlt pipeline this package loads with (`copernica load`, the data requests, the pipeline scripts): it merges
through a staging dataset of its own, dropped after every load that completed.

Why: dlt merges through a staging dataset, by default `<dataset>_staging`, which every pipeline loading into the
dataset shares. A load truncates its staging tables when it starts, so two loads at once under different pipeline
names wipe or merge each other's staged rows (seen on PostgreSQL: rows twice in tables merged on `id`). Named after
the pipeline (`<dataset>_staging_<pipeline>`), the staging dataset belongs to one run at a time, since `run_lock`
refuses a second run of the same pipeline. Dropped after a load that left nothing pending, it is out of sight between
runs; a failed load keeps it, because the resumed package merges from the rows staged there.

Loads into one PostgreSQL dataset take turns in their load step (`serialize_loads`): separate staging datasets keep
the staged rows apart, but two merges of the same keys at the same moment (a backfill of today beside the hourly run)
each delete nothing the other has committed yet and both insert, leaving the row twice.

A `staging_dataset_name_layout` the user configured wins, wherever dlt would find it (`[destination]`,
`[destination.<name>]`, `[<pipeline>.destination...]`, env vars, or the destination factory's own argument). A
staging dataset named that way may be shared, so it is left alone.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import dlt
from dlt.common.configuration import configspec, inject_section, known_sections, resolve_configuration
from dlt.common.configuration.exceptions import InvalidNativeValue
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.configuration.specs.config_section_context import ConfigSectionContext
from dlt.common.configuration.specs.exceptions import NativeValueError
from dlt.common.destination.exceptions import DestinationException, SqlClientNotAvailable
from dlt.common.destination.reference import AnyDestination, Destination, TDestinationReferenceArg
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.pipeline.trace import TRACE_FILE_NAME

from copernica_source.errors import causes
from copernica_source.run_lock import run_lock

log = logging.getLogger("copernica_source")

LAYOUT = "staging_dataset_name_layout"
"""dlt's destination setting: the staging dataset's name, `%s` standing for the dataset's."""
STAGING_INFIX = "_staging_"
MAX_DATASET_NAME = 63
"""PostgreSQL's identifier limit, the shortest of the SQL warehouses dlt loads; PostgreSQL cuts longer names
silently, which would let two long pipeline names share one staging dataset again."""
_NAMING = NamingConvention()


def staging_layout(pipeline_name: str, dataset_name: str | None) -> str:
    """`%s_staging_<pipeline>`: dlt puts the dataset's name for `%s` (`copernica_data_staging_copernica`).

    The pipeline part is written as dlt's naming writes it, so dlt does not rename it with a warning on every
    load; where the whole name would pass 63 characters it is cut and ends in a hash of the pipeline name."""
    part = _NAMING.normalize_identifier(pipeline_name).strip("_") or "pipeline"
    dataset = _NAMING.normalize_table_identifier(dataset_name or f"{pipeline_name}_dataset")
    room = MAX_DATASET_NAME - len(dataset) - len(STAGING_INFIX)
    if len(part) > room:
        tag = hashlib.sha256(pipeline_name.encode()).hexdigest()[:8]
        part = f"{part[:max(0, room - len(tag) - 1)].rstrip('_')}_{tag}".lstrip("_")
    return "%s" + STAGING_INFIX + part


@configspec
class _StagingLayoutSetting(BaseConfiguration):
    staging_dataset_name_layout: str | None = None


def configured_staging_layout(destination_name: str, pipeline_name: str) -> str | None:
    """The layout config or env vars give for this destination and pipeline, looked up the way dlt looks up the
    destination's own settings (same sections, pipeline-scoped keys first); None when nothing sets it."""
    with inject_section(ConfigSectionContext(pipeline_name=pipeline_name, sections=())):
        found = resolve_configuration(_StagingLayoutSetting(), sections=(known_sections.DESTINATION, destination_name),
                                      accept_partial=True)
    return found.staging_dataset_name_layout


def _with_own_staging(destination: TDestinationReferenceArg, pipeline_name: str,
                     dataset_name: str | None) -> AnyDestination | None:
    """The destination, set to stage in the pipeline's own dataset unless a layout is configured (or the destination
    has no staging dataset, like a custom `@dlt.destination`)."""
    factory = Destination.from_reference(destination)
    if factory is None or LAYOUT not in factory.spec.get_resolvable_fields() or LAYOUT in factory.config_params:
        return factory
    if configured_staging_layout(factory.destination_name, pipeline_name) is not None:
        return factory
    own = copy.copy(factory)  # the caller's factory stays as it was
    own.config_params = {**factory.config_params, LAYOUT: staging_layout(pipeline_name, dataset_name)}
    return own


def own_staging(pipeline: dlt.Pipeline) -> dlt.Pipeline:
    """The pipeline, set to merge through a staging dataset of its own and to take turns with other loads into its
    dataset (`serialize_loads`; see the module's doc); returned for `pipeline = own_staging(dlt.pipeline(...))`,
    the form `dlt deploy` still reads a script's pipeline name from."""
    destination = pipeline.destination
    if destination is not None:
        own = _with_own_staging(destination, pipeline.pipeline_name, pipeline.dataset_name)
        if own is not None and own is not destination:
            pipeline.destination = own
    return serialize_loads(pipeline)


def drop_staging_after_each_run(pipeline: dlt.Pipeline) -> dlt.Pipeline:
    """The pipeline, its own staging dataset dropped after every `run` that completed (`drop_staging_dataset`).

    For schedulers whose helper calls `run` itself, so `scheduled_run` cannot wrap it: dlt's Airflow helper
    (PipelineTasksGroup) runs the pipeline and throws the task's folder away after, so nothing ever resumes from
    the staging dataset. A failed run keeps it; the next completed one drops it. `run` is wrapped, as `load` is by
    `serialize_loads` (the helper's `drop()` re-initializes the same object)."""
    run = pipeline.run
    if getattr(run, "_drops_staging", False):
        return pipeline

    @functools.wraps(run)
    def run_then_drop(*args: Any, **kwargs: Any) -> Any:
        info = run(*args, **kwargs)
        drop_staging_dataset(pipeline)
        return info

    run_then_drop._drops_staging = True  # type: ignore[attr-defined]
    setattr(pipeline, "run", run_then_drop)  # noqa: B010  (mypy refuses assigning to a method)
    return pipeline


LOAD_LOCK_DESTINATIONS = frozenset({"dlt.destinations.postgres"})
"""Where loads take turns: destinations with a lock that the server drops with the session (PostgreSQL's advisory
locks). DuckDB takes one writer process per file anyway; Snowflake, BigQuery and the others have no such lock."""


def load_lock_key(dataset_name: str) -> int:
    """The PostgreSQL advisory lock (a signed 64-bit key) that loads into `dataset_name` take turns on."""
    digest = hashlib.sha256(f"copernica-source load into {dataset_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def serialize_loads(pipeline: dlt.Pipeline) -> dlt.Pipeline:
    """The pipeline, its load step (the merges) run while it holds its dataset's load lock (`dataset_load_lock`),
    so loads into one dataset under any pipeline names take turns there; extract and normalize still run side by
    side. dlt has no hook around its load step, so the pipeline's `load` is wrapped; `run`, a resumed package and
    `drop()` (which re-initializes the same object) all go through it."""
    load = pipeline.load
    if getattr(load, "_takes_load_lock", False):
        return pipeline

    @functools.wraps(load)
    def load_in_turn(*args: Any, **kwargs: Any) -> Any:
        with dataset_load_lock(pipeline):
            return load(*args, **kwargs)

    load_in_turn._takes_load_lock = True  # type: ignore[attr-defined]
    setattr(pipeline, "load", load_in_turn)  # noqa: B010  (mypy refuses assigning to a method)
    return pipeline


@contextlib.contextmanager
def dataset_load_lock(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Hold the load lock of the pipeline's dataset for the block, waiting for it when another load holds it (a
    warning says so). A transaction-level lock, in a transaction of its own held open for the block on a connection
    of its own: it ends with the block, or with the connection if the process dies, and a transaction-pooling
    PgBouncer keeps the transaction on one server connection (a session lock could be left held on a pooled one).
    A no-op where the destination has no such lock (`LOAD_LOCK_DESTINATIONS`)."""
    destination = pipeline.destination
    if (destination is None or destination.destination_type not in LOAD_LOCK_DESTINATIONS
            or not pipeline.default_schema_name):
        yield
        return
    key = load_lock_key(pipeline.dataset_name)
    with pipeline.sql_client() as client, client.begin_transaction():
        # what another load's warning names as the holder (PostgreSQL cuts it at 63 characters)
        client.execute_sql("SELECT set_config('application_name', %s, false)",
                           f"copernica-source {pipeline.pipeline_name} pid {os.getpid()}"[:63])
        taken = client.execute_sql("SELECT pg_try_advisory_xact_lock(%s)", key)
        if not (taken and taken[0][0]):
            log.warning("another load into dataset %r is in its load step%s; waiting for it to end",
                        pipeline.dataset_name, _holder(client, key))
            client.execute_sql("SELECT pg_advisory_xact_lock(%s)", key)
        yield


def _holder(client: Any, key: int) -> str:
    """Who holds the load lock, as PostgreSQL sees it (" (PostgreSQL pid 4711, application ..., since ...)"), for
    a person deciding whether to wait; empty when it cannot be read (pg_stat_activity hides other users' rows)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF  # an int8 advisory key shows in pg_locks as two oids, objsubid 1
    try:
        rows = client.execute_sql(
            "SELECT a.pid, a.application_name, a.xact_start FROM pg_locks AS l JOIN pg_stat_activity AS a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s "
            "AND l.objsubid = 1", unsigned >> 32, unsigned & 0xFFFFFFFF)
    except DestinationException:
        return ""
    if not rows:
        return ""
    pid, application, since = rows[0]
    parts = [f"PostgreSQL pid {pid}"] + ([f"application {application!r}"] if application else [])
    parts += [f"since {since.isoformat(timespec='seconds')}"] if since else []
    return " (" + ", ".join(parts) + ")"


def stages_in_own_dataset(pipeline: dlt.Pipeline) -> bool:
    """Whether the pipeline's staging dataset is the one `own_staging` named (so it may be dropped)."""
    destination = pipeline.destination
    return destination is not None and destination.config_params.get(LAYOUT) == staging_layout(
        pipeline.pipeline_name, pipeline.dataset_name)


def drop_staging_dataset(pipeline: dlt.Pipeline) -> str | None:
    """Drop the pipeline's own staging dataset once its load completed; returns its name, or None when it was kept.

    Kept while a package is pending (its resumed merge reads the rows staged there), when the layout is the user's
    (it may be shared) and where the destination has no SQL client. A drop that fails is a warning, not a failed
    load: the rows are in, and the next complete load tries again."""
    if pipeline.has_pending_data or not pipeline.default_schema_name or not stages_in_own_dataset(pipeline):
        return None
    try:
        with pipeline.sql_client() as client, client.with_staging_dataset():
            if not client.has_dataset():
                return None
            name = client.dataset_name
            client.drop_dataset()
            return name
    except SqlClientNotAvailable:
        return None
    except DestinationException as exc:
        log.warning("the staging dataset of pipeline %r was not dropped (%s); the next complete load drops it",
                    pipeline.pipeline_name, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return None


def finish_pending(pipeline: dlt.Pipeline) -> bool:
    """Load the packages an interrupted run left, through the staging dataset their rows were staged in: the
    pipeline's own, or dlt's shared `<dataset>_staging` for a package an earlier release of this package left (a
    resumed merge reads the staged rows; in the other dataset it would find none). Returns whether there were any."""
    if not pipeline.has_pending_data:
        return False
    own = pipeline.destination
    legacy = _staged_the_legacy_way(pipeline)
    if legacy is not None:
        pipeline.destination = legacy
    try:
        pipeline.run().raise_on_failed_jobs()
    finally:
        if legacy is not None:
            pipeline.destination = own
    return True


def _staged_the_legacy_way(pipeline: dlt.Pipeline) -> AnyDestination | None:
    """The destination without this package's layout, when the pipeline's own staging dataset is missing and dlt's
    default one is there: a pending package was staged there before the upgrade (while a package is pending its own
    staging dataset is never dropped)."""
    own = pipeline.destination
    if own is None or not pipeline.default_schema_name or not stages_in_own_dataset(pipeline):
        return None
    legacy = copy.copy(own)
    legacy.config_params = {k: v for k, v in own.config_params.items() if k != LAYOUT}
    try:
        if _staging_dataset_exists(pipeline):
            return None
        pipeline.destination = legacy
        try:
            return legacy if _staging_dataset_exists(pipeline) else None
        finally:
            pipeline.destination = own
    except (SqlClientNotAvailable, DestinationException):
        return None


def _staging_dataset_exists(pipeline: dlt.Pipeline) -> bool:
    with pipeline.sql_client() as client, client.with_staging_dataset():
        return bool(client.has_dataset())


@contextlib.contextmanager
def no_secret_in_trace(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Delete the trace dlt saved in the pipeline's folder when the block fails on a setting dlt could not parse.

    Why: dlt pickles every run's trace (`trace.pickle`) with the attributes of the exceptions it failed on, and a
    malformed connection string is kept there whole, password and all (`native_value`), though the message hides
    it. Only such a trace is deleted; the next run writes a new one."""
    try:
        yield
    except BaseException as exc:
        if any(isinstance(e, NativeValueError | InvalidNativeValue) for e in causes(exc)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(pipeline.working_dir, TRACE_FILE_NAME))
        raise


@contextlib.contextmanager
def scheduled_run(pipeline: dlt.Pipeline, *, wait_for_lock: float = 0.0,
                  on_pending: Callable[[], None] | None = None) -> Iterator[dlt.Pipeline]:
    """One run of the pipeline, as `copernica load` makes it: its run lock held for the block (`run_lock`), a package
    an interrupted run left finished first (dlt's `run` alone would finish it and read nothing new; `on_pending` is
    told), and its own staging dataset dropped when the block ends without an error."""
    with run_lock(pipeline.pipelines_dir, pipeline.pipeline_name, wait_for_lock), no_secret_in_trace(pipeline):
        if pipeline.has_pending_data and on_pending is not None:
            on_pending()
        finish_pending(pipeline)
        yield pipeline
        drop_staging_dataset(pipeline)
