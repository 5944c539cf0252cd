"""The one e-mail rule (push keys and fields, data-request subjects and report addresses)."""

from __future__ import annotations

import pytest

from copernica_source.email_address import email_problem, is_email


@pytest.mark.parametrize("good", [
    "a@b.nl", "first.last+tag@sub.example.co.uk", "o'brien@example.ie", "x_y-z@ex-ample.com",
    f"{'l' * 64}@example.com", f"a@{'d' * 63}.com", f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.com",
])
def test_addresses_mail_servers_accept(good: str) -> None:
    assert email_problem(good) is None and is_email(good)


@pytest.mark.parametrize(("bad", "why"), [
    ("foo@bar.com;DROP", "a character a domain cannot hold"),
    ("foo;DROP@bar.com", "local part cannot hold"),
    ("x@@y.nl", "local part cannot hold"),
    ("not-an-email", "has no @"),
    ("@example.com", "no local part"),
    ("a@localhost", "no top-level domain"),
    ("a@example.123", "top-level domain"),
    ("a@exa..mple.com", "empty part"),
    ("a.@example.com", "local part cannot hold"),
    ("a b@example.com", "local part cannot hold"),
    ("a\x00b@example.com", "local part cannot hold"),
    ("a@exam\x00ple.com", "a character a domain cannot hold"),
    ("a@-example.com", "a character a domain cannot hold"),
    (f"{'l' * 65}@example.com", "local part of 65 characters"),
    (f"a@{'d' * 64}.com", "domain part of 64 characters"),
    (f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 63}.com", "260 characters long"),
    ("a" * 200 + "@example.com", "local part of 200 characters"),
])
def test_addresses_that_are_refused_say_why(bad: str, why: str) -> None:
    problem = email_problem(bad)
    assert problem is not None and why in problem, problem
    assert not is_email(bad)
