"""The simulator's quirks: one switch per open question of the API pages, each reading over real HTTP.

Every switch is served in each of its readings and the answers differ as quirks.py describes; the
ground truth (`dataset.rows()`/`count()`) stays the whole list whatever the paging quirks say.
"""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from typing import Any

import httpx
import pytest

from copernica_source.simulator import Simulator, SimulatorConfig
from copernica_source.simulator.cli import build_parser, main
from copernica_source.simulator.quirks import PROFILES, SWITCHES, Quirks, parse_quirks

from .test_simulator import KINDS, client, get, jwt_for

SMALL = dict(seed=5, events=3000, emailings=12, destinations_per_emailing=30, profiles=300, history_days=60)
NO_ENTITY = "No entity with supplied ID"
INVALID_METHOD = {"error": {"message": "Invalid method"}}

Serve = Callable[..., tuple[Simulator, httpx.Client]]


@pytest.fixture
def serve(copernica_simulator_factory: Any) -> Iterator[Serve]:
    """serve(quirks, **settings) -> a started simulator (SMALL + settings) and a v4 client for it."""
    clients: list[httpx.Client] = []

    def make(quirks: str, **settings: Any) -> tuple[Simulator, httpx.Client]:
        sim = copernica_simulator_factory(**{**SMALL, **settings}, quirks=quirks)
        clients.append(client(sim))
        return sim, clients[-1]

    yield make
    for c in clients:
        c.close()


# --- the spec ---------------------------------------------------------------------------------

def test_profiles_and_defaults() -> None:
    assert SimulatorConfig().quirks == "literal" and Simulator().quirks == Quirks() == parse_quirks("literal")
    assert [f.name for f in fields(Quirks)] == list(SWITCHES)
    assert parse_quirks("lenient") == Quirks(
        ids_paging="whole", html_id_filter="all", emailings_order="asc", undocumented_gets="present",
        put_location="create", put_status="v4", errors="generic", expired_jwt="400", window_bounds="inclusive",
        unpaged_limit="honoured", total="honoured", datarequest_post_body="json", v1_engagement="present",
        modified_field="absent", logfile_csv_header="present")
    assert parse_quirks("strict") == Quirks(
        ids_paging="first_page", html_id_filter="none", emailings_order="desc", undocumented_gets="absent",
        put_location="always", put_status="303", errors="entity", expired_jwt="401", window_bounds="exclusive",
        unpaged_limit="ignored", total="never", datarequest_post_body="text", v1_engagement="absent",
        modified_field="present", database_views="all", logfile_csv_header="present", logfile_time_zone="utc",
        logfile_json_keys="example", logfile_split="parts", logfile_dates_order="desc", logfile_csv_quoting="all",
        logfile_clicks_old="present", logfile_type_listing="dates")
    assert parse_quirks("literal") == Quirks(
        ids_paging="paged", html_id_filter="documented", emailings_order="asc", undocumented_gets="absent",
        put_location="always", put_status="v4", errors="entity", expired_jwt="400", window_bounds="inclusive",
        unpaged_limit="honoured", total="honoured", datarequest_post_body="empty", v1_engagement="absent",
        modified_field="absent")


