"""retool.rollout.engines.hf: HFEngine on the real tiny model (CPU): stops kept, logprobs as SGLang
reports them, seeded reproducibility, teacher-forced ids, and generation off the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import torch

from retool.embedded.models import tiny_model
from retool.rollout.config import Engine
from retool.rollout.engines import HFEngine, SamplingParams


@pytest.fixture(scope="module")
def engine() -> HFEngine:
    model, tokenizer = tiny_model()
    return HFEngine(model, tokenizer)


@pytest.fixture(scope="module")
def prompt(engine: HFEngine) -> list[int]:
    return engine.tokenizer("The answer is", add_special_tokens=False)["input_ids"]


def test_stop_string_ends_generation_and_is_kept(engine: HFEngine, prompt: list[int]) -> None:
    free = engine.generate_sync(prompt, SamplingParams(temperature=0, max_new_tokens=12, ignore_eos=True))
    k = 6
    target = engine.tokenizer.decode(list(free.output_ids[: k + 1]), skip_special_tokens=False)
    prefix = engine.tokenizer.decode(list(free.output_ids[:k]), skip_special_tokens=False)
    stop = target[len(prefix) - 1 :] if len(target) > len(prefix) else target[-1:]
    first = next(i for i in range(1, 13) if stop in engine.tokenizer.decode(list(free.output_ids[:i]), skip_special_tokens=False))
    gen = engine.generate_sync(prompt, SamplingParams(temperature=0, max_new_tokens=12, ignore_eos=True, stop=(stop,)))
    assert gen.finish_reason == "stop" and gen.matched == stop
    assert gen.output_ids == free.output_ids[:first]
    assert gen.text.endswith(stop) or stop in gen.text[-len(stop) - 8 :]


def test_stop_token_id_ends_generation_and_is_kept(engine: HFEngine, prompt: list[int]) -> None:
    free = engine.generate_sync(prompt, SamplingParams(temperature=0, max_new_tokens=12, ignore_eos=True))
    stop_id = free.output_ids[4]
    first = free.output_ids.index(stop_id)
    gen = engine.generate_sync(prompt, SamplingParams(temperature=0, max_new_tokens=12, ignore_eos=True, stop_token_ids=(stop_id,)))
    assert gen.finish_reason == "stop" and gen.matched == stop_id
    assert gen.output_ids == free.output_ids[: first + 1]


def test_eos_ends_generation_unless_ignored(engine: HFEngine, prompt: list[int]) -> None:
    eos = engine.tokenizer.eos_token_id
    for seed in range(40):
        gen = engine.generate_sync(prompt, SamplingParams(max_new_tokens=40, seed=seed))
        assert eos not in gen.output_ids[:-1]
        if gen.finish_reason == "stop":
            assert gen.output_ids[-1] == eos and gen.matched == eos
            ignored = engine.generate_sync(prompt, SamplingParams(max_new_tokens=40, seed=seed, ignore_eos=True))
            assert ignored.finish_reason == "length" and len(ignored.output_ids) == 40
            return
    pytest.fail("no seed out of 40 sampled EOS within 40 tokens from the tiny model")


def test_max_new_tokens_gives_length(engine: HFEngine, prompt: list[int]) -> None:
    gen = engine.generate_sync(prompt, SamplingParams(max_new_tokens=7, ignore_eos=True, seed=1))
    assert gen.finish_reason == "length" and len(gen.output_ids) == len(gen.output_logprobs) == 7


@pytest.mark.parametrize("temperature", [0.0, 0.7, 1.0, 1.5])
def test_logprobs_are_the_full_forward_log_softmax_at_temperature(engine: HFEngine, prompt: list[int], temperature: float) -> None:
    params = SamplingParams(temperature=temperature, top_k=20, top_p=0.9, max_new_tokens=10, ignore_eos=True, seed=5)
    gen = engine.generate_sync(prompt, params)
    ids = torch.tensor([prompt + list(gen.output_ids)])  # (1, T)
    with torch.inference_mode():
        logits = engine.model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()  # (N, V)
    scale = temperature if temperature > 0 else 1.0
    expected = torch.log_softmax(logits / scale, dim=-1).gather(1, torch.tensor(gen.output_ids)[:, None])[:, 0]  # (N,)
    assert torch.allclose(torch.tensor(gen.output_logprobs), expected, atol=1e-4)


def test_same_seed_same_generation_and_other_seeds_differ(engine: HFEngine, prompt: list[int]) -> None:
    runs = [engine.generate_sync(prompt, SamplingParams(max_new_tokens=16, ignore_eos=True, seed=s)) for s in (11, 11, 12, 13)]
    assert runs[0] == runs[1]
    assert len({r.output_ids for r in runs}) == 3


def test_top_k_one_is_greedy(engine: HFEngine, prompt: list[int]) -> None:
    greedy = engine.generate_sync(prompt, SamplingParams(temperature=0, max_new_tokens=12, ignore_eos=True))
    top1 = engine.generate_sync(prompt, SamplingParams(temperature=1.0, top_k=1, max_new_tokens=12, ignore_eos=True, seed=3))
    assert top1.output_ids == greedy.output_ids


@pytest.mark.asyncio
async def test_generation_runs_off_the_event_loop(engine: HFEngine, prompt: list[int]) -> None:
    in_flight = True
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while in_flight:
            await asyncio.sleep(0.001)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    gens = await asyncio.gather(*(engine.generate(prompt, SamplingParams(max_new_tokens=48, ignore_eos=True, seed=s)) for s in range(3)))
    in_flight = False
    await beat
    assert ticks >= 3 and all(len(g.output_ids) == 48 for g in gens)


def test_forced_tokens_are_scored_by_the_model_and_obey_stops(engine: HFEngine, prompt: list[int]) -> None:
    tok = engine.tokenizer
    forced = tok("x = 1\n</tool_call> never reached", add_special_tokens=False)["input_ids"]
    gen = engine.generate_sync(prompt, SamplingParams(temperature=0.8, stop=("</tool_call>",)), forced_ids=forced)
    cut = tok("x = 1\n</tool_call>", add_special_tokens=False)["input_ids"]
    assert gen.output_ids == tuple(cut) and gen.finish_reason == "stop" and gen.matched == "</tool_call>"
    with torch.inference_mode():
        logits = engine.model(input_ids=torch.tensor([prompt + cut])).logits[0, len(prompt) - 1 : -1]  # (N, V)
    expected = torch.log_softmax(logits / 0.8, dim=-1).gather(1, torch.tensor(cut)[:, None])[:, 0]  # (N,)
    assert torch.allclose(torch.tensor(gen.output_logprobs), expected, atol=1e-4)



def test_hf_engine_is_an_engine(engine: HFEngine) -> None:
    assert isinstance(engine, Engine)


def test_empty_input_is_refused(engine: HFEngine) -> None:
    with pytest.raises(ValueError, match="input_ids is empty"):
        engine.generate_sync([], SamplingParams(max_new_tokens=2))


@pytest.mark.parametrize(
    "params",
    [SamplingParams(max_new_tokens=9, ignore_eos=True, seed=2), SamplingParams(temperature=0, max_new_tokens=9, stop=(" ",)),
    ],
    ids=["length", "stop"],
)
def test_one_logprob_per_output_id_and_text_is_their_decoding(engine: HFEngine, prompt: list[int], params: SamplingParams) -> None:
    gen = engine.generate_sync(prompt, params)
    assert len(gen.output_logprobs) == len(gen.output_ids) <= params.max_new_tokens
    assert all(lp <= 0.0 for lp in gen.output_logprobs)
    assert gen.text == engine.tokenizer.decode(list(gen.output_ids), skip_special_tokens=False)


def test_zero_new_tokens_is_an_empty_length_generation(engine: HFEngine, prompt: list[int]) -> None:
    gen = engine.generate_sync(prompt, SamplingParams(max_new_tokens=0))
    assert (gen.output_ids, gen.finish_reason) == ((), "length")


def test_unseeded_generations_follow_the_default_seed(tiny_lm: tuple[Any, Any], prompt: list[int]) -> None:
    model, tok = tiny_lm
    params = SamplingParams(max_new_tokens=12, ignore_eos=True)
    a, b, c = HFEngine(model, tok, default_seed=4), HFEngine(model, tok, default_seed=4), HFEngine(model, tok, default_seed=5)
    first = a.generate_sync(prompt, params)
    assert first == b.generate_sync(prompt, params) and first != c.generate_sync(prompt, params)


def test_unseeded_generations_advance_the_engines_generator(tiny_lm: tuple[Any, Any], prompt: list[int]) -> None:
    model, tok = tiny_lm
    hf = HFEngine(model, tok, default_seed=4)
    params = SamplingParams(max_new_tokens=12, ignore_eos=True)
    assert hf.generate_sync(prompt, params) != hf.generate_sync(prompt, params)


def test_seeded_generations_from_threads_equal_the_serial_ones(engine: HFEngine, prompt: list[int]) -> None:
    params = [SamplingParams(max_new_tokens=10, ignore_eos=True, seed=s) for s in range(4)]
    serial = [engine.generate_sync(prompt, p) for p in params]
    parallel: list[Any] = [None] * len(params)

    def work(i: int) -> None:
        parallel[i] = engine.generate_sync(prompt, params[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(params))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert parallel == serial


def test_forced_ids_that_end_without_a_stop_finish_as_stop_with_no_match(engine: HFEngine, prompt: list[int]) -> None:
    forced = engine.tokenizer("x = 1", add_special_tokens=False)["input_ids"]
    gen = engine.generate_sync(prompt, SamplingParams(max_new_tokens=50), forced_ids=forced)
    assert (gen.output_ids, gen.finish_reason, gen.matched) == (tuple(forced), "stop", None)


def test_forced_ids_longer_than_max_new_tokens_are_cut_with_length(engine: HFEngine, prompt: list[int]) -> None:
    forced = engine.tokenizer("print(1 + 2 + 3 + 4 + 5)", add_special_tokens=False)["input_ids"]
    assert len(forced) > 4
    gen = engine.generate_sync(prompt, SamplingParams(max_new_tokens=4), forced_ids=forced)
    assert (gen.output_ids, gen.finish_reason) == (tuple(forced[:4]), "length")


def test_forced_eos_is_kept_and_ends_the_generation(engine: HFEngine, prompt: list[int]) -> None:
    tok = engine.tokenizer
    forced = tok("done<|im_end|> more text", add_special_tokens=False)["input_ids"]
    gen = engine.generate_sync(prompt, SamplingParams(max_new_tokens=50), forced_ids=forced)
    assert gen.output_ids[-1] == tok.eos_token_id and gen.matched == tok.eos_token_id and gen.finish_reason == "stop"
    assert gen.output_ids == tuple(forced[: forced.index(tok.eos_token_id) + 1])


def test_forced_logprobs_at_temperature_zero_are_the_plain_log_softmax(engine: HFEngine, prompt: list[int]) -> None:
    forced = engine.tokenizer("x = 1", add_special_tokens=False)["input_ids"]
    gen = engine.generate_sync(prompt, SamplingParams(temperature=0, max_new_tokens=50), forced_ids=forced)
    with torch.inference_mode():
        logits = engine.model(input_ids=torch.tensor([prompt + forced])).logits[0, len(prompt) - 1 : -1].float()  # (N, V)
    expected = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(forced)[:, None])[:, 0]  # (N,)
    assert torch.allclose(torch.tensor(gen.output_logprobs), expected, atol=1e-4)


def test_long_stop_string_completed_by_the_last_token_is_found(engine: HFEngine, prompt: list[int]) -> None:
    tok = engine.tokenizer
    stop = "</tool_response>\n<|im_start|>assistant"
    forced = tok("a b c " + stop + " tail", add_special_tokens=False)["input_ids"]
    gen = engine.generate_sync(prompt, SamplingParams(max_new_tokens=60, stop=(stop,)), forced_ids=forced)
    assert gen.finish_reason == "stop" and gen.matched == stop
    assert stop in gen.text and "tail" not in gen.text


@pytest.mark.asyncio
async def test_async_generate_equals_generate_sync(engine: HFEngine, prompt: list[int]) -> None:
    params = SamplingParams(max_new_tokens=8, ignore_eos=True, seed=21)
    assert await engine.generate(prompt, params) == engine.generate_sync(prompt, params)


def test_the_reported_nucleus_is_what_top_p_keeps_and_holds_the_sampled_token(engine: HFEngine, prompt: list[int]) -> None:
    import torch

    params = SamplingParams(temperature=1.0, top_p=0.3, max_new_tokens=3, ignore_eos=True, seed=2,
                            custom_params={"return_top_p_token_ids": True})
    gen = engine.generate_sync(prompt, params)
    ids, offsets = gen.top_p_token_ids, gen.top_p_token_offsets
    assert len(offsets) == len(gen.output_ids) + 1
    with torch.inference_mode():
        logits = engine.model(input_ids=torch.tensor([prompt])).logits[0, -1].float()  # (V,)
    probs, order = torch.sort(torch.softmax(logits, dim=-1), descending=True)  # (V,), (V,)
    kept = order[(torch.cumsum(probs, 0) - probs) < 0.3].tolist()
    assert list(ids[offsets[0]:offsets[1]]) == sorted(kept)
    assert all(tok in ids[offsets[i]:offsets[i + 1]] for i, tok in enumerate(gen.output_ids))


def test_no_nucleus_is_reported_unless_asked(engine: HFEngine, prompt: list[int]) -> None:
    gen = engine.generate_sync(prompt, SamplingParams(temperature=1.0, top_p=0.3, max_new_tokens=2, seed=2))
    assert gen.top_p_token_ids is None and gen.top_p_token_offsets is None
