"""The typed face of `copernica_source` must not change how `[sources.copernica]` text is read: dlt coerces config
to a parameter's runtime hint, so these settings keep reaching the source as written."""

from __future__ import annotations

from typing import Any

import pytest

import copernica_source.source as source_module
from copernica_source import copernica_source
from copernica_source.errors import ConfigurationError

NOWHERE = "http://127.0.0.1:1"  # building the source asks nothing of Copernica


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__COPERNICA__ACCESS_TOKEN", "tok")
    monkeypatch.setenv("SOURCES__COPERNICA__BASE_URL", NOWHERE)


def test_dates_from_env_reach_parse_moment_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    real = source_module.parse_moment

    def spy(value: Any, timezone: str, name: str) -> Any:
        seen[name] = value
        return real(value, timezone, name)

    monkeypatch.setattr(source_module, "parse_moment", spy)
    monkeypatch.setenv("SOURCES__COPERNICA__START_DATE", "2024-03-31 02:30:00")  # inside the DST gap
    monkeypatch.setenv("SOURCES__COPERNICA__END_DATE", "2024/04/15")
    copernica_source()
    assert seen == {"start_date": "2024-03-31 02:30:00", "end_date": "2024/04/15"}


def test_a_date_that_is_not_one_is_our_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__COPERNICA__START_DATE", "soon")
    with pytest.raises(ConfigurationError, match="start_date='soon' is not a date"):
        copernica_source()


def test_lists_as_env_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__COPERNICA__PRODUCTS", "html,draganddrop")
    monkeypatch.setenv("SOURCES__COPERNICA__DATABASE_IDS", "1,4")
    monkeypatch.setenv("SOURCES__COPERNICA__COLLECTION_IDS", "[7]")
    source = copernica_source()
    assert {"html_emailings", "draganddrop_emailings"} <= set(source.resources)


def test_an_unknown_deletions_value_is_our_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__COPERNICA__DELETIONS", "purge")
    with pytest.raises(ConfigurationError, match="deletions must be one of"):
        copernica_source()
