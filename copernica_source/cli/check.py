"""`copernica check`: the first command to run against a live account. Verifies the token and base URL, finds the
product prefixes, and asks the account (read-only, a few dozen small requests) how it answers where Copernica's
pages are silent; prints one line per answer with what the connector does about it. Paste the output into a bug
report: it holds versions, hosts and the time zone setting, never the token or the JWT.

Exit status 0 when the account can be loaded, 1 when it cannot (token rejected, host unreachable, no prefix
answers).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from dlt.common.configuration import with_config

from copernica_source.check import (
    FAIL,
    NOTE,
    OK,
    WARN,
    Finding,
    about,
    ended_checks,
    header_facts,
    in_header,
    loadable,
    run_checks,
)
from copernica_source.client import RetryPolicy
from copernica_source.settings import DEFAULT_TIMEZONE, client_from_config, listed
from copernica_source.source import check_settings
from copernica_source.tables import PRODUCTS

CHECK_RETRY_SECONDS = 60.0  # interactive: a minute of retries through 429/5xx says enough
CHECK_TIMEOUT_SECONDS = 15.0  # each check asks a page of at most 1000 IDs or rows: a host silent this long is down
FOUND_WIDTH = 72

EXAMPLES = """\
examples:
  copernica check                                    # the account in [sources.copernica]
  copernica check --json > check.json                # the same findings for a script or a bug report
  SOURCES__COPERNICA__PRODUCTS=html copernica check  # check the html product only
  copernica simulator --port 8080 &                  # then point base_url/auth_url at it and run check
"""


def add_check_command(commands: Any) -> None:
    p = commands.add_parser("check", help="check the token and how the account answers (read-only)",
                            description=__doc__, epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true",
                   help="print the findings as one JSON document instead of lines (default: lines)")
    p.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    timezone, products, timeout = _check_settings()
    client = client_from_config(request_timeout=min(timeout, CHECK_TIMEOUT_SECONDS))
    with client:
        client.retry = _bounded(client.retry)
        facts = about(client, timezone)
        findings = run_checks(client, timezone=timezone, products=products)
        requests = client.requests_made
    if args.json:
        print(json.dumps(_as_json(facts, findings, requests), indent=2, ensure_ascii=False))
        if not loadable(findings):  # stdout stays JSON; the verdict goes where errors go
            print(verdict(findings, requests), file=sys.stderr)
    else:
        print("\n".join(render(facts, findings, requests)))
    return 0 if loadable(findings) else 1


def render(facts: dict[str, str], findings: Sequence[Finding], requests: int) -> list[str]:
    """The header (what a bug report needs first), one aligned line per finding, and a summary line."""
    header = {**facts, **header_facts(findings)}
    width = max(len(k) for k in header)
    lines = [f"copernica check (copernica-source {facts['version']})"]
    lines += [f"  {k:<{width}}  {v}" for k, v in header.items() if k != "version"]
    # a failed connection is the verdict line itself; other failures (a product without prefix) stay in the list
    body = [f for f in findings if not in_header(f) and not ended_checks(f)]
    found_width = min(FOUND_WIDTH, max([len(f.found) for f in body] + [0]))
    lines.append("")
    lines += [f"{f.status:<5} {f.found:<{found_width}}  -> {f.action}" for f in body]
    lines += ["", verdict(findings, requests)] if body else [verdict(findings, requests)]
    return lines


def verdict(findings: Sequence[Finding], requests: int) -> str:
    """The last line: how many checks and how they came out, or why the account cannot be loaded."""
    failed = [f for f in findings if f.status == FAIL]
    if failed:
        return "cannot load this account: " + "; ".join(f.found for f in failed)
    counts = {s: sum(f.status == s for f in findings) for s in (OK, NOTE, WARN)}
    return (f"{len(findings)} checks: {counts[OK]} ok, {_count(counts[NOTE], 'note')}, "
            f"{_count(counts[WARN], 'warning')} ({requests} API requests)")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _as_json(facts: dict[str, str], findings: Sequence[Finding], requests: int) -> dict[str, Any]:
    return {**facts, **header_facts(findings), "loadable": loadable(findings), "requests": requests,
            "findings": [asdict(f) for f in findings]}


def _bounded(retry: RetryPolicy) -> RetryPolicy:
    """The configured retry policy, capped: check is run by a person waiting for an answer."""
    return RetryPolicy(max_attempts=min(retry.max_attempts, 8), base_delay=retry.base_delay,
                       max_delay=retry.max_delay, max_total_seconds=min(retry.max_total_seconds, CHECK_RETRY_SECONDS))


def _settings(
    timezone: str = DEFAULT_TIMEZONE, products: Any = None, request_timeout: float = 60.0
) -> tuple[str, list[str], float]:
    """The two settings of `[sources.copernica]` the checks read besides the connection ones."""
    check_settings(products=products, timezone=timezone)
    chosen = [str(p) for p in listed(products)] or list(PRODUCTS)
    return str(timezone), chosen, float(request_timeout)


_check_settings = with_config(_settings, sections=("sources", "copernica"))
