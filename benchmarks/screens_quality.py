"""Detection quality and speed of the built-in screens on the labelled data.

Data: ``benchmarks/data/screens/{injection,pii,secrets}.jsonl`` (sources in the README
there). Each family is scored on its own file, one decision per text: a text is
positive when its labels name the family, predicted positive when the default screens
report a finding of that family (score at or above the policy's ``min_score``). Per
category: recall of the labelled category (PII also precision, its categories being
crisp). Speed: microseconds per KB of the whole default set and of each detector on
English prose (``docs/*.md`` in 2 KB chunks), and microseconds per labelled text (short
messages), best of ``--repeat`` runs, with a calibration loop to compare machines.
With the ``presidio`` extra installed, Presidio's pattern recognizers are scored on the
PII file alongside.

Goal (set for issue 6, argued in docs/benchmarks.md): PII and secrets precision >= 0.95
and recall >= 0.90; injection precision >= 0.95 and recall >= 0.80 (regexes do not
catch paraphrases; the data holds such texts on purpose); the whole default set at most
250 us per KB of prose (a 4 KB prompt screened in 1 ms, well under the LLM gateway's
latency budget). Last line: one JSON object with every figure and ``goal_met``.

    .venv/bin/python benchmarks/screens_quality.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from plinth.capabilities.screens import (
    Detector,
    InjectionDetector,
    PiiDetector,
    ScreenSet,
    SecretsDetector,
    default_screens,
)
from plinth.capabilities.screens.presidio import PresidioDetector, presidio_available

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "benchmarks" / "data" / "screens"
FAMILIES = ("injection", "pii", "secrets")
GOALS = {
    "injection": {"precision": 0.95, "recall": 0.80},
    "pii": {"precision": 0.95, "recall": 0.90},
    "secrets": {"precision": 0.95, "recall": 0.90},
}
GOAL_US_PER_KB = 250.0
# Presidio's entity names for the PII file's categories (it has no e-mail here: left out).
PRESIDIO_NAMES = {
    "credit-card": "credit-card",
    "iban": "iban-code",
    "us-ssn": "us-ssn",
    "phone": "phone-number",
    "ip-address": "ip-address",
}


def load(family: str) -> list[dict[str, Any]]:
    """Return the rows of one family's file."""
    lines = (DATA / f"{family}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def scores(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Return precision, recall and F1 (1.0 when undefined)."""
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}


def evaluate(
    family: str, rows: Sequence[dict[str, Any]], found: Callable[[str], set[str]]
) -> dict[str, Any]:
    """Score one family: ``found(text)`` returns the categories a screen reported."""
    tp = fp = fn = 0
    per: dict[str, list[int]] = {}
    misses: list[str] = []
    alarms: list[str] = []
    for row in rows:
        labels = {lab.split(":", 1)[1] for lab in row["labels"] if ":" in lab}
        positive = any(lab.split(":", 1)[0] == family for lab in row["labels"])
        got = found(row["text"])
        if positive and got:
            tp += 1
        elif positive:
            fn += 1
            misses.append(row["text"][:70])
        elif got:
            fp += 1
            alarms.append(row["text"][:70])
        for cat in labels | (got if family == "pii" else set()):
            c = per.setdefault(cat, [0, 0, 0])
            hit = cat in got if family == "pii" else bool(got)
            c[0] += cat in labels and hit
            c[1] += cat not in labels and hit
            c[2] += cat in labels and not hit
    result: dict[str, Any] = {"n": len(rows), "positives": tp + fn, **scores(tp, fp, fn)}
    result["categories"] = {k: scores(*v) for k, v in sorted(per.items())}
    result["missed"], result["false_alarms"] = misses, alarms
    return result


def finder(screens: ScreenSet, family: str) -> Callable[[str], set[str]]:
    """Return the categories of ``family`` that the screens report in a text."""

    def found(text: str) -> set[str]:
        return {f.category for f in screens.find(text, kind="tool") if f.detector == family}

    return found


def speed(detect: Callable[[str], Any], chunks: Sequence[str], repeat: int) -> float:
    """Return the best microseconds per KB of running ``detect`` over the chunks."""
    size = sum(len(c.encode()) for c in chunks) / 1024
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for chunk in chunks:
            detect(chunk)
        best = min(best, time.perf_counter() - start)
    return round(best / size * 1e6, 2)


def prose_chunks(size: int = 2048) -> list[str]:
    """Return the docs' English prose cut into ``size``-character chunks."""
    text = "".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "docs").glob("*.md")))
    text = text[:262144]
    return [text[i : i + size] for i in range(0, len(text), size)]


