"""Who may use the HTTP API: bearer tokens with read or write rights, and per-token rate limits.

Tokens come from ``api_tokens`` (``POLICYBOT_API_TOKENS="tok1,tok2:write"``) and from ``api_tokens_file`` (one
``TOKEN [read|write]`` per line, re-read when the file changes). With none configured the API is closed: 401
naming the settings. ``api_allow_loopback`` lets requests without a token in when they come from this machine
and carry no proxy header (a reverse proxy on the same host would make every request look local).

A token is compared in constant time against each configured one; logs and rate-limit keys use a short hash
of it, never the token.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.serve.api.errors import ApiError
from bot.serve.limits import RateLimiter
from bot.settings import Settings

log = logging.getLogger(__name__)

PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
bearer_scheme = HTTPBearer(auto_error=False, description="A token from POLICYBOT_API_TOKENS or api_tokens_file.")


@dataclass(frozen=True)
class Caller:
    """An authenticated client: ``key`` names it in logs and rate limits; ``write`` may change documents."""

    key: str
    write: bool


def parse_tokens(text: str, where: str) -> dict[str, bool]:
    """``{token: may_write}`` from comma- or line-separated ``TOKEN[:read|:write]`` / ``TOKEN [read|write]``."""
    tokens: dict[str, bool] = {}
    entries = [e for line in text.splitlines() for e in line.split("#", 1)[0].split(",")]
    for number, entry in enumerate(entries, 1):
        entry = entry.strip()
        if not entry:
            continue
        token, _, rights = entry.replace(" ", ":").partition(":")
        rights = rights.strip(": ").lower() or "read"
        if rights not in ("read", "write") or len(token) < 8:
            log.warning("%s, entry %d: ignored (want TOKEN[:read|:write], tokens of 8 or more characters)",
                        where, number)
            continue
        tokens[token] = rights == "write"
    return tokens


def _label(token: str) -> str:
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:10]


class TokenBook:
    """The configured tokens: those of the setting, and those of the file as it is now."""

    def __init__(self, settings: Settings) -> None:
        self._fixed = parse_tokens(settings.api_tokens.get_secret_value(), "POLICYBOT_API_TOKENS")
        self._file: Path | None = settings.api_tokens_file
        self._file_tokens: dict[str, bool] = {}
        self._file_stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()

    def _from_file(self) -> dict[str, bool]:
        if self._file is None:
            return {}
        try:
            stat = self._file.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            with self._lock:
                if stamp != self._file_stamp:
                    self._file_tokens = parse_tokens(self._file.read_text(encoding="utf-8"), str(self._file))
                    self._file_stamp = stamp
                return self._file_tokens
        except OSError as exc:
            log.error("cannot read api_tokens_file %s (%s): its tokens are not accepted", self._file, exc)
            return {}

    def tokens(self) -> dict[str, bool]:
        return {**self._from_file(), **self._fixed}

    def lookup(self, given: str) -> Caller | None:
        found: Caller | None = None
        for token, write in self.tokens().items():  # no early exit: the time does not tell which one matched
            if hmac.compare_digest(given.encode(), token.encode()):
                found = Caller(_label(token), write)
        return found


def is_local(request: Request) -> bool:
    """From this machine, and not relayed by a proxy."""
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Access:
    """The API's gatekeeper: ``await access.caller(request, credentials)`` or an ApiError (401/403/429)."""

    def __init__(self, settings: Settings) -> None:
        self.book = TokenBook(settings)
        self.allow_loopback = settings.api_allow_loopback
        self.limiter = RateLimiter(settings.rate_limit_per_minute)
        self.per_minute = settings.rate_limit_per_minute

    def caller(self, request: Request, credentials: HTTPAuthorizationCredentials | None, *,
               write: bool = False) -> Caller:
        header = request.headers.get("authorization", "")
        if credentials is None or not credentials.credentials:
            if header:
                raise self._unauthorized("The Authorization header must be 'Bearer <token>'.")
            if self.allow_loopback and is_local(request):
                return Caller("loopback", True)
            if not self.book.tokens():
                raise self._unauthorized(
                    "The HTTP API is closed: no API token is configured. Set POLICYBOT_API_TOKENS (or "
                    "api_tokens_file), or POLICYBOT_API_ALLOW_LOOPBACK=true to allow this machine without a token.")
            raise self._unauthorized("Missing API token: send the header 'Authorization: Bearer <token>'.")
        found = self.book.lookup(credentials.credentials)
        if found is None:
            log.warning("API request with an unknown token from %s", request.client.host if request.client else "?")
            raise self._unauthorized("Invalid API token. Use one listed in POLICYBOT_API_TOKENS or api_tokens_file.")
        if write and not found.write:
            raise ApiError(403, "This token may only ask and read: adding or removing documents needs a token with "
                                "write rights (TOKEN:write in POLICYBOT_API_TOKENS).")
        return found

    def limit(self, caller: Caller) -> None:
        """Count one question (or document change) for ``caller``; 429 with Retry-After beyond the limit."""
        if not self.limiter.allow(caller.key):
            raise ApiError(429, f"More than {self.per_minute} requests a minute with this token "
                                "(rate_limit_per_minute); wait for Retry-After seconds.",
                           retry_after=self.limiter.retry_after(caller.key))

    @staticmethod
    def _unauthorized(message: str) -> ApiError:
        return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def reader(request: Request, credentials: Credentials) -> Caller:
    """FastAPI dependency: any valid token (or the loopback opt-in). ``mount_api`` sets the app's Access."""
    access: Access = request.app.state.api_access
    return access.caller(request, credentials)


def writer(request: Request, credentials: Credentials) -> Caller:
    """FastAPI dependency: a token with write rights (document changes)."""
    access: Access = request.app.state.api_access
    return access.caller(request, credentials, write=True)


Reader = Annotated[Caller, Depends(reader)]
Writer = Annotated[Caller, Depends(writer)]
