"""`review serve`: the review web page, with a worker beside it that applies decisions."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from oversight.settings import Settings

EXAMPLE = "example: python -m oversight.run review serve --port 8765"


def add_parser(rs: argparse._SubParsersAction) -> None:
    q = rs.add_parser("serve", help=f"the review web page on 127.0.0.1 ({EXAMPLE})",
                      description="Serve the review queue as web pages (sign in with your reviewer token) "
                                  "and a JSON API under /api/. A worker thread beside the server resumes the "
                                  f"graph threads of decided items. {EXAMPLE}")
    q.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; anything else belongs behind an HTTPS proxy)")
    q.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    q.add_argument("--no-apply", action="store_true",
                   help="only record decisions; apply them elsewhere with `review apply`")
    q.add_argument("--apply-interval", type=float, default=5.0,
                   help="seconds between the worker's passes over decided items (default 5)")
    q.add_argument("--secure-cookie", action="store_true", help="mark the session cookie Secure (HTTPS only)")
    q.add_argument("--roles", help="roles file for resuming (default: each run's graph spec's)")
    q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    q.set_defaults(serve_run=run_serve)


def run_serve(args: argparse.Namespace, settings: Settings, service: Any) -> int:
    from oversight.cli.review_resume import GraphResumer, default_roles
    from oversight.errors import OversightError
    from oversight.review.web import serve

    if not 0 < args.port < 65536:
        raise OversightError(f"--port must be 1-65535, got {args.port}")
    if args.apply_interval <= 0:
        raise OversightError(f"--apply-interval must be positive, got {args.apply_interval}")
    log = (lambda msg: print(msg, file=sys.stderr))  # noqa: E731
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log(f"warning: serving on {args.host}: put it behind an HTTPS proxy and pass --secure-cookie")
    resumer = None if args.no_apply else GraphResumer(settings, service.store, roles=args.roles,
                                                      overrides=args.overrides, roles_factory=default_roles(log))
    serve(settings, args.host, args.port, resumer, service=service, apply_interval_s=args.apply_interval,
          secure_cookie=args.secure_cookie, log=log)
    return 0
