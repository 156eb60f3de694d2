"""Reading and checking one inbound chat request, before any answering starts.

Used by every route in ``bot.serve.chat.routes``: the body under its size limit (413), the Slack signature (401),
the JSON or form body (400 with a reason), and the filters that make a request "not for us" (team and channel
allow-lists, event types, bot and own messages).
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from typing import Any

from fastapi import HTTPException, Request

from bot.serve.chat.jobs import WebhookState
from bot.serve.chat.slack_verify import verify_slack_signature
from bot.settings import Settings

log = logging.getLogger("bot.serve.chat.routes")  # the routes' logger, so their log lines keep one name


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 beyond ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isascii() or not declared.isdigit():
            raise HTTPException(400, "invalid Content-Length header")
        if int(declared) > limit:
            raise HTTPException(413, f"request body over the {limit // 1024} KB limit (max_body_kb)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"request body over the {limit // 1024} KB limit (max_body_kb)")
        chunks.append(chunk)
    return b"".join(chunks)


def check_slack_signature(request: Request, body: bytes, settings: Settings) -> None:
    secret = settings.slack_signing_secret.get_secret_value()
    if not secret:
        raise HTTPException(503, "Slack is not configured: set POLICYBOT_SLACK_SIGNING_SECRET")
    timestamp = request.headers.get("X-Slack-Request-Timestamp")
    signature = request.headers.get("X-Slack-Signature")
    if not verify_slack_signature(secret, timestamp, signature, body):
        log.warning("rejected %s: missing, forged or stale Slack signature", request.url.path)
        raise HTTPException(401, "invalid or stale Slack signature")


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise HTTPException(400, "malformed JSON: body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise HTTPException(400, f"malformed JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise HTTPException(400, "malformed JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "malformed JSON: expected an object")
    return data


def parse_form(body: bytes) -> dict[str, str]:
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, max_num_fields=200
        )
    except UnicodeDecodeError:
        raise HTTPException(400, "malformed form: body is not UTF-8") from None
    except ValueError as exc:
        raise HTTPException(400, f"malformed form body: {str(exc)[:80]}") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def allowed(settings: Settings, team: str, channel: str) -> bool:
    team_ok = not settings.allowed_teams or team in settings.allowed_teams
    channel_ok = not settings.allowed_channels or channel in settings.allowed_channels
    return team_ok and channel_ok


def ignore_reason(data: dict[str, Any], event: dict[str, Any], state: WebhookState) -> str:
    """Why an event is not a question for us ('' if it is one)."""
    kind = event.get("type")
    if not (kind == "app_mention" or (kind == "message" and event.get("channel_type") == "im")):
        return f"event type {kind!r}"
    if event.get("bot_id") or event.get("subtype"):
        return "bot message or message change"
    if not isinstance(event.get("channel"), str) or not isinstance(event.get("ts"), str):
        return "event without channel or ts"
    if not allowed(state.settings, str(data.get("team_id") or ""), event["channel"]):
        return "team or channel not allowed"
    if event.get("user") and event.get("user") == state.slack.cached_bot_user_id():
        return "our own message"
    return ""
