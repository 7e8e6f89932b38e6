"""The serve presets: ``retool`` is the recipe's sandbox, ``fusion`` what SandboxFusion users expect."""

from __future__ import annotations

import pytest

from retool.sandbox.config import TOOL_CONFIGS, SandboxConfig
from retool.sandbox.service.presets import PRESETS, preset_config


def test_retool_preset_is_the_recipes_tool_configs() -> None:
    assert preset_config("retool") == SandboxConfig.from_tool_configs(TOOL_CONFIGS)


def test_fusion_preset_runs_scripts_without_the_allow_list() -> None:
    config = preset_config("fusion")
    assert config.allowed_modules is None and config.print_last_expression is False
    assert config.max_output_bytes == 1 << 20


def test_overrides_win_over_the_preset() -> None:
    assert preset_config("fusion", concurrency=3).concurrency == 3


def test_an_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=str(sorted(PRESETS)).replace("[", r"\[").replace("]", r"\]")):
        preset_config("nope")
