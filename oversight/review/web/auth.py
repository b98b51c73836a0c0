"""Sessions and CSRF for the review server, with no server-side session table.

The session cookie is a signed (HMAC-SHA256) record of who signed in, when,
and a random nonce; the CSRF token is a second HMAC of that nonce, so a page
can embed it and every state-changing request must send it back (form field
`csrf_token` or header `X-CSRF-Token`). The signing secret lives in the data
folder (mode 0600), so sessions survive a server restart and a new secret
signs everyone out. The user is looked up again on every request, so a
removed or demoted reviewer loses access at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

COOKIE = "oversight_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    """A verified session cookie: the user name it was issued to and its CSRF token."""

    user: str
    token: str
    """fingerprint() of the account's token id when the session began."""
    issued: float
    csrf: str


def load_secret(path: Path) -> bytes:
    """The signing key, created (readable by the owner only) on first use."""
    if path.exists():
        data = path.read_bytes().strip()
        if len(data) >= 32:
            return data
    path.parent.mkdir(parents=True, exist_ok=True)
    data = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return data


class Signer:
    """Issues and checks session cookies and their CSRF tokens."""

    def __init__(self, secret: bytes, max_age_s: float = SESSION_SECONDS) -> None:
        self._secret = secret
        self.max_age_s = max_age_s

    def _mac(self, purpose: str, data: bytes) -> str:
        digest = hmac.new(self._secret, purpose.encode() + b"\0" + data, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, user: str, token: str) -> tuple[str, Session]:
        """A new cookie value for `user` (signed in with the token whose fingerprint is `token`)."""
        body = json.dumps({"u": user, "k": token, "t": time.time(), "n": secrets.token_hex(16)},
                          separators=(",", ":")).encode()
        value = base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + self._mac("session", body)
        session = self.verify(value)
        assert session is not None
        return value, session

    def verify(self, value: str | None) -> Session | None:
        """The session a cookie stands for, or None when it is missing, forged or expired."""
        if not value or value.count(".") != 1 or len(value) > 1024:
            return None
        encoded, mac = value.split(".")
        try:
            body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(mac, self._mac("session", body)):
            return None
        try:
            data = json.loads(body)
            user, token, issued, nonce = str(data["u"]), str(data["k"]), float(data["t"]), str(data["n"])
        except (ValueError, KeyError, TypeError):
            return None
        if not 0 <= time.time() - issued <= self.max_age_s:
            return None
        return Session(user=user, token=token, issued=issued, csrf=self._mac("csrf", nonce.encode()))

    @staticmethod
    def csrf_ok(session: Session, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(session.csrf, str(sent))


def fingerprint(token_id: str) -> str:
    """A short digest of the account's token id: rotating the token ends its sessions."""
    return hashlib.sha256(token_id.encode()).hexdigest()[:16]
