"""retool.checkpoint.parity: ``check`` (stored args against the HF config field by field, then
logits parity of the megatron-core model built from the stored args) and ``CheckReport``
(``ok``, readable ``failures``, ``to_dict``), ``default_tokens`` and the argument validation.

The reports are of real tiny conversions on CPU (fixtures in this folder's ``conftest.py``, models from ``hf_models``,
skipped naming megatron-core where it is absent); ``CheckReport`` itself is also built by hand.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from retool.checkpoint.args import FieldCheck, MegatronArgs, megatron_args_from_hf
from retool.checkpoint.parity import DEFAULT_ATOL, CheckReport, LogitsCheck, check, default_tokens
from retool.embedded.models import TinyModelConfig, tiny_qwen3_config
from tests.unit.checkpoint.hf_models import VOCAB
from tests.unit.checkpoint.hf_models import save_hf as _save_hf

pytestmark = [pytest.mark.timeout(180), pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]


# ---- the rotary-base check (moved from test_conversion.py) --------------------------------------


def test_wrong_base_is_named_in_the_args_check(wrong_base_report: CheckReport) -> None:
    assert not wrong_base_report.ok
    assert "rotary base 1000000 != rope_theta 5000000: generations will be garbled" in wrong_base_report.failures
    assert [f.field for f in wrong_base_report.fields if not f.ok] == ["rotary_base"]


def test_wrong_base_is_caught_by_the_logits_check(wrong_base_report: CheckReport) -> None:
    logits = wrong_base_report.logits
    assert logits is not None and not logits.ok
    assert logits.max_abs_diff > 10 * logits.atol


def test_other_weights_under_right_args_fail_only_the_logits_check(workdir: Path, good_dir: Path) -> None:
    other = _save_hf(workdir / "hf-seed1", seed=1)
    report = check(other, good_dir)
    assert all(f.ok for f in report.fields)
    assert report.logits is not None and not report.logits.ok


def test_other_architecture_is_a_reported_mismatch_not_an_exception(workdir: Path, good_dir: Path) -> None:
    other = _save_hf(workdir / "hf-1layer", config=TinyModelConfig(num_layers=1))
    report = check(other, good_dir)
    assert "num layers 2 != num_hidden_layers 1: the checkpoint does not hold the model's layers" in report.failures
    assert report.logits is not None and not report.logits.ok


def test_check_without_logits_compares_args_only(hf_dir: Path, wrong_base_dir: Path) -> None:
    report = check(hf_dir, wrong_base_dir, compare_logits=False)
    assert report.logits is None and not report.ok


def test_check_of_a_missing_checkpoint_raises_naming_it(hf_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        check(hf_dir, tmp_path / "nowhere")


def test_check_rejects_token_ids_outside_the_vocab(hf_dir: Path, good_dir: Path) -> None:
    with pytest.raises(ValueError, match="token ids must lie in"):
        check(hf_dir, good_dir, tokens=[1, 2, VOCAB])


# ---- check on real checkpoints ------------------------------------------------------------------


def test_a_good_conversion_passes_with_no_failures(good_report: CheckReport) -> None:
    assert good_report.ok and good_report.failures == ()
    assert good_report.stored == good_report.expected


def test_default_logits_check_uses_64_tokens_on_cpu_at_the_default_atol(good_report: CheckReport) -> None:
    logits = good_report.logits
    assert logits is not None
    assert (logits.num_tokens, logits.atol, logits.device) == (64, DEFAULT_ATOL, "cpu")
    assert logits.message.startswith("logits match the HF model within")


def test_a_batch_of_token_rows_is_compared_in_full(hf_dir: Path, good_dir: Path) -> None:
    tokens = torch.arange(2 * 12).reshape(2, 12) * 37 % VOCAB  # (B, T)
    report = check(hf_dir, good_dir, tokens=tokens)
    assert report.ok, report.failures
    assert report.logits is not None and report.logits.num_tokens == 24


def test_the_logits_pass_exactly_up_to_atol_inclusive(hf_dir: Path, good_dir: Path, good_report: CheckReport) -> None:
    diff = good_report.logits.max_abs_diff  # float32 rounding between two implementations: small, not zero
    assert diff is not None and diff > 0
    assert check(hf_dir, good_dir, atol=diff).logits.ok
    below = check(hf_dir, good_dir, atol=diff / 2).logits
    assert not below.ok and "the converted model computes a different function" in below.message


@pytest.fixture(scope="module")
def three_layer_args_dir(workdir: Path, good_dir: Path) -> Path:
    """The good checkpoint with its stored args claiming 3 layers: its weights hold 2."""
    tampered = workdir / "megatron-3-layers"
    shutil.copytree(good_dir, tampered)
    common = torch.load(tampered / "release" / "common.pt", weights_only=False)
    common["args"].num_layers = 3
    torch.save(common, tampered / "release" / "common.pt")
    return tampered


def test_stored_args_disagreeing_with_the_weights_are_a_reported_mismatch(hf_dir: Path, three_layer_args_dir: Path) -> None:
    report = check(hf_dir, three_layer_args_dir, compare_logits=False)
    assert report.failures == ("num layers 3 != num_hidden_layers 2: the checkpoint does not hold the model's layers",)


def test_a_checkpoint_that_cannot_load_under_its_stored_args_fails_the_logits_check(
        hf_dir: Path, three_layer_args_dir: Path) -> None:
    report = check(hf_dir, three_layer_args_dir)
    assert report.logits is not None and not report.logits.ok and report.logits.max_abs_diff is None
    assert report.logits.message.startswith("the checkpoint does not load under its stored args")


def test_report_to_dict_is_json_and_names_the_failures(wrong_base_report: CheckReport) -> None:
    data = json.loads(json.dumps(wrong_base_report.to_dict()))
    assert data["ok"] is False
    assert data["failures"] == list(wrong_base_report.failures)
    assert data["stored_args"]["rotary_base"] == 1e6 and data["expected_args"]["rotary_base"] == 5e6


def test_check_of_a_missing_hf_dir_raises_naming_it(good_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no-such-hf"):
        check(tmp_path / "no-such-hf", good_dir)


@pytest.mark.parametrize("tokens", [[], [[[1, 2]]]], ids=["empty", "three_dims"])
def test_check_rejects_tokens_of_the_wrong_shape(hf_dir: Path, good_dir: Path, tokens: list) -> None:
    with pytest.raises(ValueError, match="non-empty \\(T,\\) or \\(B, T\\)"):
        check(hf_dir, good_dir, tokens=tokens)


# ---- argument validation and default tokens (no megatron-core needed) ---------------------------


@pytest.mark.parametrize("atol", [-1e-3, float("nan")])
def test_check_rejects_a_negative_or_nan_atol_naming_it(tmp_path: Path, atol: float) -> None:
    with pytest.raises(ValueError, match="atol must be non-negative"):
        check(tmp_path, tmp_path, atol=atol)


def test_default_tokens_are_one_row_of_ids_inside_the_vocab() -> None:
    ids = default_tokens(VOCAB)
    assert ids.shape == (1, 64)
    assert int(ids.min()) >= 0 and int(ids.max()) < VOCAB


def test_default_tokens_are_fixed_by_the_seed() -> None:
    assert torch.equal(default_tokens(VOCAB, 16), default_tokens(VOCAB, 16))
    assert not torch.equal(default_tokens(VOCAB, 16, seed=0), default_tokens(VOCAB, 16, seed=1))


# ---- CheckReport built by hand ------------------------------------------------------------------


def _field(name: str, ok: bool) -> FieldCheck:
    return FieldCheck(field=name, hf_name=name, stored=1, expected=1 if ok else 2, ok=ok,
                      message="ok" if ok else f"{name} 1 != {name} 2: broken")


def _logits(ok: bool) -> LogitsCheck:
    return LogitsCheck(ok=ok, max_abs_diff=0.0 if ok else 1.0, atol=1e-3, num_tokens=4, device="cpu",
                       message="match" if ok else "logits differ")


def _report(fields: tuple[FieldCheck, ...], logits: LogitsCheck | None) -> CheckReport:
    args: MegatronArgs = megatron_args_from_hf(tiny_qwen3_config(VOCAB))
    return CheckReport(hf_dir="hf", megatron_dir="mg", stored=args, expected=args, fields=fields, logits=logits)


def test_report_is_ok_when_every_field_and_the_logits_pass() -> None:
    assert _report((_field("a", True),), _logits(True)).ok


def test_report_without_a_logits_check_is_judged_on_its_fields() -> None:
    assert _report((_field("a", True),), None).ok
    assert not _report((_field("a", False),), None).ok


def test_failures_list_field_messages_then_the_logits_message() -> None:
    report = _report((_field("a", False), _field("b", True), _field("c", False)), _logits(False))
    assert not report.ok
    assert report.failures == ("a 1 != a 2: broken", "c 1 != c 2: broken", "logits differ")


def test_a_failed_logits_check_alone_fails_the_report() -> None:
    report = _report((_field("a", True),), _logits(False))
    assert not report.ok and report.failures == ("logits differ",)


def test_to_dict_turns_non_plain_field_values_into_strings() -> None:
    odd = FieldCheck(field="x", hf_name="x", stored=(1, 2), expected=None, ok=False, message="m")
    data = _report((odd,), None).to_dict()
    assert data["fields"][0]["stored"] == "(1, 2)" and data["fields"][0]["expected"] is None
    assert json.loads(json.dumps(data)) == data
