"""One rule for an e-mail address, used wherever one is checked (push keys and fields, data-request subjects and
report addresses): what a mail server accepts, so a value Copernica would store but never deliver is refused.

The rule is RFC 5321/5322's dot-atom form with its lengths: a local part of at most 64 characters of `atext`
separated by single dots, a domain of dot-separated labels (letters, digits, inner hyphens; at most 63 each) ending in
an alphabetic top-level label, 254 characters in all. Quoted local parts and IP-literal domains are refused: Copernica
customers do not mail them, and a hostile value hides best there.
"""

from __future__ import annotations

import re

MAX_LENGTH = 254  # RFC 5321's path limit (256) minus the angle brackets
MAX_LOCAL = 64
MAX_LABEL = 63
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\Z")
_TOP = re.compile(r"[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]\Z")  # at least two characters, not all digits


def email_problem(text: str) -> str | None:
    """Why `text` is not an e-mail address (a short phrase), or None when it is one."""
    if len(text) > MAX_LENGTH:
        return f"is {len(text)} characters long; an e-mail address has at most {MAX_LENGTH}"
    local, at, domain = text.rpartition("@")
    if not at or not local:
        return "has no local part before an @" if at else "has no @"
    if len(local) > MAX_LOCAL:
        return f"has a local part of {len(local)} characters; at most {MAX_LOCAL}"
    if not _LOCAL.match(local):
        return "has a character an address's local part cannot hold (spaces, ; , < > @ \" or a leading/double dot)"
    labels = domain.split(".")
    if len(labels) < 2:
        return "has no top-level domain (e.g. .com) after the @"
    for label in labels:
        if not label:
            return "has an empty part in its domain (two dots, or a dot at the start or end)"
        if len(label) > MAX_LABEL:
            return f"has a domain part of {len(label)} characters; at most {MAX_LABEL}"
        if not _LABEL.match(label):
            return "has a character a domain cannot hold (only letters, digits and inner hyphens)"
    if not _TOP.match(labels[-1]):
        return f"has a top-level domain ({labels[-1][:20]}) that is not a name"
    return None


def is_email(text: str) -> bool:
    return email_problem(text) is None
