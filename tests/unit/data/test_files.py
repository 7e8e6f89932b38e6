"""Source files -> prepared files: counts, rejects with reasons, named errors, and every malformed line a named
reject that leaves the rest of the file readable."""

from __future__ import annotations

import json

import pytest

from retool.data.files import iter_rows, prepare_rl, prepare_sft, read_jsonl, sample_path
from retool.data.rl import BOX_INSTRUCTION
from retool.data.rows import DataError, RowError
from tests.unit.data.timing import LINEAR_RATIO_BOUND, doubling_ratio

SFT_SAMPLE = sample_path("retool_sft_sample.jsonl")
GOOD = "Add them.\n\n<code>\n```python\nprint(2 + 3)\n```\n</code>\n<interpreter>\n5\n</interpreter>\n\nSo 5.\n\n<answer>\n\\boxed{5}\n</answer>"
GOOD_RL = json.dumps({"prompt": "What is 6*7?", "label": "42"}).encode()


def _sample_rows() -> list[dict]:
    return [json.loads(line) for line in SFT_SAMPLE.read_text().splitlines()]


def _row(assistant: str) -> dict:
    return {"messages": [{"role": "user", "content": "*user question:*\nWhat is 2+3?"}, {"role": "assistant", "content": assistant}]}


def _write(tmp_path, data: bytes, name: str = "in.jsonl"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _prepare_rl_with_rejects(tmp_path, data: bytes):
    path = _write(tmp_path, data)
    rep = prepare_rl(path, tmp_path / "out.jsonl", rejects_path=tmp_path / "rej.jsonl")
    return rep, read_jsonl(tmp_path / "out.jsonl"), read_jsonl(tmp_path / "rej.jsonl")


# ---------------------------------------------------------------- prepare, counts and rejects


def test_prepare_sft_on_the_shipped_sample_counts_rows_and_tool_calls(tmp_path):
    rep = prepare_sft(SFT_SAMPLE, tmp_path / "out.jsonl")
    recs = read_jsonl(tmp_path / "out.jsonl")
    assert rep.rows_read == rep.rows_written == len(recs) == len(_sample_rows())
    assert rep.rows_rejected == 0 and rep.sources == (("retool-sft", len(recs)),)
    assert rep.tool_calls == sum(1 for r in recs for m in r["messages"] if m.get("tool_calls"))
    assert recs[2]["metadata"]["row"] == 3 and recs[2]["metadata"]["file"] == str(SFT_SAMPLE)


def _mixed_file(tmp_path):
    lines = [json.dumps(_row(GOOD)), "{not json", "", json.dumps(_row("no tags and no box")), json.dumps(_row(GOOD))]
    return _write(tmp_path, ("\n".join(lines) + "\n").encode(), "mixed.jsonl")


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
    assert rejects[1]["raw"] == _row("no tags and no box") and rejects[1]["excerpt"] is None
    assert rejects[0]["raw"] is None and rejects[0]["excerpt"] == "{not json"
    assert rep.rows_written + rep.rows_rejected == rep.rows_read


def test_prepare_rl_reads_dapo_jsonl_and_parquet_alike(tmp_path):
    jrep = prepare_rl(sample_path("dapo_sample.jsonl"), tmp_path / "j.jsonl", source="dapo")
    prep = prepare_rl(sample_path("dapo_sample.parquet"), tmp_path / "p.jsonl", source="dapo")
    j, p = read_jsonl(tmp_path / "j.jsonl"), read_jsonl(tmp_path / "p.jsonl")
    assert jrep.rows_written == 8 and prep.rows_written == 6
    assert [(r["prompt"], r["label"]) for r in p] == [(r["prompt"], r["label"]) for r in j[:6]]
    assert p[0]["label"] == "21"


def test_prepare_rl_writes_prompts_that_ask_for_the_box_and_says_so(tmp_path):
    prepare_rl(sample_path("dapo_sample.jsonl"), tmp_path / "d.jsonl")
    prepare_rl(sample_path("aime_sample.jsonl"), tmp_path / "a.jsonl")
    dapo, aime = read_jsonl(tmp_path / "d.jsonl"), read_jsonl(tmp_path / "a.jsonl")
    assert all(r["prompt"].count(BOX_INSTRUCTION) == 1 for r in dapo + aime)
    assert {r["metadata"]["instruction"] for r in dapo} == {"rewritten"}
    assert {r["metadata"]["instruction"] for r in aime} == {"added"}


def test_prepare_rl_on_its_own_output_adds_no_second_instruction(tmp_path):
    prepare_rl(sample_path("aime_sample.jsonl"), tmp_path / "once.jsonl")
    prepare_rl(tmp_path / "once.jsonl", tmp_path / "twice.jsonl")
    once, twice = read_jsonl(tmp_path / "once.jsonl"), read_jsonl(tmp_path / "twice.jsonl")
    assert [r["prompt"] for r in twice] == [r["prompt"] for r in once]
    assert {r["metadata"]["instruction"] for r in twice} == {"present"}


def test_prepare_rl_aime_sample_gives_integer_labels(tmp_path):
    rep = prepare_rl(sample_path("aime_sample.jsonl"), tmp_path / "a.jsonl")
    recs = read_jsonl(tmp_path / "a.jsonl")
    assert rep.sources == (("aime", 5),)
    assert all(r["label"].isdigit() for r in recs)


def test_prepare_rl_rejects_rows_of_the_wrong_schema(tmp_path):
    rep = prepare_rl(sample_path("aime_sample.jsonl"), tmp_path / "a.jsonl", source="dapo", rejects_path=tmp_path / "r.jsonl")
    assert (rep.rows_written, rep.rows_rejected) == (0, 5)
    assert read_jsonl(tmp_path / "r.jsonl")[0]["field"] == "prompt"


def test_prepare_rl_refuses_an_unknown_source():
    with pytest.raises(ValueError, match="source must be"):
        prepare_rl(sample_path("aime_sample.jsonl"), "unused.jsonl", source="gsm8k")


# ---------------------------------------------------------------- hostile lines: each a named reject, the rest read


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"[" * 100_000, "not valid JSON"),
        (b"[" * 100 + b"]" * 100, "nests deeper than 64"),
        (b'{"prompt": "Q", "label": "\xff"}', "invalid UTF-8 at byte 26"),
        (b'{"prompt": "Q", "label": "1"}\x00', "NUL byte"),
        (b'{"prompt": "Q", "label": NaN}', "NaN is not a JSON number"),
        (b'{"prompt": "Q", "label": Infinity}', "Infinity is not a JSON number"),
        (b'{"prompt": "Q", "label": 1e999}', "overflows a float"),
        (b'{"prompt": "Q", "label": ' + b"7" * 5000 + b"}", "not valid JSON"),
        (b'{"prompt": "Q", "label": "\\u0000"}', "NUL character"),
        (b'{"prompt": "\\ud800", "label": "1"}', "lone surrogate"),
        (b"[1, 2]", "expected a JSON object"),
        (b'"just a string"', "expected a JSON object"),
        (b'{"prompt": "Q", "label": [1]}', "expected a string or number label"),
        (b'{"prompt": "Q", "label": {"a": 1}}', "expected a string or number label"),
        (b'{"prompt": "Q", "label": false}', "expected a string or number label"),
    ],
)
def test_a_hostile_line_is_a_named_reject_and_the_lines_around_it_are_written(tmp_path, bad, reason):
    rep, out, rejects = _prepare_rl_with_rejects(tmp_path, GOOD_RL + b"\n" + bad + b"\n" + GOOD_RL + b"\n")
    assert (rep.rows_read, rep.rows_written, rep.rows_rejected) == (3, 2, 1)
    (rej,) = rejects
    assert rej["row"] == 2 and reason in rej["reason"]
    assert [r["metadata"]["row"] for r in out] == [1, 3]


