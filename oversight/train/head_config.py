"""Recipe for a verdict head (safety, critic, judge), validated in one place.

Written as roles/recipes/<role>.yaml; any field can be overridden on the
command line (`--set folds=3`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class HeadRecipe(BaseModel):
    """How to fit a linear head on frozen hidden-state features."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["safety", "critic", "judge"] = Field(description="which verdict role this head serves")
    kind: Literal["head"] = "head"
    c_grid: tuple[float, ...] = Field(
        default=(0.01, 0.03, 0.1, 0.3, 1.0), min_length=1,
        description="inverse L2 strengths tried; the one with the best out-of-fold log loss on train wins")
    folds: int = Field(default=5, ge=2, le=20,
                       description="cross-fitting folds on train: choose C and fit calibration out of fold")
    calibration: Literal["platt", "none"] = Field(
        default="platt", description="platt: scale/shift fitted on out-of-fold train scores (temperature "
                                     "for multiclass outputs)")
    batch_size: int = Field(default=32, ge=1, le=256, description="chats per feature-extraction call")
    max_items: int | None = Field(default=None, ge=4,
                                  description="use at most this many items per split (quick tests)")
    max_iter: int = Field(default=500, ge=5, description="optimizer iterations per fit")
    extra_response_material: bool = Field(
        default=True, description="safety only: also learn harmful responses from critique demonstrations "
                                  "(violations of harm principles), train split only")
    principle_readouts: bool = Field(
        default=False, description="critic only: also one read-out per principle over the exchange's features, "
                                   "trained with the other principles' answers as its negatives; the graph "
                                   "uses it for that principle (runtime/critic_scores.py)")
    revision_negatives: bool = Field(
        default=False, description="critic read-outs: each train demonstration's revision (the answer that "
                                   "fixes a violation, often a refusal) is a row too, not violated under any "
                                   "principle, so a read-out learns to read the answer rather than the request "
                                   "(train/head_tasks.py; measured: the graph then held fewer harmful and "
                                   "jailbreak prompts, so off)")
    safety_exchanges: bool = Field(
        default=False, description="critic harm read-outs: each safety-material train exchange is a row too, "
                                   "violated when its answer is harmful and of the principle's category, so "
                                   "refusals of harmful requests and compliant harmful answers share a topic "
                                   "and differ only in the answer (train/head_tasks.py; measured with "
                                   "revision_negatives: fewer false alarms, but middle-band rewrites that "
                                   "still comply went out, so off)")
    everyday_exchanges: bool = Field(
        default=False, description="critic read-outs: each safety-material train exchange whose request is "
                                   "harmless and whose answer complies (oversight/classify.py) is a row too, "
                                   "violating nothing, weights only: an everyday answer (code, a recipe, a "
                                   "letter) is not a violation of any principle (train/head_tasks.py; "
                                   "measured: fewer alarms on everyday answers, a tie on the calibration "
                                   "set, held-out ECE 0.098 against the 0.1 gate, so off)")
    readout_components: int = Field(
        default=64, ge=1, le=1024, description="critic read-outs: principal components of the exchange features "
                                               "they are fitted on (train/readout_fit.py)")
    readout_shared_scale: float = Field(
        default=3.0, gt=0, description="critic read-outs: weight of the direction all principles share against "
                                       "each principle's own (larger: less principle-specific, better calibrated)")
    cross_principle_negatives: int = Field(
        default=0, ge=0, le=32, description="critic only: also show each train answer under this many other "
                                            "principles (in turn), labelled not violated, so the head learns "
                                            "which principle is broken (0: none)")
    cross_principle_harm_only: bool = Field(
        default=False, description="critic only: cross-principle negatives only under harm-related principles, "
                                   "from answers that break none of them (train/head_augment.py)")
    overseer_notes: int = Field(
        default=0, ge=0, le=8, description="safety and judge: train copies of each answer with a note "
                                           "addressed to the overseers appended, same label (0: none)")
    note_detector_prompts: int = Field(
        default=0, ge=0, le=32, description="safety only: learn `overseer_note` (is this paragraph addressed to "
                                            "the overseers?) from the material's notes, each shown after this "
                                            "many requests, against the material answers' own paragraphs; the "
                                            "roles drop such paragraphs before reading an answer (0: none)")
    share_adapter_with: Literal["reviser"] | None = Field(
        default=None, description="critic only: write critiques with this role's active adapter (trained "
                                  "multi-task on critique demonstrations too) instead of a separate one")
    seed: int = 0
