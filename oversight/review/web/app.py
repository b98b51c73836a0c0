"""The review web server: FastAPI with server-rendered Jinja2 pages and a JSON API under /api/.

`create_app(service, secret=...)` builds the app (tests use it with TestClient);
`serve(settings, host, port, resume_fn)` runs it with uvicorn on 127.0.0.1 by default,
beside an `ApplyWorker` thread that resumes the graph threads of decided items, so no
request ever waits for a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from oversight.errors import OversightError
from oversight.review.apply import Resumer
from oversight.review.service import ReviewService
from oversight.review.web.auth import Signer, load_secret
from oversight.review.web.deps import WebError, session_actor, status_for
from oversight.review.web.guard import RequestGuard
from oversight.review.web.worker import ApplyWorker
from oversight.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
SECRET_FILE = "review_web.secret"
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "Cache-Control": "no-store",
}


@dataclass
class WebState:
    """What every route needs, kept on `app.state.web`."""

    service: ReviewService
    signer: Signer
    templates: Jinja2Templates
    worker: ApplyWorker | None
    secure_cookie: bool


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _page_error(request: Request, status: int, message: str) -> Response:
    state: WebState = request.app.state.web
    if status == 401:
        return RedirectResponse("/login?m=signin", status_code=303)
    found = session_actor(request)
    return state.templates.TemplateResponse(request, "error.html.j2", {
        "status": status, "message": message, "user": found.user if found else None,
        "csrf": found.session.csrf if found else "", "flash": None}, status_code=status)


def create_app(service: ReviewService, *, secret: bytes, worker: ApplyWorker | None = None,
               secure_cookie: bool = False) -> FastAPI:
    """The app over one review service; `secure_cookie` when served over HTTPS (behind a proxy)."""
    from oversight.review.web import api, pages

    app = FastAPI(title="Oversight review", version="1", docs_url=None, redoc_url=None,
                  description="Human review queue: claim escalated cases, decide them; a worker beside the "
                              "server resumes the paused graph threads. Sign in at POST /api/session; "
                              "state-changing calls send the session's CSRF token in X-CSRF-Token.")
    templates = Jinja2Templates(directory=str(TEMPLATES))
    app.state.web = WebState(service=service, signer=Signer(secret), templates=templates,
                             worker=worker, secure_cookie=secure_cookie)

    @app.exception_handler(WebError)
    async def web_error(request: Request, exc: WebError) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        return _page_error(request, exc.status, exc.message)

    @app.exception_handler(OversightError)
    async def service_error(request: Request, exc: OversightError) -> Response:
        message = str(exc).splitlines()[0] if str(exc) else "refused"
        if _wants_json(request):
            return JSONResponse({"error": message}, status_code=status_for(message))
        return _page_error(request, status_for(message), message)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        message = f"malformed request: {where}: {first.get('msg', 'invalid')}"
        if _wants_json(request):
            return JSONResponse({"error": message}, status_code=422)
        return _page_error(request, 400, message)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable) -> Response:  # type: ignore[type-arg]
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.include_router(api.router)
    app.include_router(pages.router)
    app.add_middleware(RequestGuard)
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8765, resume_fn: Resumer | None = None, *,
          service: ReviewService | None = None, queue: str = "default", apply_interval_s: float = 5.0,
          secure_cookie: bool = False, log: Callable[[str], None] | None = None) -> None:
    """Run the review server until interrupted; with `resume_fn`, an apply worker runs beside it.

    Without `resume_fn` decisions are only recorded (apply them with `review apply`).
    """
    import uvicorn

    from oversight.review.config import load_review_config
    from oversight.store import Store

    if service is None:
        service = ReviewService(Store.open(settings), load_review_config(queue, settings.project_dir),
                                settings.project_dir)
    settings.ensure_home()
    worker = ApplyWorker(service, resume_fn, apply_interval_s).start() if resume_fn is not None else None
    app = create_app(service, secret=load_secret(settings.home / SECRET_FILE), worker=worker,
                     secure_cookie=secure_cookie)
    if log is not None:
        log(f"review server on http://{host}:{port}/ (Ctrl-C stops it); "
            + ("decisions are applied by a worker beside it" if worker else
               "decisions are recorded only: run `review apply` to resume the threads"))
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        if worker is not None:
            worker.stop()
