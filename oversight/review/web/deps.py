"""Request dependencies shared by pages and API: who is signed in, CSRF, and error codes.

A state-changing request passes `csrf_actor`: a valid session cookie AND its CSRF
token (form field or header). Failures raise `WebError`, which the app turns into
a JSON error under /api/ and an error page (or the sign-in page) elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from oversight.review.models import Reviewer
from oversight.review.service import ReviewService
from oversight.review.web.auth import COOKIE, CSRF_FIELD, CSRF_HEADER, Session, Signer, fingerprint
from oversight.store import reviewers as accounts


class WebError(Exception):
    """A refused request: HTTP status and one readable sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Actor:
    """The signed-in reviewer with the session (for its CSRF token)."""

    user: Reviewer
    session: Session


# OversightError sentences from the review service -> HTTP status (first match wins; default 400).
_STATUS_BY_PHRASE = (
    ("no review item", 404), ("no reviewer named", 404), ("no active reviewer", 404),
    ("needs an admin", 403), ("as an admin, decide it", 400),
    ("do not hold", 409), ("is held by", 409), ("expired at", 409), ("already decided", 409),
    ("not open to you", 409), ("only open items", 409), ("only decided items", 409),
)


def status_for(message: str) -> int:
    """The HTTP status of a service refusal: 404 unknown, 403 rights, 409 lease/state, else 400."""
    for phrase, status in _STATUS_BY_PHRASE:
        if phrase in message:
            return status
    return 400


def service_of(request: Request) -> ReviewService:
    return request.app.state.web.service


def signer_of(request: Request) -> Signer:
    return request.app.state.web.signer


def session_actor(request: Request) -> Actor | None:
    """The reviewer behind the session cookie, or None (no cookie, forged, expired, disabled, rotated)."""
    session = signer_of(request).verify(request.cookies.get(COOKIE))
    if session is None:
        return None
    row = accounts.get_reviewer(service_of(request).store, session.user)
    if row is None or not row.active or fingerprint(row.token_id) != session.token:
        return None
    user = Reviewer(id=row.id, name=row.name, role=row.role, opted_out=list(row.opted_out_json or []),
                    active=row.active, created_at=row.created_at)
    return Actor(user=user, session=session)


def actor(request: Request) -> Actor:
    """Dependency: a signed-in reviewer (401 otherwise)."""
    found = session_actor(request)
    if found is None:
        raise WebError(401, "sign in first: your session is missing or has ended")
    return found


async def csrf_actor(request: Request) -> Actor:
    """Dependency for state-changing requests: signed in and carrying the session's CSRF token."""
    found = actor(request)
    sent: Any = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get(CSRF_FIELD)
    if not Signer.csrf_ok(found.session, sent if isinstance(sent, str) else None):
        raise WebError(403, "missing or wrong CSRF token: reload the page and try again")
    return found


def admin(found: Actor) -> Actor:
    if found.user.role != "admin":
        raise WebError(403, f"{found.user.name} is a reviewer; this action needs an admin")
    return found
