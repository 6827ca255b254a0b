"""The calibration of the grounding decision: nested cross-validation and threshold choice,
on signal rows made here (what `evals.calibrate collect` writes), so they run in seconds."""

from __future__ import annotations

import random

import numpy as np

from assistant.answering.grounding import FEATURES
from evals import calibrate


def rows(n: int, separating: bool, seed: int = 0) -> list[dict]:
    """Rows whose `missing_names` tells the classes apart (or does not), with noise elsewhere."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        answerable = i % 4 != 0
        signals = {f: rng.random() for f in FEATURES}
        signals["crosslingual"] = 0.0
        signals["missing_names"] = (0.0 if answerable else 2.0) if separating else float(rng.randint(0, 2))
        out.append({"set": "synthetic", "id": f"q{i}", "group": f"g{i // 2}", "lang": "en", "answerable": answerable,
                    "drafted": True, "containment": 1.0 if answerable else 0.0, "signals": signals})
    return out


def test_a_signal_that_separates_the_classes_is_learned_out_of_sample():
    data = rows(120, separating=True)
    _confidence, answered = calibrate.nested_cv(data)
    m = calibrate.metrics(data, answered)
    assert m["false_refusal_rate"] <= 0.05 and m["refusal_accuracy"] >= 0.95


def test_noise_does_not_look_like_skill_out_of_sample():
    data = rows(120, separating=False, seed=1)
    _confidence, answered = calibrate.nested_cv(data)
    m = calibrate.metrics(data, answered)
    assert (1 - m["false_refusal_rate"]) + m["refusal_accuracy"] < 1.5  # balanced accuracy near chance


def test_threshold_maximises_balanced_accuracy_and_prefers_answering_on_ties():
    y = np.array([1, 1, 0, 0])
    drafted = np.ones(4, dtype=bool)
    t = calibrate.best_threshold(np.array([0.9, 0.8, 0.3, 0.2]), y, drafted)
    assert 0.3 < t <= 0.8
    # No separation at all: the lowest equally good threshold, i.e. answer.
    assert calibrate.best_threshold(np.array([0.5, 0.5, 0.5, 0.5]), y, drafted) <= 0.5
