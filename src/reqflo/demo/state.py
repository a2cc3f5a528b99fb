"""In-memory state of one demo API instance: users, sessions, orders, counters.

Owns the data the handlers read and change. Every `create_app()` gets its own
`DemoState`, so tests never share orders, tokens or request counts.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

DEMO_PASSWORD = "demo-password"
DEMO_USERS: Mapping[str, str] = {"demo": DEMO_PASSWORD, "alice": "alice-password"}
ORDER_STATUSES = ("created", "paid", "shipped", "cancelled")


@dataclass(frozen=True)
class Order:
    id: str
    customer_id: str
    quantity: int
    status: str
    owner: str

    def public(self) -> dict[str, Any]:
        """The order as the API shows it (the owner stays internal)."""
        data = asdict(self)
        del data["owner"]
        return data


@dataclass(frozen=True)
class IdempotentResult:
    """What a POST with an Idempotency-Key produced, replayed for the same key."""

    fingerprint: str
    order: Order


@dataclass
class DemoState:
    users: dict[str, str] = field(default_factory=lambda: dict(DEMO_USERS))
    tokens: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], IdempotentResult] = field(default_factory=dict)
    flaky_calls: Counter[str] = field(default_factory=Counter)
    request_counts: Counter[str] = field(default_factory=Counter)
    next_order_number: int = 1

    def check_password(self, username: str, password: str) -> bool:
        expected = self.users.get(username)
        if expected is None:
            return False
        return secrets.compare_digest(expected.encode(), password.encode())

    def open_session(self, username: str) -> tuple[str, str]:
        """A new bearer token and a new session id for `username`."""
        token = "demo-" + secrets.token_urlsafe(24)
        session = secrets.token_urlsafe(18)
        self.tokens[token] = username
        self.sessions[session] = username
        return token, session

    def add_order(self, owner: str, customer_id: str, quantity: int) -> Order:
        order_id = f"ord-{self.next_order_number:06d}"
        self.next_order_number += 1
        order = Order(order_id, customer_id, quantity, "created", owner)
        self.orders[order_id] = order
        return order

    def orders_of(self, owner: str) -> list[Order]:
        return [order for order in self.orders.values() if order.owner == owner]

    def count_request(self, method: str, path: str) -> None:
        self.request_counts[f"{method} {path}"] += 1
