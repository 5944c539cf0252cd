"""Whom a data request is about: profile, subprofile or e-mail address subjects, parsed from text or files."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from copernica_source.email_address import email_problem
from copernica_source.errors import ConfigurationError

KINDS = ("profile", "subprofile", "email")




_HEADER = re.compile(r"^(subject_)?type\s*[,;:\t]\s*(subject_)?id$", re.IGNORECASE)


@dataclass(frozen=True)
class Subject:
    """Whom a request is about: a profile ID, a subprofile ID or an e-mail address."""

    kind: str
    id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"

    def path(self) -> str:
        """`@` may stand in a path segment (RFC 3986); everything else special, `+` included, is %-encoded."""
        return f"{self.kind}/{quote(self.id, safe='@')}/datarequest"


def subject(kind: str, value: object) -> Subject:
    """A validated subject; raises ConfigurationError before anything is asked of Copernica."""
    kind = kind.strip().lower()
    text = str(value).strip()
    if kind not in KINDS:
        raise ConfigurationError(f"unknown subject type {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "email":
        problem = email_problem(text)
        if problem:
            raise ConfigurationError(f"invalid e-mail address {text!r}: it {problem}")
    elif not text.isdigit() or int(text) <= 0:
        raise ConfigurationError(f"invalid {kind} ID {text!r}: a positive number is expected")
    else:
        text = str(int(text))
    return Subject(kind, text)


def parse_subject(line: str) -> Subject:
    """`profile:12`, `subprofile,7`, `email a@b.nl` or a bare e-mail address."""
    text = line.strip()
    match = re.match(r"^(profile|subprofile|email)\s*[:,;\t ]\s*(.+)$", text, re.IGNORECASE)
    if match:
        return subject(match.group(1), match.group(2).strip().strip('"'))
    if "@" in text:
        return subject("email", text)
    raise ConfigurationError(f"cannot read subject {text!r}: write profile:ID, subprofile:ID, email:ADDRESS")


def read_subjects(path: str | os.PathLike[str]) -> list[Subject]:
    """One subject per line (see parse_subject); blank lines, `#` lines and a `type,id` header are skipped."""
    out = []
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else None  # a decode error has no strerror
        raise ConfigurationError(f"cannot read the subjects file {path}: {reason or exc}") from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or _HEADER.match(line):
            continue
        try:
            out.append(parse_subject(line))
        except ConfigurationError as exc:
            raise ConfigurationError(f"{path}, line {number}: {exc}") from None
    return out


def make_subjects(
    profiles: Iterable[object] = (),
    subprofiles: Iterable[object] = (),
    emails: Iterable[str] = (),
    others: Iterable[Subject | str] = (),
) -> list[Subject]:
    """Validated, de-duplicated subjects in the order given."""
    found = [subject("profile", p) for p in profiles]
    found += [subject("subprofile", s) for s in subprofiles]
    found += [subject("email", e) for e in emails]
    found += [o if isinstance(o, Subject) else parse_subject(o) for o in others]
    return list({s.key: s for s in found}.values())


