"""retool.train.sft on retool-code records: each record is encoded in its own dialect, the
<interpreter> text inside the assistant message is never trained on, and the CLI drives it."""

from __future__ import annotations

import pytest

from retool.embedded.models import tiny_model
from retool.recipes.inputs import sft_examples
from retool.train.sft import encode_examples, sft_train
from tests.unit.train.sft_configs import fast_sft_config as _fast


@pytest.fixture(scope="module")
def native_records():
    return sft_examples("sample", "retool-code")


def test_the_sample_converts_to_native_records(native_records) -> None:
    assert len(native_records) == 11 and all(r["dialect"] == "retool-code" for r in native_records)


def test_no_interpreter_token_is_trained_on(native_records) -> None:
    _, tok = tiny_model()
    for ids, mask in encode_examples(tok, native_records):
        trained = tok.decode([i for i, m in zip(ids, mask) if m], skip_special_tokens=False)
        untrained = tok.decode([i for i, m in zip(ids, mask) if not m], skip_special_tokens=False)
        assert "<interpreter>" not in trained and "</interpreter>" not in trained
        assert "<interpreter>" in untrained and "</code>" in trained


def test_a_records_own_dialect_wins_over_the_default(native_records) -> None:
    _, tok = tiny_model()
    from retool.text.masking import encode_sft

    (ids, mask), = encode_examples(tok, native_records[:1], dialect="qwen3")
    native = encode_sft(tok, native_records[0]["messages"], dialect="retool-code")
    assert (ids, mask) == (native.ids, native.loss_mask)


def test_an_unknown_dialect_in_a_record_is_named_with_its_index(native_records) -> None:
    _, tok = tiny_model()
    with pytest.raises(ValueError, match="example 1: unknown dialect 'code'"):
        encode_examples(tok, [native_records[0], {**native_records[1], "dialect": "code"}])


def test_sft_on_native_records_lowers_the_loss(native_records) -> None:
    model, tok = tiny_model()
    result = sft_train(model, tok, native_records, _fast(max_steps=6))
    assert result.steps == 6 and result.last_loss < result.first_loss


def test_cli_train_sft_in_the_native_dialect(tmp_path, capsys) -> None:
    from retool.cli import main

    assert main(["train", "sft", "sample", "--model", "tiny", "--out", str(tmp_path), "--max-steps", "2",
                 "--lr", "1e-3", "--no-progress", "--dialect", "retool-code"]) == 0
    assert "sft: 2 steps" in capsys.readouterr().out


def test_cli_train_rl_reads_the_dialect_into_the_rollout_and_the_reward() -> None:
    import argparse

    from retool.cli.train import add_arguments, grpo_run_from_args
    from retool.recipes.grpo import _reward
    from retool.text.native import format_code_block, interpreter_text

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    run = grpo_run_from_args(parser.parse_args(["rl", "sample", "--model", "tiny", "--out", "o", "--dialect", "retool-code"]))
    assert run.rollout.dialect == "retool-code"
    response = format_code_block("print(6*7)") + interpreter_text(["\\boxed{41}"]) + "So \\boxed{42}."
    assert _reward("retool-code")(response, "42").correct and _reward("retool-code")(response, "42").num_tool_calls == 1
    assert not _reward("qwen3")(response, "42").num_tool_calls
