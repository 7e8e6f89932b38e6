"""``retool data`` (retool.cli.data): the shipped samples convert, a malformed row stops the run
naming file, row and field (exit 1) or goes to --rejects, and bad arguments exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retool.cli import main
from retool.data.rl import box_prompt
from retool.data.sources import read_jsonl


def _jsonl(path: Path, rows: list[object]) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return str(path)


GOOD_RL = {"prompt": "What is 6*7?", "label": "42"}
BAD_RL = {"prompt": "What is 6*7?"}  # no label


def test_sft_sample_converts_every_row_into_tool_calling_chats(tmp_path, capsys) -> None:
    out = tmp_path / "sft.jsonl"
    assert main(["data", "sft", "sample", str(out)]) == 0
    records = read_jsonl(out)
    assert len(records) == 11
    assert all(any(m["role"] == "tool" for m in r["messages"]) for r in records)
    assert capsys.readouterr().out.startswith("read 11, wrote 11 (")


def test_sft_summary_counts_the_tool_calls_written(tmp_path, capsys) -> None:
    out = tmp_path / "sft.jsonl"
    main(["data", "sft", "sample", str(out)])
    calls = sum(len(m.get("tool_calls") or ()) for r in read_jsonl(out) for m in r["messages"])
    assert f", tool calls {calls}\n" in capsys.readouterr().out and calls > 0


def test_sft_sample_kept_native_counts_the_same_calls(tmp_path, capsys) -> None:
    native, qwen3 = tmp_path / "native.jsonl", tmp_path / "qwen3.jsonl"
    assert main(["data", "sft", "sample", str(native), "--dialect", "retool-code"]) == 0
    native_line = capsys.readouterr().out
    main(["data", "sft", "sample", str(qwen3)])
    assert native_line.split("\n")[0] == capsys.readouterr().out.split("\n")[0]  # rows and tool calls alike
    records = read_jsonl(native)
    assert all(r["dialect"] == "retool-code" and [m["role"] for m in r["messages"]] == ["system", "user", "assistant"]
               for r in records)


def test_sft_refuses_an_unknown_dialect(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["data", "sft", "sample", str(tmp_path / "o.jsonl"), "--dialect", "native"])
    assert "invalid choice: 'native'" in capsys.readouterr().err


def test_rl_sample_converts_into_prompt_and_label_records(tmp_path, capsys) -> None:
    out = tmp_path / "rl.jsonl"
    assert main(["data", "rl", "sample", str(out)]) == 0
    records = read_jsonl(out)
    assert len(records) == 8 and all(isinstance(r["prompt"], str) and isinstance(r["label"], str) for r in records)
    assert "read 8, wrote 8 (dapo 8), rejected 0" in capsys.readouterr().out


def test_a_malformed_row_exits_1_naming_file_row_and_field(tmp_path, capsys) -> None:
    src = _jsonl(tmp_path / "in.jsonl", [GOOD_RL, BAD_RL])
    assert main(["data", "rl", src, str(tmp_path / "out.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "in.jsonl: row 2: field 'label | reward_model.ground_truth'" in err


def test_rejects_collects_malformed_rows_and_the_run_succeeds(tmp_path, capsys) -> None:
    src = _jsonl(tmp_path / "in.jsonl", [GOOD_RL, BAD_RL, "not json"])
    rejects = tmp_path / "rejects.jsonl"
    assert main(["data", "rl", src, str(tmp_path / "out.jsonl"), "--rejects", str(rejects)]) == 0
    assert [(r["row"], r["field"]) for r in read_jsonl(rejects)] == [(2, "label | reward_model.ground_truth"), (3, "<line>")]
    assert "read 3, wrote 1 (dapo 1), rejected 2 -> rejects in" in capsys.readouterr().out


def test_a_missing_input_exits_2_naming_it(tmp_path, capsys) -> None:
    assert main(["data", "sft", str(tmp_path / "nowhere.jsonl"), str(tmp_path / "out.jsonl")]) == 2
    assert "nowhere.jsonl" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "bad"), [
    (["data", "rl", "sample", "out.jsonl", "--source", "gsm8k"], "'gsm8k'"),
    (["data", "pretrain", "sample", "out.jsonl"], "'pretrain'"),
])
def test_a_bad_argument_exits_2_naming_the_value(argv: list[str], bad: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and bad in capsys.readouterr().err


def test_source_aime_reads_aime_rows(tmp_path) -> None:
    src = _jsonl(tmp_path / "aime.jsonl", [{"Problem": "Find x.", "Answer": 34}])
    out = tmp_path / "out.jsonl"
    assert main(["data", "rl", src, str(out), "--source", "aime"]) == 0
    (record,) = read_jsonl(out)
    assert (record["prompt"], record["label"], record["metadata"]["source"]) == (box_prompt("Find x.")[0], "34", "aime")
    assert record["prompt"].count("Find x.") == 1 and "\\boxed{$Answer}" in record["prompt"]
