"""The simulator's daily log files over real HTTP: `logfiles` (dates, names) and `logfile/$name/{csv,json,xml}`.

The columns are read from Copernica's pages here, independently of the simulator's table; the rows are held
against the ground truth (`dataset.logfile_rows()`) in all three formats and against the event lists the
simulator already serves (same time, profile, IP, link...). Then each quirk value, each download fault, and a
large day streamed without the body in memory.
"""
from __future__ import annotations

import csv
import io
import re
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from copernica_source.simulator import Simulator
from copernica_source.simulator.logfiles import TYPES
from copernica_source.simulator.quirks import PROFILES

from .test_simulator import client, jwt_for

DOCS = Path("/work/shared/copernica-api/restv4")
SMALL = dict(seed=3, events=4000, emailings=12, destinations_per_emailing=40, profiles=300, history_days=30)
NO_ENTITY = {"error": {"message": "No entity with supplied ID"}}
KINDS = {"clicks": ("pom-clicks", "cdm-click"), "deliveries": ("pom-deliveries", "cdm-delivery"),
         "impressions": ("pom-impressions", "cdm-impression"), "errors": ("pom-errors", "cdm-error"),
         "unsubscribes": ("pom-unsubscribes", "cdm-unsubscribe"), "abuses": ("pom-abuses", "cdm-abuse")}


# --- helpers ------------------------------------------------------------------------------------------

def page_of(log_type: str) -> Path:
    return DOCS / ("rest-feedback-loop-errors.md" if log_type == "feedback-loop-errors"
                   else f"rest-{log_type}-logfile.md")


def page_columns(log_type: str) -> list[str]:
    """The `Data` column of the page's field table, in the page's order."""
    lines = page_of(log_type).read_text().splitlines()
    start = next(k for k, line in enumerate(lines) if re.match(r"\|\s*Data\s*\|", line))
    out = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        out.append(line.split("|")[1].strip())
    return out


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def parse_csv(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body, newline="")))


def parse_xml(body: str) -> list[list[tuple[str, str]]]:
    root = ET.fromstring(body)
    assert root.tag == "records"
    return [[(field.tag, field.text or "") for field in record] for record in root]


def truth(sim: Simulator, log_type: str, day: str) -> list[dict[str, Any]]:
    return list(sim.dataset.logfile_rows(log_type, day))


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(**SMALL, quirks="logfile_clicks_old=present") as s:  # every type, the other switches literal
        yield s


@pytest.fixture(scope="module")
def api(sim: Simulator) -> Iterator[httpx.Client]:
    with client(sim) as c:
        yield c


def busiest_day(sim: Simulator, log_type: str) -> str:
    counts = sim.dataset.logfile_counts()
    return max(counts, key=lambda d: (counts[d].get(log_type, 0), d))


# --- the pages ----------------------------------------------------------------------------------------

def test_columns_and_types_follow_the_pages() -> None:
    for name, lt in TYPES.items():
        assert list(lt.columns) == page_columns(name), name
    table = (DOCS / "rest-get-logfiles-names.md").read_text()
    listed = re.findall(r"^\| \[([a-z-]+)\]", table, re.M)
    assert listed == [t for t in TYPES if t != "pom-clicks-old"]  # the names page's table, in its order
    assert (DOCS / "rest-pom-clicks-old-logfile.md").exists()


# --- listing ------------------------------------------------------------------------------------------

def test_dates_are_the_days_from_the_first_event_on(sim: Simulator, api: httpx.Client) -> None:
    dates = api.get("logfiles").json()
    first = (sim.now - timedelta(days=SMALL["history_days"])).date()  # history starts at the first event
    days = [date.fromisoformat(d) for d in dates]
    assert days[0] == first and days[-1] == sim.now.date() - timedelta(days=1)  # now is midnight: no events today
    assert days == [first + timedelta(days=k) for k in range(len(days))]  # 4000 events in 30 days: every day
    assert dates == sim.dataset.logfile_dates() == list(sim.dataset.logfile_counts())
    with httpx.Client(base_url=sim.base_url + "/v3", params={"access_token": sim.access_token}) as v3:
        assert v3.get("logfiles").json() == dates  # served on every version, like the other paths


