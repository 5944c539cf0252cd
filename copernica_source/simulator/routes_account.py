"""HTTP routes of the account structure, profiles, subprofiles, their writes and data requests."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import orjson

from .account import Account
from .clock import Clock
from .datarequests import PENDING_TEXT, DataRequests
from .paging import IdListing, Listing
from .quirks import Quirks
from .router import (
    INVALID_DATA,
    INVALID_METHOD,
    NO_COLLECTION,
    NO_DATABASE,
    NO_ENTITY,
    NO_SUBPROFILE,
    ApiError,
    Handler,
    Request,
    Response,
    Router,
)
from .structure import Collection, Database, View, rules_hold
from .writes import EMAIL_RE, field_values, interest_names

ID = "(?P<id>[^/]+)"
REST = "(?:/.*)?"  # Copernica ignores extra path components after some write paths
DATAREQUEST_BODIES = {"empty": b"", "text": b"OK"}  # datarequest_post_body quirk; json renders {"id": ...}
_Entity = TypeVar("_Entity")


def register(router: Router, acc: Account, drs: DataRequests, clock: Clock, q: Quirks) -> None:
    """Serve the account (its structure, profile stores and cascading deletes) and its data requests;
    `clock` stamps deletes, `q` picks the readings of the open questions."""
    st, profiles, subs = acc.structure, acc.profiles, acc.subprofiles
    per_entity = q.errors == "entity"  # the errors quirk: rmuit's per-entity not-found messages
    no_database, no_collection, no_subprofile = ((NO_DATABASE, NO_COLLECTION, NO_SUBPROFILE) if per_entity
                                                 else (NO_ENTITY, NO_ENTITY, NO_ENTITY))

    # --- lookups ------------------------------------------------------------------------
    def database(req: Request) -> Database:
        d = st.database(req.match["id"])
        if d is None:
            raise ApiError(no_database)
        return d

    def collection(key: str, db: int | None = None) -> Collection:
        c = st.collection(key, db)
        if c is None:
            raise ApiError(no_collection)
        return c

    def profile_id(key: str) -> int:
        if not key.isdigit() or profiles.get(int(key)) is None:
            raise ApiError(NO_ENTITY)
        return int(key)

    def subprofile_id(key: str) -> int:
        if not key.isdigit() or subs.get(int(key)) is None:
            raise ApiError(no_subprofile)
        return int(key)

    def entity(table: dict[int, _Entity], key: str) -> _Entity:
        if not key.isdigit() or int(key) not in table:
            raise ApiError(NO_ENTITY)
        return table[int(key)]

    def render_profile(req: Request) -> Any:
        def render(rid: int, dataonly: bool) -> dict[str, Any]:
            row = profiles.render(rid, dataonly)
            if req.version == 1:
                row.pop("removed", None)
            return row
        return render

    def created(req: Request, rid: int, kind: str = "profile") -> Response:
        location = f"{req.base_url}/v{req.version}/{kind}/{rid}"
        return Response(201, headers={"X-Created": str(rid), "X-location": location}, created_id=str(rid))

    def no_content(headers: dict[str, str] | None = None) -> Response:
        return Response(204, headers=headers or {})

    def url(req: Request, kind: str, rid: int) -> str:
        return f"{req.base_url}/v{req.version}/{kind}/{rid}"

    def updated(req: Request, kind: str, targets: list[int]) -> Response:
        """A list PUT that only updated: X-location names the first updated entity under put_location=always."""
        first = url(req, kind, targets[0]) if targets else None
        resp = no_content({"X-location": first} if first and q.put_location == "always" else None)
        return put_answer(req, resp, first)

    def put_answer(req: Request, resp: Response, entity: str | None) -> Response:
        """put_status=303: every PUT on (sub)profiles answers 303 See Other, Location = the entity (the
        created or first updated one; the PUT's own URL when none matched); a create keeps X-Created."""
        if q.put_status == "303":
            resp.status = 303
            resp.headers["Location"] = entity or f"{req.base_url}/v{req.version}/{req.path}"
            if resp.created_id is not None:
                resp.headers["X-Created"] = resp.created_id
        return resp

    def undocumented(handler: Handler, in_v1: bool = False) -> Handler:
        """GETs no v2-v4 page documents: 400 Invalid method under undocumented_gets=absent (kept on v1
        when the v1 pages document them)."""
        if q.undocumented_gets == "present":
            return handler

        def refuse(req: Request) -> Any:
            if in_v1 and req.version == 1:
                return handler(req)
            raise ApiError(INVALID_METHOD)
        return refuse

    def id_list(ids: Iterable[int]) -> IdListing:
        return IdListing.of([str(r) for r in ids])

    # --- identity and structure ---------------------------------------------------------
    add = router.add
    add("GET", "identity", lambda req: st.identity(req.version))
    add("GET", "databases", lambda req: Listing.of([st.database_json(d) for d in st.databases.values()]))
    add("GET", f"database/{ID}", lambda req: st.database_json(database(req)))
    add("GET", f"database/{ID}/fields", lambda req: Listing.of([f.render() for f in database(req).fields]))
    add("GET", f"database/{ID}/interests", lambda req: Listing.of(st.interests_json(database(req))))
    add("GET", f"database/{ID}/collections", lambda req: Listing.of(
        [st.collection_json(c) for c in st.collections.values() if c.database == database(req).id]))
    def database_views(req: Request) -> Listing:
        db = database(req).id
        if q.database_views == "all":  # nested selections listed beside their parents too
            return Listing.of([st.view_json(v) for v in st.views.values() if v.owner == db])
        return Listing.of([st.view_json(v) for v in st.child_views("database", db)])

    add("GET", f"database/{ID}/views", database_views)
    add("GET", f"database/{ID}/unsubscribe", lambda req: (database(req), {"behavior": "update",
                                                                            "fields": {"newsletter": "no"}})[1])
    add("GET", f"collection/{ID}", lambda req: st.collection_json(collection(req.match["id"])))
    add("GET", f"collection/{ID}/fields", lambda req: Listing.of(
        [{"ID": str(f.id), "name": f.name, "type": f.type} for f in collection(req.match["id"]).fields]))
    add("GET", f"collection/{ID}/miniviews", lambda req: Listing.of(
        [st.view_json(v) for v in st.miniviews.values() if v.owner == collection(req.match["id"]).id]))
    add("GET", f"collection/{ID}/unsubscribe", lambda req: (collection(req.match["id"]), {"behavior": "nothing"})[1])
    add("GET", f"view/{ID}", lambda req: st.view_json(entity(st.views, req.match["id"])))
    add("GET", f"view/{ID}/views", lambda req: Listing.of(
        [st.view_json(v) for v in st.child_views("view", entity(st.views, req.match["id"]).id)]))
    add("GET", f"view/{ID}/rules", lambda req: Listing.of(
        [st.rule_json(r) for r in entity(st.views, req.match["id"]).rules]))
    add("GET", f"view/{ID}/rule/(?P<rule>[^/]+)", lambda req: (
        entity(st.views, req.match["id"]), st.rule_json(entity(st.rules, req.match["rule"])))[1])
    add("GET", f"rule/{ID}", lambda req: st.rule_json(entity(st.rules, req.match["id"])))
    add("GET", f"rule/{ID}/conditions", undocumented(lambda req: Listing.of(
        st.rule_json(entity(st.rules, req.match["id"]))["conditions"]["data"]), in_v1=True))
    add("GET", f"miniview/{ID}", lambda req: st.view_json(entity(st.miniviews, req.match["id"])))
    add("GET", f"miniview/{ID}/rules", lambda req: Listing.of(
        [st.rule_json(r, mini=True) for r in entity(st.miniviews, req.match["id"]).rules]))
    add("GET", f"miniview/{ID}/minirule/(?P<rule>[^/]+)", lambda req: (
        entity(st.miniviews, req.match["id"]), st.rule_json(entity(st.minirules, req.match["rule"]), mini=True))[1])
    add("GET", f"minirule/{ID}", lambda req: st.rule_json(entity(st.minirules, req.match["id"]), mini=True))
    add("GET", f"minirule/{ID}/conditions", undocumented(lambda req: Listing.of(
        st.rule_json(entity(st.minirules, req.match["id"]), mini=True)["conditions"]["data"]), in_v1=True))
    add("GET", "webhooks", undocumented(lambda req: Listing.of(list(st.webhooks.values()))))
    add("GET", f"webhook/{ID}", lambda req: entity(st.webhooks, req.match["id"]))

    # --- profiles -----------------------------------------------------------------------
    def view_filter(view: View, store: Any) -> tuple[str, Any]:
        chain = st.view_chain(view) if view.parent_type != "collection" else [view]

        def keep(rid: int) -> bool:
            rec = store.get(rid)
            values = {k.lower(): v for k, v in rec.fields.items()}
            return all(rules_hold(v, values) for v in chain)
        return f"view{view.id}", keep

    add("GET", f"database/{ID}/profiles", lambda req: profiles.listing(
        database(req).id, req.conds, req.params, render_profile(req)))
    add("GET", f"database/{ID}/profileids", lambda req: id_list(profiles.live_ids(database(req).id)))
    add("GET", f"view/{ID}/profiles", lambda req: (lambda v: profiles.listing(
        v.owner, req.conds, req.params, render_profile(req), view_filter(v, profiles)))(
            entity(st.views, req.match["id"])))
    add("GET", f"view/{ID}/profileids", lambda req: (lambda v: id_list(profiles.matching(
        v.owner, [], view_filter(v, profiles)[1])))(entity(st.views, req.match["id"])))
    add("GET", f"profile/{ID}", lambda req: render_profile(req)(profile_id(req.match["id"]), False))
    add("GET", f"profile/{ID}/fields", lambda req: profiles.render(profile_id(req.match["id"]))["fields"])

    def profile_interests(req: Request) -> Any:
        rec = profiles.record(profile_id(req.match["id"]))
        known = {n: (i, g) for i, n, g in st.databases[rec.owner].interests}
        mode = req.params.get("return", "names")
        if mode == "ids":
            return [str(known[n][0]) for n in rec.interests]
        if mode == "objects":
            return [{"ID": str(known[n][0]), "name": n, "group": known[n][1]} for n in rec.interests]
        return list(rec.interests)

    add("GET", f"profile/{ID}/interests", profile_interests)

    def profile_subprofiles(req: Request) -> Any:
        rid = profile_id(req.match["id"])
        db = profiles.database_of(rid)
        if req.match.get("coll"):
            cids = [collection(req.match["coll"], db).id]
        else:
            cids = [c.id for c in st.collections.values() if c.database == db]
        ids = sorted(s for cid in cids for s in subs.of_profile(rid, cid))
        return Listing.of([subs.render(s) for s in ids])

    add("GET", f"profile/{ID}/subprofiles", profile_subprofiles)
    add("GET", f"profile/{ID}/subprofiles/(?P<coll>[^/]+)", profile_subprofiles)
    add("GET", f"collection/{ID}/subprofiles", lambda req: subs.listing(
        collection(req.match["id"]).id, req.conds, req.params, subs.render))
    add("GET", f"collection/{ID}/subprofileids", lambda req: id_list(subs.live_ids(collection(req.match["id"]).id)))
    add("GET", f"miniview/{ID}/subprofiles", lambda req: (lambda v: subs.listing(
        v.owner, req.conds, req.params, subs.render, view_filter(v, subs)))(entity(st.miniviews, req.match["id"])))
    add("GET", f"miniview/{ID}/subprofileids", lambda req: (lambda v: id_list(subs.matching(
        v.owner, [], view_filter(v, subs)[1])))(entity(st.miniviews, req.match["id"])))
    add("GET", f"subprofile/{ID}", lambda req: subs.render(subprofile_id(req.match["id"])))
    add("GET", f"subprofile/{ID}/fields", lambda req: subs.render(subprofile_id(req.match["id"]))["fields"])

    # --- profile writes -----------------------------------------------------------------
    def body_parts(req: Request, flat_in_v1: bool = True) -> tuple[Any, Any, Any]:
        """(fields, interests, secret) of a profile write; v1 sends a flat field map."""
        body = req.body if req.body is not None else {}
        if req.version == 1 and flat_in_v1:
            if not isinstance(body, dict):
                raise ApiError(INVALID_DATA)
            return body, None, None
        if not isinstance(body, dict):
            raise ApiError(INVALID_DATA)
        return body.get("fields"), body.get("interests"), body.get("secret")

    def interests_for(db: int, data: Any) -> list[str]:
        return interest_names([n for _, n, _ in st.databases[db].interests], data)[0]

    def post_profiles(req: Request) -> Response:
        db = database(req)
        fields, interests, _ = body_parts(req)
        values = field_values(st.fields_of(db), fields)
        rec = profiles.create(db.id, values, interests_for(db.id, interests))
        return created(req, rec.id)

    def apply_profile(rid: int, fields: Any, interests: Any, strict: bool, replace_interests: bool = True) -> None:
        db = profiles.database_of(rid)
        if db is None:
            raise KeyError(rid)  # callers pass checked IDs
        values = field_values(st.fields_of(st.databases[db]), fields, strict=strict)
        if values:
            profiles.set_fields(rid, values)
        if interests is not None:
            add_names, drop = interest_names([n for _, n, _ in st.databases[db].interests], interests)
            current = profiles.record(rid).interests
            if isinstance(interests, list) and replace_interests:
                profiles.set_interests(rid, add_names, replace=True)
            else:
                profiles.set_interests(rid, [n for n in current + add_names if n not in drop], replace=True)

    def put_profiles(req: Request) -> Response:
        db = database(req)
        if not any(k.startswith("fields") for k, _ in req.query):
            raise ApiError("No fields parameter supplied")
        fields, interests, _ = body_parts(req)
        values = field_values(st.fields_of(db), fields)  # validates before anything changes
        conds = profiles.usable(db.id, req.conds)
        targets = profiles.matching(db.id, conds)
        if not targets and conds and req.params.get("create", "").lower() in ("1", "true", "yes"):
            rec = profiles.create(db.id, values, interests_for(db.id, interests))
            return put_answer(req, created(req, rec.id), url(req, "profile", rec.id))
        for rid in targets:
            apply_profile(rid, fields, interests, strict=True)
        return updated(req, "profile", targets)

    def delete_profiles(req: Request) -> Response:
        db = database(req)
        body = req.body if isinstance(req.body, dict) else {}
        ids = body.get("profiles")
        if not isinstance(ids, list):
            raise ApiError(INVALID_DATA)
        for value in ids:
            rid = int(value) if str(value).isdigit() else -1
            rec = profiles.get(rid)
            if rec is not None and rec.owner == db.id and rec.removed is None:
                acc.delete_profile(rid, clock.now)
        return no_content()

    def put_profile(req: Request) -> Response:
        rid = profile_id(req.match["id"])
        if req.version == 1:
            fields, interests, secret = req.body, None, None
        else:
            body = req.body if isinstance(req.body, dict) else {}
            fields, interests, secret = body.get("fields"), body.get("interests"), body.get("secret")
        apply_profile(rid, fields, interests, strict=False)
        if isinstance(secret, str):
            profiles._own(rid).secret = secret  # a new secret does not bump `modified`
            profiles.changed()
        location = url(req, "profile", rid)  # sent in both put_location readings (as before the quirks)
        return put_answer(req, no_content({"X-location": location}), location)

    def put_profile_fields(req: Request) -> Response:
        rid = profile_id(req.match["id"])
        apply_profile(rid, req.body, None, strict=False)
        return put_answer(req, no_content(), url(req, "profile", rid))

    def write_interests(req: Request) -> Response:
        rid = profile_id(req.match["id"])
        rec = profiles.record(rid)
        add_names, drop = interest_names([n for _, n, _ in st.databases[rec.owner].interests], req.body)
        if req.method == "PUT":
            profiles.set_interests(rid, add_names, replace=True)
            return put_answer(req, no_content(), url(req, "profile", rid))
        profiles.set_interests(rid, [n for n in rec.interests + add_names if n not in drop], replace=True)
        return no_content()

    def delete_profile(req: Request) -> Response:
        key = req.match["id"]
        rid = profile_id(key)
        if profiles.record(rid).removed is not None:
            raise ApiError("This profile has already been removed")
        acc.delete_profile(rid, clock.now)
        return no_content({"X-deleted": f"profile {rid}"})

    add("POST", f"database/{ID}/profiles{REST}", post_profiles)
    add("PUT", f"database/{ID}/profiles{REST}", put_profiles)
    add("DELETE", f"database/{ID}/profiles", delete_profiles)
    add("PUT", f"profile/{ID}", put_profile)
    add("PUT", f"profile/{ID}/fields{REST}", put_profile_fields)
    add("PUT", f"profile/{ID}/interests", write_interests)
    add("POST", f"profile/{ID}/interests", write_interests)
    add("DELETE", f"profile/{ID}{REST}", delete_profile)

    # --- subprofile writes --------------------------------------------------------------
    def sub_values(cid: int, data: Any) -> dict[str, str]:
        if isinstance(data, dict) and isinstance(data.get("fields"), dict):
            data = data["fields"]
        return field_values(st.fields_of(st.collections[cid]), data if data is not None else {}, strict=False)

    def post_subprofile(req: Request) -> Response:
        rid = profile_id(req.match["id"])
        c = st.collection(req.match["coll"], profiles.database_of(rid))
        if c is None or profiles.record(rid).removed is not None:
            raise ApiError("Subprofile could not be created")
        rec = subs.create(c.id, rid, sub_values(c.id, req.body))
        return created(req, rec.id, "subprofile")

    def put_profile_subprofiles(req: Request) -> Response:
        rid = profile_id(req.match["id"])
        c = collection(req.match["coll"], profiles.database_of(rid))
        values = sub_values(c.id, req.body)
        pred = subs._predicate(c.id, subs.usable(c.id, req.conds))
        targets = [s for s in subs.of_profile(rid, c.id) if pred(s)]
        if not targets and req.params.get("create", "").lower() in ("1", "true", "yes"):
            rec = subs.create(c.id, rid, values)
            location = url(req, "subprofile", rec.id)
            return put_answer(req, Response(201, headers={"X-location": location}, created_id=str(rec.id)), location)
        for s in targets:
            subs.set_fields(s, values)
        return updated(req, "subprofile", targets)

    def put_collection_subprofiles(req: Request) -> Response:
        c = collection(req.match["id"])
        values = sub_values(c.id, req.body)
        targets = subs.matching(c.id, req.conds)
        for s in targets:
            subs.set_fields(s, values)
        return updated(req, "subprofile", targets)

    def put_subprofile(req: Request) -> Response:
        sid = subprofile_id(req.match["id"])
        rec = subs.record(sid)
        subs.set_fields(sid, sub_values(rec.owner, req.body))
        if isinstance(req.body, dict) and isinstance(req.body.get("secret"), str) and "fields" in req.body:
            subs._own(sid).secret = req.body["secret"]
            subs.changed()
        return put_answer(req, no_content(), url(req, "subprofile", sid))

    def delete_subprofile(req: Request) -> Response:
        sid = subprofile_id(req.match["id"])
        if subs.record(sid).removed is not None:
            raise ApiError("This subprofile has already been removed")
        subs.remove(sid, clock.now)
        return no_content({"X-deleted": f"subprofile {sid}"})

    add("POST", f"profile/{ID}/subprofiles/(?P<coll>[^/]+){REST}", post_subprofile)
    add("PUT", f"profile/{ID}/subprofiles/(?P<coll>[^/]+)", put_profile_subprofiles)
    add("PUT", f"collection/{ID}/subprofiles", put_collection_subprofiles)
    add("PUT", f"subprofile/{ID}", put_subprofile)
    add("PUT", f"subprofile/{ID}/fields", put_subprofile)
    add("DELETE", f"subprofile/{ID}", delete_subprofile)

    # --- data requests ------------------------------------------------------------------
    def report_of(req: Request) -> str | None:
        if isinstance(req.body, dict) and req.body.get("report"):
            return str(req.body["report"])
        return req.params.get("report")

    def new_request(req: Request, kind: str, target: str) -> Response:
        dr = drs.create(kind, target, report_of(req))
        mode = q.datarequest_post_body
        body = orjson.dumps({"id": dr.id}) if mode == "json" else DATAREQUEST_BODIES[mode]
        return Response(201, body, headers={"X-Created": dr.id}, created_id=dr.id)

    def post_email_request(req: Request) -> Response:
        address = req.match["email"]
        if not EMAIL_RE.match(address):
            raise ApiError("Invalid email address")
        return new_request(req, "email", address)

    add("POST", f"profile/{ID}/datarequest", lambda req: new_request(req, "profile", str(profile_id(req.match["id"]))))
    add("POST", f"subprofile/{ID}/datarequest", lambda req: new_request(
        req, "subprofile", str(subprofile_id(req.match["id"]))))
    add("POST", "email/(?P<email>[^/]+)/datarequest", post_email_request)

    def request_status(req: Request) -> Any:
        return drs.status(req.match["id"])

    def request_data(req: Request) -> Any:
        rid = req.match["id"]
        if drs.state(rid) != "available":
            return Response.error("Data not available", 404)
        return Response(200, drs.content(rid))

    def request_v1(req: Request) -> Any:
        if req.version != 1:
            raise ApiError("Invalid method")
        rid = req.match["id"]
        if drs.state(rid) != "available":
            return PENDING_TEXT
        return Response(200, drs.content(rid))

    add("GET", f"datarequest/{ID}/status", request_status)
    add("GET", f"datarequest/{ID}/data", request_data)
    add("GET", f"datarequest/{ID}", request_v1)
