"""Contract tests of ``retool.sandbox.audit.technique``: the effects vocabulary, ``Technique``
validation and immutability, and the compact ``technique`` constructor the tables use."""

from __future__ import annotations

import dataclasses

import pytest

from retool.sandbox.audit import ALL_AIMS, EFFECTS, Technique, technique


def test_technique_rejects_unknown_effect() -> None:
    with pytest.raises(ValueError, match="aims"):
        Technique(name="x", category="y", code="pass", aims=("teleport",))


def test_technique_rejects_empty_aims_naming_the_technique() -> None:
    with pytest.raises(ValueError, match="'quiet_one'"):
        Technique(name="quiet_one", category="y", code="pass", aims=())


def test_one_unknown_aim_among_known_ones_is_rejected() -> None:
    with pytest.raises(ValueError, match="aims"):
        Technique(name="x", category="y", code="pass", aims=("canary_read", "telepathy"))


def test_technique_is_frozen_with_safe_defaults() -> None:
    t = Technique(name="x", category="y", code="pass", aims=("hang",))
    assert (t.hazardous, t.isolated, t.followup) == (False, False, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.code = "import os"  # type: ignore[misc]


def test_every_effect_has_a_description() -> None:
    assert EFFECTS and all(isinstance(v, str) and v for v in EFFECTS.values())


def test_compact_constructor_splits_aims_on_whitespace() -> None:
    t = technique("n", "c", "canary_read  network\nenv_leak", "pass")
    assert t.aims == ("canary_read", "network", "env_leak")


def test_compact_constructor_strips_surrounding_newlines_but_not_indentation() -> None:
    t = technique("n", "c", "hang", "\n\n    while True:\n        pass\n\n")
    assert t.code == "    while True:\n        pass"


def test_compact_constructor_passes_the_flags_through() -> None:
    t = technique("n", "c", "hang", "pass", hazardous=True, isolated=True, followup="print(1)")
    assert (t.name, t.category, t.hazardous, t.isolated, t.followup) == ("n", "c", True, True, "print(1)")


def test_compact_constructor_validates_aims_too() -> None:
    with pytest.raises(ValueError, match="aims"):
        technique("n", "c", "teleport", "pass")


def test_all_aims_are_known_effects_without_repeats() -> None:
    aims = ALL_AIMS.split()
    assert set(aims) <= set(EFFECTS) and len(aims) == len(set(aims))
    assert technique("n", "c", ALL_AIMS, "pass").aims == tuple(aims)
