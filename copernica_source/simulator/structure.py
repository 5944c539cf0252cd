"""The account's fixed structure: identity, databases, fields, interests, collections, views and
their rules, miniviews and minirules, webhooks. Small, static, rendered as the doc pages show."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .layout import Layout


@dataclass(frozen=True)
class FieldDef:
    id: int
    name: str
    type: str
    default: str = ""
    options: tuple[str, ...] = ()  # select fields
    length: int = 255

    def render(self) -> dict[str, Any]:
        value = "\n".join(self.options) if self.type == "select" and self.options else self.default
        return {"ID": str(self.id), "name": self.name, "type": self.type, "value": value, "displayed": True,
                "ordered": False, "length": str(self.length), "textlines": "3" if self.type == "big" else "0",
                "hidden": False, "index": self.name in ("email", "customerid")}


@dataclass(frozen=True)
class Condition:
    """A selection condition; only Field conditions are evaluated (comparison on one field)."""

    id: int
    rule: int
    field: str
    comparison: str  # equals | not equals | contains | less | more
    value: str
    numeric: bool = False


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    view: int
    conditions: tuple[Condition, ...]
    inversed: bool = False
    disabled: bool = False


@dataclass(frozen=True)
class View:
    id: int
    name: str
    description: str
    parent_type: str  # database | view (collection for miniviews)
    parent_id: int
    owner: int  # database (views) or collection (miniviews)
    rules: tuple[Rule, ...] = field(default=())


@dataclass(frozen=True)
class Database:
    id: int
    name: str
    description: str
    created: str
    fields: tuple[FieldDef, ...]
    interests: tuple[tuple[int, str, str], ...]  # (ID, name, group)


@dataclass(frozen=True)
class Collection:
    id: int
    name: str
    database: int
    fields: tuple[FieldDef, ...]


COUNTRIES = ("NL", "DE", "BE", "FR", "GB", "ES")
# the modified_field quirk: a user field that shadows the system property in selectors (rmuit)
MODIFIED_FIELD = FieldDef(1017, "modified", "text", "2001-01-01 00:00:00")


def _db1() -> Database:
    f = [FieldDef(1001, "firstname", "text"), FieldDef(1002, "lastname", "text"),
         FieldDef(1003, "email", "email", length=100), FieldDef(1004, "customerid", "integer", "0"),
         FieldDef(1005, "age", "integer", "0"), FieldDef(1006, "score", "float", "0"),
         FieldDef(1007, "birthdate", "date"), FieldDef(1008, "last_order", "empty_date"),
         FieldDef(1009, "signup", "datetime"), FieldDef(1010, "last_login", "empty_datetime"),
         FieldDef(1011, "country", "select", "NL", COUNTRIES),
         FieldDef(1012, "notes", "big", length=65535), FieldDef(1013, "mobile", "phone_gsm", length=50),
         FieldDef(1014, "account", "foreign_key", "0"), FieldDef(1015, "newsletter", "select", "yes", ("yes", "no")),
         FieldDef(1016, "city", "text")]
    interests = ((501, "soccer", "sports"), (502, "baseball", "sports"), (503, "tennis", "sports"),
                 (504, "cooking", "hobbies"), (505, "travel", "hobbies"), (506, "photography", "hobbies"))
    return Database(1, "Customers", "All customers of the web shop", "2019-03-08 10:47:01", tuple(f), interests)


def _db2() -> Database:
    f = [FieldDef(2001, "email", "email", length=100), FieldDef(2002, "company", "text"),
         FieldDef(2003, "contact", "text"), FieldDef(2004, "tier", "select", "bronze", ("bronze", "silver", "gold")),
         FieldDef(2005, "customerid", "integer", "0")]
    interests = ((601, "b2b", "segments"), (602, "partner", "segments"))
    return Database(2, "Partners", "Business partners ✓", "2021-06-01 09:00:00", tuple(f), interests)


COLLECTION_FIELDS = {
    101: (FieldDef(3001, "order_number", "integer", "0"), FieldDef(3002, "amount", "float", "0"),
          FieldDef(3003, "order_date", "datetime"),
          FieldDef(3004, "status", "select", "new", ("new", "paid", "shipped")), FieldDef(3005, "product", "text")),
    102: (FieldDef(3101, "channel", "select", "email", ("email", "sms", "post")), FieldDef(3102, "topic", "text")),
    201: (FieldDef(4001, "subject", "text"), FieldDef(4002, "opened", "datetime"),
          FieldDef(4003, "priority", "integer", "0")),
}


class Structure:
    def __init__(self, layout: Layout, modified_field: bool = False) -> None:
        db1 = _db1()
        if modified_field:
            db1 = replace(db1, fields=db1.fields + (MODIFIED_FIELD,))
        self.databases = {1: db1}
        if 2 in layout.database_ids:
            self.databases[2] = _db2()
        self.collections = {cid: Collection(c.id, c.name, c.database, COLLECTION_FIELDS[cid])
                            for cid, c in layout.collections.items()}

        def cond(cid: int, rule: int, fname: str, comp: str, value: str, numeric: bool = False) -> Condition:
            return Condition(cid, rule, fname, comp, value, numeric)

        views = [
            View(301, "Newsletter", "Profiles that want the newsletter", "database", 1, 1,
                 (Rule(401, "Subscribed", 301, (cond(451, 401, "newsletter", "equals", "yes"),)),)),
            View(302, "Dutch customers", "", "database", 1, 1,
                 (Rule(402, "Country NL", 302, (cond(452, 402, "country", "equals", "NL"),)),)),
            View(303, "Dutch adults", "Nested under Dutch customers", "view", 302, 1,
                 (Rule(403, "Adult", 303, (cond(453, 403, "age", "more", "17", True),)),
                  Rule(404, "Not Müller", 303, (cond(454, 404, "lastname", "equals", "Müller"),), inversed=True))),
        ]
        if 2 in self.databases:
            views.append(View(311, "Gold partners", "", "database", 2, 2,
                              (Rule(411, "Gold", 311, (cond(461, 411, "tier", "equals", "gold"),)),)))
        self.views = {v.id: v for v in views}
        miniviews = [View(701, "Paid orders", "", "collection", 101, 101,
                          (Rule(801, "Paid", 701, (cond(851, 801, "status", "equals", "paid"),)),)),
                     View(702, "SMS preference", "", "collection", 102, 102,
                          (Rule(802, "By SMS", 702, (cond(852, 802, "channel", "equals", "sms"),)),))]
        self.miniviews = {v.id: v for v in miniviews}
        self.rules = {r.id: r for v in self.views.values() for r in v.rules}
        self.minirules = {r.id: r for v in self.miniviews.values() for r in v.rules}
        self.webhooks = {1894: {"ID": "1894", "handler": "https://hooks.example.com/copernica", "trigger": "create",
                                "callers": ["ms", "publisher"]},
                         1895: {"ID": "1895", "handler": "https://hooks.example.com/update", "trigger": "update",
                                "callers": ["rest"]}}

    # --- lookups ------------------------------------------------------------------------
    def database(self, key: str) -> Database | None:
        """By ID or by name, case-insensitively (as Copernica allows)."""
        if key.isdigit():
            return self.databases.get(int(key))
        return next((d for d in self.databases.values() if d.name.lower() == key.lower()), None)

    def collection(self, key: str, database: int | None = None) -> Collection | None:
        if key.isdigit():
            c = self.collections.get(int(key))
        else:
            c = next((c for c in self.collections.values() if c.name.lower() == key.lower()
                      and (database is None or c.database == database)), None)
        return c if c is not None and (database is None or c.database == database) else None

    def fields_of(self, owner: Database | Collection) -> dict[str, FieldDef]:
        """Field definitions by lower-cased name."""
        return {f.name.lower(): f for f in owner.fields}

    def view_chain(self, view: View) -> list[View]:
        """The view and its parent views: a profile must satisfy all of them."""
        chain = [view]
        while chain[-1].parent_type == "view":
            chain.append(self.views[chain[-1].parent_id])
        return chain

    # --- rendering ----------------------------------------------------------------------
    @staticmethod
    def envelope(rows: list[Any], limit: int = 1000) -> dict[str, Any]:
        return {"start": 0, "limit": limit, "count": len(rows), "data": rows, "total": len(rows)}

    def identity(self, version: int) -> dict[str, Any]:
        out: dict[str, Any] = {"id": "34", "name": "Simulated account", "description": "Copernica API simulator",
                               "company": "Simulated Company B.V."}
        if version >= 3:
            out["customer"] = {"id": "12", "name": "Simulated Company B.V.", "isPartner": False}
            out["usedBy"] = "Simulated Company B.V."
            out["license"] = {"id": "5", "isTrial": False}
        return out

    def collection_json(self, c: Collection, full_fields: bool = True) -> dict[str, Any]:
        rows = [f.render() for f in c.fields]
        return {"ID": str(c.id), "name": c.name, "database": str(c.database), "fields": self.envelope(rows, 100),
                "intentions": {"email": True, "sms": False, "fax": False, "pdf": False}}

    def database_json(self, d: Database) -> dict[str, Any]:
        colls = [self.collection_json(c) for c in self.collections.values() if c.database == d.id]
        return {"ID": str(d.id), "name": d.name, "description": d.description, "archived": False, "created": d.created,
                "fields": self.envelope([f.render() for f in d.fields]),
                "interests": self.envelope(self.interests_json(d)),
                "collections": self.envelope(colls),
                "intentions": {"email": True, "sms": d.id == 1, "fax": False, "pdf": False}}

    @staticmethod
    def interests_json(d: Database) -> list[dict[str, str]]:
        return [{"ID": str(i), "name": n, "group": g} for i, n, g in d.interests]

    def view_json(self, v: View) -> dict[str, Any]:
        if v.parent_type == "collection":
            return {"ID": str(v.id), "name": v.name, "description": v.description, "parent-type": "collection",
                    "parent-id": str(v.parent_id), "collection": str(v.owner), "last-built": "2025-12-31 23:00:00",
                    "intentions": {"email": True, "sms": False, "fax": False, "pdf": False}}
        children = [c for c in self.views.values() if c.parent_type == "view" and c.parent_id == v.id]
        return {"ID": str(v.id), "name": v.name, "description": v.description, "parent-type": v.parent_type,
                "parent-id": str(v.parent_id), "has-children": bool(children), "has-referred": False,
                "has-rules": bool(v.rules), "database": str(v.owner), "last-built": "2025-12-31 23:00:00",
                "intentions": {"email": True, "sms": False, "fax": False, "pdf": False}}

    def child_views(self, parent_type: str, parent_id: int) -> list[View]:
        return [v for v in self.views.values() if v.parent_type == parent_type and v.parent_id == parent_id]

    def rule_json(self, r: Rule, mini: bool = False) -> dict[str, Any]:
        owner = self.collections[self.miniviews[r.view].owner] if mini else self.databases[self.views[r.view].owner]
        defs = self.fields_of(owner)
        conds = [{"ID": str(c.id), "type": "Field", "rule": str(c.rule), "comparison": c.comparison,
                  "field": defs[c.field].render(), "value": c.value, "other-field": False,
                  "numeric-comparison": c.numeric} for c in r.conditions]
        return {"ID": str(r.id), "name": r.name, "view": str(r.view), "conditions": self.envelope(conds, 100),
                "inversed": r.inversed, "disabled": r.disabled}


def condition_holds(cond: Condition, value: str) -> bool:
    """Evaluate a Field condition on a stored field value."""
    comp, want = cond.comparison, cond.value
    if comp in ("less", "more") or cond.numeric:
        try:
            a, b = float(value or 0), float(want)
        except ValueError:
            return False
        if comp == "less":
            return a < b
        if comp == "more":
            return a > b
        return (a == b) if comp == "equals" else (a != b)
    if comp == "equals":
        return value.lower() == want.lower()
    if comp == "not equals":
        return value.lower() != want.lower()
    if comp == "contains":
        return want.lower() in value.lower()
    if comp == "not contains":
        return want.lower() not in value.lower()
    return False


def rules_hold(view: View, fields: dict[str, str]) -> bool:
    """All enabled rules of a view match (a rule matches when any of its conditions does)."""
    for rule in view.rules:
        if rule.disabled:
            continue
        hit = any(condition_holds(c, fields.get(c.field, "")) for c in rule.conditions)
        if hit == rule.inversed:
            return False
    return True
