"""Reviewer accounts: a name, a role, category opt-outs, and a token kept only as a salted hash.

A token is `ovr_<token id>_<secret>`: the id finds the row, and the secret is checked
against its scrypt hash in constant time, so the database never holds a usable token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from oversight.errors import OversightError
from oversight.store.db import Store
from oversight.store.tables import REVIEWER_ROLES, Reviewer

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
TOKEN_PREFIX = "ovr_"


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    """`scrypt$<salt hex>$<hash hex>` of a token secret."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_hex, _ = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(hash_secret(secret, salt), stored)


def _new_token() -> tuple[str, str, str]:
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(24)
    return token_id, secret, f"{TOKEN_PREFIX}{token_id}_{secret}"


def create_reviewer(store: Store, name: str, role: str) -> tuple[Reviewer, str]:
    """A new account and its token (the only time the token exists in clear)."""
    name = name.strip()
    if not name or len(name) > 200 or any(c.isspace() for c in name):
        raise OversightError(f"a reviewer name is 1-200 characters without spaces, got {name!r}")
    if role not in REVIEWER_ROLES:
        raise OversightError(f"role must be one of {', '.join(REVIEWER_ROLES)}, got {role!r}")
    token_id, secret, token = _new_token()
    try:
        with store.session() as session:
            row = Reviewer(name=name, role=role, token_id=token_id, token_hash=hash_secret(secret),
                           opted_out_json=[], active=True)
            session.add(row)
            session.flush()
            session.expunge(row)
    except IntegrityError:
        raise OversightError(f"a reviewer named {name!r} exists already") from None
    return row, token


def rotate_token(store: Store, name: str) -> str:
    """Replace a reviewer's token; the old one stops working at once."""
    token_id, secret, token = _new_token()
    with store.session() as session:
        row = session.scalars(select(Reviewer).where(Reviewer.name == name)).first()
        if row is None:
            raise OversightError(f"no reviewer named {name!r}")
        row.token_id, row.token_hash = token_id, hash_secret(secret)
    return token


def find_by_token(store: Store, token: str) -> Reviewer | None:
    """The active account the token belongs to, or None (wrong, malformed or disabled)."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = token[len(TOKEN_PREFIX):].partition("_")
    if not sep or not secret:
        return None
    with store.session() as session:
        row = session.scalars(select(Reviewer).where(Reviewer.token_id == token_id)).first()
        if row is not None:
            session.expunge(row)
    if row is None or not row.active or not check_secret(secret, row.token_hash):
        return None
    return row


def get_reviewer(store: Store, name: str) -> Reviewer | None:
    with store.session() as session:
        row = session.scalars(select(Reviewer).where(Reviewer.name == name)).first()
        if row is not None:
            session.expunge(row)
        return row


def list_reviewers(store: Store) -> list[Reviewer]:
    with store.session() as session:
        rows = list(session.scalars(select(Reviewer).order_by(Reviewer.name)))
        for row in rows:
            session.expunge(row)
        return rows


def update_reviewer(store: Store, name: str, *, role: str | None = None, active: bool | None = None,
                    opted_out: list[str] | None = None) -> Reviewer:
    if role is not None and role not in REVIEWER_ROLES:
        raise OversightError(f"role must be one of {', '.join(REVIEWER_ROLES)}, got {role!r}")
    with store.session() as session:
        row = session.scalars(select(Reviewer).where(Reviewer.name == name)).first()
        if row is None:
            raise OversightError(f"no reviewer named {name!r}")
        if role is not None:
            row.role = role
        if active is not None:
            row.active = active
        if opted_out is not None:
            row.opted_out_json = sorted(set(opted_out))
        session.flush()
        session.expunge(row)
        return row
