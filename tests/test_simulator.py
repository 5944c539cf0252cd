"""The Copernica API simulator against its contract, over real HTTP (httpx).

Row shapes are checked against the JSON examples of Copernica's own v4 doc pages; behaviour against
BEHAVIOUR.md (paging, selectors, auth, errors, late events, faults).
"""
from __future__ import annotations

import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from copernica_source.simulator import Simulator, SimulatorConfig

DOCS = Path("/work/shared/copernica-api/restv4")
BASE = dict(seed=3, events=20_000, emailings=30, destinations_per_emailing=60, profiles=500, history_days=90)
KINDS = ("clicks", "deliveries", "impressions", "errors", "unsubscribes", "abuses")


def jwt_for(sim: Simulator) -> str:
    r = httpx.post(sim.auth_url, data={"access_token": sim.access_token})
    assert r.status_code == 200, r.text
    return r.text


def client(sim: Simulator) -> httpx.Client:
    return httpx.Client(base_url=sim.base_url + "/v4", headers={"Authorization": f"Bearer {jwt_for(sim)}"}, timeout=30)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(**BASE) as s:
        yield s


@pytest.fixture(scope="module")
def api(sim: Simulator) -> Iterator[httpx.Client]:
    with client(sim) as c:
        yield c


def get(api: httpx.Client, path: str, **params: Any) -> Any:
    r = api.get(path, params=params)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


# --- shapes against the doc examples --------------------------------------------------------------

NULLABLE = {"referer", "subprofile", "profile", "status", "finalgroup"}
DOC_EXTRA_KEYS = {"rest-get-ms-emailing-statistics.md": {"retries"}}  # documented in the field list, not the example


def doc_example(page: str) -> Any:
    text = (DOCS / page).read_text()
    blocks = re.findall(r"```json\s*\n(.*?)```", text, re.S)
    assert blocks, page
    return orjson.loads(re.sub(r",(\s*[}\]])", r"\1", blocks[0]))  # some examples have trailing commas


def same_shape(example: Any, actual: Any, where: str, page: str) -> None:
    if isinstance(example, dict):
        assert isinstance(actual, dict), where
        if not example:  # an empty example object ("report": {}) says nothing about keys
            return
        extra = DOC_EXTRA_KEYS.get(page, set()) if where == "" else set()
        assert set(actual) - extra == set(example), (page, where, sorted(actual), sorted(example))
        for k, v in example.items():
            same_shape(v, actual[k], f"{where}.{k}", page)
    elif isinstance(example, list):
        assert isinstance(actual, list), where
        if example and actual:
            same_shape(example[0], actual[0], where + "[]", page)
    elif example is None or actual is None:
        assert where.rsplit(".", 1)[-1] in NULLABLE, (page, where, example, actual)
    elif where.endswith(".profile") and isinstance(example, int):
        assert isinstance(actual, str)  # the ms impression example shows an int; every other profile ID is a string
    else:
        assert type(actual) is type(example), (page, where, example, actual)