def test_names_by_date_by_type_and_both(sim: Simulator, api: httpx.Client) -> None:
    counts = sim.dataset.logfile_counts()
    day = busiest_day(sim, "pom-attempts")
    names = api.get("logfiles", params={"date": day}).json()
    assert names == [f"{t}.{day}.log" for t in TYPES if t in counts[day]]  # the names page's order
    assert names == sim.dataset.logfile_names(date=day)
    assert {"pom-attempts", "cdm-attempts", "pom-deliveries", "pom-clicks-old"} <= set(counts[day])
    by_type = api.get("logfiles", params={"type": "pom-errors"}).json()
    assert by_type == [f"pom-errors.{d}.log" for d in counts if "pom-errors" in counts[d]]
    assert api.get("logfiles", params={"date": day, "type": "cdm-click"}).json() == [f"cdm-click.{day}.log"]
    before = (date.fromisoformat(min(counts)) - timedelta(days=1)).isoformat()
    for params in ({"date": before}, {"type": "pom-nonsense"}, {"date": "yesterday"}, {"date": "2025-13-01"},
                   {"date": day, "type": "cdm-nope"}):
        assert api.get("logfiles", params=params).json() == [], params
    assert api.get("logfiles", params={"date": "", "type": ""}).json() == api.get("logfiles").json()  # empty: absent
    assert api.get(f"logfiles&date={day}").json() == {"error": {"message": "Invalid method"}}  # the page's typo


def test_unknown_names_answer_the_usual_error(sim: Simulator, api: httpx.Client) -> None:
    day = busiest_day(sim, "pom-clicks")
    first = date.fromisoformat(sim.dataset.logfile_dates()[0])
    for name in ("nope.log", f"pom-click.{day}.log", f"pom-clicks.{first - timedelta(days=1)}.log",
                 f"pom-clicks.{sim.now.date() + timedelta(days=3)}.log", f"pom-clicks.{day}.log.1",
                 f"pom-clicks.{day}", "pom-clicks.2025-02-30.log"):
        r = api.get(f"logfile/{name}/csv")
        assert (r.status_code, r.json()) == (400, NO_ENTITY), name
    assert api.get(f"logfile/pom-clicks.{day}.log/pdf").json() == {"error": {"message": "Invalid method"}}


# --- every type, three formats --------------------------------------------------------------------------

@pytest.mark.parametrize("log_type", list(TYPES))
def test_every_type_in_three_formats(sim: Simulator, api: httpx.Client, log_type: str) -> None:
    day = busiest_day(sim, log_type)
    rows = truth(sim, log_type, day)
    assert rows and len(rows) == sim.dataset.logfile_count(log_type, day)
    columns = page_columns(log_type)
    assert all(list(row) == columns for row in rows)
    name = f"{log_type}.{day}.log"

    r = api.get(f"logfile/{name}/csv")
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["transfer-encoding"] == "chunked" and "content-length" not in r.headers
    assert r.content.endswith(b"\r\n")
    assert parse_csv(r.text) == [[text_of(v) for v in row.values()] for row in rows]  # no header: literal

    r = api.get(f"logfile/{name}/json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    parsed = r.json()
    assert parsed == rows and all(list(obj) == columns for obj in parsed)

    r = api.get(f"logfile/{name}/xml")
    assert r.status_code == 200 and r.headers["content-type"] == "application/xml; charset=utf-8"
    assert parse_xml(r.text) == [[(k, text_of(v)) for k, v in row.items()] for row in rows]


def test_values_are_typed_and_plausible(sim: Simulator) -> None:
    day = busiest_day(sim, "pom-clicks")
    ints = {"groupid", "mailingid", "profile", "profileid", "subprofile", "subprofileid", "databaseid",
            "collectionid", "template", "templateid", "document", "documentid", "linkinfo", "attempts", "attempt",
            "response"}
    seen_empty: set[str] = set()
    for log_type in TYPES:
        for row in truth(sim, log_type, busiest_day(sim, log_type)):
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["time"])
            for k, v in row.items():
                assert isinstance(v, int) if k in ints and v != "" else isinstance(v, str), (log_type, k, v)
                if v == "":
                    seen_empty.add(k)
            if "email" in row:
                assert re.fullmatch(r"[a-z0-9.]+@[a-z.]+", row["email"]), row
    assert {"subprofile", "countrycode", "city", "header", "tags", "collectionid"} <= seen_empty
    clicks = truth(sim, "pom-clicks", day)
    assert {len(r["id"]) for r in clicks} == {32} and all(r["time"].startswith(day) for r in clicks)
    assert any("," in r["countryname"] for r in truth(sim, "pom-impressions", busiest_day(sim, "pom-impressions")))


