"""Invariants of the technique tables in ``retool.sandbox.audit.techniques`` (data only, no
functions): ``TECHNIQUES`` is the documented concatenation, names are unique, each table holds
the categories its module documents, every aim is an effect, flags are consistent (hazardous
and poisoning techniques run isolated), every template names only placeholders ``render``
fills and parses as Python. Rendering every technique is in ``../test_render.py``."""

from __future__ import annotations

import ast
import string

import pytest

from retool.sandbox.audit import EFFECTS, TECHNIQUES, Technique
from retool.sandbox.audit.techniques.channels import CHANNELS
from retool.sandbox.audit.techniques.contamination import CONTAMINATION
from retool.sandbox.audit.techniques.gadgets import RECIPE_GADGETS
from retool.sandbox.audit.techniques.host import FILESYSTEM, NETWORK, PROC
from retool.sandbox.audit.techniques.limits import LIMITS_AND_TIME
from retool.sandbox.audit.techniques.process import PROCESSES
from retool.sandbox.audit.techniques.python import PYTHON_ESCAPES

TABLES: dict[str, tuple[Technique, ...]] = {
    "PYTHON_ESCAPES": PYTHON_ESCAPES, "FILESYSTEM": FILESYSTEM, "PROC": PROC, "PROCESSES": PROCESSES,
    "NETWORK": NETWORK, "LIMITS_AND_TIME": LIMITS_AND_TIME, "CONTAMINATION": CONTAMINATION,
    "CHANNELS": CHANNELS, "RECIPE_GADGETS": RECIPE_GADGETS,
}
# table -> (its category, {technique: the documented exception})
CATEGORIES: dict[str, tuple[set[str], dict[str, str]]] = {
    "PYTHON_ESCAPES": ({"python-escape"}, {"ctypes_raw_socket": "network"}),
    "FILESYSTEM": ({"filesystem"}, {}),
    "PROC": ({"proc"}, {}),
    "PROCESSES": ({"process"}, {}),
    "NETWORK": ({"network"}, {}),
    "LIMITS_AND_TIME": ({"limits", "time"}, {"exit0_fake_success": "process"}),
    "CONTAMINATION": ({"contamination"}, {}),
    "CHANNELS": ({"channel"}, {}),
    "RECIPE_GADGETS": ({"recipe-gadget"}, {}),
}
PLACEHOLDERS = {"canary", "canary_dir", "marker", "leak_path", "env_name", "decoy_pid", "auditor_pid", "port",
                "udp_port", "shell", "breach", "mem_bytes", "disk_bytes", "pickle_system", "pickle_connect",
                "marshal_hex"}
IDS = [t.name for t in TECHNIQUES]


def test_techniques_is_the_tables_in_the_documented_order() -> None:
    assert TECHNIQUES == (*PYTHON_ESCAPES, *FILESYSTEM, *PROC, *PROCESSES, *NETWORK, *LIMITS_AND_TIME, *CONTAMINATION,
                          *CHANNELS, *RECIPE_GADGETS)


def test_every_name_is_unique() -> None:
    assert len(set(IDS)) == len(IDS)


def test_battery_has_at_least_40_unique_techniques_with_known_effects() -> None:
    assert len(TECHNIQUES) >= 40
    assert len(set(IDS)) == len(IDS)
    assert all(set(t.aims) <= set(EFFECTS) for t in TECHNIQUES)
    for category in ("python-escape", "filesystem", "proc", "process", "network", "limits", "time", "contamination",
                     "channel", "recipe-gadget"):
        assert any(t.category == category for t in TECHNIQUES), category


@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_table_is_non_empty_and_wholly_in_techniques(table: str) -> None:
    assert TABLES[table] and all(t in TECHNIQUES for t in TABLES[table])


@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_table_holds_its_documented_categories(table: str) -> None:
    allowed, exceptions = CATEGORIES[table]
    wrong = {t.name: t.category for t in TABLES[table]
             if t.category != exceptions.get(t.name) and t.category not in allowed}
    assert wrong == {} and all(name in {t.name for t in TABLES[table]} for name in exceptions)


@pytest.mark.parametrize("name", IDS)
def test_aims_are_known_effects_without_repeats(name: str) -> None:
    (t,) = [t for t in TECHNIQUES if t.name == name]
    assert t.aims and set(t.aims) <= set(EFFECTS) and len(t.aims) == len(set(t.aims))


@pytest.mark.parametrize("name", IDS)
def test_templates_name_only_placeholders_render_fills(name: str) -> None:
    (t,) = [t for t in TECHNIQUES if t.name == name]
    template = string.Template(t.code)
    assert template.is_valid() and set(template.get_identifiers()) <= PLACEHOLDERS


@pytest.mark.parametrize("name", IDS)
def test_templates_parse_with_placeholders_as_literals(name: str) -> None:
    (t,) = [t for t in TECHNIQUES if t.name == name]
    numbers = {"decoy_pid", "auditor_pid", "port", "udp_port", "mem_bytes", "disk_bytes"}
    ast.parse(string.Template(t.code).substitute({k: "0" if k in numbers else "'x'" for k in PLACEHOLDERS}))


def test_hazardous_techniques_run_isolated() -> None:
    assert [t.name for t in TECHNIQUES if t.hazardous and not t.isolated] == []


def test_techniques_with_a_followup_run_isolated_and_their_followup_parses() -> None:
    followed = [t for t in TECHNIQUES if t.followup is not None]
    assert followed and all(t.isolated for t in followed)
    for t in followed:
        ast.parse(t.followup)


def test_every_poisoning_contamination_technique_names_a_followup() -> None:
    poisoning = [t for t in CONTAMINATION if "POISONED" in t.code]
    assert poisoning and all(t.followup for t in poisoning)


def test_limit_breach_techniques_print_the_breach_marker_past_a_limit() -> None:
    breach = [t for t in TECHNIQUES if "limit_breach" in t.aims]
    assert breach and all("$breach" in t.code and ("$mem_bytes" in t.code or "$disk_bytes" in t.code) for t in breach)
