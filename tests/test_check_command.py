"""`copernica check` as users run it: the real CLI entry point, settings from env vars, a simulator per reading of
the open questions (quirks), and the output a scheduler's log would hold."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from copernica_source.check import FAIL, STATUSES, loadable, run_checks
from copernica_source.cli import main
from copernica_source.client import CopernicaClient

TOKEN = "tok-S3CRET-check-0123456789abcdef"
JWT = re.compile(r"eyJ[\w-]{5,}\.eyJ[\w-]{5,}\.")
SIM = dict(seed=7, events=2000, emailings=10, destinations_per_emailing=40, profiles=300, access_token=TOKEN)
MAX_REQUESTS = 40  # the JWT exchange and the no-credential first GET included


@dataclass
class Run:
    code: int
    out: str
    err: str
    log: str
    sim: Any

    @property
    def text(self) -> str:
        return self.out + self.err + self.log

    def line(self, needle: str) -> str:
        """The one output line that mentions `needle`."""
        found = [line for line in self.out.splitlines() if needle in line]
        assert len(found) == 1, f"{needle!r} in {len(found)} lines:\n{self.out}"
        return found[0]


@pytest.fixture
def check(
    copernica_simulator_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> Callable[..., Run]:
    """Run `copernica check` against a fresh simulator; `env` overrides the connection settings."""

    def run(*args: str, env: dict[str, str] | None = None, **settings: Any) -> Run:
        sim = copernica_simulator_factory(**{**SIM, **settings})
        values = {"SOURCES__COPERNICA__ACCESS_TOKEN": sim.access_token, "SOURCES__COPERNICA__BASE_URL": sim.base_url,
                  "SOURCES__COPERNICA__AUTH_URL": sim.auth_url, **(env or {})}
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        caplog.set_level(logging.DEBUG)
        capsys.readouterr()
        code = main(["check", *args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err, caplog.text, sim)

    return run


def assert_read_only_and_quiet(run: Run) -> None:
    """No write reached the account, few requests were made, and no secret reached any output."""
    assert run.sim.writes == []
    assert {(r.method, r.path) for r in run.sim.requests if r.method != "GET"} <= {("POST", "/authenticate")}
    assert len(run.sim.requests) <= MAX_REQUESTS, len(run.sim.requests)
    assert TOKEN not in run.text
    assert not JWT.search(run.text)
    assert "Traceback" not in run.text


LITERAL = {
    "html/clicks ignores": "note",  # the clicks page promises the timestamp filter only
    "html/deliveries honours fields[]=id>N": "ok",
    "html/impressions honours fields[]=id>N": "ok",
    "database 1 profileids: paged, 100 by default, start honoured": "ok",
    "collection 101 subprofileids: paged, 100 by default, start honoured": "ok",
    "html/emailings lists oldest first": "ok",
    "total=true sends total, total=false leaves it out": "ok",
    "draganddrop/clicks echoes limit 1000": "ok",
    "bounds inclusive": "ok",
    "GET webhooks: Invalid method": "note",
    "GET rule/401/conditions: Invalid method": "note",
    'GET database/0: 400 "No database with supplied ID"': "ok",
    'an invalid JWT gets 400 "Invalid access token"': "ok",
    "no field named modified, id or code": "ok",
}
LENIENT = {
    "html/clicks honours fields[]=id>N": "ok",
    "html/abuses honours fields[]=id>N": "ok",
    "database 1 profileids: whole list (300 IDs, total 300)": "ok",
    "html/emailings lists oldest first": "ok",
    "GET webhooks answers (2 webhooks)": "ok",
    "GET rule/401/conditions answers": "ok",
    'GET database/0: 400 "No entity with supplied ID"': "ok",
    "bounds inclusive": "ok",
}
STRICT = {
    "html/deliveries ignores fields[]=id>N, honours timestamp>T": "note",
    "database 1 profileids: paged, 100 by default, start ignored (no total)": "warn",
    "html/emailings lists newest first": "note",
    "draganddrop/emailings lists newest first": "note",
    "databases sends no total, even with total=true": "warn",
    "draganddrop/clicks answers limit 100 when asked 1000": "note",
    "html/destinations answers limit 100 when asked 1000": "note",
    "bounds exclusive": "note",
    "GET webhooks: Invalid method": "note",
    'an invalid JWT gets 401 "Unauthorized"': "note",
    "database Customers (1) has a field named modified": "warn",
}


@pytest.mark.parametrize("quirks, expected", [("literal", LITERAL), ("lenient", LENIENT), ("strict", STRICT)])
def test_each_reading_shows_in_its_line(check: Callable[..., Run], quirks: str, expected: dict[str, str]) -> None:
    run = check(quirks=quirks)
    assert run.code == 0, run.out + run.err
    for needle, status in expected.items():
        line = run.line(needle)
        assert line.split()[0] == status, line
        assert " -> " in line, line  # every finding says what the connector does
    assert run.err == ""
    assert_read_only_and_quiet(run)


def test_header_says_what_a_bug_report_needs(check: Callable[..., Run]) -> None:
    run = check(quirks="literal")
    head = run.out.split("\n\n")[0]
    assert head.startswith("copernica check (copernica-source ")
    assert f"host         127.0.0.1:{run.sim.port}" in head
    assert "timezone     Europe/Amsterdam" in head
    assert "account      Simulated account (id 34)" in head
    assert "prefixes     html/ draganddrop/" in head
    last = run.out.strip().splitlines()[-1]
    assert re.fullmatch(r"24 checks: \d+ ok, \d+ notes?, 0 warnings \(\d+ API requests\)", last), last
    # the finding lines are aligned: every arrow in the same column where the text fits
    arrows = {line.index(" -> ") for line in run.out.splitlines() if " -> " in line and len(line.split(" -> ")[0]) < 80}
    assert len(arrows) == 1, run.out


def test_json_lists_every_finding_with_a_stable_value(check: Callable[..., Run]) -> None:
    run = check("--json", quirks="lenient,emailings_order=desc,window_bounds=exclusive")
    assert run.code == 0
    report = json.loads(run.out)
    assert report["loadable"] is True and report["api_version"] == "4" and report["timezone"] == "Europe/Amsterdam"
    values = {f["question"]: f["value"] for f in report["findings"]}
    assert {f["status"] for f in report["findings"]} <= set(STATUSES)
    assert values["html/clicks cursor filter"] == "id"
    assert values["profileids paging"] == "whole"
    assert values["html/emailings order"] == "newest first"
    assert values["begintime/endtime bounds"] == "exclusive"
    assert values["GET webhooks"] == "present"
    assert_read_only_and_quiet(run)


def test_rejected_token_exits_1_with_one_clear_line(check: Callable[..., Run]) -> None:
    run = check(env={"SOURCES__COPERNICA__ACCESS_TOKEN": "wrong-" + TOKEN[::-1]})
    assert run.code == 1
    verdicts = [line for line in run.out.splitlines() if line.startswith("cannot load this account:")]
    assert len(verdicts) == 1 and "rejected the access token" in verdicts[0], run.out
    assert not [line for line in run.out.splitlines() if line.startswith(("ok ", "note ", "warn ", "fail "))]
    assert TOKEN[::-1] not in run.text
    assert_read_only_and_quiet(run)


@pytest.mark.parametrize("auth_too", [True, False], ids=["both-hosts-down", "api-host-down"])
def test_unreachable_host_exits_1_at_once(check: Callable[..., Run], auth_too: bool) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    env = {"SOURCES__COPERNICA__BASE_URL": dead}
    if auth_too:
        env["SOURCES__COPERNICA__AUTH_URL"] = dead + "/authenticate"
    started = time.monotonic()
    run = check(env=env)
    assert run.code == 1
    assert time.monotonic() - started < 10  # no minutes of retries against a host that refuses connections
    verdict = run.out.strip().splitlines()[-1]
    assert verdict.startswith("cannot load this account: cannot connect to 127.0.0.1:"), run.out
    assert "base_url" in verdict
    assert_read_only_and_quiet(run)


def test_json_failure_keeps_stdout_json_and_says_why_on_stderr(check: Callable[..., Run]) -> None:
    run = check("--json", env={"SOURCES__COPERNICA__ACCESS_TOKEN": "nope"})
    assert run.code == 1
    report = json.loads(run.out)
    assert report["loadable"] is False and report["findings"][-1]["status"] == FAIL
    assert run.err.strip().startswith("cannot load this account: ") and len(run.err.strip().splitlines()) == 1


def test_api_version_1_skips_engagement_and_keeps_the_token_out_of_logs(check: Callable[..., Run]) -> None:
    run = check(quirks="literal", env={"SOURCES__COPERNICA__API_VERSION": "1"})  # v1 sends ?access_token=
    assert run.code == 0
    assert run.line("api_version 1").startswith("note")
    assert "use api_version 4" in run.line("api_version 1")
    assert "html/" not in run.out and "draganddrop/" not in run.out and "JWT" not in run.out
    assert run.line("database 1 profileids").startswith("ok")
    assert_read_only_and_quiet(run)


def test_legacy_prefixes_and_one_product(check: Callable[..., Run]) -> None:
    run = check(prefixes="legacy", env={"SOURCES__COPERNICA__PRODUCTS": "html"})
    assert run.code == 0
    assert "prefixes     publisher/\n" in run.out
    assert run.line("publisher/deliveries honours").startswith("ok")
    assert "ms/" not in run.out  # draganddrop is not a product this account loads


def test_a_list_that_ignores_both_filters_is_a_warning(
    check: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    from copernica_source.simulator import events as sim_events

    select = sim_events.EventTable.select
    monkeypatch.setattr(sim_events.EventTable, "select", lambda self, seq, conds, n: select(self, seq, [], n))
    run = check(quirks="html_id_filter=none")
    assert run.code == 0
    line = run.line("html/clicks ignores both")
    assert line.startswith("warn") and "load fails with a clear error" in line


def test_no_prefix_answers_fails_the_product(copernica_simulator_factory: Callable[..., Any]) -> None:
    """An account whose emailings answer on neither prefix cannot load that product: a fail, and not loadable."""
    sim = copernica_simulator_factory(**SIM)
    real = httpx.HTTPTransport()

    def no_emailings(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/emailings"):
            return httpx.Response(400, json={"error": {"message": "Invalid method"}})
        response = real.handle_request(request)
        response.read()
        return response

    with CopernicaClient(TOKEN, base_url=sim.base_url, auth_url=sim.auth_url,
                         transport=httpx.MockTransport(no_emailings)) as client:
        findings = run_checks(client, products=["draganddrop"])
    failed = [f for f in findings if f.status == FAIL]
    assert [f.question for f in failed] == ["draganddrop prefix"]
    assert "neither draganddrop/ nor ms/" in failed[0].found and "Invalid method" in failed[0].found
    assert not loadable(findings)
    assert sim.writes == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_timezone_setting_is_shown_and_checked(check: Callable[..., Run]) -> None:
    run = check(env={"SOURCES__COPERNICA__TIMEZONE": "UTC"})
    assert run.code == 0
    assert "timezone     UTC" in run.out
    line = run.line("newest profile modified")
    assert line.startswith("note") and "read as UTC, where it is now" in line and "(UTC+00:00)" in line
    bad = check(env={"SOURCES__COPERNICA__TIMEZONE": "Mars/Olympus"})
    assert bad.code == 1 and "timezone 'Mars/Olympus' is not a time zone name" in bad.err
    assert bad.sim.requests == []  # a setting error is found before any request


@pytest.mark.parametrize("stamps, order", [
    (["2025-01-01 00:00:00", "2025-01-01 00:00:00", "2025-02-01 00:00:00"], "oldest first"),
    (["2025-02-01 00:00:00", "2025-01-01 00:00:00"], "newest first"),
    (["2025-02-01 00:00:00", "2025-01-01 00:00:00", "2025-03-01 00:00:00"], "unordered"),
    (["2025-01-01 00:00:00", "2025-01-01 00:00:00", None], None),
])
def test_time_order(stamps: list[Any], order: str | None) -> None:
    from copernica_source.probes import time_order

    assert time_order(stamps) == order


@pytest.mark.parametrize("paging, reading", [
    (dict(total=300, unparamed=300), "whole"),
    (dict(total=None, unparamed=300, reached=300, start_honoured=False), "whole"),  # start and limit ignored
    (dict(total=300, unparamed=100, reached=300, start_honoured=True), "paged"),
    (dict(total=None, unparamed=100, reached=1000, start_honoured=False), "paged, start ignored"),
    (dict(total=80, unparamed=80), "too few to tell"),
])
def test_id_list_paging_reading(paging: dict[str, Any], reading: str) -> None:
    from copernica_source.probes import IdListPaging

    assert IdListPaging(**paging).reading == reading
