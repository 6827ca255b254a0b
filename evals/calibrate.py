"""Fit the grounding decision (`assistant/answering/refusal_model.json`) and report it out of sample.

    python -m evals.calibrate collect DATASET=DATA_DIR [DATASET=DATA_DIR ...] [--out FILE]
    python -m evals.calibrate fit [--signals FILE] [--write]

`collect` asks every question of each dataset against the library in DATA_DIR with the
refusal switched off (`min_confidence=0`), and records the decision's signals, whether the
question is answerable, and how much of the expected answer the unconditional answer
contains. `fit` learns a logistic model over the signals and a threshold on its confidence:

- every figure it prints is out of sample: grouped 5-fold cross-validation (a translated
  question stays in the fold of its English original), with the threshold chosen inside
  each training fold by an inner cross-validation, never on the fold it is scored on;
- the threshold maximises balanced accuracy (answerable answered + unanswerable refused,
  each as a share of its class), so neither kind of error is bought with the other;
- `--write` saves the model fitted on all questions, with the threshold chosen on the
  pooled out-of-fold confidences, and the cross-validated report inside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from assistant.answering.grounding import FEATURES, RefusalModel

DEFAULT_SIGNALS = Path("evals/out/calibration/signals.jsonl")
MODEL_PATH = Path(__file__).resolve().parents[1] / "assistant" / "answering" / "refusal_model.json"
FOLDS = 5
C = 0.5  # L2 strength of the logistic model (small data: keep the weights modest)
SEED = 13
MIN_GAIN = 0.1  # balanced accuracy a language mode's own threshold must add over answering everything to be used


# -- collect ---------------------------------------------------------------------------------
def collect(pairs: list[str], out: Path) -> None:
    from assistant import Settings, build_assistant
    from evals.metrics import containment, source_matches
    from evals.runner import load_dataset

    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for pair in pairs:
        dataset, _, data_dir = pair.partition("=")
        beacon = build_assistant(Settings(data_dir=Path(data_dir)))
        beacon.warm_up(background=False)
        beacon.refresh_multilingual_index()
        name = Path(dataset).stem
        for item in load_dataset(Path(dataset)):
            answer = beacon.ask(item.question, min_confidence=0.0)
            contained = containment(item.expected_answer_contains, answer.answer) if not answer.refused else 0.0
            group = item.extras.get("translation_of") or item.id
            rows.append(
                {
                    "set": name,
                    "id": item.id,
                    "group": f"{name}:{group}",
                    "lang": item.extras.get("lang") or "en",
                    "answerable": item.answerable,
                    "drafted": not answer.refused,
                    "containment": contained,
                    "source_cited": any(source_matches(e, c.source, c.url) for e in item.expected_sources for c in answer.citations),
                    "signals": answer.grounding,
                }
            )
        print(f"{name}: {sum(r['set'] == name for r in rows)} questions from {data_dir}")
    with open(out, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    print(f"signals of {len(rows)} questions written to {out}")


# -- fit -------------------------------------------------------------------------------------
def _matrix(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[np.nan if r["signals"].get(f) is None else r["signals"][f] for f in FEATURES] for r in rows], dtype=np.float64)
    y = np.array([1 if r["answerable"] else 0 for r in rows])
    return x, y


def _fit(x: np.ndarray, y: np.ndarray) -> RefusalModel:
    from sklearn.linear_model import LogisticRegression

    # Statistics over the questions where a signal is measured; elsewhere it counts as average.
    mean, scale = np.nan_to_num(np.nanmean(x, axis=0)), np.nan_to_num(np.nanstd(x, axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    z = np.nan_to_num((x - mean) / scale, nan=0.0)
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=2000).fit(z, y)
    return RefusalModel(FEATURES, mean.tolist(), scale.tolist(), model.coef_[0].tolist(), float(model.intercept_[0]), 0.5)


def _confidences(model: RefusalModel, x: np.ndarray) -> np.ndarray:
    z = model.standardised(x)
    return 1 / (1 + np.exp(-(z @ model.coef + model.intercept)))


def _folds(rows: list[dict], k: int, seed: int) -> list[np.ndarray]:
    from sklearn.model_selection import StratifiedGroupKFold

    x, y = _matrix(rows)
    groups = [r["group"] for r in rows]
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [test for _train, test in splitter.split(x, y, groups)]


def _out_of_fold(rows: list[dict], k: int, seed: int) -> np.ndarray:
    x, y = _matrix(rows)
    p = np.zeros(len(rows))
    for test in _folds(rows, k, seed):
        train = np.setdiff1d(np.arange(len(rows)), test)
        p[test] = _confidences(_fit(x[train], y[train]), x[test])
    return p


def best_threshold(p: np.ndarray, y: np.ndarray, drafted: np.ndarray) -> float:
    """The confidence threshold with the best balanced accuracy; among equally good ones the
    lowest (an extractive answer quotes and cites the library, so when refusing buys no
    accuracy, answering is the better failure)."""
    candidates = np.unique(np.concatenate([p, [0.0, 1.0]]))
    scores = np.array([balanced_accuracy(p, y, drafted, t) for t in candidates])
    i = int(np.flatnonzero(scores >= scores.max() - 1e-12)[0])
    # Halfway down to the next lower confidence, so the threshold does not sit exactly on a
    # training question's confidence.
    return float((candidates[i] + candidates[i - 1]) / 2) if i > 0 else float(candidates[i])


def metrics(rows: list[dict], answered: np.ndarray) -> dict[str, float]:
    ans = np.array([r["answerable"] for r in rows])
    cont = np.array([r["containment"] or 0.0 for r in rows])
    out = {
        "n": len(rows),
        "false_refusal_rate": float((~answered[ans]).mean()) if ans.any() else None,
        "refusal_accuracy": float((~answered[~ans]).mean()) if (~ans).any() else None,
        "answer_containment": float(np.where(answered[ans], cont[ans], 0.0).mean()) if ans.any() else None,
    }
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}


def nested_cv(rows: list[dict], k: int = FOLDS, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(out-of-fold confidence, out-of-fold decision) for every question: each fold's model and
    threshold are chosen on the other folds only (the threshold by an inner CV there)."""
    x, y = _matrix(rows)
    drafted = np.array([r["drafted"] for r in rows])
    confidence = np.zeros(len(rows))
    answered = np.zeros(len(rows), dtype=bool)
    crosslingual = np.array([bool(r["signals"].get("crosslingual")) for r in rows])
    for test in _folds(rows, k, seed):
        train = np.setdiff1d(np.arange(len(rows)), test)
        english, other = _thresholds(_out_of_fold([rows[i] for i in train], k - 1, seed), y[train], drafted[train], crosslingual[train])
        confidence[test] = _confidences(_fit(x[train], y[train]), x[test])
        threshold = np.where(crosslingual[test], other, english)
        answered[test] = (confidence[test] >= threshold) & drafted[test]
    return confidence, answered


