"""Turning role inputs into chats, one function per template, shared by training and inference.

A head or adapter only works on text laid out exactly as it was trained on, so
the trainers and `RoleSet` both build every chat here, from the `prompts:`
templates of roles/*.yaml.
"""

from __future__ import annotations

from collections.abc import Sequence

from oversight.constitution import Principle
from oversight.errors import ConfigError
from oversight.roles import RoleConfig, RolesFile
from oversight.runtime.engine import as_chat
from oversight.runtime.ops import Chat


class PromptBook:
    """The templates of every role in one roles file."""

    def __init__(self, roles_file: RolesFile) -> None:
        self.roles_file = roles_file

    def _role(self, role: str) -> RoleConfig:
        return self.roles_file.roles[role]  # type: ignore[index]

    def has(self, role: str, key: str) -> bool:
        return key in self._role(role).prompts

    def text(self, role: str, key: str, **fields: str) -> str:
        """Fill one template; a missing template or placeholder names the roles file key."""
        templates = self._role(role).prompts
        where = self.roles_file.source or "roles"
        if key not in templates:
            raise ConfigError(where, f"roles.{role}.prompts.{key}", "template missing (needed by this role)")
        try:
            return templates[key].format(**fields)
        except KeyError as exc:
            raise ConfigError(where, f"roles.{role}.prompts.{key}",
                              f"unknown placeholder {{{exc.args[0]}}}; available: "
                              f"{', '.join('{' + f + '}' for f in fields)}", templates[key]) from None

    def chat(self, role: str, key: str, **fields: str) -> Chat:
        return as_chat(self.text(role, key, **fields), self._role(role).system_prompt)

    # --- base -------------------------------------------------------------------------------
    def answer(self, prompt: str, system_prompt: str | None = None) -> Chat:
        return as_chat(prompt, self._role("base").system_prompt if system_prompt is None else system_prompt)

    # --- safety -----------------------------------------------------------------------------
    def safety_input(self, prompt: str) -> Chat:
        return self.chat("safety", "input", prompt=prompt)

    def safety_exchange(self, prompt: str, response: str) -> Chat:
        return self.chat("safety", "exchange", prompt=prompt, response=response)

    def safety_exchanges(self, rows: Sequence[tuple[str, str]]) -> tuple[list[Chat], list[dict[str, str]]]:
        """(request, answer) rows as exchange chats, with each chat's template fields (the encoder's input)."""
        return ([self.safety_exchange(p, r) for p, r in rows],
                [{"prompt": p, "response": r} for p, r in rows])

    def safety_question(self, key: str, prompt: str, response: str = "", options: Sequence[str] = ()) -> Chat:
        return self.chat("safety", key, prompt=prompt, response=response, options=", ".join(options))

    # --- critic -----------------------------------------------------------------------------
    def critic_exchange(self, prompt: str, response: str) -> Chat:
        return self.chat("critic", "exchange", prompt=prompt, response=response)

    def critic_verdict(self, principle: Principle, prompt: str, response: str) -> Chat:
        return self.chat("critic", "verdict", **_principle_fields(principle), prompt=prompt, response=response)

    def critic_critique(self, principle: Principle, prompt: str, response: str) -> Chat:
        return self.chat("critic", "critique", **_principle_fields(principle), prompt=prompt, response=response)

    # --- judge ------------------------------------------------------------------------------
    def judge_single(self, principle: Principle, prompt: str, response: str) -> Chat:
        return self.chat("judge", "single", **_principle_fields(principle), prompt=prompt, response=response)

    def judge_pairwise(self, principle: Principle, prompt: str, a: str, b: str) -> Chat:
        return self.chat("judge", "pairwise", **_principle_fields(principle), prompt=prompt, a=a, b=b)

    # --- reviser ----------------------------------------------------------------------------
    def revise(self, prompt: str, response: str, critiques: Sequence[tuple[Principle, str]]) -> Chat:
        """One request for all critiques: the critiques listed, their revision requests joined."""
        if len(critiques) == 1:
            critique_text = critiques[0][1].strip()
        else:
            critique_text = "\n".join(f"- ({p.id}) {text.strip()}" for p, text in critiques)
        requests = " ".join(dict.fromkeys(p.revision_request for p, _ in critiques))
        return self.chat("reviser", "revise", prompt=prompt, response=response, critique=critique_text,
                         revision_request=requests)


def _principle_fields(principle: Principle) -> dict[str, str]:
    return {"principle_id": principle.id, "principle": principle.text,
            "critique_request": principle.critique_request, "revision_request": principle.revision_request}
