"""A tiny labelled corpus with a known confusion matrix, and checkers that misbehave on purpose.

Shared by the validate tests (not a test module). The checker ``says_yes`` answers from the
response text itself ("YES"/"NO"), so each case's outcome is fixed by construction:
TP 3, FP 1, TN 2, FN 2 -> precision 3/4, recall 3/5, accuracy 5/8. The other checkers raise, hang,
kill their process or return a non-boolean on the "NO" cases.
"""

from __future__ import annotations

import os
import time

from retool.answer.validate import Case


def _case(cid: str, category: str, says: str, expected: bool) -> Case:
    return Case(id=cid, category=category, response=f"verdict: {says}", gold="42", expected=expected, note="")


TINY = (
    _case("tp1", "ints", "YES", True),
    _case("tp2", "ints", "YES", True),
    _case("tp3", "fracs", "YES", True),
    _case("fp1", "hacks", "YES", False),
    _case("tn1", "hacks", "NO", False),
    _case("tn2", "fracs", "NO", False),
    _case("fn1", "ints", "NO", True),
    _case("fn2", "fracs", "NO", True),
)


def says_yes(response: str, gold: str) -> bool:
    return response.endswith("YES")


def raises_on_hacks(response: str, gold: str) -> bool:
    if response.endswith("NO"):
        raise RuntimeError("cannot parse this")
    return True


def hangs_on_no(response: str, gold: str) -> bool:
    if response.endswith("NO"):
        time.sleep(60)
    return response.endswith("YES")


def dies_on_no(response: str, gold: str) -> bool:
    if response.endswith("NO"):
        os._exit(3)
    return response.endswith("YES")


def returns_string(response: str, gold: str) -> str:
    return "yes"
