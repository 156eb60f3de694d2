"""Slack request signatures: valid ones verify, any single-byte change fails, stale ones are refused."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from bot.serve.chat.slack_verify import MAX_SKEW_S, slack_signature, verify_slack_signature

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_700_000_000
TIMESTAMPS = st.integers(min_value=NOW - MAX_SKEW_S, max_value=NOW + MAX_SKEW_S).map(str)


def flip_byte(data: bytes, index: int, delta: int) -> bytes:
    i = index % len(data)
    return data[:i] + bytes([(data[i] + delta) % 256]) + data[i + 1 :]


def flip_char(text: str, index: int, delta: int) -> str:
    return flip_byte(text.encode("latin-1"), index, delta).decode("latin-1")


@given(body=st.binary(max_size=2000), timestamp=TIMESTAMPS)
def test_a_signature_made_by_slack_sdk_verifies(body: bytes, timestamp: str) -> None:
    text_body = body.decode("utf-8", "replace").encode()
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=text_body.decode())
    assert signature == slack_signature(SECRET, timestamp, text_body)
    assert verify_slack_signature(SECRET, timestamp, signature, text_body, now=NOW)


@given(body=st.binary(min_size=1, max_size=500), timestamp=TIMESTAMPS, index=st.integers(min_value=0),
       delta=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_to_the_body_fails(body: bytes, timestamp: str, index: int, delta: int) -> None:
    signature = slack_signature(SECRET, timestamp, body)
    assert verify_slack_signature(SECRET, timestamp, signature, body, now=NOW)
    assert not verify_slack_signature(SECRET, timestamp, signature, flip_byte(body, index, delta), now=NOW)


@given(body=st.binary(max_size=200), timestamp=TIMESTAMPS, index=st.integers(min_value=0),
       delta=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_to_the_timestamp_fails(body: bytes, timestamp: str, index: int, delta: int) -> None:
    signature = slack_signature(SECRET, timestamp, body)
    assert not verify_slack_signature(SECRET, flip_char(timestamp, index, delta), signature, body, now=NOW)


@given(body=st.binary(max_size=200), timestamp=TIMESTAMPS, index=st.integers(min_value=0),
       delta=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_to_the_signature_fails(body: bytes, timestamp: str, index: int, delta: int) -> None:
    signature = slack_signature(SECRET, timestamp, body)
    assert not verify_slack_signature(SECRET, timestamp, flip_char(signature, index, delta), body, now=NOW)


@given(timestamp=st.text(max_size=20), signature=st.text(max_size=80), body=st.binary(max_size=100))
def test_arbitrary_headers_never_raise(timestamp: str, signature: str, body: bytes) -> None:
    assert verify_slack_signature(SECRET, timestamp, signature, body, now=NOW) in (True, False)


def test_stale_future_and_missing_parts_are_refused() -> None:
    body = b'{"type":"event_callback"}'
    for skew in (-MAX_SKEW_S - 1, MAX_SKEW_S + 1):
        ts = str(NOW + skew)
        assert not verify_slack_signature(SECRET, ts, slack_signature(SECRET, ts, body), body, now=NOW)
    ts = str(NOW)
    good = slack_signature(SECRET, ts, body)
    assert verify_slack_signature(SECRET, ts, good, body, now=NOW)
    assert not verify_slack_signature(SECRET, None, good, body, now=NOW)
    assert not verify_slack_signature(SECRET, ts, None, body, now=NOW)
    assert not verify_slack_signature("", ts, slack_signature("", ts, body), body, now=NOW), "no secret, no entry"
    assert not verify_slack_signature(SECRET, " " + ts, good, body, now=NOW)


def test_verification_uses_the_clock_by_default() -> None:
    ts = str(int(time.time()))
    assert verify_slack_signature(SECRET, ts, slack_signature(SECRET, ts, b"x"), b"x")
