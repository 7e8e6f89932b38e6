"""Benchmark workloads (retool.harness.bench.workloads): the timer, what the workload builders
build, and that the naive baselines really differ from ours as documented. No timing assertions."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from retool.harness.bench.workloads import (
    Overran,
    best_seconds,
    deadline,
    masking_workload,
    measure_masking,
    measure_parser,
    naive_mask,
    naive_parse,
    parser_workload,
)
from retool.text.grammar import CODE_INTERPRETER, find_boxed, format_tool_call, parse_trace, tool_turn_text


# -- best_seconds --------------------------------------------------------------------------------


def test_best_seconds_refuses_sides_of_different_lengths() -> None:
    with pytest.raises(ValueError, match=r"same number .* got \[2, 1\]"):
        best_seconds([[lambda: None, lambda: None], [lambda: None]], rounds=1)


class FakeClock:
    """A clock that only moves when a chunk says how long it took (no real time involved)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def chunk(self, durations: list[float], log: list[str], label: str) -> Callable[[], None]:
        calls = iter(durations)

        def fn() -> None:
            log.append(label)
            self.now += next(calls)

        return fn


def test_best_seconds_warms_each_side_up_then_interleaves_chunk_by_chunk() -> None:
    clock, log = FakeClock(), []
    sides = [[clock.chunk([1.0] * 3, log, f"{side}{k}") for k in range(2)] for side in "ab"]
    best_seconds(sides, rounds=2, clock=clock)
    assert log == ["a0", "a1", "b0", "b1"] + ["a0", "b0", "a1", "b1"] * 2


def test_best_seconds_sums_each_chunks_best_round() -> None:
    clock, log = FakeClock(), []
    # per chunk: warm-up, round 1, round 2
    ours = [clock.chunk([9.0, 5.0, 3.0], log, "o0"), clock.chunk([9.0, 1.0, 4.0], log, "o1")]
    base = [clock.chunk([9.0, 7.0, 8.0], log, "b0"), clock.chunk([9.0, 2.0, 2.0], log, "b1")]
    assert best_seconds([ours, base], rounds=2, clock=clock) == [pytest.approx(4.0), pytest.approx(9.0)]


def test_best_seconds_takes_a_single_callable_as_one_chunk() -> None:
    clock, log = FakeClock(), []
    assert best_seconds([clock.chunk([1.0, 2.0], log, "x")], rounds=1, clock=clock) == [pytest.approx(2.0)]


def test_best_seconds_never_returns_zero() -> None:
    (seconds,) = best_seconds([lambda: None], rounds=1, clock=lambda: 0.0)
    assert seconds > 0


# -- parser workload and the naive parser -------------------------------------------------------


@pytest.fixture(scope="module")
def transcripts() -> list[str]:
    return parser_workload(12, seed=3)


def test_parser_workload_is_deterministic_for_a_seed(transcripts: list[str]) -> None:
    assert parser_workload(12, seed=3) == transcripts and parser_workload(12, seed=4) != transcripts


def test_parser_workload_builds_the_requested_number_of_transcripts(transcripts: list[str]) -> None:
    assert len(transcripts) == 12


def test_parser_workload_transcripts_hold_one_to_four_valid_tool_calls_and_a_boxed_answer(transcripts: list[str]) -> None:
    traces = [parse_trace(t) for t in transcripts]
    assert all(tr.has_valid_format and 1 <= len(tr.tool_calls) <= 4 for tr in traces)
    assert all(tr.answer_source == "boxed" for tr in traces)
    assert all(t.startswith("<think>\n") for t in transcripts)


def test_naive_parse_agrees_with_ours_on_the_benign_workload(transcripts: list[str]) -> None:
    for text in transcripts:
        calls, box = naive_parse(text)
        assert [c["arguments"]["code"] for c in calls] == [c.code for c in parse_trace(text).tool_calls]
        assert box == parse_trace(text).final_answer


def test_naive_parse_is_wrong_on_code_holding_a_closing_tool_call_tag() -> None:
    code = 'print("</tool_call>")'
    text = "x\n" + format_tool_call(CODE_INTERPRETER.name, {"code": code}) + tool_turn_text(["ok"])
    calls, _ = naive_parse(text)
    assert [c.code for c in parse_trace(text).tool_calls] == [code]
    assert calls == [None]


def test_naive_parse_is_wrong_on_a_brace_inside_the_box() -> None:
    text = r"So the answer is \boxed{\frac{1}{2}}."
    assert find_boxed(text)[-1].content == r"\frac{1}{2}"
    assert naive_parse(text)[1] == r"\frac{1"


# -- masking workload and the naive masker ------------------------------------------------------


