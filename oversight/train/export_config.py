"""What a training export selects and how it writes it, validated in one place."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oversight.errors import OversightError

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class ExportOptions(BaseModel):
    """Filters and output settings of `export` (and of the retraining job's export)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    since: datetime | None = Field(default=None, description="only trajectories resolved after this time (UTC)")
    until: datetime | None = Field(default=None, description="only trajectories resolved up to this time (UTC)")
    since_version: int | None = Field(default=None, ge=1,
                                      description="only data newer than what registry version N was trained on")
    source: Literal["ai", "human"] | None = Field(default=None, description="only AI-labelled or human-decided rows")
    constitution_hash: str | None = Field(default=None, description="only runs under this constitution hash")
    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0,
                                  description="AI pairs with a lower probability (chosen better) are left out")
    route: str | None = Field(default=None, description="only trajectories that took this route")
    scrub: bool = Field(default=False, description="mask e-mail addresses, phone numbers and similar personal data")
    format: Literal["arrow", "jsonl"] = Field(default="arrow",
                                              description="arrow: datasets.save_to_disk folders; jsonl: one file a split")
    heldout_fraction: float = Field(default=0.1, ge=0.0, lt=1.0,
                                    description="share of prompts (by a stable hash) kept for evaluation")
    human_weight: float = Field(default=2.0, gt=0.0,
                                description="weight of human rows; AI rows weigh their probability (at most 1)")

    @model_validator(mode="after")
    def _one_start(self) -> ExportOptions:
        if self.since is not None and self.since_version is not None:
            raise OversightError("give --since or --since-version, not both")
        return self


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An ISO date or time (UTC unless it says otherwise), or a span back from now: 30m, 12h, 7d, 2w."""
    now = now or datetime.now(timezone.utc)
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise OversightError(f"--since: not a time (received {text!r}); use e.g. 2026-11-29, "
                             "2026-11-29T18:00 or 7d") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
