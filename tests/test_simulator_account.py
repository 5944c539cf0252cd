"""The simulator's account side: structure, profiles and subprofiles, writes, data requests, v1."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from copernica_source.simulator import Simulator

from .test_simulator import client, doc_example, get, same_shape

SMALL = dict(seed=9, events=2000, emailings=10, destinations_per_emailing=40, profiles=400, history_days=60)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(**SMALL, datarequest_delay_s=0.6, datarequest_expiry_s=1.5) as s:
        yield s


@pytest.fixture
def api(sim: Simulator) -> Iterator[httpx.Client]:
    with client(sim) as c:
        yield c


# --- shapes ---------------------------------------------------------------------------------------

def test_structure_rows_match_doc_examples(api: httpx.Client) -> None:
    cases = [("rest-get-identity.md", "identity", {"customer", "usedBy", "license"}),  # v3+ adds these (rest v3 pages)
             ("rest-get-database-views.md", "database/1/views", {"intentions"}),
             ("rest-get-view.md", "view/303", {"intentions"}),
             ("rest-get-view-views.md", "view/302/views", {"intentions"}),
             ("rest-get-rule.md", "rule/401", set()),
             ("rest-get-view-rules.md", "view/301/rules", set()),
             ("rest-get-view-rule.md", "view/301/rule/401", set()),
             ("rest-get-database-profiles.md", "database/1/profiles", set()),
             ("rest-get-profile.md", "profile/100001", set()),
             ("rest-get-view-profiles.md", "view/301/profiles", set()),
             ("rest-get-subprofile.md", "subprofile/10000001", set()),
             ("rest-get-collection-subprofiles.md", "collection/101/subprofiles", set()),
             ("rest-get-miniview-subprofiles.md", "miniview/701/subprofiles", set()),
             ("rest-get-profile-subprofiles.md", "profile/100001/subprofiles/101", set()),
             ("rest-get-collection-miniviews.md", "collection/101/miniviews", {"intentions"}),
             ("rest-get-database-unsubscribe.md", "database/1/unsubscribe", set()),
             ("rest-get-webhook.md", "webhook/1894", set())]
    for page, path, extra in cases:
        example = doc_example(page)
        body = get(api, path)
        rows = body["data"] if isinstance(body, dict) and "start" in body else [body]
        assert rows, path
        for row in rows[:20]:
            trimmed = {k: v for k, v in row.items() if k not in extra}
            if page.endswith("profiles.md") or page.endswith("profile.md") or "subprofile" in page:
                assert all(isinstance(v, str) for v in trimmed["fields"].values())
                trimmed["fields"] = example["fields"]  # field names are the database's own
            same_shape(example, trimmed, "", page)
    # databases and collections: the example embeds fields/interests/collections envelopes
    for _page, path in (("rest-get-databases.md", "databases"), ("rest-get-database.md", "database/1"),
                       ("rest-get-database-collections.md", "database/1/collections"),
                       ("rest-get-collection.md", "collection/101")):
        body = get(api, path)
        rows = body["data"] if "start" in body else [body]
        for row in rows:
            assert row["ID"].isdigit() and isinstance(row["fields"]["data"], list)
            for f in row["fields"]["data"]:
                assert set(f) == {"ID", "name", "type", "value", "displayed", "ordered", "length", "textlines",
                                  "hidden", "index"}
                assert isinstance(f["displayed"], bool) and isinstance(f["length"], str)
    types = {f["type"] for f in get(api, "database/1/fields")["data"]}
    assert {"text", "email", "integer", "float", "date", "empty_date", "datetime", "empty_datetime", "select", "big",
            "phone_gsm", "foreign_key"} <= types
    assert get(api, "database/CUSTOMERS")["ID"] == "1"  # by name, case-insensitive
    assert get(api, "identity")["id"] == "34"


def test_profile_values_are_strings_and_structure_consistent(sim: Simulator) -> None:
    for p in list(sim.dataset.rows("database/1/profiles"))[:100]:
        assert all(isinstance(v, str) for v in p["fields"].values())
        assert p["removed"] is False and p["created"] <= p["modified"]
        assert set(p["interests"]) <= {"soccer", "baseball", "tennis", "cooking", "travel", "photography"}
    assert sim.dataset.count("database/2/profiles") == SMALL["profiles"] // 10
    subs = list(sim.dataset.rows("collection/101/subprofiles"))
    ids = {p for p in sim.dataset.rows("database/1/profileids")}
    assert all(s["profile"] in ids for s in subs)


# --- profile queries ------------------------------------------------------------------------------

def test_profile_selectors_and_order(api: httpx.Client, sim: Simulator) -> None:
    everyone = list(sim.dataset.rows("database/1/profiles"))
    assert [int(p["ID"]) for p in everyone] == sorted(int(p["ID"]) for p in everyone)
    cases = [
        ({"fields[]": ["age>40", "age<=60"]},
         lambda p: p["fields"]["age"] != "" and 40 < int(p["fields"]["age"]) <= 60),
        ({"fields[]": "COUNTRY==nl"}, lambda p: p["fields"]["country"] == "NL"),
        ({"fields[]": "lastname=~M%"}, lambda p: p["fields"]["lastname"].lower().startswith("m")),
        ({"fields[]": "lastname!~%e%"}, lambda p: "e" not in p["fields"]["lastname"].lower()),
        ({"fields[]": "id>100200"}, lambda p: int(p["ID"]) > 100200),
        ({"fields[]": f"code=={everyone[5]['secret']}"}, lambda p: p["ID"] == everyone[5]["ID"]),
        ({"fields[]": f"modified>={everyone[9]['modified']}"}, lambda p: p["modified"] >= everyone[9]["modified"]),
        ({"fields[]": "nosuchfield==1"}, lambda p: True),
        ({"fields[]": "country ==NL"}, lambda p: True),
        ({"fields[]": "lastname== Müller"}, lambda p: False),
    ]
    for params, pred in cases:
        want = [p for p in everyone if pred(p)]
        body = api.get("database/1/profiles", params={**params, "limit": 1000}).json()
        assert body["total"] == len(want), params
        assert [p["ID"] for p in body["data"]] == [p["ID"] for p in want], params
    by_mod = api.get("database/1/profiles", params={"orderby": "modified", "limit": 1000}).json()["data"]
    assert [p["modified"] for p in by_mod] == sorted(p["modified"] for p in everyone)
    desc = api.get("database/1/profiles", params={"order": "desc", "limit": 5}).json()["data"]
    assert [p["ID"] for p in desc] == [p["ID"] for p in everyone[::-1][:5]]
    by_age = api.get("database/1/profiles", params={"orderby": "age", "order": "desc", "limit": 1000}).json()["data"]
    ages = [int(p["fields"]["age"] or 0) for p in by_age]
    assert ages == sorted(ages, reverse=True)
    rnd = api.get("database/1/profiles", params={"orderby": "random", "limit": 1000}).json()["data"]
    assert sorted(p["ID"] for p in rnd) == sorted(p["ID"] for p in everyone)
    only = api.get("database/1/profiles", params={"dataonly": "true", "limit": 1}).json()["data"][0]
    assert set(only) == {"ID", "fields", "interests", "modified"}
    ids = api.get("database/1/profileids", params={"limit": 1000}).json()  # ids_paging=paged (literal)
    assert ids == [p["ID"] for p in everyone]
    # parameter names are case-sensitive: LIMIT is ignored
    assert api.get("database/1/profiles", params={"LIMIT": 3}).json()["count"] == 100


def test_subprofile_queries_views_and_miniviews(api: httpx.Client, sim: Simulator) -> None:
    subs = list(sim.dataset.rows("collection/101/subprofiles"))
    paid = [s for s in subs if s["fields"]["status"] == "paid"]
    body = api.get("collection/101/subprofiles", params={"fields[]": "status==paid", "limit": 1000}).json()
    assert [s["ID"] for s in body["data"]] == [s["ID"] for s in paid]
    everything = {"limit": 1000}  # ids_paging=paged (literal): 100 IDs unless asked for more
    assert api.get("miniview/701/subprofileids", params=everything).json() == [s["ID"] for s in paid]
    assert api.get("collection/orders/subprofileids", params=everything).json() == [s["ID"] for s in subs]
    profiles = list(sim.dataset.rows("database/1/profiles"))
    adults = [p for p in profiles
              if p["fields"]["country"] == "NL" and p["fields"]["age"] and int(p["fields"]["age"]) > 17
              and p["fields"]["lastname"] != "Müller"]
    assert api.get("view/303/profileids", params=everything).json() == [p["ID"] for p in adults]
    by_amount = api.get("collection/101/subprofiles", params={"orderby": "amount", "limit": 1000}).json()["data"]
    amounts = [float(s["fields"]["amount"]) for s in by_amount]
    assert amounts == sorted(amounts)


# --- writes ---------------------------------------------------------------------------------------

def test_post_profiles_duplicates_and_validation(api: httpx.Client, sim: Simulator) -> None:
    before = sim.dataset.count("database/1/profiles")
    body = {"fields": {"EMAIL": "dup@example.com", "FirstName": "Dup", "unknown": "x"}, "interests": {"Tennis": 1}}
    ids = []
    for _ in range(2):
        r = api.post("database/1/profiles", json=body)
        assert r.status_code == 201 and r.content == b""
        assert r.headers["X-location"] == f"{sim.base_url}/v4/profile/{r.headers['X-Created']}"
        ids.append(r.headers["X-Created"])
    assert ids[0] != ids[1] and sim.dataset.count("database/1/profiles") == before + 2
    p = get(api, f"profile/{ids[0]}")
    assert (p["fields"]["email"] == "dup@example.com" and p["fields"]["firstname"] == "Dup"
            and p["interests"] == ["tennis"])
    assert p["created"] == p["modified"] == sim.now.strftime("%Y-%m-%d %H:%M:%S")
    r = api.post("database/1/profiles", data={"fields[email]": "form@example.com", "fields[age]": "33"})
    assert r.status_code == 201 and get(api, f"profile/{r.headers['X-Created']}")["fields"]["age"] == "33"
    for bad in ({"fields": "x"}, {"fields": {"age": "old"}}, {"fields": {"email": "not-an-email"}},
                {"fields": {"birthdate": "31-31-2020"}}, {"fields": {"score": "many"}}):
        r = api.post("database/1/profiles", json=bad)
        assert r.status_code == 400 and r.json() == {"error": {"message": "Invalid data provided"}}, bad
    assert sim.dataset.count("database/1/profiles") == before + 3
    writes = sim.writes
    assert [w.status for w in writes] == [201, 201, 201, 400, 400, 400, 400, 400]
    assert (writes[0].body == body and writes[0].created_id == ids[0]
            and writes[2].body["fields"]["email"] == "form@example.com")


def test_put_profiles_upsert(api: httpx.Client, sim: Simulator) -> None:
    sel = {"fields[]": "email==upsert@example.com", "create": "1"}
    r = api.put("database/1/profiles", params=sel, json={"fields": {"email": "upsert@example.com", "age": "20"}})
    assert r.status_code == 201
    new_id = r.headers["X-Created"]
    r = api.put("database/1/profiles", params=sel, json={"fields": {"age": "21.7"}})
    assert r.status_code == 204 and "X-Created" not in r.headers
    assert get(api, f"profile/{new_id}")["fields"]["age"] == "21"
    # every match is updated
    nl = get(api, "database/1/profiles", **{"fields[]": "country==NL", "limit": 1000})["data"]
    r = api.put("database/1/profiles", params={"fields[]": "country==NL"}, json={"fields": {"city": "Nijmegen"}})
    assert r.status_code == 204
    after = get(api, "database/1/profiles", **{"fields[]": "city==Nijmegen", "limit": 1000})["data"]
    assert {p["ID"] for p in after} == {p["ID"] for p in nl} and all(
        p["modified"] == sim.now.strftime("%Y-%m-%d %H:%M:%S") for p in after)
    # no change, no new modified
    one = nl[0]["ID"]
    sim.advance(seconds=60)
    m = get(api, f"profile/{one}")["modified"]
    api.put(f"profile/{one}", json={"fields": {"city": "Nijmegen"}})
    assert get(api, f"profile/{one}")["modified"] == m
    api.put(f"profile/{one}/fields", json={"city": "Arnhem"})
    assert get(api, f"profile/{one}")["modified"] > m
    assert api.put("database/1/profiles", json={"fields": {"age": 1}}).status_code == 400  # fields[] required
    r = api.put("database/1/profiles", params={"fields[]": "email==nobody@example.com"}, json={"fields": {"age": 5}})
    assert r.status_code == 204  # nothing matched, no create asked


def test_interests_subprofiles_and_deletes(api: httpx.Client, sim: Simulator) -> None:
    pid = "100003"
    assert api.put(f"profile/{pid}/interests", json=["Soccer", "travel"]).status_code == 204
    assert get(api, f"profile/{pid}/interests") == ["soccer", "travel"]
    api.post(f"profile/{pid}/interests", json={"tennis": 1, "soccer": 0})
    assert get(api, f"profile/{pid}/interests") == ["tennis", "travel"]
    objs = get(api, f"profile/{pid}/interests", **{"return": "objects"})
    assert objs[0]["name"] == "tennis" and objs[0]["group"] == "sports"
    r = api.post(f"profile/{pid}/subprofiles/ORDERS", json={"order_number": 5, "amount": "9.5", "bogus": 1})
    assert r.status_code == 201
    sid = r.headers["X-Created"]
    s = get(api, f"subprofile/{sid}")
    assert s["profile"] == pid and s["collection"] == "101" and s["fields"]["order_number"] == "5"
    assert api.post(f"profile/{pid}/subprofiles/nope", json={}).status_code == 400
    assert api.put(f"subprofile/{sid}/fields", json={"status": "shipped"}).status_code == 204
    assert get(api, f"subprofile/{sid}/fields")["status"] == "shipped"
    assert sid in get(api, "collection/101/subprofileids", limit=1000)
    before = get(api, f"profile/{pid}")
    r = api.delete(f"profile/{pid}")
    assert r.status_code == 204 and r.headers["X-deleted"] == f"profile {pid}"
    gone = get(api, f"profile/{pid}")
    assert isinstance(gone["removed"], str) and set(gone["fields"].values()) == {""}
    assert gone["modified"] == before["modified"]
    assert pid not in get(api, "database/1/profileids", limit=1000)
    assert sid not in get(api, "collection/101/subprofileids", limit=1000)
    r = api.delete(f"profile/{pid}")
    assert r.status_code == 400 and r.json()["error"]["message"] == "This profile has already been removed"
    r = api.request("DELETE", "database/1/profiles", json={"profiles": [100004, 100005]})
    assert r.status_code == 204
    ids = get(api, "database/1/profileids", limit=1000)
    assert "100004" not in ids and "100005" not in ids and "100006" in ids
    assert api.get("profile/999").json() == {"error": {"message": "No entity with supplied ID"}}


def test_v1_flat_bodies(sim: Simulator) -> None:
    base = sim.base_url + "/v1"
    tok = {"access_token": sim.access_token}
    r = httpx.post(f"{base}/database/1/profiles", params=tok, json={"email": "v1@example.com", "firstname": "Eén"})
    assert r.status_code == 201
    pid = r.headers["X-Created"]
    p = httpx.get(f"{base}/profile/{pid}", params=tok).json()
    assert p["fields"]["firstname"] == "Eén" and "removed" not in p
    assert httpx.put(f"{base}/profile/{pid}", params=tok, json={"lastname": "Flat"}).status_code == 204
    assert httpx.get(f"{base}/profile/{pid}/fields", params=tok).json()["lastname"] == "Flat"


# --- data requests --------------------------------------------------------------------------------

def test_data_request_lifecycle(api: httpx.Client, sim: Simulator) -> None:
    dest = next(sim.dataset.rows("html/emailing/1002/destinations"))
    r = api.post(f"profile/{dest['profile']}/datarequest", json={"report": "dpo@example.com"})
    assert r.status_code == 201
    rid = r.headers["X-Created"]
    assert r.content == b""  # datarequest_post_body=empty (literal); test_simulator_quirks covers json and text
    assert get(api, f"datarequest/{rid}/status") == {"status": "pending", "available": 0,
                                                     "content-type": "application/json"}
    r = api.get(f"datarequest/{rid}/data")
    assert r.status_code == 404 and r.json() == {"error": {"message": "Data not available"}}
    v1 = httpx.get(f"{sim.base_url}/v1/datarequest/{rid}", params={"access_token": sim.access_token})
    assert v1.json() == "Data not available (yet)"
    time.sleep(0.7)
    status = get(api, f"datarequest/{rid}/status")
    assert status["status"] == "available" and status["available"] > 0
    data = get(api, f"datarequest/{rid}/data")
    assert data["info"] == {"type": "profile", "id": dest["profile"]}
    kinds = {row[0] for row in data["data"]}
    assert "profile" in kinds and "html-destination" in kinds and "html-deliveries" in kinds
    assert all(isinstance(row, list) for row in data["data"])
    assert httpx.get(f"{sim.base_url}/v1/datarequest/{rid}", params={"access_token": sim.access_token}).json() == data
    time.sleep(1.0)
    assert get(api, f"datarequest/{rid}/status")["status"] == "not available"
    assert api.get(f"datarequest/{rid}/data").status_code == 404
    assert get(api, "datarequest/nope/status")["status"] == "not available"
    assert api.post("profile/1/datarequest").json() == {"error": {"message": "No entity with supplied ID"}}
    assert api.post("subprofile/1/datarequest").json() == {"error": {"message": "No subprofile with supplied ID"}}
    assert api.post("email/not-an-address/datarequest").json() == {"error": {"message": "Invalid email address"}}
    r = api.post("email/jan@example.com/datarequest", params={"report": "https://hooks.example.com/x"})
    assert r.status_code == 201 and sim.writes[-1].created_id == r.headers["X-Created"]
    assert api.post("subprofile/10000001/datarequest").status_code == 201


# --- time -----------------------------------------------------------------------------------------

def test_advance_changes_profiles(sim: Simulator, api: httpx.Client) -> None:
    before = {p["ID"]: p for p in sim.dataset.rows("database/1/profiles")}
    old_now = sim.now.strftime("%Y-%m-%d %H:%M:%S")
    sim.advance(days=5)
    now = sim.now.strftime("%Y-%m-%d %H:%M:%S")
    after = {p["ID"]: p for p in sim.dataset.rows("database/1/profiles")}
    modified = [i for i in before if i in after and after[i]["modified"] != before[i]["modified"]]
    created = [i for i in after if i not in before]
    deleted = [i for i in before if i not in after]
    assert 10 <= len(modified) <= 40 and created and deleted
    assert all(after[i]["modified"] == now for i in modified)
    assert all(old_now < after[i]["created"] <= now for i in created)
    for i in deleted:
        p = get(api, f"profile/{i}")
        assert p["removed"] and p["modified"] == before[i]["modified"]
    since = get(api, "database/1/profiles", **{"fields[]": f"modified>{old_now}", "orderby": "modified", "limit": 1000})
    assert {p["ID"] for p in since["data"]} == set(modified) | set(created)


@pytest.mark.parametrize("kind", ["drop", "truncate"])
def test_drop_and_truncate_strike_after_a_write(copernica_simulator_factory: Any, kind: str) -> None:
    s = copernica_simulator_factory(**SMALL)
    with client(s) as c:
        before = s.dataset.count("database/1/profiles")
        s.set_faults(1.0, [kind])
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            c.post("database/1/profiles", json={"fields": {"email": "blind@example.com"}})
        s.set_faults(0.0)
        assert s.dataset.count("database/1/profiles") == before + 1  # the write went through
        assert s.writes[-1].status == 201 and s.writes[-1].created_id
        assert s.requests[-1].fault == kind


def test_other_faults_strike_before_a_write(copernica_simulator_factory: Any) -> None:
    s = copernica_simulator_factory(**SMALL)
    with client(s) as c:
        before = s.dataset.count("database/1/profiles")
        s.set_faults(1.0, ["503"])
        r = c.post("database/1/profiles", json={"fields": {"email": "x@example.com"}})
        s.set_faults(0.0)
        assert r.status_code == 503 and s.dataset.count("database/1/profiles") == before and not s.writes
