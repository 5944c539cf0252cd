"""The account's structure tables, declared once as data: name, path, parent, columns.

A path with `{id}` is read once per parent (the fields of each database, the rules of each view...); the parent's
ID lands in the `parent_column`. Column lists follow Copernica's v4 pages (rest-get-databases, rest-get-database-*,
rest-get-view-*, rest-get-collection-*, rest-get-miniview-*, rest-get-webhook). Embedded sub-lists (a database's
`fields`, a rule's `conditions`) are not kept: each has its own table.
"""

from __future__ import annotations

from dataclasses import dataclass

from copernica_source.arrow_rows import Schema, cols

_INTENTIONS = "intentions.email:bool intentions.sms:bool intentions.fax:bool intentions.pdf:bool"
_FIELD = ("ID:int name:str type:str value:str displayed:bool ordered:bool length:int textlines:int hidden:bool "
          "index:bool")
_VIEW = ("ID:int name:str description:str parent-type:str parent-id:int has-children:bool has-referred:bool "
         f"has-rules:bool database:int last-built:ts {_INTENTIONS}")
_MINIVIEW = f"ID:int name:str description:str parent-type:str parent-id:int collection:int last-built:ts {_INTENTIONS}"
_RULE = "ID:int name:str view:int inversed:bool inverted:bool disabled:bool"  # pages name it both ways
_CONDITION = ("ID:int type:str rule:int comparison:str field.ID:int field.name:str value:str other-field:bool "
              "numeric-comparison:bool")


@dataclass(frozen=True)
class StructureSpec:
    """One structure table. `parent` names the table whose rows' IDs fill `{id}` in `path` ("" = account-wide)."""

    name: str
    path: str
    schema: Schema
    parent: str = ""
    parent_column: str = ""
    drop: tuple[str, ...] = ()
    description: str = ""
    embedded: str = ""  # rows are this key's list inside each row of `path` (a rule's `conditions`), not the rows


STRUCTURE_TABLES: tuple[StructureSpec, ...] = (
    StructureSpec("databases", "databases", Schema(cols(f"ID:int name:str description:str archived:bool created:ts "
                                                        f"{_INTENTIONS}")),
                  drop=("fields", "interests", "collections"), description="a database (of profiles)"),
    StructureSpec("database_fields", "database/{id}/fields", Schema(cols(f"{_FIELD} database_id:int")),
                  "databases", "database_id", description="a field of a database, with its type"),
    StructureSpec("database_interests", "database/{id}/interests", Schema(cols("ID:int name:str group:str "
                                                                               "database_id:int")),
                  "databases", "database_id", description="an interest profiles of a database can have"),
    StructureSpec("collections", "database/{id}/collections", Schema(cols(f"ID:int name:str database:int "
                                                                          f"{_INTENTIONS}")),
                  "databases", drop=("fields",), description="a collection (of subprofiles) in a database"),
    StructureSpec("collection_fields", "collection/{id}/fields", Schema(cols(f"{_FIELD} collection_id:int")),
                  "collections", "collection_id", description="a field of a collection, with its type"),
    StructureSpec("views", "database/{id}/views", Schema(cols(_VIEW)), "databases",
                  description="a selection (view) of a database; nested selections included"),
    StructureSpec("view_rules", "view/{id}/rules", Schema(cols(_RULE)), "views", drop=("conditions",),
                  description="a rule of a selection"),
    # conditions come embedded in the rules: `rule/$id/conditions` is a v1 method only (docs/assumptions.md)
    StructureSpec("view_rule_conditions", "view/{id}/rules", Schema(cols(_CONDITION)), "views",
                  description="a condition of a selection rule (type-specific keys kept as text)",
                  embedded="conditions"),
    StructureSpec("miniviews", "collection/{id}/miniviews", Schema(cols(_MINIVIEW)), "collections",
                  description="a mini selection (miniview) of a collection"),
    StructureSpec("miniview_rules", "miniview/{id}/rules", Schema(cols(_RULE)), "miniviews", drop=("conditions",),
                  description="a rule (minirule) of a miniview"),
    StructureSpec("miniview_rule_conditions", "miniview/{id}/rules", Schema(cols(_CONDITION)), "miniviews",
                  description="a condition of a minirule", embedded="conditions"),
    StructureSpec("webhooks", "webhooks", Schema(cols("ID:int handler:str trigger:str callers:json")),
                  description="a webhook Copernica calls on profile changes"),
)

# Copernica field types -> column kinds of the typed profile and subprofile tables; anything else is text.
FIELD_KINDS = {
    "integer": "int",
    "foreign_key": "int",
    "float": "float",
    "date": "date",
    "empty_date": "date",
    "datetime": "ts",
    "empty_datetime": "ts",
}

PROFILE_COLUMNS = "ID:int database:int secret:str created:ts modified:ts removed:ts"
SUBPROFILE_COLUMNS = "ID:int profile:int collection:int secret:str created:ts modified:ts removed:ts"
