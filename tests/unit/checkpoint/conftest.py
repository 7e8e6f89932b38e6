"""Shared real checkpoints for the conversion and parity tests, built once per package run.

A tiny random Qwen3 saved in HF format and its megatron-core conversions (right rope base and a
forced wrong one), plus their check reports. Every fixture that needs megatron-core skips, with
the reason, where it is not installed; the pure tests of these folders run without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.capabilities import skip_unless_megatron
from tests.unit.checkpoint.hf_models import save_hf

if TYPE_CHECKING:
    from retool.checkpoint.parity import CheckReport


@pytest.fixture(scope="package")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skip_unless_megatron()
    return tmp_path_factory.mktemp("checkpoint")


@pytest.fixture(scope="package")
def hf_dir(workdir: Path) -> Path:
    return save_hf(workdir / "hf")


@pytest.fixture(scope="package")
def good_dir(workdir: Path, hf_dir: Path) -> Path:
    from retool.checkpoint import convert

    convert(hf_dir, workdir / "megatron")
    return workdir / "megatron"


@pytest.fixture(scope="package")
def wrong_base_dir(workdir: Path, hf_dir: Path) -> Path:
    from retool.checkpoint import convert

    convert(hf_dir, workdir / "megatron-1e6", rotary_base=1_000_000, force=True)
    return workdir / "megatron-1e6"


@pytest.fixture(scope="package")
def good_report(hf_dir: Path, good_dir: Path) -> CheckReport:
    from retool.checkpoint import check

    return check(hf_dir, good_dir)


@pytest.fixture(scope="package")
def wrong_base_report(hf_dir: Path, wrong_base_dir: Path) -> CheckReport:
    from retool.checkpoint import check

    return check(hf_dir, wrong_base_dir)
