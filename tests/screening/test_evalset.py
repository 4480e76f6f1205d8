"""The evaluation set (issue 17 point 5): at least 1,000 labelled pairs made by rules, with the hard
non-matches the issue names, and the matcher's precision and recall on it at the default threshold."""

from __future__ import annotations

from socialcredit.screening import HIT, score_pair

from .evalset import evaluation_set, rule_counts


def test_the_set_is_large_labelled_and_has_the_hard_cases() -> None:
    pairs = evaluation_set()
    assert len(pairs) >= 1_000
    counts = rule_counts(pairs)
    negatives = {rule for label, rule in counts if not label}
    assert {"same surname", "same given name", "homophone", "namesake other birth date"} <= negatives
    assert sum(n for (label, _), n in counts.items() if label) >= 1_000
    assert sum(n for (label, _), n in counts.items() if not label) >= 1_000
    assert evaluation_set()[:50] == pairs[:50]  # deterministic


def test_precision_and_recall_at_hit() -> None:
    pairs = evaluation_set()
    hits = [score_pair(p.query, p.subject_id, p.name, p.kind).score >= HIT for p in pairs]
    tp = sum(h and p.label for h, p in zip(hits, pairs, strict=True))
    fp = sum(h and not p.label for h, p in zip(hits, pairs, strict=True))
    fn = sum(p.label and not h for h, p in zip(hits, pairs, strict=True))
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert precision >= 0.98 and recall >= 0.95, (precision, recall)