def test_parse_quirks_overrides_and_errors() -> None:
    assert parse_quirks("literal,emailings_order=desc") == replace(Quirks(), emailings_order="desc")
    assert parse_quirks("ids_paging=whole") == replace(Quirks(), ids_paging="whole")  # on top of literal
    assert parse_quirks(" strict , total=always,ids_paging = paged") == replace(PROFILES["strict"], total="always",
                                                                                 ids_paging="paged")
    assert parse_quirks("") == Quirks()
    for q in (*PROFILES.values(), replace(Quirks(), put_status="303"), replace(PROFILES["lenient"], total="never")):
        assert parse_quirks(q.spec()) == q
    assert parse_quirks("lenient,total=never").spec() == "lenient,total=never"
    with pytest.raises(ValueError, match="literal, lenient, strict"):
        parse_quirks("loose")
    with pytest.raises(ValueError, match="ids_paging, html_id_filter, emailings_order"):
        parse_quirks("literal,idspaging=whole")
    with pytest.raises(ValueError, match="whole, paged, first_page"):
        parse_quirks("ids_paging=all")
    with pytest.raises(ValueError, match="not name=value"):
        parse_quirks("literal,strict")
    with pytest.raises(ValueError, match="honoured, always, never"):
        Quirks(total="sometimes")
    with pytest.raises(ValueError, match="quirk"):
        SimulatorConfig(quirks="strict,put_status=302")
    with pytest.raises(ValueError):
        Simulator(quirks="bogus")
    sim = Simulator(quirks="strict")
    assert sim.quirks == PROFILES["strict"] and sim.dataset.quirks is sim.quirks
    assert Simulator(quirks=replace(Quirks(), total="never")).config.quirks == "literal,total=never"


