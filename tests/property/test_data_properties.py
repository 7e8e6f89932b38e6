"""Data-prep and metrics readers over any input: every row is a record or a named RowError / reject, never
another exception; the trajectory split keeps the reference semantics; prompts are boxed exactly once; a
metrics file read poll by poll, split anywhere, reads as it does whole. ``HYPOTHESIS_PROFILE=fuzz`` runs
many more examples."""

from __future__ import annotations

import io
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retool.data.jsonl import decode_json_line, iter_json
from retool.data.rl import BOX_INSTRUCTION, BOX_REMINDER, DAPO_INSTRUCTION, DAPO_REMINDER, PREAMBLE, box_prompt, rl_record
from retool.data.rows import RowError
from retool.data.sft import inline_assistant_text, sft_record, split_trajectory
from retool.text.grammar import find_boxed, strip_code_fences
from retool.train.metrics_log import MetricsTail, read_metrics_log

pytestmark = pytest.mark.timeout(300)
BIG = settings(max_examples=max(10, settings.default.max_examples // 6), deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SCALARS = st.none() | st.booleans() | st.integers() | st.integers(min_value=10**300, max_value=10**400) | st.floats() | st.text()
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
TEXT = st.text() | st.sampled_from(["Q?", "\x00", "\ud800", " ", DAPO_INSTRUCTION, BOX_INSTRUCTION, DAPO_REMINDER])
LABEL = SCALARS | st.lists(SCALARS, max_size=2) | st.dictionaries(st.text(max_size=4), SCALARS, max_size=2)
RL_ROWS = st.fixed_dictionaries({}, optional={
    "prompt": TEXT | st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "system", 3]), "content": TEXT | JSON}), max_size=3) | JSON,
    "label": LABEL, "reward_model": st.fixed_dictionaries({}, optional={"ground_truth": LABEL}),
    "Problem": TEXT | JSON, "Answer": LABEL, "problem": TEXT, "answer": LABEL,
})
TAG_UNITS = ["<code>", "</code>", "<interpreter>", "</interpreter>", "x", " ", "\n", "```", "```python\n", "\\boxed{1}",
             "\\boxed{", "}", "print(1)", "<answer>", " \t"]
TAG_TEXTS = st.lists(st.sampled_from(TAG_UNITS), max_size=24).map("".join)
SFT_MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool"]) | JSON,
                                     "content": TAG_TEXTS | TEXT | JSON})
SFT_ROWS = st.fixed_dictionaries({"messages": st.lists(SFT_MESSAGE, max_size=4) | JSON}) | JSON


# ---------------------------------------------------------------- totality of the row functions


@given(RL_ROWS | JSON, st.sampled_from(["dapo", "aime", "auto"]))
def test_rl_record_gives_a_boxed_record_or_a_row_error(row, source):
    try:
        rec = rl_record(row, source)
    except RowError as err:
        assert isinstance(err.field, str) and err.reason
        return
    assert BOX_INSTRUCTION in rec["prompt"] and isinstance(rec["label"], str) and rec["label"].strip()
    assert "\x00" not in rec["prompt"] + rec["label"]
    rec["prompt"].encode("utf-8")
    assert rec["metadata"]["instruction"] in ("rewritten", "added", "present")


@given(SFT_ROWS)
def test_sft_record_gives_a_record_or_a_row_error(row):
    try:
        rec = sft_record(row)
    except RowError as err:
        assert isinstance(err.field, str) and err.reason
        return
    json.dumps(rec, ensure_ascii=False, allow_nan=False).encode("utf-8")


@given(st.lists(SFT_MESSAGE | JSON, max_size=5) | JSON)
def test_inline_assistant_text_gives_text_or_a_row_error(messages):
    try:
        assert isinstance(inline_assistant_text(messages), str)
    except RowError:
        pass


# ---------------------------------------------------------------- the trajectory split

_REF_BLOCK = re.compile(r"<code>(.*?)</code>|<interpreter>(.*?)</interpreter>", re.DOTALL)
_REF_STRAY = re.compile(r"</?(?:code|interpreter)>")


def reference_split(text: str) -> list[dict] | None:
    """The regex split this project shipped first (quadratic on unclosed openers), as an oracle: None = refused."""
    out: list[dict] = []
    cursor, expect = 0, "code"
    for m in _REF_BLOCK.finditer(text):
        between = text[cursor : m.start()]
        if _REF_STRAY.search(between):
            return None
        if m.group(1) is not None:
            code = strip_code_fences(m.group(1).strip())
            if expect != "code" or not code.strip():
                return None
            out.append({"role": "assistant", "content": between.strip(), "code": code})
            expect = "interpreter"
        else:
            if expect != "interpreter" or between.strip():
                return None
            out.append({"role": "tool", "content": m.group(2).strip()})
            expect = "code"
        cursor = m.end()
    final = text[cursor:]
    if expect == "interpreter" or _REF_STRAY.search(final) or not final.strip():
        return None
    if not any(span.closed for span in find_boxed(final.strip())):
        return None
    return [*out, {"role": "assistant", "content": final.strip()}]


def _flat(messages: list[dict]) -> list[dict]:
    return [{"role": m["role"], "content": m["content"],
             **({"code": m["tool_calls"][0]["function"]["arguments"]["code"]} if m.get("tool_calls") else {})}
            for m in messages]


@given(TAG_TEXTS)
def test_split_trajectory_agrees_with_the_reference_split(text):
    expected = reference_split(text)
    try:
        got = _flat(split_trajectory(text))
    except RowError:
        got = None
    assert got == expected


@given(TAG_TEXTS)
def test_a_split_trajectory_rebuilt_inline_splits_to_the_same_messages(text):
    try:
        first = split_trajectory(text)
    except RowError:
        return
    assert split_trajectory(inline_assistant_text(first)) == first


