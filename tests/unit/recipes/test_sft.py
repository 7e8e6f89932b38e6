"""The SFT recipe (retool.recipes.sft): run_sft on the shipped sample with the tiny model, two steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retool.data.sources import DataError
from retool.recipes.sft import run_sft
from retool.train.common import TrainResult
from retool.train.sft import SFTConfig


def _config(**overrides: object) -> SFTConfig:
    return SFTConfig(**{"max_steps": 2, "batch_size": 2, "lr": 1e-3, "device": "cpu", "progress": False, **overrides})


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sft")


@pytest.fixture(scope="module")
def result(out_dir: Path) -> TrainResult:
    return run_sft("sample", "tiny", _config(out_dir=str(out_dir)))


def test_run_sft_stops_after_max_steps(result: TrainResult) -> None:
    assert result.steps == 2 and len(result.losses) == 2


def test_run_sft_trains_on_loss_mask_tokens_with_a_finite_loss(result: TrainResult) -> None:
    assert result.tokens_trained > 0 and all(0.0 < loss < 100.0 for loss in result.losses)


def test_run_sft_writes_its_checkpoint_under_out_dir(result: TrainResult, out_dir: Path) -> None:
    assert result.checkpoint is not None and Path(result.checkpoint).parent == out_dir
    assert Path(result.checkpoint).is_dir()


def test_run_sft_reads_the_data_before_loading_the_model(tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": []}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl: row 1: field 'messages'"):
        run_sft(str(bad), str(tmp_path / "no-model-here"), _config())
