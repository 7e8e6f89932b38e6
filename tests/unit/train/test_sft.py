"""retool.train.sft on the real tiny Qwen3 model (CPU): SFT learns, tool tokens get exactly zero
gradient, the data order is seeded, checkpoints resume exactly, and the CLI drives it."""

from __future__ import annotations

import json

import pytest
import torch

from retool.embedded.models import tiny_model
from retool.text.masking import encode_sft
from retool.train.common import pad_batch
from retool.train.sft import SFTConfig, encode_examples, evaluate_sft_loss, sft_batch_loss, sft_train
from tests.unit.train.sft_configs import fast_sft_config as _fast


def test_sft_on_the_shipped_samples_lowers_the_loss(sft_records):
    model, tok = tiny_model()
    pairs = encode_examples(tok, sft_records)
    before = evaluate_sft_loss(model, tok, pairs)
    result = sft_train(model, tok, sft_records, _fast(max_steps=12))
    after = evaluate_sft_loss(model, tok, pairs)
    assert result.steps == 12 and len(result.losses) == 12
    assert after < before - 1.0, (before, after)
    assert result.last_loss < result.first_loss


def _tool_positions(enc) -> list[int]:
    kinds = [seg.kind for seg in enc.segments for _ in seg.ids]
    return [t for t, kind in enumerate(kinds) if kind == "tool"]


def test_sft_tool_response_tokens_get_exactly_zero_logit_gradient(sft_records):
    model, tok = tiny_model()
    enc = encode_sft(tok, sft_records[4]["messages"])  # two tool turns
    tool = _tool_positions(enc)
    assert len(tool) > 10
    ids, attn, mask = pad_batch([enc.ids], [enc.loss_mask], 0, torch.device("cpu"))
    loss, logits = sft_batch_loss(model, ids, attn, mask)
    logits.retain_grad()
    loss.backward()
    predicting_tool = [t - 1 for t in tool]  # the row of logits whose target is a tool token
    assert torch.count_nonzero(logits.grad[0, predicting_tool]) == 0
    model_rows = [t - 1 for t, m in enumerate(enc.loss_mask) if m]
    assert torch.all(logits.grad[0, model_rows].abs().sum(-1) > 0)


def test_sft_nan_logits_at_tool_positions_change_neither_loss_nor_weight_gradients(sft_records):
    model, tok = tiny_model()
    enc = encode_sft(tok, sft_records[4]["messages"])
    rows = torch.tensor([t - 1 for t in _tool_positions(enc)])
    ids, attn, mask = pad_batch([enc.ids], [enc.loss_mask], 0, torch.device("cpu"))

    def run(poison: bool):
        model.zero_grad(set_to_none=True)
        hook = None
        if poison:
            def nan_rows(_module, _inputs, out):
                out = out.clone()
                out[0, rows] = float("nan")
                return out
            hook = model.lm_head.register_forward_hook(nan_rows)
        loss, _ = sft_batch_loss(model, ids, attn, mask)
        loss.backward()
        if hook is not None:
            hook.remove()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    clean_loss, clean_grads = run(False)
    nan_loss, nan_grads = run(True)
    assert nan_loss.item() == clean_loss.item()
    for name, grad in clean_grads.items():
        assert torch.isfinite(nan_grads[name]).all(), name
        torch.testing.assert_close(nan_grads[name], grad, rtol=0, atol=1e-7, msg=name)


def test_sft_writes_one_metrics_line_per_step(sft_records, tmp_path):
    model, tok = tiny_model()
    sft_train(model, tok, sft_records[:4], _fast(max_steps=3, batch_size=2, metrics_path=str(tmp_path / "m.jsonl")))
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(r["train/loss"] > 0 and r["train/tokens"] > 0 for r in rows)


def test_checkpoint_then_resume_equals_the_uninterrupted_run(sft_records, tmp_path):
    records = sft_records[:6]
    straight, tok = tiny_model()
    sft_train(straight, tok, records, _fast(max_steps=4, batch_size=2, epochs=2))

    first, _ = tiny_model()
    part = sft_train(first, tok, records, _fast(max_steps=2, batch_size=2, epochs=2, out_dir=str(tmp_path / "a")))
    resumed, _ = tiny_model()
    rest = sft_train(resumed, tok, records, _fast(max_steps=4, batch_size=2, epochs=2, resume_from=part.checkpoint))
    assert part.steps == 2 and rest.steps == 4 and len(rest.losses) == 2
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_sft_token_loss_equals_the_hf_labels_loss_with_minus_100_on_masked_tokens(sft_records):
    model, tok = tiny_model()
    pairs = encode_examples(tok, sft_records[:3])
    ids, attn, mask = pad_batch([p[0] for p in pairs], [p[1] for p in pairs], 0, torch.device("cpu"))
    with torch.no_grad():
        ours, _ = sft_batch_loss(model, ids, attn, mask)
        labels = torch.where(mask.bool(), ids, torch.full_like(ids, -100))
        theirs = model(input_ids=ids, attention_mask=attn, labels=labels).loss
    torch.testing.assert_close(ours, theirs.float(), rtol=1e-5, atol=1e-6)