def _thresholds(p: np.ndarray, y: np.ndarray, drafted: np.ndarray, crosslingual: np.ndarray) -> tuple[float, float]:
    """(English threshold, other-language threshold), each by balanced accuracy on its questions;
    the other-language one is never below the English one."""
    english = best_threshold(p[~crosslingual], y[~crosslingual], drafted[~crosslingual])
    if len(set(y[crosslingual])) < 2:
        return english, english
    px, yx, dx = p[crosslingual], y[crosslingual], drafted[crosslingual]
    other = best_threshold(px, yx, dx)
    if balanced_accuracy(px, yx, dx, other) - balanced_accuracy(px, yx, dx, 0.0) >= MIN_GAIN:
        # Never below the English one: their evidence is weaker (word-vector translations,
        # a smaller model), and a low threshold fitted on a few of them answered off-topic
        # questions ("Wie backe ich Brot?") that no training question resembled.
        return english, max(other, english)
    # The signals do not separate this mode's classes out of sample: its own threshold would
    # be fitted to noise, so it shares the English one (refusing when unsure; off-topic
    # questions in other languages still fall below it).
    return english, english


def balanced_accuracy(p: np.ndarray, y: np.ndarray, drafted: np.ndarray, threshold: float) -> float:
    answered = (p >= threshold) & drafted
    tpr = answered[y == 1].mean() if (y == 1).any() else 0.0
    tnr = (~answered[y == 0]).mean() if (y == 0).any() else 0.0
    return (tpr + tnr) / 2


