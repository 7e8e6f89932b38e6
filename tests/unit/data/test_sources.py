"""Data preparation: each source schema, named errors, rejects, counts, recoverable originals."""

from __future__ import annotations

import json

import pytest

from retool.data import (
    DataError,
    RowError,
    inline_assistant_text,
    prepare_rl,
    prepare_sft,
    read_jsonl,
    rl_record,
    sample_path,
    sft_record,
    split_trajectory,
)
from retool.text.grammar import parse_trace

SFT_SAMPLE = sample_path("retool_sft_sample.jsonl")


def _sample_rows() -> list[dict]:
    return [json.loads(line) for line in SFT_SAMPLE.read_text().splitlines()]


def _row(assistant: str, user: str = "Instruction.\n\n*user question:*\nWhat is 2+3?") -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


GOOD = "Add them.\n\n<code>\n```python\nprint(2 + 3)\n```\n</code>\n<interpreter>\n5\n</interpreter>\n\nSo 5.\n\n<answer>\n\\boxed{5}\n</answer>"


# ---------------------------------------------------------------- SFT conversion


def test_sft_row_becomes_tool_call_turns_and_tool_messages():
    rec = sft_record(_row(GOOD))
    msgs = rec["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant"]
    assert msgs[0]["content"] == "What is 2+3?"
    call = msgs[1]["tool_calls"][0]
    assert call == {"type": "function", "function": {"name": "code_interpreter", "arguments": {"code": "print(2 + 3)"}}}
    assert msgs[1]["content"] == "Add them."
    assert msgs[2]["content"] == "5"
    assert msgs[3]["content"] == "So 5.\n\n<answer>\n\\boxed{5}\n</answer>"
    assert rec["tools"][0]["function"]["name"] == "code_interpreter"


def test_every_shipped_sft_sample_round_trips_byte_for_byte():
    rows = _sample_rows()
    assert 8 <= len(rows) <= 12
    for row in rows:
        rec = sft_record(row)
        assert rec["metadata"]["original"] == row["messages"]
        assert inline_assistant_text(rec["messages"][1:]) == row["messages"][1]["content"]


def test_shipped_samples_use_code_several_times_and_end_in_a_box():
    recs = [sft_record(r) for r in _sample_rows()]
    calls = [sum(1 for m in r["messages"] if m.get("tool_calls")) for r in recs]
    assert sum(calls) >= len(recs) + 3 and max(calls) >= 2
    for rec in recs:
        final = rec["messages"][-1]["content"]
        assert parse_trace(final).final_answer is not None


def test_non_canonical_whitespace_converts_to_a_fixed_point():
    messy = "  Think.   <code>```python\nx = 1\nprint(x)```</code>   <interpreter>1\n\n</interpreter>Done \\boxed{1}  "
    first = sft_record(_row(messy))
    again = sft_record(_row(inline_assistant_text(first["messages"][1:])))
    assert again["messages"] == first["messages"]
    assert first["messages"][1]["tool_calls"][0]["function"]["arguments"]["code"] == "x = 1\nprint(x)"


def test_user_turn_without_marker_is_kept_whole_and_system_turn_is_kept():
    row = _row(GOOD, user="Plain problem text")
    row["messages"].insert(0, {"role": "system", "content": "Be brief."})
    msgs = sft_record(row)["messages"]
    assert msgs[0] == {"role": "system", "content": "Be brief."}
    assert msgs[1] == {"role": "user", "content": "Plain problem text"}


@pytest.mark.parametrize(
    ("assistant", "reason"),
    [
        ("<code>\n```python\nprint(1)\n```\n</code>\n\\boxed{1}", "no <interpreter> output"),
        ("<interpreter>\n1\n</interpreter>\n\\boxed{1}", "no <code> block before it"),
        ("<code>print(1)</code><code>print(2)</code><interpreter>2</interpreter>\\boxed{2}", "no <interpreter> output"),
        ("<code>print(1)\n\\boxed{1}", "unbalanced"),
        ("<code>```python\n```</code><interpreter></interpreter>\\boxed{0}", "empty <code>"),
        ("<code>print(1)</code>lost text<interpreter>1</interpreter>\\boxed{1}", "would be lost"),
        (GOOD.replace("\\boxed{5}", "5"), "no closed \\\\boxed"),
        ("<code>print(1)</code><interpreter>1</interpreter>", "no final answer"),
    ],
)
def test_malformed_trajectories_raise_with_the_reason(assistant, reason):
    with pytest.raises(RowError, match=reason) as info:
        split_trajectory(assistant)
    assert info.value.field == "messages[assistant].content"


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"conversations": []}, "messages"),
        ({"messages": [{"role": "user", "content": "q"}]}, "messages"),
        ({"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": GOOD}]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": "x *user question:* "}, {"role": "assistant", "content": GOOD}]}, "messages[0].content"),
    ],
)
def test_malformed_sft_rows_name_the_field(row, field):
    with pytest.raises(RowError) as info:
        sft_record(row)
    assert info.value.field == field


# ---------------------------------------------------------------- RL records