def test_encode_examples_cuts_to_max_length_and_rejects_mismatched_pairs(sft_records):
    _, tok = tiny_model()
    (ids, mask), = encode_examples(tok, sft_records[:1], max_length_tokens=200)
    assert len(ids) == len(mask) == 200
    with pytest.raises(ValueError, match="example 0"):
        encode_examples(tok, [((1, 2, 3), (0, 1))])


def test_cli_train_sft_on_the_sample_writes_a_checkpoint(tmp_path, capsys):
    from retool.cli import main

    assert main(["train", "sft", "sample", "--model", "tiny", "--out", str(tmp_path), "--max-steps", "2",
                 "--lr", "1e-3", "--no-progress"]) == 0
    assert "sft: 2 steps" in capsys.readouterr().out
    assert (tmp_path / "final" / "config.json").is_file() and (tmp_path / "final" / "trainer_state.pt").is_file()
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2


def test_cli_train_names_a_bad_data_row(tmp_path, capsys):
    from retool.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "no box"}]}) + "\n")
    assert main(["train", "sft", str(bad), "--model", "tiny", "--out", str(tmp_path / "o")]) == 1
    assert "row 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("bad", "field"),
    [(dict(epochs=0), "epochs"), (dict(batch_size=0), "batch_size"), (dict(lr=0.0), "lr"), (dict(max_steps=0), "max_steps"),
     (dict(loss_reduction="mean"), "loss_reduction")],
)
def test_sft_config_refuses_bad_values_naming_the_field(bad: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SFTConfig(**bad)


def test_encode_examples_reads_pairs_and_objects_with_ids_and_loss_mask(sft_records) -> None:
    _, tok = tiny_model()
    enc = encode_sft(tok, sft_records[0]["messages"])
    from_record, from_object, from_pair = encode_examples(tok, [sft_records[0], enc, (enc.ids, enc.loss_mask)])
    assert from_record == from_object == from_pair == (tuple(enc.ids), tuple(enc.loss_mask))


def test_encode_examples_refuses_an_example_shorter_than_two_tokens() -> None:
    _, tok = tiny_model()
    with pytest.raises(ValueError, match="example 1"):
        encode_examples(tok, [((1, 2), (0, 1)), ((1,), (1,))])


def test_sft_train_without_examples_is_refused() -> None:
    model, tok = tiny_model()
    with pytest.raises(ValueError, match="at least one example"):
        sft_train(model, tok, [], _fast())


def test_max_steps_caps_the_steps_over_all_epochs(sft_records) -> None:
    model, tok = tiny_model()
    result = sft_train(model, tok, sft_records[:3], _fast(epochs=3, batch_size=2, max_steps=5))
    assert result.steps == 5 and len(result.losses) == 5


def test_epochs_decide_the_steps_with_a_smaller_last_batch(sft_records) -> None:
    model, tok = tiny_model()
    pairs = encode_examples(tok, sft_records[:3])
    result = sft_train(model, tok, pairs, _fast(epochs=2, batch_size=2))
    assert result.steps == 4  # ceil(3 / 2) batches per epoch
    assert result.tokens_trained == 2 * sum(sum(m[1:]) for _, m in pairs)  # every example once per epoch


def test_same_seed_gives_the_same_losses_and_another_seed_another_order(sft_records) -> None:
    records = sft_records[:4]
    runs = []
    for seed in (3, 3, 4):
        model, tok = tiny_model()
        runs.append(sft_train(model, tok, records, _fast(max_steps=2, batch_size=1, seed=seed)).losses)
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_evaluate_sft_loss_leaves_the_training_mode_as_it_was(sft_records) -> None:
    model, tok = tiny_model()
    model.train()
    evaluate_sft_loss(model, tok, sft_records[:2])
    assert model.training
