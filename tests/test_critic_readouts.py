"""The critic's per-principle read-outs (runtime/critic_scores.py): which output scores which principle,
what its training rows are, and the one-line error when neither read-out can serve a principle."""

from __future__ import annotations

import numpy as np
import pytest

from oversight.constitution import load_constitution
from oversight.errors import OversightError
from oversight.roles import load_roles
from oversight.runtime.critic_scores import readout_name, violation_probs
from oversight.runtime.heads import Head, HeadOutput, HeadSpec
from oversight.runtime.ops import Chat
from oversight.runtime.prompts import PromptBook
from oversight.settings import PROJECT_DIR
from oversight.train.material import load_material

CONSTITUTION = load_constitution("default", PROJECT_DIR)
BOOK = PromptBook(load_roles("default", PROJECT_DIR))
PRIVACY, LAWFUL, HARM = (CONSTITUTION.principle(p) for p in ("privacy", "lawful", "harmful-instructions"))


def _head(shared: bool, privacy_text: str = PRIVACY.text) -> Head:
    """Features are 2-d: [is a verdict chat, is an exchange chat]. The shared read-out says 0.5 on any
    verdict chat; privacy's own read-out says sigmoid(3) on an exchange."""
    outputs = {readout_name("privacy"): HeadOutput(kind="binary", template="exchange", principle_text=privacy_text)}
    arrays = {"mean": np.zeros(2), "scale": np.ones(2),
              "violation@privacy.weight": np.array([0.0, 3.0]), "violation@privacy.bias": np.zeros(1)}
    if shared:
        outputs["violation"] = HeadOutput(kind="binary", template="verdict")
        arrays |= {"violation.weight": np.array([0.0, 0.0]), "violation.bias": np.zeros(1)}
    spec = HeadSpec(role="critic", base_model="m", layers=(-8,), pooling="last", feature_dtype="float32",
                    outputs=outputs)
    return Head(spec, arrays)


class _Features:
    """Records what was read; a verdict chat names its principle, an exchange chat does not."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, chats: list[Chat], fields: list[dict[str, str]]) -> np.ndarray:
        kinds = ["verdict" if "Principle (" in c[-1]["content"] else "exchange" for c in chats]
        self.calls.append(kinds)
        assert all(f.keys() == {"prompt", "response"} for f in fields)
        return np.array([[k == "verdict", k == "exchange"] for k in kinds], dtype=np.float32)


def test_a_principle_with_its_own_read_out_is_scored_on_the_exchange_read_once() -> None:
    features = _Features()
    probs = violation_probs(_head(shared=True), BOOK, [PRIVACY, LAWFUL, HARM],
                            [("Where does Ann live?", "At 4 Elm St."), ("Hi", "Hello!")], features)
    assert probs.shape == (2, 3)
    assert probs[:, 0] == pytest.approx(1 / (1 + np.exp(-3.0)))  # privacy: its own read-out
    assert probs[:, 1:] == pytest.approx(0.5)                     # the others: the shared verdict read-out
    assert features.calls == [["exchange"] * 2, ["verdict"] * 4]  # each answer once, then 2 principles x 2


def test_a_reworded_principle_falls_back_to_the_shared_read_out() -> None:
    features = _Features()
    probs = violation_probs(_head(shared=True, privacy_text="an older wording"), BOOK, [PRIVACY], [("p", "r")],
                            features)
    assert probs[0, 0] == pytest.approx(0.5) and features.calls == [["verdict"]]


def test_no_read_out_for_a_principle_is_one_line_naming_it() -> None:
    with pytest.raises(OversightError, match=r"no read-out for principle\(s\) lawful, harmful-instructions"):
        violation_probs(_head(shared=False), BOOK, [PRIVACY, LAWFUL, HARM], [("p", "r")], _Features())


def test_read_out_rows_are_every_train_answer_labelled_for_that_principle() -> None:
    """Answers written for other principles are its negatives (unless some demo says they break it too);
    its held-out rows are the held-out demos written for it; no held-out answer is a train row."""
    from oversight.train.head_config import HeadRecipe
    from oversight.train.head_tasks import critic_tasks

    demos = load_material(CONSTITUTION, "critique_revision").items
    tasks = critic_tasks(HeadRecipe(role="critic", principle_readouts=True), BOOK, CONSTITUTION)
    shared, readouts = tasks[0], {t.name: t for t in tasks[1:]}
    assert shared.name == "violation" and set(readouts) == {readout_name(p.id) for p in CONSTITUTION.principles}
    held = {(d.prompt, d.response) for d in demos if d.split == "heldout"}
    privacy = readouts[readout_name("privacy")]
    assert privacy.template == "exchange" and privacy.principle_text == PRIVACY.text
    rows = [(privacy.fields[id(c)]["prompt"], privacy.fields[id(c)]["response"]) for c in privacy.train]
    assert len(rows) == len(set(rows)) and not set(rows) & held
    broken = {(d.prompt, d.response) for d in demos if d.split == "train" and d.principle == "privacy" and d.violates}
    assert [r in broken for r in rows] == [bool(y) for y in privacy.y_train]
    own = {(d.prompt, d.response) for d in demos if d.split == "train" and d.principle == "privacy"}
    assert privacy.added == {i for i, r in enumerate(rows) if r not in own}  # calibrated on its own rows only
    assert len(privacy.heldout) == sum(d.split == "heldout" and d.principle == "privacy" for d in demos)
    assert len(shared.heldout_keys) == len(shared.heldout)
    plain = critic_tasks(HeadRecipe(role="critic"), BOOK, CONSTITUTION)
    assert [t.name for t in plain] == ["violation"]


def test_joint_read_outs_fold_back_into_one_dot_product_per_principle() -> None:
    """Principle j is broken when feature j is high; every answer is a row under every principle. The joint
    fit (train/readout_fit.py) must score each principle's own feature, not a violation elsewhere."""
    from oversight.eval.metrics import auroc
    from oversight.train.readout_fit import fit_principle_readouts

    rng = np.random.default_rng(0)
    n, k, d = 240, 3, 12
    x = rng.normal(size=(n, d))
    written_for = rng.integers(0, k, size=n)
    broken = rng.random(n) < 0.5
    x[np.arange(n), written_for] += np.where(broken, 2.5, -2.5)  # a violation shows in its principle's feature
    y = np.zeros((n, k), dtype=int)
    y[np.arange(n), written_for] = broken
    own = np.zeros((n, k), dtype=bool)
    own[np.arange(n), written_for] = True
    joint = fit_principle_readouts(x[:160], y[:160], own[:160], c_grid=(0.1, 1.0), folds=4, seed=0, max_iter=500,
                                   components=8, shared_scale=3.0, calibrate=True, what="synthetic")
    assert len(joint.fits) == k and joint.c in (0.1, 1.0)
    probs = np.stack([1 / (1 + np.exp(-(f.platt_a * (x[160:] @ f.weight + f.bias[0]) + f.platt_c)))
                      for f in joint.fits], axis=1)
    test_own, test_y = own[160:], y[160:]
    for j in range(k):  # held-out answers: own violations above everything else under principle j
        keep = test_own[:, j] | (test_y.sum(axis=1) > 0)
        assert auroc(test_y[keep, j], probs[keep, j]) > 0.9
    with pytest.raises(OversightError, match="synthetic: the principles' own rows need both labels"):
        fit_principle_readouts(x, np.zeros((n, k), dtype=int), own, c_grid=(0.1,), folds=2, seed=0, max_iter=50,
                               components=4, shared_scale=1.0, calibrate=True, what="synthetic")
