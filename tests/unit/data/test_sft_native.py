"""retool.data.sft in the retool-code dialect: ReTool-SFT rows kept native, in the native rollout's
exact layout, checked like the qwen3 conversion, with the interpreter spans masked 0 when trained."""

from __future__ import annotations

import json

import pytest

from retool.data.files import prepare_sft, sample_path
from retool.data.rows import DataError, RowError
from retool.data.sft import native_assistant_text, sft_record, split_trajectory
from retool.text.masking import encode_sft, verify_loss_mask
from retool.text.native import NATIVE_SYSTEM_PROMPT, format_code_block, interpreter_text, parse_native

GOOD = "Add them.\n\n<code>\n```python\nprint(2 + 3)\n```\n</code>\n<interpreter>\n5\n</interpreter>\n\nSo 5.\n\n<answer>\n\\boxed{5}\n</answer>"
USER = "Instruction.\n\n*user question:*\nWhat is 2+3?"


def _row(assistant: str, user: str = USER) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def test_a_row_stays_one_assistant_message_in_the_native_rollouts_layout() -> None:
    rec = sft_record(_row(GOOD), "retool-code")
    assert rec["dialect"] == "retool-code" and "tools" not in rec
    assert rec["messages"] == [
        {"role": "system", "content": NATIVE_SYSTEM_PROMPT},
        {"role": "user", "content": "What is 2+3?"},
        {"role": "assistant", "content": "Add them.\n\n" + format_code_block("print(2 + 3)") + interpreter_text(["5"])
                                         + "So 5.\n\n<answer>\n\\boxed{5}\n</answer>"},
    ]
    assert rec["metadata"]["original"] == _row(GOOD)["messages"]


def test_a_source_system_turn_keeps_its_text_and_gets_the_instructions() -> None:
    row = {"messages": [{"role": "system", "content": "Be terse."}, *_row(GOOD)["messages"]]}
    system = sft_record(row, "retool-code")["messages"][0]["content"]
    assert system == f"Be terse.\n\n{NATIVE_SYSTEM_PROMPT}"


def test_the_native_text_parses_back_to_the_same_calls_and_outputs() -> None:
    for line in sample_path("retool_sft_sample.jsonl").read_text().splitlines():
        row = json.loads(line)
        turns = split_trajectory(row["messages"][-1]["content"])
        trace = parse_native(native_assistant_text(turns))
        assert [c.code for c in trace.tool_calls] == [t["tool_calls"][0]["function"]["arguments"]["code"] for t in turns
                                                      if t.get("tool_calls")]
        assert list(trace.tool_responses) == [t["content"] for t in turns if t["role"] == "tool"]
        assert trace.has_valid_format, trace.errors


@pytest.mark.parametrize(("assistant", "reason"), [
    ("<interpreter>\n5\n</interpreter>\n\\boxed{5}", "has no <code> block before it"),
    ("Go.\n\n<code>\nprint(1)\n</code>\nSo \\boxed{1}", "has no <interpreter> output"),
    ("Go.\n\n<code>\nprint(1)\n</code> lost words <interpreter>\n1\n</interpreter>\n\\boxed{1}", "would be lost"),
])
def test_a_row_whose_interpreter_text_does_not_follow_a_code_block_is_rejected_with_the_reason(assistant, reason) -> None:
    with pytest.raises(RowError, match=reason):
        sft_record(_row(assistant), "retool-code")


def test_prep_reports_counts_and_collects_rejects(tmp_path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in (_row(GOOD), _row("<interpreter>\n1\n</interpreter>"), _row(GOOD))))
    report = prepare_sft(src, tmp_path / "out.jsonl", rejects_path=tmp_path / "rej.jsonl", dialect="retool-code")
    assert (report.rows_read, report.rows_written, report.rows_rejected, report.tool_calls) == (3, 2, 1, 2)
    assert "has no <code> block before it" in (tmp_path / "rej.jsonl").read_text()
    assert all(json.loads(line)["dialect"] == "retool-code" for line in (tmp_path / "out.jsonl").read_text().splitlines())


def test_prep_without_rejects_stops_at_the_bad_row_naming_it(tmp_path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(_row(GOOD)) + "\n" + json.dumps(_row("no box here")) + "\n")
    with pytest.raises(DataError, match=r"row 2: field 'messages\[assistant\]\.content'"):
        prepare_sft(src, tmp_path / "out.jsonl", dialect="retool-code")


def test_an_unknown_dialect_is_refused_before_anything_is_written(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown dialect"):
        prepare_sft(sample_path("retool_sft_sample.jsonl"), tmp_path / "out.jsonl", dialect="native")
    assert not (tmp_path / "out.jsonl").exists()


def test_every_shipped_row_trains_on_its_own_words_and_never_on_interpreter_text(qwen3_tokenizer) -> None:
    tok = qwen3_tokenizer
    for line in sample_path("retool_sft_sample.jsonl").read_text().splitlines():
        rec = sft_record(json.loads(line), "retool-code")
        ex = encode_sft(tok, rec["messages"], dialect="retool-code")
        assert verify_loss_mask(ex.ids, ex.loss_mask, tok, ex.prompt_len, "retool-code").ok
        response = list(zip(ex.ids[ex.prompt_len:], ex.loss_mask[ex.prompt_len:]))
        trained = tok.decode([i for i, m in response if m], skip_special_tokens=False)
        untrained = tok.decode([i for i, m in response if not m], skip_special_tokens=False)
        outputs = parse_native(rec["messages"][-1]["content"]).tool_responses
        assert all(f"<interpreter>\n{o}\n</interpreter>" in untrained for o in outputs)
        assert "<interpreter>" not in trained and trained.endswith("<|im_end|>") and "</code>" in trained


def test_the_upstream_prep_would_train_on_the_interpreter_text(qwen3_tokenizer) -> None:
    """The leak this prep fixes: the row as upstream keeps it, encoded as a plain assistant message."""
    rec = sft_record(_row(GOOD), "retool-code")
    leaky = encode_sft(qwen3_tokenizer, rec["messages"], ())  # qwen3: the message is one model piece
    trained = qwen3_tokenizer.decode([i for i, m in zip(leaky.ids, leaky.loss_mask) if m], skip_special_tokens=False)
    assert "<interpreter>\n5\n</interpreter>" in trained
    assert not verify_loss_mask(leaky.ids, leaky.loss_mask, qwen3_tokenizer, leaky.prompt_len, "retool-code").ok