def test_a_hostile_line_without_rejects_is_a_data_error_naming_file_and_line(tmp_path):
    path = _write(tmp_path, GOOD_RL + b"\n" + b"[" * 100_000 + b"\n")
    with pytest.raises(DataError) as info:
        prepare_rl(path, tmp_path / "out.jsonl")
    assert (info.value.file, info.value.row, info.value.field) == (str(path), 2, "<line>")


def test_a_huge_line_is_a_named_reject(tmp_path, monkeypatch):
    import retool.data.jsonl as jsonl

    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", 10_000)
    monkeypatch.setattr(jsonl.iter_json, "__defaults__", (10_000,))
    rep, out, rejects = _prepare_rl_with_rejects(tmp_path, GOOD_RL + b"\n" + b'{"prompt": "' + b"x" * 50_000 + b'"}\n' + GOOD_RL)
    assert rep.rows_written == 2 and rejects[0]["reason"] == "line of 50014 bytes exceeds the bound of 10000 bytes"


def test_crlf_line_ends_read_like_lf(tmp_path):
    rep, out, rejects = _prepare_rl_with_rejects(tmp_path, GOOD_RL + b"\r\n\r\n" + GOOD_RL + b"\r\n")
    assert (rep.rows_written, rejects) == (2, []) and [r["metadata"]["row"] for r in out] == [1, 3]