@pytest.fixture(scope="module")
def trajectories(tiny_tok: Any) -> list[tuple[tuple[Any, ...], int, str]]:
    return masking_workload(tiny_tok, 4, seed=1)


def test_masking_workload_is_deterministic_for_a_seed(tiny_tok: Any, trajectories: list) -> None:
    assert masking_workload(tiny_tok, 4, seed=1) == trajectories


def test_masking_workload_is_a_prompt_then_model_tool_pairs_then_a_final_model_turn(trajectories: list) -> None:
    for segs, prompt_len, _ in trajectories:
        kinds = [s.kind for s in segs]
        assert kinds[0] == "prompt" and prompt_len == len(segs[0].ids)
        assert kinds[1:-1] == ["model", "tool"] * ((len(kinds) - 2) // 2) and kinds[-1] == "model"
        assert 1 <= (len(kinds) - 2) // 2 <= 4


def test_masking_workload_response_text_is_the_decoded_response_segments(tiny_tok: Any, trajectories: list) -> None:
    for segs, _, response in trajectories:
        assert response == tiny_tok.decode([i for s in segs[1:] for i in s.ids], skip_special_tokens=False)
        assert response.endswith("<|im_end|>")


def test_naive_mask_masks_the_prompt_and_tool_turns_and_trains_the_model_pieces(tiny_tok: Any) -> None:
    prompt = tiny_tok.encode("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)
    tool = tool_turn_text(["42"])
    ids, mask = naive_mask(tiny_tok, prompt, "call" + tool + "done")
    tool_ids = tiny_tok.encode(tool, add_special_tokens=False)
    n_call, n_done = (len(tiny_tok.encode(s, add_special_tokens=False)) for s in ("call", "done"))
    assert mask == [0] * len(prompt) + [1] * n_call + [0] * len(tool_ids) + [1] * n_done
    assert len(ids) == len(mask)


def test_naive_mask_ids_differ_from_the_sampled_ids_at_a_bpe_boundary(tiny_tok: Any) -> None:
    # The model sampled "re" then "sult"; re-tokenizing the decoded text merges them.
    sampled = tiny_tok.encode("re", add_special_tokens=False) + tiny_tok.encode("sult", add_special_tokens=False)
    ids, _ = naive_mask(tiny_tok, [], tiny_tok.decode(sampled))
    assert ids != sampled


# -- the measurements ---------------------------------------------------------------------------


def test_measure_parser_returns_ours_over_the_naive_parser() -> None:
    r = measure_parser(n_transcripts=5, rounds=1)
    assert (r.name, r.group, r.unit) == ("parser_mb_per_s", "parser", "MB/s")
    assert r.ratio == pytest.approx(r.value / r.baseline)


def test_measure_masking_returns_ours_over_the_naive_masker(tiny_tok: Any) -> None:
    r = measure_masking(n_trajectories=2, rounds=1, tokenizer=tiny_tok)
    assert (r.name, r.group, r.unit) == ("masking_tokens_per_s", "masking", "tokens/s")
    assert r.ratio == pytest.approx(r.value / r.baseline)


# -- the deadline --------------------------------------------------------------------------------------


def test_the_deadline_keeps_an_alarm_armed_outside_it() -> None:
    fired: list[float] = []

    def outer_handler(*_: Any) -> None:
        fired.append(time.monotonic())

    previous = signal.signal(signal.SIGALRM, outer_handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        with deadline(1.0):
            pass
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25.0 < left <= 30.0 and signal.getsignal(signal.SIGALRM) is outer_handler and not fired
        # the outer alarm falls due inside the block: its handler runs then, and ours still fires later
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        start = time.monotonic()
        with pytest.raises(Overran), deadline(0.4):
            while time.monotonic() - start < 3:
                pass
        assert len(fired) == 1 and fired[0] - start < 0.35 and 0.35 < time.monotonic() - start < 2
        assert signal.getitimer(signal.ITIMER_REAL)[0] == 0  # the outer one was spent; nothing re-armed
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_deadline_interrupts_a_busy_block_and_disarms_when_it_ends() -> None:
    before = signal.getsignal(signal.SIGALRM)
    start = time.monotonic()
    with pytest.raises(Overran), deadline(0.2):
        while time.monotonic() - start < 5:
            pass
    assert time.monotonic() - start < 2
    with deadline(0.2):
        pass
    time.sleep(0.3)  # no stray alarm of ours after the block
    assert signal.getsignal(signal.SIGALRM) is before


def test_the_deadline_does_nothing_outside_the_main_thread() -> None:
    import threading

    seen: list[str] = []

    def work() -> None:
        with deadline(0.05):
            time.sleep(0.2)
        seen.append("done")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == ["done"]