# --- consistency with the event lists -------------------------------------------------------------------

def _html_events(sim: Simulator, kind: str, day: str) -> list[dict[str, Any]]:
    q = urlencode([("fields[]", f"timestamp>={day} 00:00:00"), ("fields[]", f"timestamp<={day} 23:59:59")])
    return list(sim.dataset.rows(f"html/{kind}?{q}"))


def _dnd_events(sim: Simulator, kind: str, day: str) -> list[dict[str, Any]]:
    q = urlencode({"begintime": f"{day} 00:00:00", "endtime": f"{day} 23:59:59"})
    return list(sim.dataset.rows(f"draganddrop/{kind}?{q}"))


def _one(sim: Simulator, path: str) -> dict[str, Any]:
    return dict(next(sim.dataset.rows(path)))


def _check_event_row(sim: Simulator, product: str, kind: str, event: dict[str, Any], row: dict[str, Any],
                     cache: dict[str, Any]) -> None:
    assert row["time"] == event["timestamp"]
    dest = cache.get(product + event["destination"])
    if dest is None:
        dest = cache[product + event["destination"]] = _one(sim, f"{product}/destination/{event['destination']}")
    assert row["id"] == (dest["ID"] if product == "html" else dest["messageID"])
    assert row["profile"] == int(dest["profile"]) and row["subprofile"] == (
        "" if dest["subprofile"] is None else int(dest["subprofile"]))
    if product == "html":
        assert row["profile"] == int(event["profile"])
    mailing = event["emailing"] if product == "html" else event["mailing"]
    emailing = cache.get(product + mailing)
    if emailing is None:
        emailing = cache[product + mailing] = _one(sim, f"{product}/emailing/{mailing}")
    assert row["template"] == int(emailing["template"])
    assert row["senderdomain"] == emailing["from_address"]["email"].split("@")[1]
    if product == "html":
        assert row["document"] == int(emailing["document"])
    else:
        assert row["tags"] == ";".join(emailing["tags"])
    if kind in ("clicks", "impressions"):
        assert row["ip"] == event["ip"]
        if row["header"]:
            assert row["header"].split("\n")[0] == f"User-Agent: {event['useragent']}"
            assert ("Referer: " + event["referer"] in row["header"]) if event.get("referer") else (
                "\n" not in row["header"])
    if kind == "clicks" and product == "html":
        assert row["linkinfo"] == int(event["link_id"])
    if kind == "deliveries":
        assert row["attempts"] == (int(event["attempt"]) if product == "html" else event["attempts"] - 1)
    if kind == "errors":
        assert (row["code"], row["type"], row["description"]) == (event["errorcode"], event["errortype"],
                                                                  event["description"])
    if kind == "abuses":
        if product == "html":
            assert row["mail"] == event["details"]
        else:
            assert bool(row["mail"]) == bool(event["report"])