def test_a_truncated_file_rejects_its_last_line_saying_so(tmp_path):
    rep, out, rejects = _prepare_rl_with_rejects(tmp_path, GOOD_RL + b"\n" + GOOD_RL[:-7])
    assert rep.rows_written == 1 and "the file may be truncated" in rejects[0]["reason"]


def test_a_reject_whose_raw_row_holds_a_lone_surrogate_is_still_valid_utf8(tmp_path):
    rep, out, rejects = _prepare_rl_with_rejects(tmp_path, b'{"prompt": "Q", "x": "\\udc80"}\n')
    assert rep.rows_rejected == 1 and rejects[0]["raw"]["x"] == "\udc80"
    (tmp_path / "rej.jsonl").read_bytes().decode("utf-8")


def test_iter_rows_yields_row_errors_and_never_raises_on_a_hostile_file(tmp_path):
    data = b"\n".join([GOOD_RL, b"\xff\xfe", b"[" * 100_000, b"\x00", b"{}", b'{"a": NaN}', b"{"])
    rows = list(iter_rows(_write(tmp_path, data)))
    assert [n for n, r in rows if isinstance(r, RowError)] == [2, 3, 4, 6, 7]
    assert [r for _, r in rows if not isinstance(r, RowError)] == [{"prompt": "What is 6*7?", "label": "42"}, {}]


def test_read_jsonl_names_the_line_that_is_not_an_object(tmp_path):
    path = _write(tmp_path, b'{"a": 1}\n[1]\n')
    with pytest.raises(DataError, match=r"row 2: field '<line>': not a JSON object: a list of 1 items"):
        read_jsonl(path)


def test_read_jsonl_names_the_line_with_invalid_utf8(tmp_path):
    path = _write(tmp_path, b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(DataError, match=r"row 2: field '<line>': invalid UTF-8"):
        read_jsonl(path)


def test_a_file_that_is_not_parquet_is_a_data_error_naming_it(tmp_path):
    path = _write(tmp_path, sample_path("dapo_sample.parquet").read_bytes()[:500], "cut.parquet")
    with pytest.raises(DataError, match="cannot read parquet") as info:
        list(iter_rows(path))
    assert (info.value.file, info.value.row, info.value.field) == (str(path), 0, "<file>")


def test_a_missing_file_is_an_os_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.jsonl"):
        list(iter_rows(tmp_path / "nowhere.jsonl"))


def test_prepare_is_linear_in_the_number_of_rows(tmp_path):
    small, large = _write(tmp_path, (GOOD_RL + b"\n") * 3_000, "s.jsonl"), _write(tmp_path, (GOOD_RL + b"\n") * 6_000, "l.jsonl")
    assert doubling_ratio(lambda p: prepare_rl(p, tmp_path / "out.jsonl"), small, large, rounds=8) < LINEAR_RATIO_BOUND


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


def test_cli_data_names_a_file_that_is_not_parquet(tmp_path, capsys):
    from retool.cli import main

    path = _write(tmp_path, b"not parquet", "bad.parquet")
    assert main(["data", "rl", str(path), str(tmp_path / "o.jsonl")]) == 1
    assert "bad.parquet: row 0: field '<file>': cannot read parquet" in capsys.readouterr().err
