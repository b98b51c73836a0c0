"""What each `review` subcommand does: open the service, check the token, act, print."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from oversight.cli.review_render import item_page, jsonable, queue_table, stats_page
from oversight.errors import OversightError
from oversight.settings import Settings


def read_token(args: argparse.Namespace, settings: Settings) -> str | None:
    """--token, else the token file (--token-file, or $OVERSIGHT_HOME/review.token if it exists)."""
    if args.token:
        return str(args.token)
    path = Path(args.token_file).expanduser() if args.token_file else settings.home / "review.token"
    if not path.exists():
        if args.token_file:
            raise OversightError(f"token file {path} does not exist")
        return None
    return path.read_text(encoding="utf-8").strip() or None


def decision_from(args: argparse.Namespace) -> dict[str, Any]:
    """The decision mapping from `review decide` options (the service validates it)."""
    out: dict[str, Any] = {"action": args.action, "note": args.note}
    if args.candidate is not None:
        out["candidate"] = args.candidate
    try:
        text = Path(args.text_file).read_text(encoding="utf-8") if args.text_file else args.text
    except (OSError, UnicodeDecodeError) as exc:
        raise OversightError(f"cannot read --text-file {args.text_file}: {exc}") from None
    if text is not None:
        out["text"] = text
    try:
        if args.rank:
            out["ranking"] = [int(x) for x in args.rank.split(",")]
        for item in args.violates:
            index, _, ids = item.partition(":")
            out.setdefault("violations", {}).setdefault(int(index), []).extend(
                i.strip() for i in ids.split(",") if i.strip())
    except ValueError:
        raise OversightError(f"--rank takes indices like 2,0,1 and --violates INDEX:PRINCIPLE; got "
                             f"{args.rank!r} / {args.violates!r}") from None
    return out


def _print(args: argparse.Namespace, value: Any, text: str) -> None:
    print(json.dumps(jsonable(value), indent=2, ensure_ascii=False) if args.json else text)


def _admin_or_bootstrap(service: Any, token: str | None) -> Any:
    """Account changes need an admin's token, except to create the very first admin."""
    if token is None and not any(u.role == "admin" and u.active for u in service.users()):
        return None
    actor = service.authenticate(token)
    service.require_admin(actor)
    return actor


def _users(args: argparse.Namespace, service: Any, token: str | None) -> int:
    cmd = args.users_command
    if cmd is None:
        raise OversightError("review users needs an action: add, list, token or set")
    actor = _admin_or_bootstrap(service, token)
    if cmd == "list":
        users = service.users()
        _print(args, users, "\n".join(f"{u.name:<20} {u.role:<8} {'active' if u.active else 'disabled':<8} "
                                      f"opted out: {', '.join(u.opted_out) or '-'}" for u in users) or "no accounts")
        return 0
    if cmd == "add":
        if actor is None and args.role != "admin":
            raise OversightError("create the first admin first: review users add NAME --role admin")
        user, token_text = service.add_user(args.name, args.role, actor)
    elif cmd == "token":
        user, token_text = None, service.new_token(args.name, actor)
    else:
        if args.enable and args.disable:
            raise OversightError("--enable and --disable exclude each other")
        active = True if args.enable else False if args.disable else None
        user = service.set_user(args.name, role=args.role, active=active, actor=actor)
        _print(args, user, f"{user.name}: {user.role}, {'active' if user.active else 'disabled'}")
        return 0
    name = user.name if user else args.name
    _print(args, {"name": name, "token": token_text},
           f"token for {name} (shown once; keep it secret, e.g. in $OVERSIGHT_HOME/review.token):\n{token_text}")
    return 0


def _apply(args: argparse.Namespace, settings: Settings, service: Any) -> int:
    from oversight.cli.review_resume import GraphResumer, default_roles

    log = (lambda msg: print(msg, file=sys.stderr))  # noqa: E731
    with GraphResumer(settings, service.store, roles=args.roles, overrides=args.overrides,
                      roles_factory=default_roles(log)) as resumer:
        outcomes = service.apply(resumer, item_id=args.item, limit=args.limit)
    lines = [f"item {o.item_id} ({o.thread_id}): " + (
        f"applied, {o.human_pairs} human pair(s); answer: {(o.final_response or '')[:80]}" if o.ok
        else f"NOT applied: {o.error}") for o in outcomes]
    _print(args, outcomes, "\n".join(lines) or "nothing to apply")
    return 0 if all(o.ok for o in outcomes) else 1


def dispatch(args: argparse.Namespace, settings: Settings, token: str | None) -> int:
    from oversight.review import ReviewService, load_review_config
    from oversight.store import Store

    config = load_review_config(args.queue, settings.project_dir)
    service = ReviewService(Store.open(settings), config, settings.project_dir)
    cmd = args.review_command
    if cmd == "users":
        return _users(args, service, token)
    if cmd == "apply":
        return _apply(args, settings, service)
    if cmd == "serve" and hasattr(args, "serve_run"):
        return int(args.serve_run(args, settings, service) or 0)
    me = service.authenticate(token)
    if cmd == "list":
        status = None if args.status == "all" else args.status
        rows = service.list_items(status=status, category=args.category, run_id=args.run_id, reason=args.reason,
                                  min_age_s=None if args.min_age is None else args.min_age * 60, limit=args.limit)
        _print(args, rows, queue_table(rows))
    elif cmd == "next":
        view = service.claim_next(me, category=args.category, run_id=args.run_id)
        _print(args, view, "nothing to review right now" if view is None else item_page(view))
        return 0 if view is not None else 3
    elif cmd in ("show", "claim"):
        view = service.show(me, args.item) if cmd == "show" else service.claim(me, args.item)
        _print(args, view, item_page(view))
    elif cmd == "decide":
        view = service.decide(me, args.item, decision_from(args))
        _print(args, view, f"item {view.id}: {view.status}" + (
            " (recorded; `review apply` resumes the thread)" if view.status == "decided" else
            " (sent to an admin)" if view.status == "admin" else
            " (first of two independent reviews recorded)" if view.status == "pending" else ""))
    elif cmd == "release":
        service.release(me, args.item)
        _print(args, {"released": args.item}, f"released item {args.item}")
    elif cmd == "skip":
        view = service.skip(me, args.item)
        _print(args, view, "skipped; nothing else to review" if view is None else item_page(view))
    elif cmd == "reassign":
        view = service.reassign(me, args.item, args.to)
        _print(args, view, f"item {view.id} is now held by {args.to}")
    elif cmd == "unclaim":
        service.unclaim(me, args.item)
        _print(args, {"unclaimed": args.item}, f"item {args.item} is free again")
    elif cmd == "stats":
        stats = service.stats(window_h=args.window)
        _print(args, stats, stats_page(stats))
    elif cmd == "audit":
        rows = service.audit(me, item_id=args.item, limit=args.limit)
        _print(args, rows, "\n".join(f"{r.at:%Y-%m-%d %H:%M:%S} {r.actor:<12} {r.action:<12} "
                                     f"item {r.item_id if r.item_id is not None else '-':<5} "
                                     f"{(r.before or {}).get('status', '')}->{(r.after or {}).get('status', '')} "
                                     f"{r.detail}" for r in rows) or "no entries")
    elif cmd == "optout":
        user = service.opt_out(me, args.categories)
        _print(args, user, f"{user.name} opted out of: {', '.join(user.opted_out) or 'nothing'}")
    else:
        raise OversightError(f"unknown review action {cmd!r}")
    return 0
