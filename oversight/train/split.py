"""The fixed train / held-out split of prompts, and the scrubbing of personal data from exported text.

A prompt's split depends only on a hash of its normalised text, never on which
other rows an export holds, so a held-out prompt stays held out across runs and
exports (and across small edits of case and spacing).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable

TRAIN, HELDOUT = "train", "test"
_BUCKETS = 10_000

_PHONE_CHARS = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d ().-]{5,}\d(?!\w)")
_CARD_CHARS = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group()


def _phone(match: re.Match[str]) -> str:
    """7-15 digits written as a phone number: a + or 00 prefix, parentheses, or at least two separators."""
    text = match.group()
    digits = re.sub(r"\D", "", text)
    separators = len(re.findall(r"[ ().-]", text.strip()))
    looks = text.startswith(("+", "00", "(")) or "(" in text or separators >= 2
    return "[PHONE]" if 7 <= len(digits) <= 15 and looks else text


# Personal data that has no place in training text; each match becomes its placeholder.
_SCRUBBERS: tuple[tuple[str | Callable[[re.Match[str]], str], re.Pattern[str]], ...] = (
    ("[EMAIL]", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("[CREDENTIALS]@", re.compile(r"(?<=://)[^\s:/@]+:[^\s/@]+@")),
    ("[IBAN]", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")),
    (_card, _CARD_CHARS),
    ("[SSN]", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),
    ("[IP]", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")),
    (_phone, _PHONE_CHARS),
)


def normalise_prompt(text: str) -> str:
    """Unicode-compatible, case-folded, whitespace-collapsed: the key a prompt is split and grouped by."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def split_of(prompt: str, heldout_fraction: float) -> str:
    """"test" for a stable `heldout_fraction` of prompts, "train" for the rest."""
    digest = hashlib.sha256(normalise_prompt(prompt).encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:8], "big") % _BUCKETS
    return HELDOUT if bucket < round(heldout_fraction * _BUCKETS) else TRAIN


def scrub(text: str) -> str:
    """Mask e-mail addresses, phone, card and account numbers, IP addresses and URL credentials."""
    for placeholder, pattern in _SCRUBBERS:
        text = pattern.sub(placeholder, text)
    return text
