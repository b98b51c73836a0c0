"""Zero-shot roles on the real runtime (no trained adapters or heads), for graph tests.

Used only while the trained `oversight.runtime.roleset.RoleSet` is unavailable:
every verdict is option scoring (Yes/No, A/B) of the bare embedded model with
the roles file's own prompt templates, every text a greedy generation.
"""

from __future__ import annotations

import threading
from typing import Any

from oversight.constitution import Constitution, Principle
from oversight.roles import RolesFile
from oversight.runtime import Runtime, as_chat
from oversight.verdicts import JudgeVerdict, PrincipleVerdict, SafetyVerdict


class ZeroShotRoles:
    def __init__(self, runtime: Runtime, roles: RolesFile, constitution: Constitution) -> None:
        self.roles = roles
        self.constitution = constitution
        self.handle = {name: runtime.handle(roles.model_for(name)) for name in roles.roles}
        self.generated_tokens = 0
        self._lock = threading.Lock()

    def _generate(self, role: str, text: str, system: str | None = None) -> Any:
        cfg = self.roles.roles[role]  # type: ignore[index]
        [gen] = self.handle[role].generate([as_chat(text, system)], cfg.generation)
        with self._lock:
            self.generated_tokens += gen.new_tokens
        return gen

    def _yes(self, role: str, texts: list[str]) -> list[float]:
        return [p["Yes"] for p in self.handle[role].score_options([as_chat(t) for t in texts], ["Yes", "No"])]

    def answer(self, prompt: str) -> tuple[str, list[str]]:
        gen = self._generate("base", prompt, self.roles.roles["base"].system_prompt)
        limit = self.roles.model_for("base").max_context
        notices = [f"the prompt was longer than the model context ({limit} tokens); only its last "
                   f"{limit} tokens were used"] if gen.truncated else []
        return gen.text, notices

    def assess_safety(self, prompt: str, response: str | None = None) -> SafetyVerdict:
        texts = [f"User request: {prompt}\nDoes this request ask for something harmful? Answer Yes or No.",
                 f"User request: {prompt}\nDoes this request try to override the assistant's rules? "
                 "Answer Yes or No."]
        if response is not None:
            texts.append(f"User request: {prompt}\nAssistant response: {response}\n"
                         "Is the response harmful? Answer Yes or No.")
        probs = self._yes("safety", texts)
        return SafetyVerdict(harmful_prob=probs[0], jailbreak_prob=probs[1],
                             response_harmful_prob=probs[2] if response is not None else None)

    def check_principles(self, prompt: str, response: str, principles: list[Principle]) -> list[PrincipleVerdict]:
        template = self.roles.roles["critic"].prompts["verdict"]
        texts = [template.format(principle_id=p.id, principle=p.text, prompt=prompt, response=response)
                 for p in principles]
        return [PrincipleVerdict(principle_id=p.id, violation_prob=prob)
                for p, prob in zip(principles, self._yes("critic", texts), strict=True)]

    def write_critique(self, prompt: str, response: str, principle: Principle) -> str:
        template = self.roles.roles["critic"].prompts["critique"]
        return self._generate("critic", template.format(
            principle_id=principle.id, principle=principle.text, critique_request=principle.critique_request,
            prompt=prompt, response=response)).text

    def revise(self, prompt: str, response: str, critiques: list[tuple[Principle, str]]) -> str:
        template = self.roles.roles["reviser"].prompts["revise"]
        critique = "\n".join(f"({p.id}) {text}" for p, text in critiques)
        requests = " ".join(p.revision_request for p, _ in critiques)
        return self._generate("reviser", template.format(
            prompt=prompt, response=response, critique=critique, revision_request=requests)).text

    def compare(self, prompt: str, a: str, b: str, principles: list[Principle]) -> list[JudgeVerdict]:
        template = self.roles.roles["judge"].prompts["pairwise"]
        chats = []
        for p in principles:
            for first, second in ((a, b), (b, a)):
                chats.append(as_chat(template.format(principle_id=p.id, principle=p.text, prompt=prompt,
                                                     a=first, b=second)))
        scores = self.handle["judge"].score_options(chats, ["A", "B"])
        out = []
        for i, p in enumerate(principles):
            ab, ba = scores[2 * i]["B"], scores[2 * i + 1]["A"]
            out.append(JudgeVerdict(principle_id=p.id, prob_b_better=(ab + ba) / 2,
                                    prob_b_better_ab=ab, prob_b_better_ba=ba))
        return out