def test_logs_hold_the_events_the_lists_serve(sim: Simulator) -> None:
    counts = sim.dataset.logfile_counts()
    days = [busiest_day(sim, "pom-attempts"), busiest_day(sim, "cdm-attempts"), list(counts)[-1],
            busiest_day(sim, "pom-abuses")]
    cache: dict[str, Any] = {}
    checked = 0
    for day in days:
        for kind, (pom, cdm) in KINDS.items():
            for product, log_type, events in (("html", pom, _html_events(sim, kind, day)),
                                              ("draganddrop", cdm, _dnd_events(sim, kind, day))):
                rows = truth(sim, log_type, day)
                assert len(rows) == len(events), (day, log_type)
                for event, row in zip(events, rows, strict=True):  # both in event ID (arrival) order
                    _check_event_row(sim, product, kind, event, row, cache)
                    checked += 1
    assert checked > 500
    # the address is the profile's
    row = truth(sim, "pom-clicks", days[0])[0]
    assert row["email"] == _one(sim, f"profile/{row['profile']}")["fields"]["email"]


def test_attempts_are_the_sends_and_the_retries(sim: Simulator) -> None:
    for product, prefix in (("html", "pom"), ("draganddrop", "cdm")):
        day = list(sim.dataset.rows(f"{product}/emailings"))[3]["timestamp"][:10]  # a day with a send
        sends = list(sim.dataset.rows(f"{product}/destinations?from={day}&to={day}"))
        deliveries = _html_events(sim, "deliveries", day) if product == "html" else _dnd_events(sim, "deliveries",
                                                                                                 day)
        retried = [e for e in deliveries if (int(e["attempt"]) if product == "html" else e["attempts"] - 1) >= 1]
        rows = truth(sim, f"{prefix}-attempts", day)
        retries = truth(sim, f"{prefix}-retries" if product == "html" else "cdm-retry", day)
        assert sends and len(rows) == len(sends) + len(retried) == len(sends) + len(retries)
        key = "id" if product == "html" else "messageID"
        sent_rows = [r for r in rows if r["time"] in {s["timestampsent"] for s in sends}]
        assert sorted(r["id"] for r in sent_rows) == sorted(s[key] for s in sends)
        by_id = {s[key]: s for s in sends}
        for r in sent_rows:
            s = by_id[r["id"]]
            assert (r["time"], r["mailingid"], r["profileid"]) == (s["timestampsent"], int(s["mailing"]),
                                                                   int(s["profile"]))
            if product == "html":
                assert r["groupid"] == int(s["mailing-group"])
        attempt = "attempts" if product == "html" else "attempt"
        assert [(r["time"], r[attempt]) for r in retries] == [
            (e["timestamp"], (int(e["attempt"]) if product == "html" else e["attempts"] - 1) - 1) for e in retried]
        first_send = rows.index(sent_rows[0])  # arrival order: the retries before the send come first
        assert all(r["time"] <= sent_rows[0]["time"] for r in rows[:first_send])


def test_todays_file_grows_and_past_files_only_gain_late_rows(copernica_simulator_factory: Any) -> None:
    s = copernica_simulator_factory(**{**SMALL, "now": datetime(2026, 1, 1, 12, 0)})
    today = "2026-01-01"
    assert s.dataset.logfile_dates()[-1] == today
    before = {d: truth(s, "pom-deliveries", d) for d in ("2025-12-29", "2025-12-31", today)}
    assert all(r["time"] < "2026-01-01 12:00:00" for r in before[today])
    s.advance(hours=30)
    after = {d: truth(s, "pom-deliveries", d) for d in before}
    for d in before:
        assert after[d][: len(before[d])] == before[d], d  # rows only ever appended
    assert len(after[today]) > len(before[today])
    assert s.dataset.logfile_dates()[-1] == "2026-01-02"
    assert sum(len(after[d]) - len(before[d]) for d in ("2025-12-29", "2025-12-31")) >= 0


# --- quirks ---------------------------------------------------------------------------------------------

def _get(c: httpx.Client, path: str, **params: Any) -> httpx.Response:
    r = c.get(path, params=params)
    assert r.status_code == 200, (path, r.text)
    return r