def report(rows: list[dict], answered: np.ndarray) -> dict[str, dict]:
    sets = sorted({r["set"] for r in rows})
    out = {"all": metrics(rows, answered)}
    for name in sets:
        idx = [i for i, r in enumerate(rows) if r["set"] == name]
        out[name] = metrics([rows[i] for i in idx], answered[idx])
        en = [i for i in idx if rows[i]["lang"] == "en"]
        if len(en) < len(idx):
            out[f"{name} (English)"] = metrics([rows[i] for i in en], answered[en])
            other = [i for i in idx if rows[i]["lang"] != "en"]
            out[f"{name} (FR/DE/RU)"] = metrics([rows[i] for i in other], answered[other])
    return out


def fit(signals: Path, write: bool, repeats: int = 10) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = [json.loads(line) for line in signals.read_text(encoding="utf-8").splitlines() if line.strip()]
    x, y = _matrix(rows)
    drafted = np.array([r["drafted"] for r in rows])
    unconditional = report(rows, drafted)
    cv_reports = []
    for r in range(repeats):
        _conf, answered = nested_cv(rows, seed=SEED + r)
        cv_reports.append(report(rows, answered))
    cv = {
        name: {m: round(float(np.mean([rep[name][m] for rep in cv_reports if rep[name][m] is not None])), 3) if unconditional[name][m] is not None else None for m in unconditional[name]}
        for name in unconditional
    }
    # How much a figure moves between shuffles of the folds: with 30 unanswerable questions one
    # question is 0.033 of refusal accuracy, so differences smaller than this are noise.
    spread = {
        name: {m: round(float(np.std([rep[name][m] for rep in cv_reports if rep[name][m] is not None])), 3) if unconditional[name][m] is not None else None for m in unconditional[name]}
        for name in unconditional
    }
    table = Table(title=f"Grounding decision, nested grouped {FOLDS}-fold CV (mean ± sd over {repeats} shuffles), out of sample")
    for col in ("questions", "n", "containment", "false refusals", "refusal accuracy", "containment (never refusing)"):
        table.add_column(col, justify="right" if col != "questions" else "left")
    for name in cv:
        m = cv[name]
        sd = spread[name]

        def cell(metric: str) -> str:
            return "–" if m[metric] is None else f"{m[metric]:.3f} ± {sd[metric]:.3f}"

        table.add_row(name, str(m["n"]), cell("answer_containment"), cell("false_refusal_rate"), cell("refusal_accuracy"), f"{unconditional[name]['answer_containment']}")
    Console(width=140).print(table)

    model = _fit(x, y)
    pooled = _out_of_fold(rows, FOLDS, SEED)
    crosslingual = np.array([bool(r["signals"].get("crosslingual")) for r in rows])
    model.threshold, model.crosslingual_threshold = _thresholds(pooled, y, drafted, crosslingual)
    for name, weight in sorted(zip(model.features, model.coef), key=lambda p: -abs(p[1])):
        print(f"  {name:16s} {weight:+.3f}")
    print(f"threshold {model.threshold:.3f}, other languages {model.crosslingual_threshold:.3f} (chosen on pooled out-of-fold confidences)")
    model.info = {
        "fitted_on": sorted({r["set"] for r in rows}),
        "questions": len(rows),
        "method": f"logistic regression (C={C}, balanced classes) over standardised signals; threshold maximising balanced accuracy",
        "cross_validated": cv,
        "cross_validated_spread": {"repeats": repeats, "std": spread},
        "never_refusing": unconditional,
    }
    if write:
        MODEL_PATH.write_text(json.dumps(model.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"model written to {MODEL_PATH}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="record the signals of every question of each DATASET=DATA_DIR")
    c.add_argument("pairs", nargs="+")
    c.add_argument("--out", type=Path, default=DEFAULT_SIGNALS)
    f = sub.add_parser("fit", help="fit and cross-validate the decision on collected signals")
    f.add_argument("--signals", type=Path, default=DEFAULT_SIGNALS)
    f.add_argument("--write", action="store_true", help=f"save the model to {MODEL_PATH.name}")
    args = parser.parse_args(argv)
    if args.command == "collect":
        collect(args.pairs, args.out)
    else:
        fit(args.signals, args.write)


if __name__ == "__main__":
    main()