def calibration(repeat: int) -> float:
    """Return the best milliseconds of a fixed pure-Python loop (to compare machines).

    Summing a million integers: about 3-5 ms on an idle current x86 core; on a loaded
    machine the figure grows, and the speeds below grow by about the same factor.
    """
    data = list(range(1_000_000))
    best = float("inf")
    for _ in range(max(repeat, 3)):
        start = time.perf_counter()
        sum(data)
        best = min(best, time.perf_counter() - start)
    return round(best * 1e3, 2)


def speeds(screens: ScreenSet, detectors: Sequence[Detector], repeat: int) -> dict[str, Any]:
    """Return us/KB on prose (2 KB chunks) and us per labelled text (short messages)."""
    labelled = [r["text"] for f in FAMILIES for r in load(f)]
    chunks = prose_chunks()
    size = sum(len(t.encode()) for t in labelled) / 1024
    prose = {"all": speed(lambda t: screens.scan(t, kind="tool"), chunks, repeat)}
    per_text = {"all": speed(lambda t: screens.scan(t, kind="tool"), labelled, repeat)}
    for d in detectors:
        prose[d.name] = speed(d.find, chunks, repeat)
        per_text[d.name] = speed(d.find, labelled, repeat)
    per_text = {k: round(v * size / len(labelled), 2) for k, v in per_text.items()}
    return {"prose_us_per_kb": prose, "labelled_us_per_text": per_text}


def presidio_scores(repeat: int) -> dict[str, Any] | None:
    """Score Presidio's pattern recognizers on the PII file (None without the extra)."""
    if not presidio_available():
        return None
    detector = PresidioDetector()
    reverse = {v: k for k, v in PRESIDIO_NAMES.items()}
    rows = [r for r in load("pii") if not any(lab == "pii:email" for lab in r["labels"])]

    def found(text: str) -> set[str]:
        return {reverse[f.category] for f in detector.find(text) if f.category in reverse}

    result = evaluate("pii", rows, found)
    result["us_per_kb_labelled"] = speed(detector.find, [r["text"] for r in rows], 1)
    result["note"] = "pattern recognizers, no-op NLP engine; e-mail rows left out"
    return result


def report(figures: dict[str, Any]) -> None:
    """Print the human-readable table."""
    for family in FAMILIES:
        r = figures[family]
        print(f"{family:10s} n={r['n']:4d} positives={r['positives']:4d} "
              f"P={r['precision']:.3f} R={r['recall']:.3f} F1={r['f1']:.3f}")  # fmt: skip
        for cat, c in r["categories"].items():
            print(f"    {cat:22s} P={c['precision']:.3f} R={c['recall']:.3f}")
        for text in r["missed"]:
            print(f"    missed: {text!r}")
        for text in r["false_alarms"]:
            print(f"    false alarm: {text!r}")
    sp = figures["speed"]
    print(
        "speed on prose: " + ", ".join(f"{k} {v} us/KB" for k, v in sp["prose_us_per_kb"].items())
    )
    print(
        "speed per labelled text: "
        + ", ".join(f"{k} {v} us" for k, v in sp["labelled_us_per_text"].items())
    )
    print(f"calibration (sum of a million ints): {figures['calibration_ms']} ms")
    if figures.get("presidio"):
        p = figures["presidio"]
        print(f"presidio (PII, no e-mail) P={p['precision']:.3f} R={p['recall']:.3f} "
              f"{p['us_per_kb_labelled']} us/KB")  # fmt: skip


def main() -> None:
    """Run the evaluation and print the figures, then one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-presidio", action="store_true")
    args = parser.parse_args()
    screens = default_screens()

    figures: dict[str, Any] = {f: evaluate(f, load(f), finder(screens, f)) for f in FAMILIES}
    detectors: list[Detector] = [InjectionDetector(), PiiDetector(), SecretsDetector()]
    figures["calibration_ms"] = calibration(args.repeat)
    figures["speed"] = speeds(screens, detectors, args.repeat)
    figures["presidio"] = None if args.no_presidio else presidio_scores(args.repeat)
    goals = {f"{f} {k} >= {v}": figures[f][k] >= v for f in FAMILIES for k, v in GOALS[f].items()}
    goals[f"all screens <= {GOAL_US_PER_KB} us/KB of prose"] = (
        figures["speed"]["prose_us_per_kb"]["all"] <= GOAL_US_PER_KB
    )
    report(figures)
    for goal, met in goals.items():
        print(f"  {'met ' if met else 'MISSED'} {goal}")
    for f in (*FAMILIES, "presidio"):
        if figures.get(f):
            figures[f].pop("missed")
            figures[f].pop("false_alarms")
    print(json.dumps({**figures, "goals": goals, "goal_met": all(goals.values())}))


if __name__ == "__main__":
    main()