def _doc_cases(sim: Simulator) -> list[tuple[str, str]]:
    html_e, ms_e = "1003", "5003"
    html_dest = next(sim.dataset.rows(f"html/emailing/{html_e}/clicks"))["destination"]
    ms_first = next(sim.dataset.rows(f"draganddrop/emailing/{ms_e}/clicks"))["destination"]
    cases = [("rest-get-publisher-emailings.md", "html/emailings"),
             ("rest-get-publisher-emailing.md", f"html/emailing/{html_e}"),
             ("rest-get-publisher-emailing-statistics.md", f"html/emailing/{html_e}/statistics"),
             ("rest-get-publisher-emailing-snapshot.md", f"html/emailing/{html_e}/snapshot"),
             ("rest-get-publisher-emailing-destinations.md", f"html/emailing/{html_e}/destinations"),
             ("rest-get-publisher-destination.md", f"html/destination/{html_dest}"),
             ("rest-get-publisher-destination-statistics.md", f"html/destination/{html_dest}/statistics"),
             ("rest-get-ms-emailings.md", "draganddrop/emailings"),
             ("rest-get-ms-emailing.md", f"draganddrop/emailing/{ms_e}"),
             ("rest-get-ms-emailing-statistics.md", f"draganddrop/emailing/{ms_e}/statistics"),
             ("rest-get-ms-emailing-snapshot.md", f"draganddrop/emailing/{ms_e}/snapshot"),
             ("rest-get-ms-emailing-destinations.md", f"draganddrop/emailing/{ms_e}/destinations"),
             ("rest-get-ms-destination.md", f"draganddrop/destination/{ms_first}"),
             ("rest-get-ms-destination-statistics.md", f"draganddrop/destination/{ms_first}/statistics")]
    for kind in KINDS:
        cases.append((f"rest-get-publisher-{kind}.md", f"html/{kind}"))
        cases.append((f"rest-get-publisher-emailing-{kind}.md", f"html/emailing/{html_e}/{kind}"))
        d = next(sim.dataset.rows(f"html/emailing/{html_e}/{kind}"))["destination"]
        cases.append((f"rest-get-publisher-destination-{kind}.md", f"html/destination/{d}/{kind}"))
        ms_dest = next(sim.dataset.rows(f"draganddrop/emailing/{ms_e}/{kind}"))["destination"]
        for page, path in ((f"rest-get-ms-{kind}.md", f"draganddrop/{kind}"),
                           (f"rest-get-ms-emailing-{kind}.md", f"draganddrop/emailing/{ms_e}/{kind}"),
                           (f"rest-get-ms-destination-{kind}.md", f"draganddrop/destination/{ms_dest}/{kind}")):
            if "```json" in (DOCS / page).read_text():
                cases.append((page, path))
    return cases


def test_rows_match_doc_examples(sim: Simulator, api: httpx.Client) -> None:
    cases = _doc_cases(sim)
    assert len(cases) > 40
    for page, path in cases:
        example = doc_example(page)
        body = get(api, path)
        if isinstance(body, dict) and "data" in body and "start" in body:
            assert body["data"], path
            for row in body["data"][:50]:
                same_shape(example, row, "", page)
        else:
            same_shape(example, body, "", page)


def test_legacy_and_current_prefixes_serve_identical_rows(sim: Simulator, api: httpx.Client) -> None:
    assert get(api, "publisher/clicks", limit=50) == get(api, "html/clicks", limit=50)
    assert get(api, "ms/emailing/5002/impressions") == get(api, "draganddrop/emailing/5002/impressions")


# --- paging ---------------------------------------------------------------------------------------

def test_paging_envelope(api: httpx.Client, sim: Simulator) -> None:
    total = sim.dataset.count("html/clicks")
    body = get(api, "html/clicks")
    assert (body["start"], body["limit"], body["count"], body["total"]) == (0, 100, 100, total)
    assert list(body) == ["start", "limit", "count", "total", "data"]
    body = get(api, "html/clicks", limit=5000, start=10)
    assert body["limit"] == 1000 and body["count"] == 1000 and body["data"][0]["ID"] == "11"
    assert "total" not in get(api, "html/clicks", total="false", limit=1)
    assert "total" not in get(api, "html/clicks", total=0, limit=1)
    for params in ({"start": -1}, {"limit": -5}, {"limit": 0}):
        body = get(api, "html/clicks", **params)
        assert body["count"] == 0 and body["data"] == []
    body = get(api, "html/clicks", start=total - 3, limit=10, bogus="x")
    assert body["count"] == 3 == len(body["data"])
    assert get(api, "html/clicks", start=total + 5)["data"] == []


def test_paging_covers_every_row_once(api: httpx.Client, sim: Simulator) -> None:
    want = list(sim.dataset.rows("draganddrop/emailing/5004/clicks"))
    got: list[dict] = []
    start = 0
    while True:
        body = get(api, "draganddrop/emailing/5004/clicks", start=start, limit=37)
        got += body["data"]
        if body["count"] < 37:
            break
        start += body["count"]
    assert got == want and len(want) > 37


# --- selectors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,quirks", [("deliveries", "literal"), ("clicks", "html_id_filter=all")])
def test_html_id_and_timestamp_selectors_match_ground_truth(copernica_simulator_factory: Any, kind: str,
                                                            quirks: str) -> None:
    """ID selectors: deliveries honour them unless html_id_filter=none, clicks only under html_id_filter=all."""
    sim = copernica_simulator_factory(**BASE, quirks=quirks)
    with client(sim) as api:
        _check_html_selectors(api, sim, kind)


