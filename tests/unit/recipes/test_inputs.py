"""What a recipe starts from (retool.recipes.inputs): the policy by name, SFT examples and RL
prompts from 'sample', a prepared file or a raw source file, and bad rows named precisely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retool.data.rl import BOX_INSTRUCTION, box_prompt
from retool.data.sources import DataError, prepare_rl, prepare_sft, read_jsonl, rl_record, sample_path, sft_record
from retool.recipes.inputs import load_policy, rl_prompts, sft_examples


def _jsonl(path: Path, rows: list[object]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


# -- load_policy ----------------------------------------------------------------------------------


def test_load_policy_tiny_is_the_embedded_model_and_tokenizer() -> None:
    model, tok = load_policy("tiny")
    assert model.config.model_type == "qwen3" and model.config.vocab_size >= len(tok)


def test_load_policy_refuses_a_dir_that_is_not_a_model_naming_it(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="not a Hugging Face model directory"):
        load_policy(str(tmp_path))


# -- sft_examples ---------------------------------------------------------------------------------


def test_sft_sample_is_the_shipped_sample_converted() -> None:
    raw = read_jsonl(sample_path("retool_sft_sample.jsonl"))
    assert sft_examples("sample") == [sft_record(r) for r in raw]


def test_sft_examples_convert_raw_rows_into_tool_calling_chats() -> None:
    examples = sft_examples(str(sample_path("retool_sft_sample.jsonl")))
    assert len(examples) == 11
    assert all(any(m["role"] == "tool" for m in ex["messages"]) for ex in examples)


def test_sft_examples_keep_prepared_records_as_they_are(tmp_path) -> None:
    prepared = tmp_path / "prepared.jsonl"
    prepare_sft(sample_path("retool_sft_sample.jsonl"), prepared)
    assert sft_examples(str(prepared)) == read_jsonl(prepared)


def test_a_bad_sft_row_raises_data_error_naming_file_row_and_field(tmp_path) -> None:
    good = read_jsonl(sample_path("retool_sft_sample.jsonl"))[0]
    path = _jsonl(tmp_path / "sft.jsonl", [good, {"messages": [{"role": "user", "content": 3}]}])
    with pytest.raises(DataError, match=r"sft\.jsonl: row 2: field 'messages\[0\]'") as exc:
        sft_examples(path)
    assert (Path(exc.value.file).name, exc.value.row, exc.value.field) == ("sft.jsonl", 2, "messages[0]")


def test_a_line_that_is_not_json_raises_data_error_naming_it(tmp_path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"messages": [\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.jsonl: row 1: field '<line>'"):
        sft_examples(str(path))


# -- rl_prompts -----------------------------------------------------------------------------------


def test_rl_sample_is_the_shipped_dapo_sample_as_prompt_and_label() -> None:
    records = rl_prompts("sample")
    raw = read_jsonl(sample_path("dapo_sample.jsonl"))
    assert [(r["prompt"], r["label"]) for r in records] == [(x["prompt"], x["label"]) for x in map(rl_record, raw)]
    assert len(records) == 8 and records[0]["label"] == "21"


def test_rl_prompts_read_parquet() -> None:
    records = rl_prompts(str(sample_path("dapo_sample.parquet")))
    assert len(records) == 6 and all(isinstance(r["prompt"], str) and r["prompt"] and isinstance(r["label"], str)
                                     for r in records)


def test_rl_prompts_convert_raw_aime_rows(tmp_path) -> None:
    path = _jsonl(tmp_path / "aime.jsonl", [{"Problem": "Find x.", "Answer": 34.0}])
    (record,) = rl_prompts(path)
    assert (record["prompt"], record["label"]) == (box_prompt("Find x.")[0], "34")
    assert record["prompt"].count(BOX_INSTRUCTION) == 1 and record["metadata"]["instruction"] == "added"


def test_rl_prompts_keep_the_prompt_and_label_of_prepared_records(tmp_path) -> None:
    prepared = tmp_path / "prepared.jsonl"
    prepare_rl(sample_path("aime_sample.jsonl"), prepared)
    assert [(r["prompt"], r["label"]) for r in rl_prompts(str(prepared))] == \
        [(r["prompt"], r["label"]) for r in read_jsonl(prepared)]


def test_rl_prompts_keep_prepared_records_as_they_are(tmp_path) -> None:
    prepared = tmp_path / "prepared.jsonl"
    prepare_rl(sample_path("aime_sample.jsonl"), prepared)
    assert rl_prompts(str(prepared)) == read_jsonl(prepared)


def test_rl_prompts_give_a_record_prepared_before_the_instruction_the_instruction(tmp_path) -> None:
    old = {"prompt": "Find x.", "label": "3", "metadata": {"source": "aime", "file": "a.jsonl", "row": 1}}
    (record,) = rl_prompts(_jsonl(tmp_path / "old.jsonl", [old]))
    assert record["prompt"] == box_prompt("Find x.")[0]
    assert record["metadata"] == {**old["metadata"], "instruction": "added"}


def test_rl_prompts_name_a_prepared_record_with_a_bad_prompt(tmp_path) -> None:
    bad = {"prompt": "Find x.\u0000", "label": "3", "metadata": {"source": "aime"}}
    with pytest.raises(DataError, match=r"old\.jsonl: row 2: field 'prompt': NUL character"):
        rl_prompts(_jsonl(tmp_path / "old.jsonl", [{"prompt": "q", "label": "1"}, bad]))


def test_a_bad_rl_row_raises_data_error_naming_file_row_and_field(tmp_path) -> None:
    path = _jsonl(tmp_path / "rl.jsonl", [{"prompt": "q", "label": "1"}, {"question": "no prompt field"}])
    with pytest.raises(DataError, match=r"rl\.jsonl: row 2: field 'Problem \| problem \| prompt'") as exc:
        rl_prompts(path)
    assert (exc.value.row, exc.value.field) == (2, "Problem | problem | prompt")
