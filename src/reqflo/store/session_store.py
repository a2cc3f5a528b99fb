"""Web UI sign-in sessions: `WebSessions` and the `web_sessions` table.

Owns `WebSessionRow` (migration 0004) and every query on it. A session is opened by
signing in with an API token; the browser gets a random session id (stored here only as
its SHA-256 digest, like tokens) and each session carries its own CSRF token. A session
ends at sign-out, after `IDLE` without use, after `LIFETIME` in all, or as soon as its
API token is revoked (every lookup joins the live token). Expired rows go when they are
looked up and, all of them, whenever a session is opened.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, DateTime, ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from reqflo.store.models import Base, TokenRow
from reqflo.store.records import TokenRecord, now, utc
from reqflo.store.store import Store, token_digest

IDLE = timedelta(hours=8)
LIFETIME = timedelta(days=7)
TOUCH_EVERY = timedelta(minutes=1)


class WebSessionRow(Base):
    __tablename__ = "web_sessions"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[str] = mapped_column(ForeignKey("api_tokens.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class WebSession:
    """A live session: who is signed in (their token) and the session's CSRF token."""

    token: TokenRecord
    csrf: str
    created_at: datetime


class WebSessions:
    def __init__(self, store: Store) -> None:
        self.store = store

    def open(self, token: TokenRecord) -> tuple[WebSession, str]:
        """A new session for `token`: (the session, its id for the cookie; stored hashed)."""
        session_id, moment = secrets.token_urlsafe(32), now()
        row = WebSessionRow(
            sha256=token_digest(session_id), token_id=token.id,
            csrf=secrets.token_urlsafe(32), created_at=moment, last_seen_at=moment,
        )  # fmt: skip
        with self.store.session() as db:
            db.execute(delete(WebSessionRow).where(_stale(moment)))
            db.add(row)
        return WebSession(token, row.csrf, moment), session_id

    def find(self, session_id: str) -> WebSession | None:
        """The live session with this id, touching it; None when unknown, expired or revoked."""
        moment = now()
        with self.store.session() as db:
            found = db.execute(
                select(WebSessionRow, TokenRow)
                .join(TokenRow, TokenRow.id == WebSessionRow.token_id)
                .where(WebSessionRow.sha256 == token_digest(session_id))
            ).first()
            if found is None:
                return None
            row, token = found
            if token.revoked_at is not None or _expired(row, moment):
                db.delete(row)
                return None
            if moment - (utc(row.last_seen_at) or moment) > TOUCH_EVERY:
                row.last_seen_at = moment
            return WebSession(TokenRecord.of(token), row.csrf, utc(row.created_at) or moment)

    def close(self, session_id: str) -> None:
        with self.store.session() as db:
            digest = token_digest(session_id)
            db.execute(delete(WebSessionRow).where(WebSessionRow.sha256 == digest))


def _stale(moment: datetime) -> ColumnElement[bool]:
    """Sessions expired at `moment` (deleted whenever a session is opened)."""
    return (WebSessionRow.last_seen_at < moment - IDLE) | (
        WebSessionRow.created_at < moment - LIFETIME
    )


def _expired(row: WebSessionRow, moment: datetime) -> bool:
    created, seen = utc(row.created_at) or moment, utc(row.last_seen_at) or moment
    return moment - seen > IDLE or moment - created > LIFETIME
