"""The JSON API under /api/: the same actions as the pages, for scripts (and the fuzzer).

Sign in with POST /api/session {"token"}: it sets the session cookie and returns the
CSRF token that every state-changing call sends back in the X-CSRF-Token header.
Errors are {"error": "one sentence"} with 400 (bad input), 401 (not signed in),
403 (CSRF or rights), 404 (unknown item), 409 (lease or state conflict), 422 (schema).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from oversight.review.models import (
    AuditRecord, DecisionInput, ItemSummary, ItemView, QueueStats, Reviewer,
)
from oversight.review.web.auth import COOKIE
from oversight.review.web.deps import Actor, WebError, actor, admin, csrf_actor, service_of
from oversight.store.reviewers import TOKEN_PREFIX

router = APIRouter(prefix="/api", tags=["review"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(_Body):
    token: str = Field(min_length=1, max_length=500, description="the token `review users add` printed")


class SessionInfo(_Body):
    user: Reviewer
    csrf_token: str = Field(description="send it in X-CSRF-Token with every state-changing call")


class NextFilter(_Body):
    category: str | None = Field(default=None, max_length=50)
    run_id: str | None = Field(default=None, max_length=64)


class Reassign(_Body):
    to: str = Field(min_length=1, max_length=200, description="name of an active reviewer")


class OptOut(_Body):
    categories: list[str] = Field(default_factory=list, max_length=50)


class Claimed(_Body):
    item: ItemView | None = Field(description="the claimed item, or null when nothing is open to you")


class Done(_Body):
    ok: bool = True
    detail: str = ""


def _session_response(request: Request, found: Reviewer, token_id: str) -> JSONResponse:
    from oversight.review.web.auth import fingerprint

    state = request.app.state.web
    value, session = state.signer.issue(found.name, fingerprint(token_id))
    response = JSONResponse(SessionInfo(user=found, csrf_token=session.csrf).model_dump(mode="json"))
    set_session_cookie(response, value, state.secure_cookie, int(state.signer.max_age_s))
    return response


def set_session_cookie(response: Response, value: str, secure: bool, max_age: int) -> None:
    response.set_cookie(COOKIE, value, max_age=max_age, httponly=True, samesite="strict", secure=secure,
                        path="/")


def sign_in(request: Request, token: str) -> tuple[Reviewer, str]:
    """The reviewer a token belongs to and its token id (for the session fingerprint)."""
    service = service_of(request)
    token = token.strip()
    if not token.startswith(TOKEN_PREFIX):
        raise WebError(401, "that reviewer token is not valid (wrong, replaced or disabled)")
    try:
        user = service.authenticate(token)
    except Exception:  # noqa: BLE001 - any refusal reads the same to the caller
        raise WebError(401, "that reviewer token is not valid (wrong, replaced or disabled)") from None
    return user, token[len(TOKEN_PREFIX):].partition("_")[0]


@router.post("/session", response_model=SessionInfo, summary="sign in with a reviewer token")
def post_session(body: SignIn, request: Request) -> JSONResponse:
    user, token_id = sign_in(request, body.token)
    return _session_response(request, user, token_id)


@router.get("/session", response_model=SessionInfo, summary="who is signed in, and the CSRF token")
def get_session(me: Actor = Depends(actor)) -> SessionInfo:
    return SessionInfo(user=me.user, csrf_token=me.session.csrf)


@router.delete("/session", response_model=Done, summary="sign out")
def delete_session(me: Actor = Depends(csrf_actor)) -> JSONResponse:
    response = JSONResponse(Done(detail=f"{me.user.name} signed out").model_dump())
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/items", response_model=list[ItemSummary], summary="the queue, most urgent first")
def list_items(request: Request, me: Actor = Depends(actor),
               status: Annotated[str, Query(pattern="^(pending|admin|decided|applied|all)$")] = "pending",
               category: Annotated[str | None, Query(max_length=50)] = None,
               run_id: Annotated[str | None, Query(max_length=64)] = None,
               reason: Annotated[str | None, Query(max_length=50)] = None,
               min_age_minutes: Annotated[float | None, Query(ge=0, le=1e6)] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[ItemSummary]:
    return service_of(request).list_items(
        status=None if status == "all" else status, category=category, run_id=run_id, reason=reason,
        min_age_s=None if min_age_minutes is None else min_age_minutes * 60, limit=limit)


@router.get("/items/{item_id}", response_model=ItemView, summary="one item with its internal reasoning")
def get_item(item_id: int, request: Request, me: Actor = Depends(actor)) -> ItemView:
    return service_of(request).show(me.user, _id(item_id))


@router.post("/items/next", response_model=Claimed, summary="claim the most urgent item open to you")
def claim_next(body: NextFilter, request: Request, me: Actor = Depends(csrf_actor)) -> Claimed:
    return Claimed(item=service_of(request).claim_next(me.user, category=body.category, run_id=body.run_id))


@router.post("/items/{item_id}/claim", response_model=ItemView, summary="claim (or renew) a chosen item")
def claim(item_id: int, request: Request, me: Actor = Depends(csrf_actor)) -> ItemView:
    return service_of(request).claim(me.user, _id(item_id))


@router.post("/items/{item_id}/release", response_model=Done, summary="give back an item you hold")
def release(item_id: int, request: Request, me: Actor = Depends(csrf_actor)) -> Done:
    service_of(request).release(me.user, _id(item_id))
    return Done(detail=f"released item {item_id}")


@router.post("/items/{item_id}/skip", response_model=Claimed, summary="give back an item and claim the next")
def skip(item_id: int, request: Request, me: Actor = Depends(csrf_actor)) -> Claimed:
    return Claimed(item=service_of(request).skip(me.user, _id(item_id)))


@router.post("/items/{item_id}/decision", response_model=ItemView, status_code=202,
             summary="record your decision on an item you hold (a worker applies it)")
def decide(item_id: int, body: DecisionInput, request: Request, me: Actor = Depends(csrf_actor)) -> ItemView:
    view = service_of(request).decide(me.user, _id(item_id), body)
    worker = request.app.state.web.worker
    if worker is not None and view.status == "decided":
        worker.wake()
    return view


@router.post("/items/{item_id}/reassign", response_model=ItemView, summary="admin: hand an item to someone")
def reassign(item_id: int, body: Reassign, request: Request, me: Actor = Depends(csrf_actor)) -> ItemView:
    return service_of(request).reassign(admin(me).user, _id(item_id), body.to)


@router.post("/items/{item_id}/unclaim", response_model=Done, summary="admin: free an item someone holds")
def unclaim(item_id: int, request: Request, me: Actor = Depends(csrf_actor)) -> Done:
    service_of(request).unclaim(admin(me).user, _id(item_id))
    return Done(detail=f"item {item_id} is free again")


@router.put("/me/opt-out", response_model=Reviewer, summary="categories you will not be given")
def opt_out(body: OptOut, request: Request, me: Actor = Depends(csrf_actor)) -> Reviewer:
    return service_of(request).opt_out(me.user, body.categories)


@router.get("/stats", response_model=QueueStats, summary="queue depth, throughput, agreement, overturns")
def stats(request: Request, me: Actor = Depends(actor),
          window_h: Annotated[float, Query(gt=0, le=24 * 366)] = 24.0) -> QueueStats:
    return service_of(request).stats(window_h=window_h)


@router.get("/audit", response_model=list[AuditRecord], summary="admin: the audit log, newest first")
def audit(request: Request, me: Actor = Depends(actor),
          item_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
          limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[AuditRecord]:
    return service_of(request).audit(admin(me).user, item_id=item_id, limit=limit)


@router.get("/users", response_model=list[Reviewer], summary="admin: reviewer accounts")
def users(request: Request, me: Actor = Depends(actor)) -> list[Reviewer]:
    admin(me)
    return service_of(request).users()


def _id(item_id: int) -> int:
    """Ids outside the database's integer range are unknown items, not server errors."""
    if not 1 <= item_id <= 2**31 - 1:
        raise WebError(404, f"no review item {item_id}")
    return item_id
