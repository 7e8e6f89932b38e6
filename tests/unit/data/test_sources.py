"""``retool.data.sources`` and ``retool.data`` name the same objects as the modules that define them."""

from __future__ import annotations

import importlib

import pytest

import retool.data
import retool.data.sources as sources


@pytest.mark.parametrize("name", sources.__all__)
def test_each_sources_name_is_the_defining_modules_object(name):
    value = getattr(sources, name)
    module = getattr(value, "__module__", None)
    if module and module.startswith("retool.data.") and module != "retool.data.sources":
        assert getattr(importlib.import_module(module), name) is value


@pytest.mark.parametrize("name", retool.data.__all__)
def test_each_package_export_is_the_same_object_through_sources_when_sources_has_it(name):
    if name in sources.__all__:
        assert getattr(retool.data, name) is getattr(sources, name)


def test_the_names_callers_import_from_sources_are_there():
    used = {"DataError", "RowError", "prepare_rl", "prepare_sft", "read_jsonl", "rl_record", "sample_path", "sft_record",
            "QUESTION_MARKER", "SAMPLES_DIR", "PrepReport", "inline_assistant_text", "iter_rows", "split_trajectory"}
    assert used <= set(sources.__all__) and used <= set(retool.data.__all__)
