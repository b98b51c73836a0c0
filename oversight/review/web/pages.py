"""The HTML pages: sign in, the queue, one item with its decision form, stats.

Forms post back here (each with the session's CSRF token) and redirect (303), so
a reload never repeats an action. Decisions are recorded, then the apply worker
is woken; the page never waits for the graph.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from oversight.review.models import ItemView
from oversight.review.web import views
from oversight.review.web.api import set_session_cookie, sign_in
from oversight.review.web.auth import COOKIE, fingerprint
from oversight.review.web.deps import Actor, WebError, actor, admin, csrf_actor, service_of, session_actor

router = APIRouter(include_in_schema=False)
FLASH = {
    "signin": "Sign in to continue.", "signedout": "Signed out.", "claimed": "Claimed: the item is yours "
    "until your lease ends.", "released": "Released: the item is back in the queue.",
    "decided": "Decision recorded; the worker beside the server resumes the thread.",
    "admin": "Sent to an admin.", "first": "First of two independent reviews recorded.",
    "empty": "Nothing to review right now.", "reassigned": "Reassigned.",
}
STATUSES = ("open", "pending", "admin", "decided", "applied", "all")


def render(request: Request, name: str, me: Actor | None, status: int = 200, **context: Any) -> HTMLResponse:
    code = request.query_params.get("m")
    return request.app.state.web.templates.TemplateResponse(request, name, {
        "user": me.user if me else None, "csrf": me.session.csrf if me else "",
        "flash": FLASH.get(code or ""), "flash_kind": "ok", **context}, status_code=status)


def go(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _int(value: Any, what: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(str(value))
    except ValueError:
        raise WebError(400, f"{what} must be a whole number, got {str(value)[:40]!r}") from None


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    return go("/queue")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return render(request, "login.html.j2", session_actor(request))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    token = form.get("token")
    try:
        user, token_id = sign_in(request, token if isinstance(token, str) else "")
    except WebError as exc:
        return render(request, "login.html.j2", None, status=exc.status, error=exc.message)
    state = request.app.state.web
    value, _ = state.signer.issue(user.name, fingerprint(token_id))
    response = go("/queue")
    set_session_cookie(response, value, state.secure_cookie, int(state.signer.max_age_s))
    return response


@router.post("/logout")
def logout(me: Actor = Depends(csrf_actor)) -> Response:
    response = go("/login?m=signedout")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request, me: Actor = Depends(actor)) -> Response:
    q = request.query_params
    status = q.get("status") or "open"
    if status not in STATUSES:
        raise WebError(400, f"status must be one of {', '.join(STATUSES)}, got {status[:40]!r}")
    min_age = _int(q.get("min_age"), "min_age")
    filters = {"category": q.get("category") or None, "reason": q.get("reason") or None,
               "run": q.get("run") or None, "min_age": min_age, "status": status}
    service = service_of(request)
    every = service.list_items(status=None, limit=100_000)
    wanted = ("pending", "admin") if status == "open" else None if status == "all" else (status,)
    rows = [r for r in service.list_items(
        status=None, category=filters["category"], run_id=filters["run"], reason=filters["reason"],
        min_age_s=None if min_age is None else min_age * 60, limit=100_000)
        if wanted is None or r.status in wanted][:300]
    counts: dict[str, int] = {}
    for r in every:
        counts[r.status] = counts.get(r.status, 0) + 1
    counts["held now"] = sum(1 for r in every if r.claimed_by)
    facets = {"categories": sorted({c for r in every for c in r.categories}),
              "runs": sorted({r.run_id for r in every})}
    reasons = sorted({k for r in every for k in r.reason_kinds})
    view_rows = [{
        "id": r.id, "priority": r.priority, "age": views.age(r.created_at), "created_at": r.created_at,
        "categories": r.categories, "reason_short": ", ".join(r.reason_kinds) or (r.reasons[0][:80] if r.reasons else ""),
        "prompt_short": r.prompt[:90] + ("…" if len(r.prompt) > 90 else ""), "run_id": r.run_id,
        "status": r.status, "holder": r.claimed_by,
        "harmful": r.category == "safety" or "harmful-answer-kept" in r.reason_kinds,
        "claimable": r.status in (("pending", "admin") if me.user.is_admin else ("pending",))
        and r.claimed_by is None} for r in rows]
    return render(request, "queue.html.j2", me, nav="queue", rows=view_rows, counts=counts,
                  facets={**facets, "reasons": reasons}, filters=filters)


def item_context(view: ItemView, me: Actor) -> dict[str, Any]:
    categories = {p.id: p.category for p in view.principles}
    mine = view.claimed_by == me.user.name
    open_to_me = view.status in (("pending", "admin") if me.user.is_admin else ("pending",))
    item = view.model_dump()
    item.update(age=views.age(view.created_at), holder=view.claimed_by,
                lease_left=_left(view),
                constitution=" ".join(x for x in (view.constitution_version and f"v{view.constitution_version}",
                                                  (view.constitution_hash or "")[:12]) if x),
                deadline=f"{view.deadline_at:%Y-%m-%d %H:%M} UTC" if view.deadline_at else None)
    return {"item": item, "prompt_blurred": views.prompt_is_harmful(view.safety),
            "candidates": views.candidate_views(view.candidates, view.judgments, view.safety,
                                                view.proposal, categories),
            "principles": [p.model_dump() for p in view.principles], "rubric": views.RUBRIC,
            "safety": views.safety_rows(view.safety), "judgments": views.judgment_rows(view.judgments),
            "can_decide": mine and open_to_me, "can_claim": open_to_me and view.claimed_by in (None, me.user.name)
            and not mine, "is_admin": me.user.is_admin}


def _left(view: ItemView) -> str | None:
    from oversight.store.tables import utcnow

    if not view.lease_expires_at or not view.claimed_by:
        return None
    return views.duration((view.lease_expires_at - utcnow()).total_seconds())


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(item_id: int, request: Request, me: Actor = Depends(actor)) -> Response:
    view = service_of(request).show(me.user, _checked(item_id))
    return render(request, "item.html.j2", me, nav="queue", **item_context(view, me))


@router.post("/items/{item_id}/claim")
def claim(item_id: int, request: Request, me: Actor = Depends(csrf_actor)) -> Response:
    service_of(request).claim(me.user, _checked(item_id))
    return go(f"/items/{item_id}?m=claimed")


@router.post("/next")
async def claim_next(request: Request, me: Actor = Depends(csrf_actor)) -> Response:
    form = await request.form()
    category, run = form.get("category") or None, form.get("run") or None
    view = service_of(request).claim_next(me.user, category=category if isinstance(category, str) else None,
                                          run_id=run if isinstance(run, str) else None)
    return go("/queue?m=empty" if view is None else f"/items/{view.id}?m=claimed")


@router.post("/items/{item_id}/release")
def release(item_id: int, request: Request, me: Actor = Depends(csrf_actor)) -> Response:
    service_of(request).release(me.user, _checked(item_id))
    return go("/queue?m=released")


@router.post("/items/{item_id}/skip")
def skip(item_id: int, request: Request, me: Actor = Depends(csrf_actor)) -> Response:
    view = service_of(request).skip(me.user, _checked(item_id))
    return go("/queue?m=empty" if view is None else f"/items/{view.id}?m=claimed")


@router.post("/items/{item_id}/reassign")
async def reassign(item_id: int, request: Request, me: Actor = Depends(csrf_actor)) -> Response:
    to = (await request.form()).get("to")
    service_of(request).reassign(admin(me).user, _checked(item_id), to if isinstance(to, str) else "")
    return go(f"/items/{item_id}?m=reassigned")


@router.post("/items/{item_id}/decide")
async def decide(item_id: int, request: Request, me: Actor = Depends(csrf_actor)) -> Response:
    form = await request.form()
    decision = decision_from_form({k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form.keys()})
    view = service_of(request).decide(me.user, _checked(item_id), decision)
    worker = request.app.state.web.worker
    if worker is not None and view.status == "decided":
        worker.wake()
    code = {"decided": "decided", "admin": "admin", "pending": "first"}.get(view.status, "decided")
    return go(f"/items/{item_id}?m={code}")


def decision_from_form(form: dict[str, list[str]]) -> dict[str, Any]:
    """The decision body from the item page's form fields (the service validates it)."""
    def one(name: str) -> str:
        return (form.get(name) or [""])[0]

    action = one("action") or ("choose" if one("candidate") else "")
    if not action:
        raise WebError(400, "pick a decision: a candidate number, accept, edit, refuse, revise or unsure")
    out: dict[str, Any] = {"action": action, "note": one("note")}
    if action == "choose":
        out["candidate"] = _int(one("candidate"), "candidate")
    if one("text").strip():
        out["text"] = one("text")
    ranks = sorted((_int(v[0], "rank"), int(k[5:])) for k, v in form.items()
                   if k.startswith("rank_") and k[5:].isdigit() and v and v[0].strip())
    if ranks:
        out["ranking"] = [index for _, index in ranks]
    for mark in form.get("violates", []):
        index, _, principle = mark.partition(":")
        if index.isdigit() and principle:
            out.setdefault("violations", {}).setdefault(int(index), []).append(principle)
    return out


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request, me: Actor = Depends(actor)) -> Response:
    from oversight.review.web.views import stats_context

    window = request.query_params.get("window") or "24"
    try:
        window_h = min(max(float(window), 0.1), 24 * 366)
    except ValueError:
        raise WebError(400, f"window must be a number of hours, got {window[:20]!r}") from None
    return render(request, "stats.html.j2", me, nav="stats",
                  **stats_context(service_of(request).stats(window_h=window_h)))


def _checked(item_id: int) -> int:
    if not 1 <= item_id <= 2**31 - 1:
        raise WebError(404, f"no review item {item_id}")
    return item_id