def test_dapo_chat_prompt_with_reward_model_ground_truth():
    row = {"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "Q?"}], "reward_model": {"ground_truth": "34"}}
    assert rl_record(row, "dapo") == {"prompt": "Q?", "label": "34", "metadata": {"source": "dapo"}}


def test_dapo_string_prompt_with_label_field():
    assert rl_record({"prompt": "Q?", "label": 12}, "auto") == {"prompt": "Q?", "label": "12", "metadata": {"source": "dapo"}}


@pytest.mark.parametrize(
    ("row", "label"),
    [({"Problem": "P", "Answer": 481}, "481"), ({"problem": "P", "answer": "033"}, "033"), ({"problem": "P", "answer": 7.0}, "7")],
)
def test_aime_field_spellings(row, label):
    rec = rl_record(row, "aime")
    assert rec["prompt"] == "P" and rec["label"] == label and rec["metadata"]["source"] == "aime"


def test_auto_detects_aime_rows_by_their_fields():
    assert rl_record({"Problem": "P", "Answer": 5})["metadata"]["source"] == "aime"


@pytest.mark.parametrize(
    ("row", "source", "field"),
    [
        ({"prompt": "Q"}, "dapo", "label | reward_model.ground_truth"),
        ({"prompt": [{"role": "assistant", "content": "x"}], "label": "1"}, "dapo", "prompt"),
        ({"prompt": "Q", "label": ""}, "dapo", "label"),
        ({"prompt": "Q", "label": True}, "dapo", "label"),
        ({"Problem": "P", "Answer": float("nan")}, "aime", "Answer"),
        ({"question": "P", "answer": 1}, "auto", "Problem | problem | prompt"),
        ({"Problem": "P"}, "dapo", "prompt"),
    ],
)
def test_malformed_rl_rows_name_the_field(row, source, field):
    with pytest.raises(RowError) as info:
        rl_record(row, source)
    assert info.value.field == field


# ---------------------------------------------------------------- files, rejects and counts


def test_prepare_sft_on_the_shipped_sample_counts_rows_and_tool_calls(tmp_path):
    rep = prepare_sft(SFT_SAMPLE, tmp_path / "out.jsonl")
    recs = read_jsonl(tmp_path / "out.jsonl")
    assert rep.rows_read == rep.rows_written == len(recs) == len(_sample_rows())
    assert rep.rows_rejected == 0 and rep.sources == (("retool-sft", len(recs)),)
    assert rep.tool_calls == sum(1 for r in recs for m in r["messages"] if m.get("tool_calls"))
    assert recs[2]["metadata"]["row"] == 3 and recs[2]["metadata"]["file"] == str(SFT_SAMPLE)


def _mixed_file(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps(_row(GOOD)), "{not json", "", json.dumps(_row("no tags and no box")), json.dumps(_row(GOOD))]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_malformed_row_error_names_file_row_and_field(tmp_path):
    path = _mixed_file(tmp_path)
    with pytest.raises(DataError) as info:
        prepare_sft(path, tmp_path / "out.jsonl")
    err = info.value
    assert (err.file, err.row, err.field) == (str(path), 2, "<line>")
    assert str(path) in str(err) and "row 2" in str(err) and "not valid JSON" in str(err)


def test_rejects_file_gets_every_bad_row_with_its_reason(tmp_path):
    path = _mixed_file(tmp_path)
    rep = prepare_sft(path, tmp_path / "out.jsonl", rejects_path=tmp_path / "rej.jsonl")
    rejects = read_jsonl(tmp_path / "rej.jsonl")
    assert (rep.rows_read, rep.rows_written, rep.rows_rejected) == (4, 2, 2)
    assert [r["row"] for r in rejects] == [2, 4]
    assert rejects[1]["field"] == "messages[assistant].content" and "boxed" in rejects[1]["reason"]
    assert rejects[1]["raw"] == _row("no tags and no box")
    assert rep.rows_written + rep.rows_rejected == rep.rows_read


def test_prepare_rl_reads_dapo_jsonl_and_parquet_alike(tmp_path):
    jrep = prepare_rl(sample_path("dapo_sample.jsonl"), tmp_path / "j.jsonl", source="dapo")
    prep = prepare_rl(sample_path("dapo_sample.parquet"), tmp_path / "p.jsonl", source="dapo")
    j, p = read_jsonl(tmp_path / "j.jsonl"), read_jsonl(tmp_path / "p.jsonl")
    assert jrep.rows_written == 8 and prep.rows_written == 6
    assert [(r["prompt"], r["label"]) for r in p] == [(r["prompt"], r["label"]) for r in j[:6]]
    assert p[0]["label"] == "21"


def test_prepare_rl_aime_sample_gives_integer_labels(tmp_path):
    rep = prepare_rl(sample_path("aime_sample.jsonl"), tmp_path / "a.jsonl")
    recs = read_jsonl(tmp_path / "a.jsonl")
    assert rep.sources == (("aime", 5),)
    assert all(r["label"].isdigit() for r in recs)


def test_prepare_rl_rejects_rows_of_the_wrong_schema(tmp_path):
    rep = prepare_rl(sample_path("aime_sample.jsonl"), tmp_path / "a.jsonl", source="dapo", rejects_path=tmp_path / "r.jsonl")
    assert (rep.rows_written, rep.rows_rejected) == (0, 5)
    assert read_jsonl(tmp_path / "r.jsonl")[0]["field"] == "prompt"


# ---------------------------------------------------------------- CLI


def test_cli_data_sft_writes_records_and_reports_counts(tmp_path, capsys):
    from retool.cli import main

    assert main(["data", "sft", str(SFT_SAMPLE), str(tmp_path / "o.jsonl")]) == 0
    assert f"wrote {len(_sample_rows())}" in capsys.readouterr().out
    assert len(read_jsonl(tmp_path / "o.jsonl")) == len(_sample_rows())


def test_cli_data_rl_names_the_bad_row_and_fails(tmp_path, capsys):
    from retool.cli import main

    assert main(["data", "rl", str(sample_path("aime_sample.jsonl")), str(tmp_path / "o.jsonl"), "--source", "dapo"]) == 1
    assert "row 1: field 'prompt'" in capsys.readouterr().err
    args = ["data", "rl", str(sample_path("aime_sample.jsonl")), str(tmp_path / "o.jsonl"), "--rejects", str(tmp_path / "r.jsonl")]
    assert main(args) == 0
    assert "rejected 0" in capsys.readouterr().out
