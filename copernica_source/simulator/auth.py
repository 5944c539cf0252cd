"""Copernica's two ways in: a JWT (v4, from POST /authenticate) and the raw token (v1-v3).

JWTs are real HS256 tokens with wall-clock `exp`, so clients can read the expiry the way the docs
suggest and tests can watch a short-lived token expire.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

import orjson


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Authenticator:
    def __init__(self, access_token: str, lifetime_s: float, seed: int) -> None:
        self.access_token = access_token
        self.lifetime_s = lifetime_s
        self.key = hashlib.sha256(f"copernica-simulator-{seed}-{access_token}".encode()).digest()

    def issue(self, token: str | None) -> str | None:
        """A JWT for a valid access token, None otherwise."""
        if not token or not hmac.compare_digest(token, self.access_token):
            return None
        now = time.time()
        header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
        payload = _b64(orjson.dumps({"iat": int(now), "exp": int(now + self.lifetime_s), "sub": "simulated-account",
                                     "iss": "authenticate.copernica.com"}))
        sig = _b64(hmac.new(self.key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        return f"{header}.{payload}.{sig}"

    def check_bearer(self, authorization: str | None) -> bool:
        if not authorization or not authorization.lower().startswith("bearer "):
            return False
        parts = authorization[7:].strip().split(".")
        if len(parts) != 3:
            return False
        expected = _b64(hmac.new(self.key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return False
        try:
            exp = orjson.loads(_unb64(parts[1])).get("exp")
        except (ValueError, orjson.JSONDecodeError, AttributeError):
            return False
        return isinstance(exp, (int, float)) and exp > time.time()

    def check_token(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token or "", self.access_token)