def _check_html_selectors(api: httpx.Client, sim: Simulator, kind: str) -> None:
    rows = list(sim.dataset.rows(f"html/{kind}"))
    mid = rows[len(rows) // 2]
    cases = [
        (["id>100", "id<=250"], lambda r: 100 < int(r["ID"]) <= 250),
        ([f"timestamp>='{mid['timestamp']}'"], lambda r: r["timestamp"] >= mid["timestamp"]),
        ([f"timestamp<{mid['timestamp']}", "id>5000"],
         lambda r: r["timestamp"] < mid["timestamp"] and int(r["ID"]) > 5000),
        ([f"timestamp=={mid['timestamp']}"], lambda r: r["timestamp"] == mid["timestamp"]),
        (["id!=7", "id<10"], lambda r: int(r["ID"]) < 10 and r["ID"] != "7"),
        (["id<>7", "id<10"], lambda r: int(r["ID"]) < 10 and r["ID"] != "7"),
    ]
    for conds, pred in cases:
        want = [r for r in rows if pred(r)]
        body = api.get(f"html/{kind}", params={"fields[]": conds, "limit": 1000}).json()
        assert body["total"] == len(want), conds
        assert body["data"] == want[:1000], conds
    # late events: a time window holds events with higher IDs than events after the window
    start, end = rows[2000]["timestamp"], rows[4000]["timestamp"]
    body = api.get(f"html/{kind}", params={"fields[]": [f"timestamp>={start}", f"timestamp<{end}"], "limit": 1000,
                                          "start": 1000}).json()
    window = [r for r in rows if start <= r["timestamp"] < end]
    assert body["total"] == len(window) and body["data"] == window[1000:2000]
    assert any(int(r["ID"]) > 4001 for r in window)


def test_broken_selectors_are_ignored(api: httpx.Client, sim: Simulator) -> None:
    total = sim.dataset.count("html/deliveries")  # deliveries honour id selectors in the literal reading
    assert api.get("html/deliveries", params={"fields[]": "id > 5"}).json()["total"] == total
    assert api.get("html/deliveries", params={"fields[0]": "id>5"}).json()["total"] == total - 5


def test_draganddrop_begintime_endtime_inclusive(api: httpx.Client, sim: Simulator) -> None:
    rows = list(sim.dataset.rows("draganddrop/emailing/5006/deliveries"))
    lo, hi = rows[10]["timestamp"], rows[-10]["timestamp"]
    body = api.get("draganddrop/emailing/5006/deliveries",
                   params={"begintime": lo, "endtime": hi, "limit": 1000}).json()
    want = [r for r in rows if lo <= r["timestamp"] <= hi]
    assert body["data"] == want and body["total"] == len(want)
    everything = list(sim.dataset.rows("draganddrop/clicks"))
    t = everything[5000]["timestamp"]
    only = api.get("draganddrop/clicks", params={"begintime": t, "endtime": t}).json()
    assert only["data"] == [r for r in everything if r["timestamp"] == t]


def test_draganddrop_unique_clicks(api: httpx.Client) -> None:
    rows = get(api, "draganddrop/emailing/5003/clicks", unique="true", limit=1000)["data"]
    dests = [r["destination"] for r in rows]
    assert len(dests) == len(set(dests)) > 0
    assert get(api, "draganddrop/emailing/5003/clicks", limit=1)["total"] > len(rows)


def test_emailings_fromdate_todate_and_destinations(api: httpx.Client, sim: Simulator) -> None:
    all_rows = list(sim.dataset.rows("html/emailings"))
    assert [int(r["id"]) for r in all_rows] == sorted(int(r["id"]) for r in all_rows)
    lo, hi = all_rows[3]["timestamp"], all_rows[8]["timestamp"]
    got = get(api, "html/emailings", fromdate=lo, todate=hi)["data"]
    assert got == all_rows[3:9]
    dests = get(api, "html/destinations", **{"from": lo[:10], "to": hi[:10], "limit": 1000})
    assert dests["total"] == 6 * BASE["destinations_per_emailing"]
    per = get(api, f"html/emailing/{all_rows[3]['id']}/destinations", limit=1000)
    assert per["total"] == BASE["destinations_per_emailing"]
    later = get(api, f"html/emailing/{all_rows[3]['id']}/destinations", **{"fields[]": f"timestampsent>{lo}"})
    assert later["total"] == 0


def test_emailing_counters_and_statistics_equal_event_counts(api: httpx.Client, sim: Simulator) -> None:
    for prefix, eid in (("html", "1005"), ("draganddrop", "5005")):
        stats = get(api, f"{prefix}/emailing/{eid}/statistics")
        for kind in KINDS:
            n = sim.dataset.count(f"{prefix}/emailing/{eid}/{kind}")
            key = "deliveries" if kind == "deliveries" else kind
            assert stats[key]["total"] == n, (prefix, kind)
            dests = {r["destination"] for r in sim.dataset.rows(f"{prefix}/emailing/{eid}/{kind}")}
            if "unique" in stats[key]:
                assert stats[key]["unique"] == len(dests)
        per_dest = sum(get(api, f"{prefix}/destination/{d['ID']}/clicks", limit=1)["total"]
                       for d in sim.dataset.rows(f"{prefix}/emailing/{eid}/destinations"))
        assert per_dest == stats["clicks"]["total"]
    row = next(r for r in sim.dataset.rows("html/emailings") if r["id"] == "1005")
    for kind in ("clicks", "impressions", "errors", "unsubscribes", "abuses"):
        assert int(row[kind]) == sim.dataset.count(f"html/emailing/1005/{kind}")


def test_events_point_at_real_emailings_destinations_and_profiles(sim: Simulator) -> None:
    emailings = {r["id"]: r for r in sim.dataset.rows("html/emailings")}
    dests = {}
    for e in list(emailings)[:5]:
        for d in sim.dataset.rows(f"html/emailing/{e}/destinations"):
            dests[d["internal"]] = d
    seen_sub = False
    for r in sim.dataset.rows("html/emailing/1003/clicks"):
        assert r["timestamp"] >= emailings[r["emailing"]]["timestamp"]
        d = dests[r["destination"]]
        assert (d["profile"], d["subprofile"]) == (r["profile"], r["subprofile"])
        seen_sub |= r["subprofile"] is not None
    assert seen_sub  # emailing 1003 targets a collection


# --- auth, errors, prefixes -----------------------------------------------------------------------

def test_auth(sim: Simulator) -> None:
    r = httpx.post(sim.auth_url, data={"access_token": "wrong"})
    assert r.status_code == 400 and r.json() == {"error": {"message": "Invalid access token"}}
    r = httpx.post(sim.auth_url, data={"access_token": sim.access_token})
    assert r.headers["content-type"].startswith("text/plain") and r.text.count(".") == 2
    import base64
    payload = orjson.loads(base64.urlsafe_b64decode(r.text.split(".")[1] + "=="))
    assert payload["exp"] - payload["iat"] == 86400 and "sub" in payload
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": f"Bearer {r.text[:-2]}xx"},
                    {"Authorization": f"Bearer {sim.access_token}"}):
        bad = httpx.get(sim.base_url + "/v4/html/clicks", headers=headers)
        assert bad.status_code == 400 and bad.json()["error"]["message"] == "Invalid access token"
    ok = httpx.get(sim.base_url + "/v4/html/clicks", headers={"Authorization": f"Bearer {r.text}"})
    assert ok.status_code == 200
    v1 = httpx.get(sim.base_url + "/v3/publisher/clicks", params={"access_token": sim.access_token, "limit": 1})
    assert v1.status_code == 200 and v1.json()["count"] == 1
    v1 = httpx.get(sim.base_url + "/v2/publisher/clicks", params={"access_token": "nope"})
    assert v1.status_code == 400 and v1.json()["error"]["message"] == "Invalid access token"


