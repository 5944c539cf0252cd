"""Request bodies: JSON, or PHP-style form encoding (`fields[email]=x&interests[]=a`)."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import orjson

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_form(text: str) -> dict[str, Any]:
    """Nest bracketed keys the way PHP does: a[b]=1 -> {"a": {"b": "1"}}, a[]=1 -> {"a": ["1"]}."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        m = _KEY.match(key)
        if not m:
            out[key] = value
            continue
        parts = [m.group(1)] + re.findall(r"\[([^\[\]]*)\]", m.group(2))
        node: Any = out
        for k, nxt in zip(parts, parts[1:] + [None], strict=True):
            last = nxt is None
            if isinstance(node, list):
                if last:
                    node.append(value)
                else:
                    child: Any = [] if nxt == "" else {}
                    node.append(child)
                    node = child
                continue
            if last:
                node[k] = value
            else:
                if k not in node or not isinstance(node[k], (dict, list)):
                    node[k] = [] if nxt == "" else {}
                node = node[k]
    return out


def parse_body(raw: bytes, content_type: str) -> Any:
    """JSON when it says so (or looks like it), form data otherwise; None for an empty body.
    Unparseable JSON comes back as the raw text, which handlers reject as invalid data."""
    if not raw.strip():
        return None
    text = raw.decode("utf-8", errors="replace")
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json" or (ctype != "application/x-www-form-urlencoded" and text.lstrip()[:1] in "{["):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return text
    return parse_form(text)
