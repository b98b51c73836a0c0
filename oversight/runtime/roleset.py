"""The real oversight roles: trained heads and adapters where present, zero-shot scoring otherwise.

Heads read the frozen base model's hidden states (adapters off), exactly as
they were trained; adapters only write text (critiques, revisions). A role with
no head falls back to option scoring with its prompt templates (Yes/No, A/B),
which is the path for large models that can judge zero-shot. Every model call
goes through a ModelHandle, so concurrent graph threads share batches.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from oversight.constitution import Constitution, Principle
from oversight.roles import RoleName, RolesFile
from oversight.runtime.answer_prefixes import answer_views, highest_per_answer
from oversight.runtime.critic_scores import violation_probs
from oversight.runtime.engine import ModelHandle, Runtime
from oversight.runtime.heads import Head
from oversight.runtime.overseer_notes import head_note_finder, without_notes
from oversight.runtime.prompts import PromptBook
from oversight.runtime.versions import RoleVersion
from oversight.verdicts import JudgeVerdict, PrincipleVerdict, SafetyVerdict

__all__ = ["RoleSet", "RoleVersion"]
log = logging.getLogger(__name__)
YES_NO = ("Yes", "No")
READ_CACHE = 4096  # answers remembered as the overseers read them (one answer is read by three roles)


class RoleSet:
    """Implements `OversightRoles` on one Runtime."""

    def __init__(self, runtime: Runtime, roles_file: RolesFile, constitution: Constitution,
                 versions: dict[RoleName, RoleVersion] | None = None) -> None:
        self.runtime = runtime
        self.roles_file = roles_file
        self.constitution = constitution
        self.versions = {r: (versions or {}).get(r) or RoleVersion() for r in roles_file.roles}
        self.book = PromptBook(roles_file)
        self.generated_tokens = 0  # across all generating roles; the graph summary reports tokens/s
        self._count_lock = threading.Lock()
        self._bare: dict[str, ModelHandle] = {}
        self._tuned: dict[str, ModelHandle] = {}
        self._heads: dict[str, Head | None] = {}
        self._read_cache: dict[tuple[str, str], str] = {}
        for role in roles_file.roles:
            model = roles_file.model_for(role)
            version = self.versions[role]
            self._bare[role] = runtime.handle(model, None)
            self._tuned[role] = runtime.handle(model, version.adapter) if version.adapter else self._bare[role]
            self._heads[role] = Head.load(version.head, role=role, base_model=model.hub_id) \
                if version.head else None
            if self._heads[role] is not None:
                self._check_head(role, self._heads[role])

    def _check_head(self, role: str, head: Head) -> None:
        why = head.spec.mismatch(self.roles_file.roles[role])  # type: ignore[index]
        if why:
            log.warning("%s head may not fit this roles file: %s (retrain with `train --role %s`)", role, why, role)
        loaded, _ = self.runtime.loaded(self.roles_file.model_for(role))
        dtype = str(next(loaded.model.parameters()).dtype).removeprefix("torch.")
        if head.spec.feature_dtype != dtype:
            log.warning("%s head was trained on %s features but the model runs in %s; probabilities may "
                        "shift (retrain with `train --role %s`)", role, head.spec.feature_dtype, dtype, role)

    def _generate(self, role: RoleName, chat: Any, tuned: bool = True) -> Any:
        handle = self._tuned[role] if tuned else self._bare[role]
        gen = handle.generate([chat], self.roles_file.roles[role].generation)[0]
        with self._count_lock:
            self.generated_tokens += gen.new_tokens
        return gen

    def head(self, role: str) -> Head | None:
        return self._heads.get(role)

    def _features(self, role: str, chats: list[Any], fields: list[dict[str, str]]) -> np.ndarray:
        """Head features of `chats`; `fields` are each chat's template fields, for the encoder's own input."""
        head = self._heads[role]
        assert head is not None
        key = head.spec.encoder_input
        texts = [self.book.text(role, key, **f) for f in fields] if key else None
        return self.runtime.head_features(self._bare[role], chats, head.spec.layers, head.spec.pooling,
                                          head.spec.encoder, texts)

    def as_read(self, prompt: str, answers: list[str]) -> list[str]:
        """The answers as every overseer reads them: paragraphs addressed to the overseers taken out, found
        by the safety head (runtime/overseer_notes.py); as written when it cannot find them."""
        find = head_note_finder(self._heads.get("safety"),
                                lambda rows: self._features("safety", *self.book.safety_exchanges(rows)))
        if find is None:
            return list(answers)
        cached = {a: self._read_cache.get((prompt, a)) for a in answers}
        known = {a: read for a, read in cached.items() if read is not None}
        todo = list(dict.fromkeys(a for a in answers if a not in known))
        if todo:
            known.update(zip(todo, without_notes([(prompt, a) for a in todo], find), strict=True))
            if len(self._read_cache) + len(todo) > READ_CACHE:  # graph threads share it: only ever add or clear
                self._read_cache.clear()
            self._read_cache.update({(prompt, a): known[a] for a in todo})
        return [known[a] for a in answers]

    # --- base -------------------------------------------------------------------------------
    def answer(self, prompt: str, system_prompt: str | None = None) -> tuple[str, list[str]]:
        params = self.roles_file.roles["base"].generation
        gen = self._generate("base", self.book.answer(prompt, system_prompt))
        notices = []
        if gen.truncated:
            limit = self.roles_file.model_for("base").max_context
            notices.append(f"prompt truncated: longer than the model context, so only its first and last "
                           f"{limit // 2} tokens or so were read (system prompt and template kept)")
        if gen.new_tokens >= params.max_new_tokens:
            notices.append(f"answer cut at the {params.max_new_tokens}-token limit")
        return gen.text, notices

    # --- safety -----------------------------------------------------------------------------
    def assess_safety(self, prompt: str, response: str | None = None) -> SafetyVerdict:
        head = self._heads["safety"]
        if head is None:
            return self._zero_shot_safety(prompt, response)
        outputs = head.spec.outputs
        answers = self.as_read(prompt, [response]) if response is not None and "response_harmful" in outputs else []
        views, counts = answer_views(answers)  # the answer as scored: see runtime/answer_prefixes.py
        chats, fields = self.book.safety_exchanges([(prompt, v) for v in views])
        feats = self._features("safety", [self.book.safety_input(prompt), *chats], [{"prompt": prompt}, *fields])
        request = feats[:1]
        return SafetyVerdict(
            harmful_prob=float(head.binary("harmful", request)[0]),
            jailbreak_prob=float(head.binary("jailbreak", request)[0]),
            response_harmful_prob=(float(highest_per_answer(head.binary("response_harmful", feats[1:]), counts)[0])
                                   if answers else None),
            category_probs=head.multiclass("category", request)[0] if "category" in outputs else {},
            attack_probs=head.multiclass("attack", request)[0] if "attack" in outputs else {})

    def rate_responses(self, prompt: str, responses: list[str]) -> list[float | None]:
        """Response-harmful probabilities of several answers to one request, in one batch."""
        if not responses:
            return []
        responses = self.as_read(prompt, responses)
        head = self._heads["safety"]
        if head is None:
            views, counts = answer_views(responses)
            chats = [self.book.safety_question("ask_response", prompt, v) for v in views]
            yes = [s["Yes"] for s in self._tuned["safety"].score_options(chats, YES_NO)]
            return [float(p) for p in highest_per_answer(yes, counts)]
        if "response_harmful" not in head.spec.outputs:
            return [None] * len(responses)
        views, counts = answer_views(responses)
        feats = self._features("safety", *self.book.safety_exchanges([(prompt, v) for v in views]))
        return [float(p) for p in highest_per_answer(head.binary("response_harmful", feats), counts)]

    def _zero_shot_safety(self, prompt: str, response: str | None) -> SafetyVerdict:
        handle = self._tuned["safety"]
        book = self.book
        chats = [book.safety_question("ask_harmful", prompt), book.safety_question("ask_jailbreak", prompt)]
        views, counts = answer_views([response] if response is not None else [])
        chats += [book.safety_question("ask_response", prompt, v) for v in views]
        yes = [p["Yes"] for p in handle.score_options(chats, YES_NO)]
        categories = [c for c in self.constitution.categories if c != "helpfulness"]
        category = handle.score_options([book.safety_question("ask_category", prompt, options=categories)],
                                        categories)[0]
        attacks = list(self.constitution.attack_types)
        attack = handle.score_options([book.safety_question("ask_attack", prompt, options=attacks)], attacks)[0]
        return SafetyVerdict(harmful_prob=yes[0], jailbreak_prob=yes[1],
                             response_harmful_prob=(float(highest_per_answer(yes[2:], counts)[0])
                                                    if response is not None else None),
                             category_probs=category, attack_probs=attack)

    # --- critic -----------------------------------------------------------------------------
    def check_principles(self, prompt: str, response: str, principles: list[Principle]) -> list[PrincipleVerdict]:
        if not principles:
            return []
        response = self.as_read(prompt, [response])[0]
        head = self._heads["critic"]
        if head is None:
            chats = [self.book.critic_verdict(p, prompt, response) for p in principles]
            probs = [s["Yes"] for s in self._tuned["critic"].score_options(chats, YES_NO)]
        else:
            probs = violation_probs(head, self.book, principles, [(prompt, response)],
                                    lambda chats, fields: self._features("critic", chats, fields))[0].tolist()
        return [PrincipleVerdict(principle_id=p.id, violation_prob=float(v))
                for p, v in zip(principles, probs, strict=True)]

    def write_critique(self, prompt: str, response: str, principle: Principle) -> str:
        chat = self.book.critic_critique(principle, prompt, response)
        return self._generate("critic", chat).text

    # --- reviser ----------------------------------------------------------------------------
    def revise(self, prompt: str, response: str, critiques: list[tuple[Principle, str]]) -> str:
        if not critiques:
            return response
        chat = self.book.revise(prompt, response, critiques)
        return self._generate("reviser", chat).text

    # --- judge ------------------------------------------------------------------------------
    def compare(self, prompt: str, a: str, b: str, principles: list[Principle]) -> list[JudgeVerdict]:
        """P(b better) per principle, from both presentation orders averaged (position bias cancels).

        `prob_b_better_ba` is the swapped presentation (b shown first) mapped back to "b better".
        """
        if not principles:
            return []
        a, b = self.as_read(prompt, [a, b])
        head = self._heads["judge"]
        if head is None:
            ab_chats = [self.book.judge_pairwise(p, prompt, a, b) for p in principles]
            ba_chats = [self.book.judge_pairwise(p, prompt, b, a) for p in principles]
            scores = self._tuned["judge"].score_options(ab_chats + ba_chats, ("A", "B"))
            ab = [s["B"] for s in scores[:len(principles)]]
            ba = [s["A"] for s in scores[len(principles):]]  # b was shown as A
        else:
            chats = [self.book.judge_single(p, prompt, text) for p in principles for text in (a, b)]
            feats = self._features("judge", chats, [{"prompt": prompt, "response": text}
                                                     for _ in principles for text in (a, b)])
            fa, fb = feats[0::2], feats[1::2]
            ab = head.pairwise("preference", fa, fb).tolist()          # a shown first
            ba = (1.0 - head.pairwise("preference", fb, fa)).tolist()  # b shown first
        return [JudgeVerdict(principle_id=p.id, prob_b_better=(x + y) / 2, prob_b_better_ab=x, prob_b_better_ba=y)
                for p, x, y in zip(principles, ab, ba, strict=True)]
