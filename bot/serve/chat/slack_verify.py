"""Slack request signatures: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{raw body}`` with the signing secret.

Compatible with ``slack_sdk.signature.SignatureVerifier`` but total over hostile input: any header value or
body bytes (not only UTF-8) give True or False, never an exception. The comparison is constant-time and
timestamps more than five minutes from now are refused (replay protection).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

MAX_SKEW_S = 60 * 5
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` value Slack would send for this timestamp and body."""
    base = b"v0:" + timestamp.encode("utf-8", "surrogateescape") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def verify_slack_signature(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float | None = None,
) -> bool:
    """True only if ``signature`` is Slack's signature of ``body`` at a ``timestamp`` within five minutes."""
    if not secret or not timestamp or not signature:
        return False
    if not _TIMESTAMP.fullmatch(timestamp):
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > MAX_SKEW_S:
        return False
    expected = slack_signature(secret, timestamp, body).encode("ascii")
    given = signature.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected, given)