def test_expired_jwt(copernica_simulator_factory: Any) -> None:
    # 3 s: `exp` is whole seconds, so a 1 s JWT issued late in a second could expire before a loaded machine
    # sends the first request
    s = copernica_simulator_factory(jwt_lifetime_s=3, events=100)
    jwt = jwt_for(s)
    assert httpx.get(s.base_url + "/v4/html/emailings", headers={"Authorization": f"Bearer {jwt}"}).status_code == 200
    time.sleep(4.1)
    r = httpx.get(s.base_url + "/v4/html/emailings", headers={"Authorization": f"Bearer {jwt}"})
    assert r.status_code == 400 and r.json() == {"error": {"message": "Invalid access token"}}


def test_unknown_paths_and_ids(api: httpx.Client) -> None:
    for path in ("html/nothing", "nothing", "html/emailing/1001/bogus"):
        r = api.get(path)
        assert r.status_code == 400 and r.json() == {"error": {"message": "Invalid method"}}
    for path in ("html/emailing/99999", "draganddrop/emailing/1001/clicks", "html/destination/12/clicks"):
        r = api.get(path)
        assert r.status_code == 400 and r.json() == {"error": {"message": "No entity with supplied ID"}}


@pytest.mark.parametrize("mode,ok,refused", [("current", ("html", "draganddrop"), ("publisher", "ms")),
                                              ("legacy", ("publisher", "ms"), ("html", "draganddrop"))])
