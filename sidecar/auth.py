"""Bearer-token checks: tokens are configured as sha256 hex digests and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import HTTPException, Request


def token_hash(token: str) -> str:
    """sha256 hex of a token, the form the settings store.

    >>> token_hash("s3cret")[:16]
    '1ec1c26b50d5d3c5'
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def matches(token: str, hashes: list[str]) -> bool:
    """True when the token's hash equals one of `hashes` (constant-time per comparison)."""
    h = token_hash(token).encode()
    ok = False
    for stored in hashes:
        ok |= hmac.compare_digest(h, stored.strip().lower().encode())
    return ok


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _deny(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def require_write(request: Request) -> None:
    """Dependency for write endpoints: a valid write token is mandatory."""
    hashes = request.app.state.write_hashes
    if not hashes:
        raise _deny("writes are disabled: no write token configured (VIGIL_SIDECAR_WRITE_TOKEN[_HASHES])")
    token = _bearer(request)
    if token is None:
        raise _deny("missing bearer token")
    if not matches(token, hashes):
        raise _deny("invalid token")


async def require_read(request: Request) -> None:
    """Dependency for read endpoints: only enforced when `read_auth` is on. EventSource cannot
    send headers, so `?access_token=` is accepted for reads."""
    if not request.app.state.settings.read_auth:
        return
    token = _bearer(request) or request.query_params.get("access_token")
    if token is None:
        raise _deny("missing bearer token")
    if not matches(token, request.app.state.read_hashes + request.app.state.write_hashes):
        raise _deny("invalid token")
