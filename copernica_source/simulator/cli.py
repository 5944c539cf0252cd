"""`python -m copernica_source.simulator` / `copernica simulator`: serve a simulated account."""
from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from datetime import datetime

from .config import ALL_FAULT_KINDS, SimulatorConfig
from .quirks import PROFILES, SWITCHES, describe
from .simulator import Simulator

EXAMPLES = """\
examples:
  copernica simulator --port 8080                  # prints base_url=... auth_url=... access_token=...
  copernica simulator --port 0 --events 200000     # a free port, a bigger account
  copernica simulator --quirks strict --fault-rate 0.05 --latency-ms 50
"""


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS)") from None


def build_parser() -> argparse.ArgumentParser:
    d = SimulatorConfig()
    p = argparse.ArgumentParser(prog="copernica simulator", description="Serve a simulated Copernica REST API.",
                                epilog=EXAMPLES + "\nquirks: readings of the API pages' open questions\n" + describe(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=d.host, help=f"address to listen on (default {d.host})")
    p.add_argument("--port", type=int, default=8080, help="port to listen on; 0 picks a free one (default 8080)")
    p.add_argument("--seed", type=int, default=d.seed,
                   help=f"the account's data: the same seed and sizes give the same rows (default {d.seed})")
    p.add_argument("--events", type=int, default=d.events,
                   help=f"html clicks at start; the other event tables scale with it (default {d.events:,})")
    p.add_argument("--emailings", type=int, default=d.emailings,
                   help=f"emailings per mail product at start (default {d.emailings})")
    p.add_argument("--destinations-per-emailing", type=int, default=d.destinations_per_emailing,
                   help=f"recipients of each emailing (default {d.destinations_per_emailing})")
    p.add_argument("--profiles", type=int, default=d.profiles,
                   help=f"profiles of the first database; the second has a tenth (default {d.profiles:,})")
    p.add_argument("--databases", type=int, default=d.databases, help=f"databases (default {d.databases})")
    p.add_argument("--history-days", type=float, default=d.history_days,
                   help=f"days of history before --now that the events spread over (default {d.history_days:g})")
    p.add_argument("--now", type=_moment, default=d.now, metavar="YYYY-MM-DD[THH:MM:SS]",
                   help=f"the account's clock at start, in its zone (default {d.now:%Y-%m-%d}, whatever today is: "
                        "the account's history ends there, so backfill days before it)")
    p.add_argument("--latency-ms", type=float, default=d.latency_ms,
                   help=f"added to every answer, as a real API's round trip (default {d.latency_ms:g})")
    p.add_argument("--jitter-ms", type=float, default=d.jitter_ms,
                   help=f"random extra latency, up to this much (default {d.jitter_ms:g})")
    p.add_argument("--fault-rate", type=float, default=d.fault_rate,
                   help=f"share of requests answered with a fault, 0 to 1 (default {d.fault_rate:g})")
    p.add_argument("--fault-kinds", default=",".join(ALL_FAULT_KINDS), metavar="KINDS",
                   help="comma-separated faults to draw from: 429 and 5xx answers, drop (connection closed), "
                        f"truncate (a body cut short), slow (default: all: {','.join(ALL_FAULT_KINDS)})")
    p.add_argument("--access-token", default=d.access_token,
                   help=f"the token the account accepts (default {d.access_token})")
    p.add_argument("--jwt-lifetime", type=float, default=d.jwt_lifetime_s,
                   help=f"seconds a JWT from the auth URL stays valid (default {d.jwt_lifetime_s:g})")
    p.add_argument("--prefixes", choices=("current", "legacy", "both"), default=d.prefixes,
                   help="which mail product path prefixes it answers: current (html/, draganddrop/), legacy "
                        f"(publisher/, ms/) or both (default {d.prefixes})")
    p.add_argument("--timezone", default=d.timezone,
                   help=f"the account's zone: its days, and those of the log files (default {d.timezone})")
    p.add_argument("--logfile-part-rows", type=int, default=d.logfile_part_rows,
                   help=f"rows per log file part under logfile_split=parts (default {d.logfile_part_rows:,})")
    p.add_argument("--quirks", metavar="SPEC", default=d.quirks,
                   help=f"a profile ({'|'.join(PROFILES)}) and/or comma-separated name=value overrides, e.g. "
                        f"'strict' or 'literal,emailings_order=desc'; switches: {', '.join(SWITCHES)} (values below)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    kinds = tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip())
    try:
        cfg = SimulatorConfig(
            seed=args.seed, events=args.events, emailings=args.emailings,
            destinations_per_emailing=args.destinations_per_emailing, databases=args.databases,
            profiles=args.profiles, history_days=args.history_days, now=args.now, latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms, fault_rate=args.fault_rate, fault_kinds=kinds, access_token=args.access_token,
            jwt_lifetime_s=args.jwt_lifetime, prefixes=args.prefixes, host=args.host, port=args.port,
            quirks=args.quirks, timezone=args.timezone, logfile_part_rows=args.logfile_part_rows)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stopping: list[int] = []  # a plain flag: a handler that took a lock the interrupted main thread holds would hang

    def on_signal(signum: int, frame: object) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        sim = Simulator(cfg).start()
    except (OSError, OverflowError) as exc:  # port in use, out of range, no permission
        print(f"error: cannot listen on {cfg.host}:{cfg.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"base_url={sim.base_url} auth_url={sim.auth_url} access_token={sim.access_token}", flush=True)
        print(f"quirks: {sim.quirks.spec()}", file=sys.stderr, flush=True)
        while not stopping:
            time.sleep(0.2)
    finally:
        sim.stop()
        for s, h in previous.items():
            signal.signal(s, h)
    return 0
