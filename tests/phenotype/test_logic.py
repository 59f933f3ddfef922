"""The three-valued evaluator against Kleene's truth tables, written out by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from spinerisk.phenotype.logic import All, AnyOf, Fires, Not, Observations, Ref, Truth

T, F, U = "T", "F", "U"
KLEENE_AND = {(T, T): T, (T, F): F, (T, U): U, (F, T): F, (F, F): F, (F, U): F,
              (U, T): U, (U, F): F, (U, U): U}
KLEENE_OR = {(T, T): T, (T, F): T, (T, U): T, (F, T): T, (F, F): F, (F, U): U,
             (U, T): T, (U, F): U, (U, U): U}
KLEENE_NOT = {T: F, F: T, U: U}


def _truth(values: list[str]) -> Truth:
    true = np.array([v == T for v in values])
    known = np.array([v != U for v in values])
    return Truth(true, known)


def _read(truth: Truth) -> list[str]:
    return [T if t else F if k else U for t, k in zip(truth.true, truth.known, strict=True)]


PAIRS = list(itertools.product((T, F, U), repeat=2))
OBS = Observations({}, len(PAIRS))
RESULTS = {"a": _truth([a for a, _ in PAIRS]), "b": _truth([b for _, b in PAIRS])}


@pytest.mark.parametrize(("node", "table"), [(All((Ref("a"), Ref("b"))), KLEENE_AND),
                                             (AnyOf((Ref("a"), Ref("b"))), KLEENE_OR)])
def test_junctions_follow_kleene(node, table) -> None:
    assert _read(node.evaluate(OBS, RESULTS)) == [table[p] for p in PAIRS]


def test_not_and_fires() -> None:
    assert _read(Not(Ref("a")).evaluate(OBS, RESULTS)) == [KLEENE_NOT[a] for a, _ in PAIRS]
    # fires: unknown counts as not fired, so the result is always decided
    assert _read(Fires(Ref("a")).evaluate(OBS, RESULTS)) == [
        T if a == T else F for a, _ in PAIRS]
