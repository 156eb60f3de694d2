"""Errors named by who must act. Each edge (CLI, HTTP, UI) translates them once.

Every message says what is wrong and how to fix it (the setting, command or file to change).
"""

from __future__ import annotations


class PolicyBotError(Exception):
    """Base class. ``str(error)`` is safe to show to a user: no secrets, no stack trace."""


class UserInputError(PolicyBotError):
    """The request itself is wrong (empty question, too long, bad file). The user fixes it."""


class ConfigError(PolicyBotError):
    """A setting is wrong or points at something missing. The operator fixes the named setting."""


class IndexMissingError(ConfigError):
    """No index where one is expected. Fix: run ``policybot ingest``."""


class IndexCorruptError(ConfigError):
    """The index exists but cannot be read. Fix: re-run ``policybot ingest --rebuild``."""


class ModelError(PolicyBotError):
    """The language model cannot be loaded or reached. The operator fixes the model setting."""


class BusyError(PolicyBotError):
    """The model queue is full. The client retries later (HTTP 503 / 429)."""


class RequestAbandoned(PolicyBotError):
    """The client went away before its answer was ready; nobody is left to tell. The edge just stops."""


class IngestError(PolicyBotError):
    """One document could not be ingested; the rest of the corpus is unaffected."""