def test_cli_quirks(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args([]).quirks == "literal"
    assert parser.parse_args(["--quirks", "strict,total=always"]).quirks == "strict,total=always"
    text = parser.format_help()
    assert "--quirks SPEC" in text and all(name in text for name in (*SWITCHES, *PROFILES))
    assert "ids_paging=whole|paged|first_page (paged/whole/first_page)" in text
    assert main(["--quirks", "loose", "--port", "0"]) == 2
    assert "loose" in capsys.readouterr().err


def test_cli_serves_the_quirks() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "copernica_source.simulator", "--port", "0", "--events", "500",
                             "--quirks", "lenient,total=never"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        info = dict(part.split("=", 1) for part in proc.stdout.readline().split())  # type: ignore[union-attr]
        assert proc.stderr.readline().strip() == "quirks: lenient,total=never"  # type: ignore[union-attr]
        jwt = httpx.post(info["auth_url"], data={"access_token": info["access_token"]}).text
        body = httpx.get(info["base_url"] + "/v4/html/clicks", headers={"Authorization": f"Bearer {jwt}"}).json()
        assert body["count"] == 100 and "total" not in body
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# --- one test per switch, every reading over HTTP ---------------------------------------------------

def _window(ids: list[str], mode: str, start: int | None, limit: int | None) -> list[str]:
    if mode == "whole":
        return ids
    s = 0 if start is None or mode == "first_page" else start
    n = 100 if limit is None else min(limit, 1000)
    return [] if s < 0 or n <= 0 else ids[s:s + n]


@pytest.mark.parametrize("mode", ["whole", "paged", "first_page"])
def test_ids_paging(serve: Serve, mode: str) -> None:
    sim, api = serve(f"ids_paging={mode}", profiles=600)
    for path in ("database/1/profileids", "collection/101/subprofileids", "view/301/profileids",
                 "miniview/701/subprofileids"):
        ids = list(sim.dataset.rows(path))  # ground truth: every ID in every reading
        assert len(ids) == sim.dataset.count(path) > 150, path
        for start, limit in ((None, None), (100, 50), (None, 5000), (1000, 5000), (-1, None), (None, -5), (3, 0)):
            params = {k: v for k, v in (("start", start), ("limit", limit)) if v is not None}
            r = api.get(path, params=params)
            assert r.status_code == 200 and r.json() == _window(ids, mode, start, limit), (path, params)
    assert len(api.get("collection/101/subprofileids", params={"limit": 5000}).json()) == (
        1200 if mode == "whole" else 1000)


@pytest.mark.parametrize("mode", ["all", "documented", "none"])
def test_html_id_filter(serve: Serve, mode: str) -> None:
    sim, api = serve(f"html_id_filter={mode}", events=20_000)
    for kind in KINDS:
        honours_id = mode == "all" or (mode == "documented" and kind in ("deliveries", "impressions"))
        for path in (f"html/{kind}", f"html/emailing/1003/{kind}"):
            rows = list(sim.dataset.rows(path))
            assert len(rows) >= 2, path
            cut = rows[len(rows) // 2]
            by_id = api.get(path, params={"fields[]": f"id>{cut['ID']}", "limit": 1000}).json()
            want = [r for r in rows if int(r["ID"]) > int(cut["ID"])] if honours_id else rows
            assert by_id["total"] == len(want) and by_id["data"] == want[:1000], path
            assert sim.dataset.count(f"{path}?fields[]=id>{cut['ID']}") == len(want)  # ground truth agrees
            by_time = api.get(path, params={"fields[]": f"timestamp>={cut['timestamp']}", "limit": 1}).json()
            assert by_time["total"] == sum(r["timestamp"] >= cut["timestamp"] for r in rows), path  # always applies
            other = api.get(path, params={"fields[]": f"profile=={cut['profile']}", "limit": 1000}).json()
            want = [r for r in rows if r["profile"] == cut["profile"]] if mode == "all" else rows
            assert other["total"] == len(want), path


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_emailings_order(serve: Serve, order: str) -> None:
    sim, api = serve(f"emailings_order={order}")
    for prefix in ("html", "draganddrop"):
        rows = get(api, f"{prefix}/emailings", limit=1000)["data"]
        ids = [int(r["id"]) for r in rows]
        assert len(ids) == 12 and ids == sorted(ids, reverse=order == "desc")
        assert list(sim.dataset.rows(f"{prefix}/emailings")) == rows
        assert get(api, f"{prefix}/emailings", start=2, limit=3)["data"] == rows[2:5]
        oldest_first = sorted(rows, key=lambda r: int(r["id"]))
        lo, hi = oldest_first[3]["timestamp"], oldest_first[8]["timestamp"]
        window = oldest_first[3:9] if order == "asc" else oldest_first[3:9][::-1]
        assert get(api, f"{prefix}/emailings", fromdate=lo, todate=hi)["data"] == window
        first = ids[0] if order == "asc" else ids[-1]
        by_id = get(api, f"{prefix}/emailings", fromid=first + 2, toid=first + 4)["data"]
        want = [first + 2, first + 3, first + 4]
        assert [int(r["id"]) for r in by_id] == (want if order == "asc" else want[::-1])


@pytest.mark.parametrize("mode", ["present", "absent"])
def test_undocumented_gets(serve: Serve, mode: str) -> None:
    sim, api = serve(f"undocumented_gets={mode}")
    for path in ("webhooks", "rule/401/conditions", "minirule/801/conditions"):
        r = api.get(path)
        if mode == "present":
            assert r.status_code == 200 and r.json()["data"], path
        else:
            assert r.status_code == 400 and r.json() == INVALID_METHOD, path
    # the documented places of rule conditions answer in both readings
    assert get(api, "view/301/rules")["data"][0]["conditions"]["data"]
    assert get(api, "rule/401")["conditions"]["data"] and get(api, "miniview/701/rules")["data"]
    assert get(api, "webhook/1894")["ID"] == "1894"
    v1 = httpx.get(f"{sim.base_url}/v1/rule/401/conditions", params={"access_token": sim.access_token})
    assert v1.status_code == 200  # documented on v1


@pytest.mark.parametrize("mode", ["create", "always"])
def test_put_location(serve: Serve, mode: str) -> None:
    sim, api = serve(f"put_location={mode}")
    base = f"{sim.base_url}/v4"

    def location(r: httpx.Response, kind: str, rid: Any) -> None:
        assert r.status_code == 204 and "X-Created" not in r.headers
        assert r.headers.get("X-location") == (f"{base}/{kind}/{rid}" if mode == "always" else None)

    sel = {"fields[]": "email==loc@example.com", "create": "1"}
    r = api.put("database/1/profiles", params=sel, json={"fields": {"email": "loc@example.com"}})
    new = r.headers["X-Created"]
    assert r.status_code == 201 and r.headers["X-location"] == f"{base}/profile/{new}"  # a create: both readings
    location(api.put("database/1/profiles", params=sel, json={"fields": {"age": 30}}), "profile", new)
    nl = get(api, "database/1/profiles", **{"fields[]": "country==NL", "limit": 1000})["data"]
    r = api.put("database/1/profiles", params={"fields[]": "country==NL"}, json={"fields": {"city": "Ede"}})
    location(r, "profile", nl[0]["ID"])  # the first updated profile
    r = api.put("database/1/profiles", params={"fields[]": "email==nobody@example.com"}, json={"fields": {"age": 1}})
    assert r.status_code == 204 and "X-location" not in r.headers  # nothing updated, nothing to point at
    r = api.put(f"profile/{new}", json={"fields": {"age": 31}})
    assert r.status_code == 204 and r.headers["X-location"] == f"{base}/profile/{new}"  # in both readings
    subs = get(api, "profile/100001/subprofiles/101")["data"]
    location(api.put("profile/100001/subprofiles/101", json={"product": "Kite"}), "subprofile", subs[0]["ID"])
    r = api.put("collection/101/subprofiles", params={"fields[]": "product==Kite"}, json={"status": "paid"})
    location(r, "subprofile", subs[0]["ID"])
    r = api.put("profile/100001/subprofiles/101", params={"fields[]": "product==Nothing", "create": "1"},
                json={"product": "New"})
    assert r.status_code == 201 and r.headers["X-location"].startswith(f"{base}/subprofile/")


@pytest.mark.parametrize("mode", ["v4", "303"])
def test_put_status(serve: Serve, mode: str) -> None:
    sim, api = serve(f"put_status={mode}")
    base = f"{sim.base_url}/v4"

    def answered(r: httpx.Response, v4_status: int, entity: str) -> None:
        if mode == "v4":
            assert r.status_code == v4_status and "Location" not in r.headers, r.request.url
        else:
            assert r.status_code == 303 and r.headers["Location"] == entity, r.request.url
        assert sim.writes[-1].status == r.status_code

    sel = {"fields[]": "email==see@example.com", "create": "1"}
    r = api.put("database/1/profiles", params=sel, json={"fields": {"email": "see@example.com"}})
    new = r.headers["X-Created"]  # a create names the new profile in both readings
    answered(r, 201, f"{base}/profile/{new}")
    r = api.put("database/1/profiles", params=sel, json={"fields": {"age": 30}})
    answered(r, 204, f"{base}/profile/{new}")
    assert "X-Created" not in r.headers
    answered(api.put(f"profile/{new}", json={"fields": {"age": 31}}), 204, f"{base}/profile/{new}")
    answered(api.put(f"profile/{new}/fields", json={"age": 32}), 204, f"{base}/profile/{new}")
    answered(api.put(f"profile/{new}/interests", json=["tennis"]), 204, f"{base}/profile/{new}")
    assert api.post(f"profile/{new}/interests", json={"soccer": 1}).status_code == 204  # not a PUT
    r = api.post(f"profile/{new}/subprofiles/101", json={"product": "Kite"})
    sid = r.headers["X-Created"]
    assert r.status_code == 201
    answered(api.put(f"subprofile/{sid}", json={"status": "paid"}), 204, f"{base}/subprofile/{sid}")
    answered(api.put(f"subprofile/{sid}/fields", json={"status": "new"}), 204, f"{base}/subprofile/{sid}")
    answered(api.put(f"profile/{new}/subprofiles/101", json={"status": "shipped"}), 204, f"{base}/subprofile/{sid}")
    r = api.put("collection/101/subprofiles", params={"fields[]": "product==Kite"}, json={"amount": 3})
    answered(r, 204, f"{base}/subprofile/{sid}")
    r = api.put(f"profile/{new}/subprofiles/101", params={"fields[]": "product==None", "create": "1"}, json={})
    created = sim.writes[-1].created_id
    answered(r, 201, f"{base}/subprofile/{created}")
    if mode == "303":
        assert r.headers["X-Created"] == created
    r = api.put("database/1/profiles", params={"fields[]": "email==nobody@example.com"}, json={"fields": {"age": 1}})
    answered(r, 204, f"{base}/database/1/profiles")  # nothing matched: the PUT's own URL
    p = get(api, f"profile/{new}")
    assert p["fields"]["age"] == "32" and p["interests"] == ["soccer", "tennis"]
    sub = get(api, f"subprofile/{sid}")["fields"]
    assert (sub["status"], sub["amount"]) == ("shipped", "3")


@pytest.mark.parametrize("mode", ["generic", "entity"])
def test_errors(serve: Serve, mode: str) -> None:
    _sim, api = serve(f"errors={mode}")
    entity = {"database/999": "No database with supplied ID", "database/nope/profiles": "No database with supplied ID",
              "database/999/profileids": "No database with supplied ID",
              "collection/999/subprofiles": "No collection with given ID",
              "profile/100001/subprofiles/999": "No collection with given ID",
              "subprofile/1": "No subprofile with supplied ID", "subprofile/1/fields": "No subprofile with supplied ID",
              "profile/1": NO_ENTITY, "view/999": NO_ENTITY, "rule/1": NO_ENTITY, "webhook/1": NO_ENTITY,
              "html/emailing/99999": NO_ENTITY, "draganddrop/destination/1": NO_ENTITY}
    for path, message in entity.items():
        r = api.get(path)
        assert r.status_code == 400 and r.json() == {"error": {"message": message if mode == "entity" else NO_ENTITY}}
    r = api.put("subprofile/1", json={"x": 1})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == ("No subprofile with supplied ID" if mode == "entity" else NO_ENTITY)


@pytest.mark.parametrize("mode", ["400", "401"])
def test_expired_jwt(serve: Serve, mode: str) -> None:
    sim, api = serve(f"expired_jwt={mode}")
    sim.auth.lifetime_s = -60  # the next JWT is born expired: no waiting
    expired = jwt_for(sim)
    sim.auth.lifetime_s = 86400
    for headers in ({"Authorization": f"Bearer {expired}"}, {"Authorization": "Bearer a.b.c"}, {}):
        r = httpx.get(sim.base_url + "/v4/html/emailings", headers=headers)
        if mode == "400":
            assert r.status_code == 400 and r.json() == {"error": {"message": "Invalid access token"}}
        else:
            assert r.status_code == 401 and r.json() == {"error": {"message": "Unauthorized"}}
            assert "invalid access token" not in r.text.lower()
    assert httpx.post(sim.auth_url, data={"access_token": "wrong"}).status_code == 400  # not a JWT question
    v3 = httpx.get(sim.base_url + "/v3/publisher/emailings", params={"access_token": "nope"})
    assert v3.status_code == 400 and v3.json()["error"]["message"] == "Invalid access token"
    assert api.get("html/emailings").status_code == 200


@pytest.mark.parametrize("mode", ["inclusive", "exclusive"])
def test_window_bounds(serve: Serve, mode: str) -> None:
    sim, api = serve(f"window_bounds={mode}")
    ex = mode == "exclusive"

    def inside(ts: str, lo: str, hi: str) -> bool:
        return lo < ts < hi if ex else lo <= ts <= hi

    rows = list(sim.dataset.rows("draganddrop/emailing/5006/deliveries"))
    lo, hi = rows[10]["timestamp"], rows[-10]["timestamp"]
    body = get(api, "draganddrop/emailing/5006/deliveries", begintime=lo, endtime=hi, limit=1000)
    want = [r for r in rows if inside(r["timestamp"], lo, hi)]
    assert body["data"] == want and body["total"] == len(want) < len(rows)
    every = list(sim.dataset.rows("draganddrop/clicks"))
    t = every[1000]["timestamp"]
    at_t = sum(r["timestamp"] == t for r in every)
    assert at_t > 0 and get(api, "draganddrop/clicks", begintime=t, endtime=t)["total"] == (0 if ex else at_t)
    for prefix, eid in (("html", "1006"), ("draganddrop", "5006")):
        rows = list(sim.dataset.rows(f"{prefix}/emailing/{eid}/deliveries"))
        lo, hi = rows[5]["timestamp"], rows[-5]["timestamp"]
        stats = get(api, f"{prefix}/emailing/{eid}/statistics", begintime=lo, endtime=hi)
        assert stats["deliveries"]["total"] == sum(inside(r["timestamp"], lo, hi) for r in rows)
    emailings = list(sim.dataset.rows("html/emailings"))
    lo, hi = emailings[3]["timestamp"], emailings[8]["timestamp"]
    assert get(api, "html/emailings", fromdate=lo, todate=hi)["data"] == (emailings[4:8] if ex else emailings[3:9])
    d3, d5 = emailings[3]["timestamp"][:10], emailings[5]["timestamp"][:10]
    n = SMALL["destinations_per_emailing"]
    for prefix in ("html", "draganddrop"):
        assert get(api, f"{prefix}/destinations", **{"from": d3, "to": d5})["total"] == (1 if ex else 3) * n
        assert get(api, f"{prefix}/destinations", **{"from": d3, "to": d3})["total"] == (0 if ex else n)


@pytest.mark.parametrize("mode", ["honoured", "ignored"])
def test_unpaged_limit(serve: Serve, mode: str) -> None:
    sim, api = serve(f"unpaged_limit={mode}")
    for path in ("draganddrop/clicks", "draganddrop/destinations", "html/destinations"):
        rows = list(sim.dataset.rows(path))  # ground truth: every row in both readings
        assert len(rows) == sim.dataset.count(path) > 300
        n = 7 if mode == "honoured" else 100
        body = get(api, path, start=5, limit=7)
        assert (body["start"], body["limit"], body["count"], body["total"]) == (5, n, n, len(rows))
        assert body["data"] == rows[5:5 + n]
        assert get(api, path, limit=5000)["count"] == (min(1000, len(rows)) if mode == "honoured" else 100)
        assert get(api, path, start=-1)["count"] == 0
    for path in ("html/clicks", "draganddrop/emailing/5003/clicks", "html/emailings", "database/1/profiles"):
        assert get(api, path, limit=7)["count"] == 7  # their pages document paging


@pytest.mark.parametrize("mode", ["honoured", "always", "never"])
def test_total(serve: Serve, mode: str) -> None:
    sim, api = serve(f"total={mode}")
    for path in ("html/clicks", "database/1/profiles", "draganddrop/emailings", "databases"):
        plain, off = get(api, path, limit=1), get(api, path, limit=1, total="false")
        assert ("total" in plain) == (mode != "never") and ("total" in off) == (mode == "always"), path
        assert plain.get("total", sim.dataset.count(path)) == sim.dataset.count(path)
        assert plain["count"] == 1 and list(plain)[-1] == "data"
    assert sim.dataset.count("html/clicks") == len(list(sim.dataset.rows("html/clicks"))) == 3000


@pytest.mark.parametrize("mode", ["json", "empty", "text"])
def test_datarequest_post_body(serve: Serve, mode: str) -> None:
    _sim, api = serve(f"datarequest_post_body={mode}")
    for path in ("profile/100001/datarequest", "subprofile/10000001/datarequest", "email/jan@example.com/datarequest"):
        r = api.post(path)
        rid = r.headers["X-Created"]
        assert r.status_code == 201 and r.headers["content-type"] == "application/json"
        if mode == "json":
            assert r.json() == {"id": rid}
        elif mode == "empty":
            assert r.content == b""
        else:
            assert r.content == b"OK"
            with pytest.raises(ValueError):
                r.json()
        assert get(api, f"datarequest/{rid}/status")["status"] == "pending"


@pytest.mark.parametrize("mode", ["present", "absent"])
def test_v1_engagement(serve: Serve, mode: str) -> None:
    sim, _ = serve(f"v1_engagement={mode}")
    token = {"access_token": sim.access_token}
    for path in ("publisher/emailings", "ms/emailings", "publisher/clicks", "ms/emailing/5003/clicks",
                 "html/emailing/1003/statistics", "draganddrop/destinations", "publisher/emailing/1003"):
        r = httpx.get(f"{sim.base_url}/v1/{path}", params=token)
        if mode == "present":
            assert r.status_code == 200, path
        else:
            assert r.status_code == 400 and r.json() == INVALID_METHOD, path
        assert httpx.get(f"{sim.base_url}/v2/{path}", params=token).status_code == 200
    assert httpx.get(f"{sim.base_url}/v1/database/1/profiles", params=token).status_code == 200
    assert sim.dataset.count("publisher/emailings") == 12  # ground truth asks as v4


@pytest.mark.parametrize("mode", ["absent", "present"])
def test_modified_field(serve: Serve, mode: str) -> None:
    sim, api = serve(f"modified_field={mode}")
    present = mode == "present"
    assert ("modified" in [f["name"] for f in get(api, "database/1/fields")["data"]]) == present
    assert "modified" not in [f["name"] for f in get(api, "database/2/fields")["data"]]
    everyone = list(sim.dataset.rows("database/1/profiles"))
    assert all(("modified" in p["fields"]) == present for p in everyone)
    assert all(p["modified"] > "2025" for p in everyone)  # the row's own `modified` stays the system property
    if present:
        assert {p["fields"]["modified"] for p in everyone} == {"2001-01-01 00:00:00"}
    cut = sorted(p["modified"] for p in everyone)[len(everyone) // 2]
    since = get(api, "database/1/profiles", **{"fields[]": f"modified>={cut}", "limit": 1000})["data"]
    assert [p["ID"] for p in since] == ([] if present else [p["ID"] for p in everyone if p["modified"] >= cut])
    old = get(api, "database/1/profiles", **{"fields[]": "modified<2002-01-01", "limit": 1})
    assert old["total"] == (len(everyone) if present else 0)
    by_mod = get(api, "database/1/profiles", orderby="modified", limit=1000)["data"]  # the system property
    assert [p["modified"] for p in by_mod] == sorted(p["modified"] for p in everyone)
    r = api.put("database/1/profiles", params={"fields[]": "modified<2002-01-01"}, json={"fields": {"city": "Zwolle"}})
    assert r.status_code == 204
    assert get(api, "database/1/profiles", **{"fields[]": "city==Zwolle"})["total"] == (len(everyone) if present else 0)
    r = api.post("database/1/profiles", json={"fields": {"email": "m@example.com"}})
    fields_of_new = get(api, f"profile/{r.headers['X-Created']}")["fields"]
    assert fields_of_new.get("modified") == ("2001-01-01 00:00:00" if present else None)
    assert "modified" not in get(api, "database/2/profiles", limit=1)["data"][0]["fields"]


def test_strict_profile_serves_every_hostile_reading_at_once(serve: Serve) -> None:
    sim, api = serve("strict")
    assert get(api, "draganddrop/clicks", limit=7)["count"] == 100 and "total" not in get(api, "html/clicks")
    assert [int(r["id"]) for r in get(api, "html/emailings")["data"]][:2] == [1011, 1010]
    assert api.get("database/1/profileids", params={"start": 100, "limit": 3}).json() == ["100001", "100002", "100003"]
    assert api.get("webhooks").json() == INVALID_METHOD
    assert api.post("profile/100001/datarequest").content == b"OK"
    assert api.put("profile/100001", json={"fields": {"age": 3}}).status_code == 303
    assert api.get("database/9").json()["error"]["message"] == "No database with supplied ID"
    assert httpx.get(sim.base_url + "/v4/html/clicks").status_code == 401


def test_database_views_lists_nested_selections_only_under_all(copernica_simulator_factory: Any) -> None:
    for reading, nested_listed in (("top", False), ("all", True)):
        sim = copernica_simulator_factory(profiles=20, quirks=f"database_views={reading}")
        with httpx.Client(base_url=f"{sim.base_url}/v3", params={"access_token": sim.access_token}) as http:
            listed = {int(v["ID"]) for d in (1, 2) for v in http.get(f"database/{d}/views").json()["data"]}
            nested = {int(v["ID"]) for v in http.get("view/302/views").json()["data"]}
        assert nested and (nested <= listed) == nested_listed, reading
