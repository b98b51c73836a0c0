"""`review`: work the human review queue from a terminal (list, next, show, decide, apply, ...)."""

from __future__ import annotations

import argparse

from oversight.settings import Settings

EXAMPLE = "example: python -m oversight.run review next --token-file ~/.oversight-token"
ACTIONS = ("accept", "choose", "edit", "refuse", "revise", "unsure")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help=f"work the human review queue ({EXAMPLE})", allow_abbrev=False,
                       description="Claim escalated cases, decide them, and apply the decisions to the "
                                   f"paused graph threads. {EXAMPLE}")
    p.add_argument("--token", help="your reviewer token (default: read from --token-file)")
    p.add_argument("--token-file", help="file holding your token (default: $OVERSIGHT_HOME/review.token)")
    p.add_argument("--queue", default="default", help="queue settings: queues/NAME.yaml or a path")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    rs = p.add_subparsers(dest="review_command", metavar="ACTION", parser_class=type(p))
    q = rs.add_parser("list", help="the queue, most urgent first (example: review list --category privacy)")
    q.add_argument("--status", default="pending", help="pending, admin, decided, applied or all")
    q.add_argument("--category")
    q.add_argument("--run", dest="run_id")
    q.add_argument("--reason", help="escalation reason kind, e.g. judge-unsure, always-human")
    q.add_argument("--min-age", type=float, help="only items at least this many minutes old")
    q.add_argument("--limit", type=int, default=50)
    q = rs.add_parser("next", help="claim the most urgent item and show it (example: review next)")
    q.add_argument("--category")
    q.add_argument("--run", dest="run_id")
    for name, text in (("show", "show an item (example: review show 12)"),
                       ("claim", "claim a chosen item (example: review claim 12)"),
                       ("release", "give back an item you hold (example: review release 12)"),
                       ("skip", "give back an item and claim the next (example: review skip 12)")):
        rs.add_parser(name, help=text).add_argument("item", type=int)
    q = rs.add_parser("decide", help="decide an item you hold (example: review decide 12 choose --candidate 1)")
    q.add_argument("item", type=int)
    q.add_argument("action", choices=ACTIONS)
    q.add_argument("--candidate", type=int, help="choose: the candidate index")
    q.add_argument("--text", help="edit: the final response; refuse: your reference refusal")
    q.add_argument("--text-file", help="read --text from this file")
    q.add_argument("--rank", help="candidate indices best first, e.g. 2,0,1")
    q.add_argument("--violates", action="append", default=[], metavar="INDEX:PRINCIPLE[,PRINCIPLE]",
                   help="principles a candidate violates, e.g. 0:privacy,lawful (repeatable)")
    q.add_argument("--note", default="", help="free text; for revise, what the model should fix")
    q = rs.add_parser("reassign", help="admin: give an item to someone (example: review reassign 12 --to ana)")
    q.add_argument("item", type=int)
    q.add_argument("--to", required=True)
    rs.add_parser("unclaim", help="admin: free an item someone holds (example: review unclaim 12)"
                  ).add_argument("item", type=int)
    q = rs.add_parser("stats", help="queue depth, throughput, agreement, overturns (example: review stats)")
    q.add_argument("--window", type=float, default=24.0, help="hours of decisions to count (default 24)")
    q = rs.add_parser("apply", help="resume the graph threads of decided items (example: review apply)")
    q.add_argument("--item", type=int, help="only this item")
    q.add_argument("--limit", type=int)
    q.add_argument("--roles", help="roles file (default: the run's graph spec's)")
    q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    q = rs.add_parser("audit", help="admin: the audit log, newest first (example: review audit --item 12)")
    q.add_argument("--item", type=int)
    q.add_argument("--limit", type=int, default=50)
    q = rs.add_parser("optout", help="categories you will not be given (example: review optout safety)")
    q.add_argument("categories", nargs="*")
    q = rs.add_parser("users", help="accounts (example: review users add ana --role reviewer)")
    us = q.add_subparsers(dest="users_command", metavar="USERS_ACTION", parser_class=type(p))
    u = us.add_parser("add", help="create an account and print its token once")
    u.add_argument("name")
    u.add_argument("--role", choices=("reviewer", "admin"), default="reviewer")
    us.add_parser("list", help="list accounts")
    us.add_parser("token", help="replace someone's token and print the new one").add_argument("name")
    u = us.add_parser("set", help="change a role, or disable/enable an account")
    u.add_argument("name")
    u.add_argument("--role", choices=("reviewer", "admin"))
    u.add_argument("--disable", action="store_true")
    u.add_argument("--enable", action="store_true")
    from oversight.cli.review_serve import add_parser as add_serve

    add_serve(rs)
    p.set_defaults(run=run, review_parser=p)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.cli.review_actions import dispatch, read_token

    if not args.review_command:
        args.review_parser.print_help()
        return 2
    return dispatch(args, settings, read_token(args, settings))