def test_prefix_modes(copernica_simulator_factory: Any, mode: str, ok: tuple, refused: tuple) -> None:
    s = copernica_simulator_factory(prefixes=mode, events=200)
    with client(s) as c:
        for p in ok:
            assert c.get(f"{p}/clicks").status_code == 200
            assert c.get(f"{p}/emailings").status_code == 200
        for p in refused:
            r = c.get(f"{p}/clicks")
            assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid method"
    assert s.dataset.count("publisher/clicks") == s.dataset.count("html/clicks")


# --- time -----------------------------------------------------------------------------------------

def test_advance_adds_events_including_late_ones(copernica_simulator_factory: Any) -> None:
    s = copernica_simulator_factory(events=5000, emailings=10, history_days=30, destinations_per_emailing=30,
                                    quirks="html_id_filter=all")  # the check below pages clicks by ID
    before = s.now
    n0 = s.dataset.count("html/clicks")
    last_ts = max(r["timestamp"] for r in s.dataset.rows("html/clicks"))
    stats0 = next(s.dataset.rows("html/emailing/1009/statistics"))
    s.advance(days=3)
    assert (s.now - before).total_seconds() == 3 * 86400
    rows = list(s.dataset.rows("html/clicks"))
    new = rows[n0:]
    assert len(new) == round(5000 * 3 / 30)
    assert any(r["timestamp"] < last_ts for r in new)  # late events carry timestamps before the old now
    assert sorted(int(r["ID"]) for r in rows) == list(range(1, len(rows) + 1))
    assert s.dataset.count("html/emailings") == 11
    assert next(s.dataset.rows("html/emailing/1009/statistics")) != stats0
    with client(s) as c:
        body = c.get("html/clicks", params={"fields[]": f"id>{n0}", "limit": 1000}).json()
        assert body["data"] == new


def test_determinism() -> None:
    cfg = SimulatorConfig(seed=11, events=3000, emailings=8, profiles=100)
    a, b = Simulator(cfg), Simulator(cfg)
    for path in ("html/clicks", "draganddrop/impressions", "html/emailings", "draganddrop/destinations"):
        assert list(a.dataset.rows(path)) == list(b.dataset.rows(path))
    a.advance(days=2)
    b.advance(days=2)
    assert list(a.dataset.rows("html/errors")) == list(b.dataset.rows("html/errors"))
    c = Simulator(cfg, seed=12)
    assert list(c.dataset.rows("html/clicks"))[:50] != list(a.dataset.rows("html/clicks"))[:50]


# --- faults and latency ---------------------------------------------------------------------------

def _raw_get(sim: Simulator, path: str, jwt: str) -> tuple[int | None, bytes, dict]:
    """One request on a fresh connection; (status or None if dropped, body, headers)."""
    try:
        r = httpx.get(sim.base_url + path, headers={"Authorization": f"Bearer {jwt}"}, timeout=10)
        return r.status_code, r.content, dict(r.headers)
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        return None, str(exc).encode(), {}