@st.composite
def hostile_trajectories(draw, min_chars: int = 16_384, max_chars: int = 65_536) -> str:
    units = draw(st.lists(st.sampled_from(TAG_UNITS + ["\x00", "\ud800", "*user question:*", "[" * 8]), min_size=1, max_size=4))
    runs = draw(st.lists(st.tuples(st.integers(0, len(units) - 1), st.integers(1, 3000)), min_size=1, max_size=8))
    target, parts, size = draw(st.integers(min_chars, max_chars)), [], 0
    while size < target:
        for index, repeat in runs:
            parts.append(units[index] * repeat)
            size += len(parts[-1])
    return "".join(parts)[:target]


@BIG
@given(hostile_trajectories())
def test_split_trajectory_is_total_on_hostile_64k_trajectories(text):
    try:
        split_trajectory(text)
    except RowError as err:
        assert err.field == "messages[assistant].content"


@BIG
@given(st.integers(500, 2_000), st.text(max_size=20))
def test_a_trajectory_of_thousands_of_blocks_splits_into_thousands_of_calls(blocks, prose):
    step = f"{prose}<code>\n```python\nprint(1)\n```\n</code>\n<interpreter>\n1\n</interpreter>\n\n"
    if _REF_STRAY.search(prose) or "\x00" in prose:
        return
    try:
        prose.encode("utf-8")
    except UnicodeEncodeError:
        return
    msgs = split_trajectory(step * blocks + "\\boxed{1}")
    assert sum(1 for m in msgs if m.get("tool_calls")) == blocks


# ---------------------------------------------------------------- the instruction


FRAGMENTS = st.lists(st.sampled_from([DAPO_INSTRUCTION, DAPO_REMINDER, BOX_INSTRUCTION, BOX_REMINDER, PREAMBLE, "\n\n", "P",
                                      " ", "Answer: $Answer", "\\boxed{}"]), max_size=8).map("".join)


@given(FRAGMENTS | st.text())
def test_box_prompt_is_idempotent_and_always_asks_for_the_box(prompt):
    once, _ = box_prompt(prompt)
    assert BOX_INSTRUCTION in once and DAPO_INSTRUCTION not in once and DAPO_REMINDER not in once
    assert box_prompt(once) == (once, "present")


@given(st.text().filter(lambda t: t.strip() and DAPO_INSTRUCTION not in t and BOX_INSTRUCTION not in t
                        and DAPO_REMINDER not in t and BOX_REMINDER not in t))
def test_a_plain_problem_gets_the_instruction_and_the_reminder_exactly_once(problem):
    prompt, how = box_prompt(problem)
    assert how == "added" and prompt.count(BOX_INSTRUCTION) == 1 and prompt.count(BOX_REMINDER) == 1


# ---------------------------------------------------------------- JSON lines

HOSTILE_BYTES = st.lists(st.sampled_from([b"[", b"{", b"]", b"}", b'"', b"\\", b"\n", b"\r", b"\x00", b"\xff", b"\xc3",
                                          b"NaN", b"1e999", b'{"step": 1}', b"\xef\xbb\xbf", b" ", b"9" * 50]),
                         max_size=40).map(b"".join)


@given(st.binary() | HOSTILE_BYTES)
def test_decode_json_line_gives_a_value_or_a_row_error(raw):
    try:
        decode_json_line(raw)
    except RowError as err:
        assert err.field == "<line>"


@given(st.binary() | HOSTILE_BYTES)
def test_iter_json_accounts_for_every_non_blank_line_and_never_raises(data):
    got = list(iter_json(io.BytesIO(data)))
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):
        lines[0] = lines[0][3:]
    assert [n for n, _ in got] == [i for i, line in enumerate(lines, start=1) if line.strip()]


@BIG
@given(st.integers(1, 3), st.integers(10_000, 100_000))
def test_a_line_of_deep_openers_is_a_row_error_at_any_size(kind, depth):
    raw = (b"[", b"{", b'{"a":')[kind - 1] * depth
    with pytest.raises(RowError):
        decode_json_line(raw)


# ---------------------------------------------------------------- the metrics tail

METRIC_LINES = st.lists(
    st.builds(lambda step, value: json.dumps({"step": step, "m": value}).encode(), st.integers(0, 50), st.floats())
    | HOSTILE_BYTES.map(lambda b: b.replace(b"\n", b"")), max_size=12)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(METRIC_LINES, st.lists(st.integers(0, 10_000), max_size=10), st.sampled_from([b"\n", b"\r\n"]))
def test_a_metrics_file_polled_at_any_split_reads_as_it_does_whole(tmp_path_factory, lines, cuts, newline):
    data = b"".join(line + newline for line in lines)
    path = tmp_path_factory.mktemp("tail") / "m.jsonl"
    path.write_bytes(b"")
    tail = MetricsTail(path=path, chunk_bytes=7)
    points = sorted({c % (len(data) + 1) for c in cuts} | {len(data)})
    start = 0
    for point in points:
        with open(path, "ab") as handle:
            handle.write(data[start:point])
        start = point
        tail.poll()
    whole = read_metrics_log(path)
    assert json.dumps(tail.rows) == json.dumps(list(whole.rows))  # NaN-safe comparison
    assert [(r.line, r.reason) for r in tail.rejects] == [(r.line, r.reason) for r in whole.rejects]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary() | HOSTILE_BYTES)
def test_the_metrics_reader_never_raises_on_any_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("tail") / "m.jsonl"
    path.write_bytes(data)
    log = read_metrics_log(path, max_line_bytes=64)
    assert all(isinstance(row.get("step"), int) and row["step"] >= 0 for row in log.rows)
    assert all(r.line >= 1 and r.reason for r in log.rejects)