def test_profiles_carry_the_logfile_switches() -> None:
    literal, lenient, strict = PROFILES["literal"], PROFILES["lenient"], PROFILES["strict"]
    assert (literal.logfile_csv_header, literal.logfile_time_zone, literal.logfile_json_keys, literal.logfile_split,
            literal.logfile_dates_order, literal.logfile_csv_quoting, literal.logfile_clicks_old) == (
        "none", "local", "fields", "one", "asc", "minimal", "absent")
    assert lenient.logfile_csv_header == "present" and lenient.logfile_split == "one"
    assert (strict.logfile_csv_header, strict.logfile_time_zone, strict.logfile_json_keys, strict.logfile_split,
            strict.logfile_dates_order, strict.logfile_csv_quoting, strict.logfile_clicks_old) == (
        "present", "utc", "example", "parts", "desc", "all", "present")


@pytest.mark.parametrize("header", ["none", "present"])
def test_logfile_csv_header(copernica_simulator_factory: Any, header: str) -> None:
    s = copernica_simulator_factory(**SMALL, quirks=f"logfile_csv_header={header}")
    day = busiest_day(s, "pom-errors")
    with client(s) as c:
        lines = parse_csv(_get(c, f"logfile/pom-errors.{day}.log/csv").text)
        jsoned = _get(c, f"logfile/pom-errors.{day}.log/json").json()
    rows = [[text_of(v) for v in r.values()] for r in truth(s, "pom-errors", day)]
    assert lines == ([page_columns("pom-errors")] if header == "present" else []) + rows
    assert jsoned == truth(s, "pom-errors", day)


@pytest.mark.parametrize("zone", ["local", "utc"])
def test_logfile_time_zone(copernica_simulator_factory: Any, zone: str) -> None:
    # two weeks across the end of summer time (2025-10-26 03:00 CEST -> 02:00 CET)
    s = copernica_simulator_factory(**{**SMALL, "now": datetime(2025, 11, 1), "history_days": 14},
                                    quirks=f"logfile_time_zone={zone}")
    amsterdam = ZoneInfo("Europe/Amsterdam")
    counts = s.dataset.logfile_counts()
    total = sum(c.get("pom-clicks", 0) for c in counts.values())
    assert total == s.dataset.count("html/clicks")  # every click in exactly one day's file
    events = {e["ID"]: e for e in s.dataset.rows("html/clicks")}
    logged = [r for d in counts for r in truth(s, "pom-clicks", d)]
    offsets = set()
    with client(s) as c:
        for d in counts:
            got = [r["time"] for r in _get(c, f"logfile/pom-clicks.{d}.log/json").json()]
            assert all(t.startswith(d) for t in got), d  # the file's day is the day of its times
    times = sorted(e["timestamp"] for e in events.values())
    for local_text, row_time in zip(times, sorted(r["time"] for r in logged), strict=True):
        local = datetime.fromisoformat(local_text)
        expected = local if zone == "local" else local.replace(tzinfo=amsterdam).astimezone(UTC).replace(tzinfo=None)
        assert row_time == expected.isoformat(sep=" "), (local_text, row_time)
        offsets.add(local - datetime.fromisoformat(row_time))
    assert offsets == ({timedelta(0)} if zone == "local" else {timedelta(hours=1), timedelta(hours=2)})


@pytest.mark.parametrize("keys", ["fields", "example"])
def test_logfile_json_keys(copernica_simulator_factory: Any, keys: str) -> None:
    s = copernica_simulator_factory(**SMALL, quirks=f"logfile_json_keys={keys}")
    day = busiest_day(s, "pom-clicks")
    with client(s) as c:
        obj = _get(c, f"logfile/pom-clicks.{day}.log/json").json()[0]
        tags = [k for k, _ in parse_xml(_get(c, f"logfile/pom-clicks.{day}.log/xml").text)[0]]
        attempts = _get(c, f"logfile/pom-attempts.{busiest_day(s, 'pom-attempts')}.log/json").json()[0]
        csv_head = parse_csv(_get(c, f"logfile/cdm-click.{busiest_day(s, 'cdm-click')}.log/csv").text)[0]
    fields = page_columns("pom-clicks")
    expected = fields if keys == "fields" else [
        {"profile": "profileid", "subprofile": "subprofileid", "template": "templateid",
         "document": "documentid"}.get(k, k) for k in fields]
    assert list(obj) == tags == expected
    assert list(attempts) == page_columns("pom-attempts")  # already the example's names
    assert len(csv_head) == len(page_columns("cdm-click"))  # CSV has no keys (and no header under literal)