@pytest.mark.parametrize("kind", ["429", "503", "502", "504", "drop", "truncate", "slow"])
def test_each_fault_kind(copernica_simulator_factory: Any, kind: str) -> None:
    s = copernica_simulator_factory(events=500)
    jwt = jwt_for(s)
    s.set_faults(1.0, [kind])
    t0 = time.perf_counter()
    status, body, headers = _raw_get(s, "/v4/html/clicks", jwt)
    took = time.perf_counter() - t0
    s.set_faults(0.0)
    rec = s.requests[-1]
    assert rec.fault == kind and rec.path == "/v4/html/clicks"
    if kind == "429":
        assert status == 429 and headers["retry-after"] == "1" and orjson.loads(body)["error"]
    elif kind in ("503", "502", "504"):
        assert status == int(kind) and headers["content-type"].startswith("text/html")
        if kind == "503":
            assert b"Loadbalancer Error" in body and b"too many requests to handle" in body
    elif kind in ("drop", "truncate"):
        assert status is None
    else:
        assert status == 200 and took >= 1.5 and orjson.loads(body)["count"] == 100
    assert _raw_get(s, "/v4/html/clicks", jwt)[0] == 200


def test_faults_on_auth_and_fault_rate(copernica_simulator_factory: Any) -> None:
    s = copernica_simulator_factory(events=500, fault_rate=0.3, fault_kinds=("503",), seed=5)
    statuses = [httpx.post(s.auth_url, data={"access_token": s.access_token}).status_code for _ in range(60)]
    assert set(statuses) == {200, 503} and 5 < statuses.count(503) < 35
    assert [r.status for r in s.requests] == statuses


def test_latency(copernica_simulator_factory: Any) -> None:
    s = copernica_simulator_factory(events=500, latency_ms=80)
    with client(s) as c:
        t0 = time.perf_counter()
        c.get("html/emailings")
        assert time.perf_counter() - t0 >= 0.08
        s.set_latency(0)
        t0 = time.perf_counter()
        c.get("html/emailings")
        assert time.perf_counter() - t0 < 0.08


def test_keep_alive_and_concurrency(sim: Simulator) -> None:
    jwt = jwt_for(sim)
    errors: list[Any] = []

    def worker(k: int) -> None:
        with httpx.Client(base_url=sim.base_url + "/v4", headers={"Authorization": f"Bearer {jwt}"}) as c:
            for n in range(10):
                r = c.get("html/clicks", params={"start": (k * 10 + n) * 100})
                if r.status_code != 200 or r.json()["data"][0]["ID"] != str((k * 10 + n) * 100 + 1):
                    errors.append(r.text[:100])

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# --- standalone and speed -------------------------------------------------------------------------

def test_standalone_cli() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "copernica_source.simulator", "--port", "0", "--events", "2000",
                             "--seed", "4", "--access-token", "T0k", "--now", "2026-11-20T12:00:00",
                             "--history-days", "5"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        fields = dict(part.split("=", 1) for part in line.split())
        assert set(fields) == {"base_url", "auth_url", "access_token"} and fields["access_token"] == "T0k"
        jwt = httpx.post(fields["auth_url"], data={"access_token": "T0k"}).text
        r = httpx.get(fields["base_url"] + "/v4/html/clicks", headers={"Authorization": f"Bearer {jwt}"},
                      params={"limit": 1000})
        assert r.status_code == 200 and r.json()["total"] == 2000
        # --now sets the account's clock: its history is the days before it
        days = {str(d)[:10] for c in r.json()["data"] for d in [c["timestamp"]]}
        assert days and all("2026-11-15" <= d <= "2026-11-20" for d in days), sorted(days)
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_page_of_1000_at_1m_events_is_fast() -> None:
    with Simulator(events=1_000_000) as s, client(s) as c:
        times = []
        for k in range(20):
            t0 = time.perf_counter()
            r = c.get("html/clicks", params={"start": k * 49_000, "limit": 1000})
            times.append(time.perf_counter() - t0)
            assert r.json()["count"] == 1000
        assert statistics.median(times) < 0.05  # generous for loaded CI machines; typically ~8 ms


# --- layering: no import circles, a lazy pytest plugin --------------------------------------------

def test_pytest_plugin_imports_no_simulator() -> None:
    """pytest imports the plugin in every run wherever the package is installed; the simulator loads
    only when a test asks for one of its fixtures."""
    code = ("import json, sys, copernica_source.simulator.pytest_plugin\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('copernica_source', 'dlt', 'httpx')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert orjson.loads(out) == ["copernica_source", "copernica_source.simulator",
                                 "copernica_source.simulator.pytest_plugin"]
