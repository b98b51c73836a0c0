"""The review web page: FastAPI, server-rendered Jinja2 pages, a JSON API, and an apply worker.

`serve(settings, host, port, resume_fn)` runs it (what `review serve` calls);
`create_app(service, secret=...)` builds the app alone, for tests.
"""

from oversight.review.web.app import create_app, serve

__all__ = ["create_app", "serve"]
