"""retool.rollout.batch with sampled trajectories: the tiny model through HFEngine and over loopback HTTP,
the real sandbox, overlap of tool execution and a free event loop (the miles/slime drop-in is in
tests/unit/integrations/test_slime.py)."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
import torch

from retool.rollout.engines import HFEngine, SamplingParams, SGLangEngine
from retool.text.grammar import IM_END, format_tool_call
from retool.text.masking import verify_loss_mask
from retool.embedded.models import tiny_model
from retool.rollout import RolloutConfig, RolloutSample, generate_batch
from retool.sandbox import PythonSandbox
from retool.rollout.engines.server import GenerateServer
from retool.train.metrics import SampleRecord
from tests.capabilities import sandbox_options
from tests.doubles import ScriptedEngine

amark = pytest.mark.asyncio(loop_scope="module")
PROMPTS = [{"prompt": "What is 6*7?", "label": "42"}, {"prompt": "Compute 2**10.", "label": "1024"}]
CONFIG = RolloutConfig(
    n_samples_per_prompt=3, rollout_max_response_len=48, max_context_len=4096, seed=1,
    sampling=SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=20),
)


@pytest.fixture(scope="module")
def hf() -> HFEngine:
    model, tokenizer = tiny_model()
    return HFEngine(model, tokenizer)


@pytest.fixture(scope="module")
def server(hf: HFEngine):
    with GenerateServer(hf) as srv:
        yield srv


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox():
    box = PythonSandbox(timeout_s=10, concurrency=4, **sandbox_options())
    yield box
    await box.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def local_batch(hf: HFEngine, sandbox) -> list[RolloutSample]:
    return await generate_batch(PROMPTS, hf, sandbox, hf.tokenizer, CONFIG, progress=False)


def check_sample(sample: RolloutSample, hf: HFEngine) -> None:
    n = sample.response_length
    assert len(sample.tokens) == sample.prompt_len + n and len(sample.loss_mask) == len(sample.rollout_log_probs) == n
    assert n <= CONFIG.rollout_max_response_len
    if sample.status != "failed":  # failed = the model forged markup in its own turn
        check = verify_loss_mask(sample.tokens, [0] * sample.prompt_len + list(sample.loss_mask), hf.tokenizer, sample.prompt_len)
        assert check.ok, check.reason
    ids = torch.tensor([sample.tokens])  # (1, T)
    with torch.inference_mode():
        logits = hf.model(input_ids=ids).logits[0, sample.prompt_len - 1 : -1].float()  # (n, V)
    expected = torch.log_softmax(logits / CONFIG.sampling.temperature, dim=-1)  # (n, V)
    expected = expected.gather(1, torch.tensor(sample.tokens[sample.prompt_len :])[:, None])[:, 0]  # (n,)
    got = torch.tensor(sample.rollout_log_probs)  # (n,)
    model = torch.tensor(sample.loss_mask, dtype=torch.bool)  # (n,)
    assert torch.allclose(got[model], expected[model], atol=1e-4)
    assert torch.all(got[~model] == 0.0)


@amark
async def test_sampled_rollouts_keep_ids_masks_and_logprobs_in_step(local_batch, hf: HFEngine) -> None:
    assert len(local_batch) == 6
    for sample in local_batch:
        check_sample(sample, hf)
        assert sample.status in ("completed", "truncated", "failed") and sample.reward == 0.0
        SampleRecord.from_rollout(sample)


@amark
async def test_same_seed_gives_the_same_batch(local_batch, hf: HFEngine, sandbox) -> None:
    again = await generate_batch(PROMPTS, hf, sandbox, hf.tokenizer, CONFIG, progress=False)
    assert [s.tokens for s in again] == [s.tokens for s in local_batch]
    assert len({s.tokens for s in again}) > 1  # samples of a group differ


@amark
async def test_rollouts_over_http_equal_the_local_engine(local_batch, hf: HFEngine, server, sandbox) -> None:
    client = SGLangEngine(server.url)
    remote = await generate_batch(PROMPTS, client, sandbox, hf.tokenizer, CONFIG, progress=False)
    await client.aclose()
    for r, s in zip(remote, local_batch):
        assert (r.tokens, r.loss_mask, r.status) == (s.tokens, s.loss_mask, s.status)
        assert r.rollout_log_probs == s.rollout_log_probs


@amark
async def test_batch_generation_never_blocks_the_event_loop(hf: HFEngine, sandbox) -> None:
    in_flight, ticks = True, 0

    async def heartbeat() -> None:
        nonlocal ticks
        while in_flight:
            await asyncio.sleep(0.002)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    samples = await generate_batch(PROMPTS[:1], hf, sandbox, hf.tokenizer, CONFIG, progress=True)
    in_flight = False
    await beat
    assert ticks >= 5 and len(samples) == 3


class _Timed:
    """The real sandbox, recording when each execution started and ended (loop time)."""

    def __init__(self, box: PythonSandbox) -> None:
        self.box, self.config, self.spans = box, box.config, []

    async def run(self, code: str):
        loop = asyncio.get_running_loop()
        start = loop.time()
        result = await self.box.run(code)
        self.spans.append((start, loop.time()))
        return result

    async def execute_code(self, code: str) -> str:
        return await self.box.execute_code(code)


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    depth = best = 0
    for _, step in events:
        depth += step
        best = max(best, depth)
    return best


@pytest.mark.parametrize(("in_flight", "overlap"), [(None, True), (1, False)])
@amark
async def test_tool_calls_of_different_samples_overlap_only_when_in_flight_together(hf, sandbox, in_flight, overlap) -> None:
    call = format_tool_call("code_interpreter", {"code": "print(sum(range(300000)))"})
    engine = ScriptedEngine(hf.tokenizer, [call, "\\boxed{1}" + IM_END], by_turn=True)
    timed = _Timed(sandbox)
    config = RolloutConfig(n_samples_per_prompt=4, max_concurrent_samples=in_flight)
    samples = await generate_batch(PROMPTS[:1], engine, timed, hf.tokenizer, config, progress=False)
    assert [s.tool_statuses for s in samples] == [("ok",)] * 4
    assert (_max_overlap(timed.spans) > 1) is overlap
