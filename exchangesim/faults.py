"""Fault injection: rules consumed by matching requests, then gone.

A rule names an operation (or any), a mailbox (or any), how many requests it hits and what
goes wrong. Tests use them to prove the client copes with throttling, outages, timeouts,
lost sync states and dropped connections the way real Exchange produces them.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass
from typing import Any

KINDS = (
    "server_busy",  # SOAP fault ErrorServerBusy with BackOffMilliseconds
    "http_500",  # IIS "Server Error in '/EWS' Application" page
    "http_503",  # Service Unavailable
    "delay",  # sleep `delay` seconds before answering (longer than a client timeout)
    "invalid_sync_state",  # SyncFolderItems answers ErrorInvalidSyncStateData
    "unauthorized",  # 401 with the usual challenges
    "connection_reset",  # TCP RST without any response
    # Microsoft Graph (operations named "graph:...")
    "graph_throttled",  # 429 ApplicationThrottled with Retry-After (back_off_ms, in seconds)
    "graph_unavailable",  # 503 with Retry-After
    "graph_sync_reset",  # 410 resyncRequired with Location, on a delta request with a token
    "graph_unauthorized",  # 401 InvalidAuthenticationToken with WWW-Authenticate
    "graph_forbidden",  # 403 ErrorAccessDenied
)
EITHER_PROTOCOL = ("delay", "connection_reset")
GRAPH_DELTA = ("graph:contactsDelta", "graph:calendarViewDelta")


@dataclass
class FaultRule:
    id: int
    kind: str
    operation: str | None = None
    mailbox: str | None = None
    count: int = 1
    back_off_ms: int = 30000
    delay: float = 0.0

    def matches(self, operation: str, mailbox: str | None, resumed: bool = False) -> bool:
        """Whether this rule hits a request; `resumed`: a Graph delta request with a token."""
        if self.kind == "invalid_sync_state" and operation != "SyncFolderItems":
            return False
        if self.kind == "graph_sync_reset" and not (operation in GRAPH_DELTA and resumed):
            return False
        if self.kind not in EITHER_PROTOCOL and (
            self.kind.startswith("graph_") != operation.startswith("graph:")
        ):
            return False
        if self.operation and self.operation != operation:
            return False
        return not (self.mailbox and (mailbox or "").lower() != self.mailbox.lower())


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(
        self,
        kind: str,
        operation: str | None = None,
        mailbox: str | None = None,
        count: int = 1,
        back_off_ms: int = 30000,
        delay: float = 0.0,
    ) -> FaultRule:
        if kind not in KINDS:
            raise ValueError(f"Unknown fault kind {kind!r}; choose one of {', '.join(KINDS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        rule = FaultRule(next(self._ids), kind, operation, mailbox, count, back_off_ms, delay)
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, operation: str, mailbox: str | None, resumed: bool = False) -> FaultRule | None:
        """The first rule matching this request, with one use consumed."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(operation, mailbox, resumed):
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(r) for r in self._rules]


class Counters:
    """Requests per (operation, mailbox), and time spent inside the handlers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self.handler_seconds = 0.0

    def hit(self, operation: str, mailbox: str | None, seconds: float = 0.0) -> None:
        with self._lock:
            key = (operation, (mailbox or "").lower())
            self._counts[key] = self._counts.get(key, 0) + 1
            self.handler_seconds += seconds

    def add_time(self, seconds: float) -> None:
        with self._lock:
            self.handler_seconds += seconds

    def count(self, operation: str | None = None, mailbox: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (op, mb), n in self._counts.items()
                if (operation is None or op == operation)
                and (mailbox is None or mb == mailbox.lower())
            )

    def snapshot(self) -> dict[str, dict[str, int]]:
        """{operation: {mailbox: count}}; mailbox "" is a request without one."""
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (op, mb), n in sorted(self._counts.items()):
                out.setdefault(op, {})[mb] = n
            return out

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self.handler_seconds = 0.0