@pytest.mark.parametrize("split", ["one", "parts"])
def test_logfile_split(copernica_simulator_factory: Any, split: str) -> None:
    s = copernica_simulator_factory(**SMALL, quirks=f"logfile_split={split}", logfile_part_rows=7)
    day = busiest_day(s, "pom-attempts")
    rows = truth(s, "pom-attempts", day)
    assert len(rows) > 14
    parts = -(-len(rows) // 7)
    with client(s) as c:
        names = _get(c, "logfiles", date=day, type="pom-attempts").json()
        expected = [f"pom-attempts.{day}.log"] + ([f"pom-attempts.{day}.log.{k}" for k in range(1, parts)]
                                                  if split == "parts" else [])
        assert names == expected and s.dataset.logfile_names(day, "pom-attempts") == names
        got = [_get(c, f"logfile/{n}/json").json() for n in names]
        csv_rows = [row for n in names for row in parse_csv(_get(c, f"logfile/{n}/csv").text)]
        assert c.get(f"logfile/pom-attempts.{day}.log.{parts}/csv").json() == NO_ENTITY
    assert [r for part in got for r in part] == rows
    assert csv_rows == [[text_of(v) for v in r.values()] for r in rows]
    if split == "parts":
        assert [len(p) for p in got] == [7] * (parts - 1) + [len(rows) - 7 * (parts - 1)]
        assert all(f".log.{k}" in n for k, n in enumerate(names) if k)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_logfile_dates_order(copernica_simulator_factory: Any, order: str) -> None:
    s = copernica_simulator_factory(**SMALL, quirks=f"logfile_dates_order={order}")
    with client(s) as c:
        dates = _get(c, "logfiles").json()
        by_type = _get(c, "logfiles", type="pom-errors").json()
    assert dates == sorted(dates, reverse=order == "desc") and len(dates) == 30
    days = [n.split(".")[1] for n in by_type]
    assert days == sorted(days, reverse=order == "desc")


@pytest.mark.parametrize("quoting", ["minimal", "all"])
def test_logfile_csv_quoting(copernica_simulator_factory: Any, quoting: str) -> None:
    s = copernica_simulator_factory(**SMALL, quirks=f"logfile_csv_quoting={quoting},logfile_csv_header=present")
    day = busiest_day(s, "pom-impressions")
    with client(s) as c:
        body = _get(c, f"logfile/pom-impressions.{day}.log/csv").text
    lines = body.split("\r\n")
    assert lines[-1] == ""
    if quoting == "all":
        assert lines[0] == ",".join(f'"{k}"' for k in page_columns("pom-impressions"))
        assert ',"",' in body and all(line.startswith('"') for line in lines[:-1])
    else:
        assert lines[0] == ",".join(page_columns("pom-impressions"))
        assert ',"",' not in body and ",," in body and '"Korea, Republic of"' in body
    rows = truth(s, "pom-impressions", day)
    assert parse_csv(body)[1:] == [[text_of(v) for v in r.values()] for r in rows]
    assert any("\n" in r["header"] for r in rows)  # a quoted field with a line break in it


@pytest.mark.parametrize("old", ["absent", "present"])
def test_logfile_clicks_old(copernica_simulator_factory: Any, old: str) -> None:
    s = copernica_simulator_factory(**SMALL, quirks=f"logfile_clicks_old={old}")
    day = busiest_day(s, "pom-clicks")
    with client(s) as c:
        names = _get(c, "logfiles", date=day).json()
        r = c.get(f"logfile/pom-clicks-old.{day}.log/json")
        by_type = _get(c, "logfiles", type="pom-clicks-old").json()
    assert (f"pom-clicks-old.{day}.log" in names) == (old == "present") == bool(by_type)
    if old == "absent":
        assert r.json() == NO_ENTITY
        with pytest.raises(KeyError):
            s.dataset.logfile_count("pom-clicks-old", day)
    else:
        assert r.json() == [{k: v for k, v in row.items() if k != "linkinfo"} for row in truth(s, "pom-clicks", day)]


def test_strict_serves_every_logfile_reading_at_once(copernica_simulator_factory: Any) -> None:
    s = copernica_simulator_factory(**SMALL, quirks="strict", logfile_part_rows=10)
    with client(s) as c:
        dates = _get(c, "logfiles").json()
        assert dates == sorted(dates, reverse=True)
        day = busiest_day(s, "pom-attempts")
        names = _get(c, "logfiles", date=day).json()
        assert f"pom-attempts.{day}.log.1" in names and f"pom-clicks-old.{day}.log" in names
        body = _get(c, f"logfile/pom-attempts.{day}.log/csv").text
        assert body.startswith('"id","time","groupid"')
        assert "profileid" in _get(c, f"logfile/pom-clicks.{busiest_day(s, 'pom-clicks')}.log/json").json()[0]


# --- faults ---------------------------------------------------------------------------------------------

def _raw(sim: Simulator, path: str, jwt: str) -> tuple[bytes, bytes]:
    """One GET on a fresh socket, read to EOF: (head, body as received)."""
    host, port = sim.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {jwt}\r\n\r\n"
        sock.sendall(head.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


@pytest.fixture
def s(sim: Simulator) -> Iterator[Simulator]:
    """The module's simulator for a fault test: no fault armed or drawn before, none left after."""
    assert not sim.faults.armed()
    yield sim
    sim.set_faults(0.0)
    while sim.faults.take_armed():
        pass


def test_cut_announces_the_length_then_closes_halfway(s: Simulator) -> None:
    day = busiest_day(s, "pom-clicks")
    path = f"/v4/logfile/pom-clicks.{day}.log/csv"
    jwt = jwt_for(s)
    with client(s) as c:
        whole = _get(c, path.removeprefix("/v4/")).content
    s.arm_logfile_faults("cut")
    head, body = _raw(s, path, jwt)
    assert head.startswith(b"HTTP/1.1 200") and b"Transfer-Encoding" not in head
    assert f"Content-Length: {len(whole)}".encode() in head and b"Connection: close" in head
    assert body == whole[: len(whole) // 2]
    assert s.requests[-1].fault == "cut"
    s.arm_logfile_faults("cut")
    with client(s) as c, pytest.raises(httpx.RemoteProtocolError):
        c.get(path.removeprefix("/v4/"))
    with client(s) as c:
        assert _get(c, path.removeprefix("/v4/")).content == whole  # armed for one download only


@pytest.mark.parametrize("fmt", ["csv", "json", "xml"])
def test_corrupt_breaks_the_middle_row(s: Simulator, fmt: str) -> None:
    day = busiest_day(s, "pom-deliveries")
    rows = truth(s, "pom-deliveries", day)
    s.arm_logfile_faults("corrupt")
    with client(s) as c:
        r = _get(c, f"logfile/pom-deliveries.{day}.log/{fmt}")
    middle = len(rows) // 2
    if fmt == "csv":
        parsed = parse_csv(r.text)
        width = len(page_columns("pom-deliveries"))
        assert [k for k, row in enumerate(parsed) if len(row) != width] == [middle]
        assert parsed[middle] == [text_of(v) for v in rows[middle].values()][: width // 2]
        assert parsed[:middle] + parsed[middle + 1:] == [[text_of(v) for v in row.values()]
                                                         for k, row in enumerate(rows) if k != middle]
    elif fmt == "json":
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(r.content)
    else:
        with pytest.raises(ET.ParseError):
            ET.fromstring(r.text)
    assert s.requests[-1].fault == "corrupt"


def test_armed_faults_queue_and_strike_logfile_downloads_only(s: Simulator) -> None:
    day = busiest_day(s, "pom-clicks")
    s.arm_logfile_faults("503", times=2)
    s.arm_logfile_faults("429")
    assert s.faults.armed() == ["503", "503", "429"]
    with client(s) as c:
        assert c.get("html/clicks").status_code == 200  # not a download
        assert c.get("logfiles").status_code == 200  # nor the listing
        statuses = [c.get(f"logfile/pom-clicks.{day}.log/json").status_code for _ in range(4)]
        assert statuses == [503, 503, 429, 200]
        s.arm_logfile_faults("drop")
        with pytest.raises(httpx.RemoteProtocolError):
            c.get(f"logfile/pom-clicks.{day}.log/xml")
    with pytest.raises(ValueError, match="cut, corrupt"):
        s.arm_logfile_faults("explode")


@pytest.mark.parametrize("kind", ["429", "503", "truncate"])
def test_drawn_faults_strike_logfile_routes_too(s: Simulator, kind: str) -> None:
    day = busiest_day(s, "cdm-click")
    jwt = jwt_for(s)
    s.set_faults(1.0, [kind])
    head, body = _raw(s, f"/v4/logfile/cdm-click.{day}.log/csv", jwt)
    s.set_faults(0.0)
    if kind == "truncate":  # a streamed body is cut as `cut` does
        length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
        assert head.startswith(b"HTTP/1.1 200") and len(body) == length // 2
    else:
        assert head.startswith(f"HTTP/1.1 {kind}".encode())
    assert s.requests[-1].fault == kind


# --- streaming and speed --------------------------------------------------------------------------------

def _peak_rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status)[1])  # type: ignore[index]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's peak RSS from /proc")
def test_a_large_day_streams_without_the_body_in_memory() -> None:
    """~65,000 clicks in a day, ~17 MB of CSV, from a simulator in its own process: its peak RSS grows by
    far less than the body while the file streams, and the rows/s is printed (not asserted: timed tests
    measure the machine; tests/benchmarks/bench_logfiles.py measures the simulator)."""
    proc = subprocess.Popen([sys.executable, "-m", "copernica_source.simulator", "--port", "0", "--events", "130000",
                             "--history-days", "2", "--emailings", "4", "--destinations-per-emailing", "500",
                             "--profiles", "4000"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        where = dict(part.split("=", 1) for part in line.split())
        jwt = httpx.post(where["auth_url"], data={"access_token": where["access_token"]}).text
        with httpx.Client(base_url=where["base_url"] + "/v4", headers={"Authorization": f"Bearer {jwt}"},
                          timeout=60) as c:
            day = c.get("logfiles").json()[0]
            c.get(f"logfile/pom-abuses.{day}.log/csv")  # a small file first: imports, first buffers
            before = _peak_rss_kb(proc.pid)
            t0 = time.perf_counter()
            size = rows = 0
            tail = b""
            with c.stream("GET", f"logfile/pom-clicks.{day}.log/csv") as r:
                for chunk in r.iter_raw():
                    size += len(chunk)
                    rows += (tail + chunk[:1]).count(b"\r\n") + chunk.count(b"\r\n")  # fields hold bare \n only
                    tail = chunk[-1:]
            seconds = time.perf_counter() - t0
            grown = (_peak_rss_kb(proc.pid) - before) * 1024
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"\npom-clicks CSV from a simulator process: {rows:,} rows, {size / 1e6:.1f} MB in {seconds:.2f} s = "
          f"{rows / seconds:,.0f} rows/s; its peak RSS grew {grown / 1e6:.1f} MB")
    assert rows > 50_000 and size > 12_000_000
    assert grown < size / 4  # a body held whole would grow it by more than its size (its text, then its bytes)


@pytest.mark.parametrize("listing", ["names", "dates"])
def test_logfile_type_listing(copernica_simulator_factory: Any, listing: str) -> None:
    s = copernica_simulator_factory(**SMALL, quirks=f"logfile_type_listing={listing}")
    with client(s) as c:
        dates = _get(c, "logfiles").json()
        by_type = _get(c, "logfiles", type="pom-errors").json()
        both = _get(c, "logfiles", type="pom-errors", date=dates[-1]).json()
    if listing == "dates":
        assert by_type == dates
    else:
        assert by_type and all(n.startswith("pom-errors.") for n in by_type)
    assert all(n.startswith("pom-errors.") and dates[-1] in n for n in both)
