"""Terminal rendering of review items, queue rows and stats (the `--json` path skips this)."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from typing import Any

WIDTH = 100


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def until(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    left = (moment - datetime.now(timezone.utc)).total_seconds()
    return ("in " if left >= 0 else "overdue ") + age(left)


def wrap(text: str, indent: str) -> str:
    lines = []
    for para in (text or "").splitlines() or [""]:
        lines += textwrap.wrap(para, WIDTH - len(indent), initial_indent=indent,
                               subsequent_indent=indent) or [indent]
    return "\n".join(lines)


def queue_table(rows: list[Any]) -> str:
    if not rows:
        return "the queue is empty (for these filters)"
    head = f"{'id':>5}  {'status':<8} {'prio':>4}  {'category':<13} {'age':>6}  {'deadline':<13} " \
           f"{'held by':<10} {'reviews':<7} reasons / prompt"
    lines = [head, "-" * len(head)]
    for r in rows:
        prompt = r.prompt.replace("\n", " ")
        lines.append(f"{r.id:>5}  {r.status:<8} {r.priority:>4}  {(r.category or '-'):<13} {age(r.age_s):>6}  "
                     f"{until(r.deadline_at):<13} {(r.claimed_by or '-'):<10} "
                     f"{f'{r.reviews_done}/{r.reviews_needed}':<7} {', '.join(r.reason_kinds)}: "
                     f"{prompt[:60]}{'...' if len(prompt) > 60 else ''}")
    return "\n".join(lines)


def item_page(v: Any) -> str:
    """Prompt, reasons, safety, each candidate with its critiques and judge probabilities."""
    out = [f"review item {v.id}  thread {v.thread_id} round {v.round}  run {v.run_id}",
           f"status {v.status}{' (timed out: refused at the deadline)' if v.timed_out else ''}  "
           f"priority {v.priority}  category {v.category or '-'} ({', '.join(v.categories) or 'none'})  "
           f"age {age(v.age_s)}  deadline {until(v.deadline_at)}",
           f"constitution {v.constitution_version or '?'} ({v.constitution_hash or '?'})  "
           f"held by {v.claimed_by or 'nobody'}"
           + (f" until {v.lease_expires_at:%H:%M:%S} UTC" if v.claimed_by and v.lease_expires_at else "")
           + f"  reviews {v.reviews_done}/{v.reviews_needed}", "", "PROMPT", wrap(v.prompt, "  "), "",
           "WHY IT IS HERE (the graph's reasons)"]
    out += [wrap(f"- {r}", "  ") for r in v.reasons]
    s = v.safety or {}
    if s:
        resp = s.get("response_harmful_prob")
        out += ["", "SAFETY", f"  request harmful p={s.get('harmful_prob', 0):.2f}  jailbreak "
                f"p={s.get('jailbreak_prob', 0):.2f}" + (f"  answer harmful p={resp:.2f}" if resp is not None else "")
                + (f"  top category {s['top_category']}" if s.get("top_category") else "")
                + (f"  top attack {s['top_attack']}" if s.get("top_attack") else "")]
    judged = {j["b_index"]: j for j in v.judgments if j.get("principle_id") is None and j.get("a_index") == 0}
    out += ["", "CANDIDATES"]
    for c in v.candidates:
        mark = "  <- the graph's proposal" if c["index"] == v.proposal else ""
        out.append(f"  [{c['index']}] {c['source']}, round {c['round']}{mark}")
        out.append(wrap(c["text"], "      "))
        for k in c.get("critiques") or []:
            if k.get("violated") or k.get("text"):
                out.append(wrap(f"critic: {k['principle_id']} violated p={k['violation_prob']:.2f}"
                                + (f" - {k['text']}" if k.get("text") else ""), "      "))
        if c["index"] in judged:
            j = judged[c["index"]]
            per = [f"{x['principle_id']} {x['prob_b_better']:.2f}" for x in v.judgments
                   if x.get("principle_id") and x["b_index"] == c["index"] and x.get("a_index") == 0]
            out.append(wrap(f"judge: P(better than [0]) = {j['prob_b_better']:.2f}"
                            + (f" ({', '.join(per)})" if per else ""), "      "))
    if v.principles:
        out += ["", "PRINCIPLES INVOLVED"]
        for p in v.principles:
            out += [wrap(f"{p.id} ({p.category}, priority {p.priority}): {p.text}", "  "), wrap(p.rubric, "      ")]
    if v.notices:
        out += ["", "NOTICES"] + [wrap(n, "  ") for n in v.notices]
    if v.decisions:
        out += ["", "DECISIONS"] + [f"  {d.reviewer} ({d.role}) {d.decided_at:%Y-%m-%d %H:%M} "
                                    f"{age(d.seconds)}: {d.decision}" for d in v.decisions]
    if v.decision:
        out += ["", f"FINAL DECISION  {v.decision}"]
    if v.apply_error:
        out += [f"last apply failed: {v.apply_error}"]
    return "\n".join(out)


def stats_page(s: Any) -> str:
    f2 = lambda x: "n/a" if x is None else f"{x:.2f}"  # noqa: E731
    out = ["QUEUE", "  " + "  ".join(f"{k} {n}" for k, n in s.by_status.items()) + f"  timed out {s.timed_out}",
           f"  open now: {s.pending} pending, {s.claimed} claimed; oldest {age(s.oldest_pending_age_s)}, "
           f"median age {age(s.median_pending_age_s)}",
           "  open by category: " + (", ".join(f"{k} {n}" for k, n in s.by_category.items()) or "none"),
           "", f"THROUGHPUT (last {s.window_h:g} h): {s.decisions_in_window} decisions, median "
           f"{age(s.median_seconds_per_item)} per item"]
    out += [f"  {r.reviewer:<16} {r.decisions:>5} decisions ({r.last_hour} in the last hour)  "
            f"{r.per_hour:7.1f}/h while reviewing  median {age(r.median_seconds)}" for r in s.reviewers]
    out += ["", f"AGREEMENT ({s.double_reviewed} double-reviewed items): agree {f2(s.agreement_rate)}, "
            f"kappa on the choice {f2(s.kappa_choice)}"]
    out += [f"  kappa {pid:<22} {f2(k)}" for pid, k in s.kappa_principles.items()]
    out += ["", "OVERTURNED THE GRAPH'S PROPOSAL, per escalation reason"]
    out += [f"  {o.reason:<24} {o.overturned:>4} of {o.decided:<4} ({f2(o.rate)})" for o in s.overturned] or ["  none yet"]
    return "\n".join(out)


def jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value
