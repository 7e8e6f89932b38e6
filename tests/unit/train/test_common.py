"""retool.train.common: devices, right-padding, the lr schedule, resumable checkpoints and the step log."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch

from retool.embedded.models import tiny_model
from retool.train.common import (
    STATE_FILE, STATE_JSON, StepLog, TrainResult, autocast, chunks, load_checkpoint, lr_lambda, pad_batch, pad_id_of,
    pick_device, save_checkpoint, use_bf16,
)
from retool.train.sft import sft_train
from tests.capabilities import requires_no_cuda
from tests.unit.train.sft_configs import fast_sft_config as _fast

CPU = torch.device("cpu")


def test_checkpoint_is_a_loadable_hf_directory_with_optimizer_state(sft_records, tmp_path):
    model, tok = tiny_model()
    res = sft_train(model, tok, sft_records[:2], _fast(max_steps=1, batch_size=2, out_dir=str(tmp_path)))
    fresh, _ = tiny_model()
    opt = torch.optim.AdamW(fresh.parameters(), lr=1.0)
    state = load_checkpoint(res.checkpoint, fresh, opt)
    assert state["step"] == 1 and state["kind"] == "sft"
    assert len(opt.state) > 0
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)


# ---------------------------------------------------------------- devices


def test_no_device_picks_cuda_exactly_when_present() -> None:
    assert pick_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_named_device_is_used() -> None:
    assert pick_device("cpu") == CPU


@requires_no_cuda
def test_cuda_requested_without_cuda_is_refused() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        pick_device("cuda")


def test_bf16_on_cpu_is_refused() -> None:
    with pytest.raises(ValueError, match="bf16=True needs a CUDA device"):
        use_bf16(CPU, True)


@pytest.mark.parametrize("bf16", [None, False])
def test_cpu_runs_in_float32(bf16: bool | None) -> None:
    assert use_bf16(CPU, bf16) is False


def test_autocast_off_keeps_float32() -> None:
    with autocast(CPU, False):
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.float32


# ---------------------------------------------------------------- padding


def test_pad_batch_right_pads_ids_attention_and_loss_mask() -> None:
    ids, attn, loss = pad_batch([[5, 6, 7], [8]], [[0, 1, 1], [1]], 99, CPU)
    assert ids.tolist() == [[5, 6, 7], [8, 99, 99]]
    assert attn.tolist() == [[1, 1, 1], [1, 0, 0]] and loss.tolist() == [[0, 1, 1], [1, 0, 0]]
    assert ids.dtype == attn.dtype == loss.dtype == torch.long


def test_pad_batch_refuses_a_mask_of_another_length_naming_the_sequence() -> None:
    with pytest.raises(ValueError, match="sequence 1 has 2 ids but a loss mask of 1"):
        pad_batch([[1], [2, 3]], [[1], [1]], 0, CPU)


@pytest.mark.parametrize(("seqs", "masks"), [([], []), ([[1]], [])])
def test_pad_batch_needs_one_mask_per_sequence(seqs: list, masks: list) -> None:
    with pytest.raises(ValueError, match="need as many masks as sequences"):
        pad_batch(seqs, masks, 0, CPU)


def test_padding_never_changes_a_real_positions_logits(tiny_lm) -> None:
    model, _ = tiny_lm
    short, long = [11, 12, 13, 14], list(range(20, 32))
    ids, attn, _ = pad_batch([short, long], [[1] * 4, [1] * 12], 0, CPU)
    with torch.no_grad():
        padded = model(input_ids=ids, attention_mask=attn).logits[0, :4]  # (4, V)
        alone = model(input_ids=torch.tensor([short])).logits[0]  # (4, V)
    torch.testing.assert_close(padded, alone, rtol=1e-4, atol=1e-4)


def test_pad_id_prefers_pad_then_eos_then_zero() -> None:
    assert pad_id_of(SimpleNamespace(pad_token_id=3, eos_token_id=2)) == 3
    assert pad_id_of(SimpleNamespace(pad_token_id=None, eos_token_id=2)) == 2
    assert pad_id_of(SimpleNamespace()) == 0


# ---------------------------------------------------------------- lr schedule, results, chunks


def test_warmup_is_linear_then_constant() -> None:
    fn = lr_lambda("constant", 4, 10)
    assert [fn(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_cosine_decays_from_one_to_the_min_ratio() -> None:
    fn = lr_lambda("cosine", 0, 10, min_lr_ratio=0.1)
    assert fn(0) == pytest.approx(1.0) and fn(5) == pytest.approx(0.55) and fn(10) == pytest.approx(0.1)
    assert fn(20) == pytest.approx(0.1)  # past the end it stays at the floor


def test_unknown_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="'linear'"):
        lr_lambda("linear", 0, 10)


def test_train_result_first_and_last_loss() -> None:
    result = TrainResult(steps=3, losses=(3.0, 2.0, 1.0), tokens_trained=9, wall_s=0.1, checkpoint=None)
    assert (result.first_loss, result.last_loss) == (3.0, 1.0)


def test_train_result_without_losses_is_nan() -> None:
    result = TrainResult(steps=0, losses=(), tokens_trained=0, wall_s=0.0, checkpoint=None)
    assert math.isnan(result.first_loss) and math.isnan(result.last_loss)


@pytest.mark.parametrize(("n", "size", "want"), [(5, 2, [(0, 2), (2, 4), (4, 5)]), (3, None, [(0, 3)]), (3, 0, [(0, 3)])])
def test_chunks_cover_the_range_in_order(n: int, size: int | None, want: list[tuple[int, int]]) -> None:
    assert [(s.start, s.stop) for s in chunks(n, size)] == want


# ---------------------------------------------------------------- checkpoints and the step log


def test_checkpoint_writes_hf_files_and_a_readable_state(tmp_path) -> None:
    model, tok = tiny_model()
    path = save_checkpoint(tmp_path / "ck", model, tok, None, None, {"step": 7, "kind": "test"})
    assert (path / "config.json").is_file() and (path / STATE_FILE).is_file()
    assert json.loads((path / STATE_JSON).read_text()) == {"step": 7, "kind": "test"}


def test_loading_a_folder_without_trainer_state_names_it(tmp_path) -> None:
    model, _ = tiny_model()
    with pytest.raises(FileNotFoundError, match="not a resumable checkpoint"):
        load_checkpoint(tmp_path, model)


def test_loading_restores_the_rng_and_the_scheduler(tmp_path) -> None:
    model, tok = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda("constant", 4, 10))
    for _ in range(2):
        opt.step()
        sched.step()
    save_checkpoint(tmp_path, model, tok, opt, sched, {"step": 2})
    after_save = torch.rand(3)
    fresh_opt = torch.optim.SGD(model.parameters(), lr=1.0)
    fresh = torch.optim.lr_scheduler.LambdaLR(fresh_opt, lr_lambda("constant", 4, 10))
    assert load_checkpoint(tmp_path, model, fresh_opt, fresh) == {"step": 2}
    assert torch.equal(torch.rand(3), after_save) and fresh.last_epoch == 2


def test_step_log_writes_one_json_line_per_step(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    with StepLog(total=2, initial=0, metrics_path=str(path), progress=False, desc="t") as log:
        log.log(1, {"train/loss": 2.0})
        log.log(2, {"train/loss": 1.0})
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["step"], r["train/loss"]) for r in rows] == [(1, 2.0), (2, 1.0)]


def test_step_log_without_a_path_writes_nothing(tmp_path) -> None:
    with StepLog(total=1, initial=0, metrics_path=None, progress=False, desc="t") as log:
        log.log(1, {"train/loss": 2.0})
    assert list(tmp_path.iterdir()) == []
