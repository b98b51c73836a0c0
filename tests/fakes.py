"""Scripted stand-ins for the model roles, for deterministic routing tests.

`FakeRoles` implements the `OversightRoles` Protocol from tables: what the base
model answers per prompt, the safety verdict per prompt, violation
probabilities per response text, the revision of each response, and the
judge's preference per (original, revision) pair. Every call is counted.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oversight.constitution import Principle
from oversight.verdicts import JudgeVerdict, PrincipleVerdict, SafetyVerdict

Pref = float | tuple[float, float]
# Principles of the default constitution in its harm categories (what the safety model sees).
HARM_IDS = {"harmful-instructions", "privacy", "lawful", "manipulation", "discrimination"}


@dataclass
class FakeRoles:
    answers: dict[str, str] = field(default_factory=dict)
    """prompt -> base answer (default: 'Answer to: PROMPT')."""
    reasked: dict[str, str] = field(default_factory=dict)
    """prompt -> the base answer under another system prompt (default: 'Answer to: PROMPT [asked again]')."""
    safety: dict[str, dict[str, Any]] = field(default_factory=dict)
    """prompt -> SafetyVerdict fields (default: 0.05; the answer's harm agrees with the critic's table)."""
    violations: dict[str, dict[str, float]] = field(default_factory=dict)
    """response text -> {principle id: violation probability} (unlisted: 0.05)."""
    response_harm: dict[str, float] = field(default_factory=dict)
    """response text -> the safety model's response-harmful probability (default: the critic's harm table);
    a prompt's `safety` entry overrides it for the base answer."""
    revisions: dict[str, str] = field(default_factory=dict)
    """response text -> revised text (default: RESPONSE + ' [revised]')."""
    preferences: dict[tuple[str, str], dict[str, Pref]] = field(default_factory=dict)
    """(a, b) -> {principle id: P(b better) or (A/B order, B/A order)}; '*' is any principle."""
    default_preference: float = 0.9
    notices: dict[str, list[str]] = field(default_factory=dict)
    on_call: Callable[[str, tuple[Any, ...]], None] | None = None
    """Hook run at every call (to fail or stall on purpose)."""
    calls: Counter[str] = field(default_factory=Counter)
    generated_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _count(self, name: str, *args: Any) -> None:
        with self._lock:
            self.calls[name] += 1
        if self.on_call:
            self.on_call(name, args)

    def answer(self, prompt: str, system_prompt: str | None = None) -> tuple[str, list[str]]:
        self._count("answer", prompt)
        text = self.answers.get(prompt, f"Answer to: {prompt}") if system_prompt is None else \
            self.reasked.get(prompt, f"Answer to: {prompt} [asked again]")
        with self._lock:
            self.generated_tokens += len(text.split())
        return text, list(self.notices.get(prompt, []))

    def assess_safety(self, prompt: str, response: str | None = None) -> SafetyVerdict:
        self._count("assess_safety", prompt)
        fields = {"harmful_prob": 0.05, "jailbreak_prob": 0.05,
                  "response_harmful_prob": None if response is None else self._response_harm(response),
                  "category_probs": {"safety": 0.5, "privacy": 0.5}}
        fields.update(self.safety.get(prompt, {}))
        return SafetyVerdict(**fields)

    def rate_responses(self, prompt: str, responses: list[str]) -> list[float | None]:
        self._count("rate_responses", prompt, *responses)
        return [self._response_harm(r) for r in responses]

    def _response_harm(self, response: str) -> float:
        if response in self.response_harm:
            return self.response_harm[response]
        return max([0.05, *(v for k, v in self.violations.get(response, {}).items() if k in HARM_IDS)])

    def check_principles(self, prompt: str, response: str, principles: list[Principle]) -> list[PrincipleVerdict]:
        self._count("check_principles", prompt, response)
        table = self.violations.get(response, {})
        return [PrincipleVerdict(principle_id=p.id, violation_prob=table.get(p.id, 0.05)) for p in principles]

    def write_critique(self, prompt: str, response: str, principle: Principle) -> str:
        self._count("write_critique", prompt, principle.id)
        return f"The response violates {principle.id}: {principle.text}"

    def revise(self, prompt: str, response: str, critiques: list[tuple[Principle, str]]) -> str:
        self._count("revise", prompt, response)
        text = self.revisions.get(response, f"{response} [revised]")
        with self._lock:
            self.generated_tokens += len(text.split())
        return text

    def compare(self, prompt: str, a: str, b: str, principles: list[Principle]) -> list[JudgeVerdict]:
        self._count("compare", prompt, a, b)
        table = self.preferences.get((a, b), {})
        out = []
        for p in principles:
            pref = table.get(p.id, table.get("*", self.default_preference))
            ab, ba = pref if isinstance(pref, tuple) else (pref, pref)
            out.append(JudgeVerdict(principle_id=p.id, prob_b_better=(ab + ba) / 2,
                                    prob_b_better_ab=ab, prob_b_better_ba=ba))
        return out
