"""An ASGI guard in front of the app: bounded request bodies and no NUL characters.

PostgreSQL text cannot hold NUL (0x00), so a NUL in a note, a name or a filter would
otherwise reach the database as a server error; here it is one clear 400 instead, for
every route at once. Bodies over `MAX_BODY` bytes are refused with 413.
"""

from __future__ import annotations

import json
from typing import Any

MAX_BODY = 1 << 20
NUL_MESSAGE = "text may not contain NUL (\\u0000) characters"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _bad(raw: bytes, content_type: str) -> bool:
    if b"\x00" in raw or b"%00" in raw.lower():
        return True
    if "json" in content_type and b"\\u0000" in raw.lower():
        try:
            return _has_nul(json.loads(raw))
        except ValueError:
            return False  # not JSON: the route answers 422
    return False


class RequestGuard:
    """Wraps an ASGI app; refuses NUL characters (query or body) and oversized bodies."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if _bad(scope.get("query_string", b""), ""):
            await _refuse(send, 400, NUL_MESSAGE)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                await _refuse(send, 413, f"request bodies are limited to {MAX_BODY} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if _bad(body, headers.get("content-type", "")):
            await _refuse(send, 400, NUL_MESSAGE)
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
