"""retool.integrations.slime: the miles/slime drop-in. sampling_params and args read into our
config, and generate_for_sample filling a miles-like Sample over real HTTP on loopback; the last
part drives our generate and reward through miles's and slime's own rollout flow
(tests/unit/integrations/frameworks.py) against a loopback server that aborts, answers 5xx,
reports weight_version and cached_tokens, and records what it was sent (issue 13)."""

from __future__ import annotations

import enum
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio

import retool.reward
import retool.rollout as rollout  # rollout.generate: the documented miles/slime entry point
from retool.embedded.models import tiny_model, tiny_model_dir
from retool.integrations import slime as rollout_slime
from retool.integrations.slime import config_from_args, default_sandbox, generate_for_sample, sampling_from_dict
from retool.rollout.config import EngineError, SamplingParams
from retool.rollout.engines import HFEngine
from retool.rollout.engines.forced import tool_heavy_turns
from retool.rollout.engines.server import GenerateServer
from retool.sandbox import PythonSandbox
from retool.text.grammar import TOOL_RESPONSE_OPEN
from retool.text.masking import verify_loss_mask
from tests.capabilities import sandbox_options

amark = pytest.mark.asyncio(loop_scope="module")
SLIME_SAMPLING = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "max_new_tokens": 16, "stop": None, "stop_token_ids": None,
                  "skip_special_tokens": False, "no_stop_trim": True, "spaces_between_special_tokens": False, "sampling_seed": 3}
METADATA_KEYS = {"turns", "tool_calls", "malformed_calls", "tool_statuses", "code_lengths_chars", "tool_tokens",
                 "status_reason", "attempts", "generation_time_s", "tool_time_s", "wall_time_s"}


@pytest.fixture(scope="module")
def hf() -> HFEngine:
    model, tokenizer = tiny_model()
    return HFEngine(model, tokenizer)


@pytest.fixture(scope="module")
def server(hf: HFEngine):
    with GenerateServer(hf) as srv:
        yield srv


class ScriptedHF(HFEngine):
    """The tiny model teacher-forced along scripted turns (turn k = k tool responses in the input), so
    a served "model" calls the code interpreter; the logprobs stay the model's."""

    def __init__(self, model: Any, tokenizer: Any, turns: Sequence[str]) -> None:
        super().__init__(model, tokenizer)
        self.turn_ids = [list(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in turns]
        self.response_id = tokenizer.convert_tokens_to_ids(TOOL_RESPONSE_OPEN)

    def generate_sync(self, input_ids: Sequence[int], params: SamplingParams, *, forced_ids: Sequence[int] | None = None):
        turn = min(list(input_ids).count(self.response_id), len(self.turn_ids) - 1)
        return super().generate_sync(input_ids, params, forced_ids=self.turn_ids[turn])


@pytest.fixture(scope="module")
def tool_server(hf: HFEngine):
    with GenerateServer(ScriptedHF(hf.model, hf.tokenizer, tool_heavy_turns(1, "print(6*7)"))) as srv:
        yield srv


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox():
    box = PythonSandbox(timeout_s=10, concurrency=2, **sandbox_options())
    yield box
    await box.close()


@dataclass
class SlimeLikeSample:
    """The fields miles/slime's Sample has and our generate fills, with its Status enum."""

    class Status(enum.Enum):
        PENDING = "pending"
        COMPLETED = "completed"
        TRUNCATED = "truncated"
        ABORTED = "aborted"
        FAILED = "failed"

    group_index: int | None = None
    index: int | None = None
    prompt: str | list[dict[str, str]] = ""
    tokens: list[int] = field(default_factory=list)
    response: str = ""
    response_length: int = 0
    label: str | None = None
    reward: Any = None
    loss_mask: list[int] | None = None
    rollout_log_probs: list[float] | None = None
    status: Status = Status.PENDING
    metadata: dict = field(default_factory=dict)


@dataclass
class PlainSample:
    prompt: Any = ""
    tokens: list[int] = field(default_factory=list)
    response: str = ""
    response_length: int = 0
    loss_mask: list[int] | None = None
    rollout_log_probs: list[float] | None = None
    status: str = "pending"
    metadata: Any = None


def slime_args(server: GenerateServer) -> SimpleNamespace:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return SimpleNamespace(sglang_router_ip=host, sglang_router_port=int(port), hf_checkpoint=str(tiny_model_dir()),
                           rollout_max_response_len=40, rollout_max_context_len=None, partial_rollout=False,
                           retool_sandbox_allow_weaker=bool(sandbox_options()))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_sandbox_closed():
    yield
    await rollout_slime.close_default_sandbox()


@amark
async def test_drop_in_generate_fills_the_sample_fields(server, hf: HFEngine, module_sandbox_closed) -> None:
    sample = SlimeLikeSample(group_index=0, index=2, prompt="What is 6*7?", label="42")
    out = await rollout.generate(slime_args(server), sample, SLIME_SAMPLING)
    assert out is sample and isinstance(sample.status, SlimeLikeSample.Status) and sample.status != SlimeLikeSample.Status.PENDING
    prompt_len = len(sample.tokens) - sample.response_length
    assert 0 < sample.response_length <= 40 and len(sample.loss_mask) == len(sample.rollout_log_probs) == sample.response_length
    assert verify_loss_mask(sample.tokens, [0] * prompt_len + sample.loss_mask, hf.tokenizer, prompt_len).ok
    assert sample.response == hf.tokenizer.decode(sample.tokens[prompt_len:], skip_special_tokens=False)
    assert "<tools>" in hf.tokenizer.decode(sample.tokens[:prompt_len]) and sample.reward is None
    meta = sample.metadata["retool"]
    assert sample.metadata["tool_call_count"] == meta["tool_calls"] and meta["status_reason"]


@amark
async def test_drop_in_retry_starts_from_clean_state(server, module_sandbox_closed) -> None:
    first = await rollout.generate(slime_args(server), SlimeLikeSample(prompt="What is 6*7?"), SLIME_SAMPLING)
    stale = SlimeLikeSample(prompt="What is 6*7?", tokens=[5] * 9, response="old", response_length=4, loss_mask=[1] * 4,
                            rollout_log_probs=[-1.0] * 4, status=SlimeLikeSample.Status.ABORTED)
    again = await rollout.generate(slime_args(server), stale, SLIME_SAMPLING)
    assert (again.tokens, again.loss_mask, again.rollout_log_probs, again.status) == (
        first.tokens, first.loss_mask, first.rollout_log_probs, first.status)


@amark
async def test_drop_in_without_a_status_enum_uses_strings(server, module_sandbox_closed) -> None:
    sample = await rollout.generate(slime_args(server), PlainSample(prompt=[{"role": "user", "content": "Hi"}]), SLIME_SAMPLING)
    assert sample.status in ("completed", "truncated", "failed") and isinstance(sample.metadata, dict)


@amark
async def test_drop_in_takes_a_chat_templated_prompt_with_exact_prompt_tokens(server, hf: HFEngine, module_sandbox_closed) -> None:
    """Issue 13 point 2: ``--apply-chat-template`` hands generate the templated string (miles/utils/data.py
    Dataset: a string prompt becomes one user message, rendered with ``add_generation_prompt=True``)."""
    from retool.rollout.batch import render_prompt_ids

    raw = [{"role": "user", "content": "What is 6*7?"}]
    templated = hf.tokenizer.apply_chat_template(raw, tokenize=False, add_generation_prompt=True)
    sample = await rollout.generate(slime_args(server), SlimeLikeSample(prompt=templated), SLIME_SAMPLING)
    prompt_len = len(sample.tokens) - sample.response_length
    assert sample.tokens[:prompt_len] == render_prompt_ids(hf.tokenizer, raw, config_from_args(slime_args(server), SLIME_SAMPLING))


def tool_args(server: GenerateServer, **kw: Any) -> SimpleNamespace:
    args = slime_args(server)
    args.rollout_max_response_len = 512
    for key, value in kw.items():
        setattr(args, key, value)
    return args


TOOL_SAMPLING = {**SLIME_SAMPLING, "max_new_tokens": 256}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------ the entry points


def test_rollout_generate_is_the_slime_generate() -> None:
    assert rollout.generate is rollout_slime.generate


def test_slime_reward_func_is_the_reward_modules() -> None:
    assert rollout_slime.reward_func is retool.reward.reward_func


# ------------------------------------------------------------------------------ sampling_from_dict


def test_sampling_dict_is_read_with_sglangs_names() -> None:
    params = sampling_from_dict({"temperature": 0.6, "top_p": 0.9, "top_k": 20, "max_new_tokens": 33,
                                 "stop": ["</answer>"], "stop_token_ids": [7], "sampling_seed": 5})
    assert params == SamplingParams(temperature=0.6, top_p=0.9, top_k=20, max_new_tokens=33, stop=("</answer>",),
                                    stop_token_ids=(7,), seed=5)


def test_sampling_dict_stop_may_be_one_string() -> None:
    assert sampling_from_dict({"stop": "</answer>"}).stop == ("</answer>",)


def test_sampling_dict_nulls_and_slimes_extra_keys_are_harmless() -> None:
    params = sampling_from_dict(SLIME_SAMPLING)
    assert (params.stop, params.stop_token_ids, params.seed, params.max_new_tokens) == ((), (), 3, 16)


def test_empty_sampling_dict_gets_the_defaults() -> None:
    assert sampling_from_dict({}) == SamplingParams(max_new_tokens=8192)


def test_sampling_dict_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="top_p"):
        sampling_from_dict({"top_p": 0})


def test_sampling_dict_reads_back_our_own_sglang_request() -> None:
    params = SamplingParams(temperature=0.5, top_k=4, max_new_tokens=12, stop=("x",), stop_token_ids=(2,), seed=8)
    assert sampling_from_dict(params.to_sglang()) == params


def test_sampling_dict_keeps_ignore_eos() -> None:
    assert sampling_from_dict({"ignore_eos": True}).ignore_eos is True


# ------------------------------------------------------------------------------ config_from_args


def test_args_without_retool_attributes_give_the_documented_defaults() -> None:
    config = config_from_args(SimpleNamespace(), {"max_new_tokens": 300})
    assert (config.max_turns, config.max_tool_calls, config.rollout_max_response_len, config.max_context_len) == (
        16, 16, 300, 300)
    assert (config.n_samples_per_prompt, config.system_prompt, config.max_abort_retries) == (1, None, 0)


def test_args_attributes_set_the_limits() -> None:
    args = SimpleNamespace(retool_max_turns=3, retool_max_tool_calls=2, rollout_max_response_len=99,
                           rollout_max_context_len=500, retool_system_prompt="Be brief.", retool_max_abort_retries=4)
    config = config_from_args(args, {"max_new_tokens": 300})
    assert (config.max_turns, config.max_tool_calls, config.rollout_max_response_len, config.max_context_len) == (3, 2, 99, 500)
    assert (config.system_prompt, config.max_abort_retries) == ("Be brief.", 4)


def test_args_attributes_set_to_none_fall_back_to_the_defaults() -> None:
    args = SimpleNamespace(retool_max_turns=None, rollout_max_response_len=None, rollout_max_context_len=None)
    config = config_from_args(args, {"max_new_tokens": 40}, prompt_len=10)
    assert (config.max_turns, config.rollout_max_response_len, config.max_context_len) == (16, 40, 50)


def test_config_carries_the_sampling_dict() -> None:
    assert config_from_args(SimpleNamespace(), SLIME_SAMPLING).sampling == sampling_from_dict(SLIME_SAMPLING)


def test_args_max_tool_calls_zero_is_kept() -> None:
    assert config_from_args(SimpleNamespace(retool_max_tool_calls=0), {}).max_tool_calls == 0


# ------------------------------------------------------------------------------ generate_for_sample


@amark
async def test_tool_calling_sample_gets_tool_tokens_masked_out(tool_server, hf: HFEngine, sandbox) -> None:
    sample = SlimeLikeSample(prompt="What is 6*7?")
    await generate_for_sample(tool_args(tool_server), sample, TOOL_SAMPLING, sandbox=sandbox)
    n = sample.response_length
    assert sample.status == SlimeLikeSample.Status.COMPLETED
    assert len(sample.loss_mask) == len(sample.rollout_log_probs) == n and 0 < sample.loss_mask.count(0) < n
    assert all(lp == 0.0 for lp, m in zip(sample.rollout_log_probs, sample.loss_mask) if m == 0)
    assert all(lp < 0.0 for lp, m in zip(sample.rollout_log_probs, sample.loss_mask) if m == 1)
    prompt_len = len(sample.tokens) - n
    assert verify_loss_mask(sample.tokens, [0] * prompt_len + sample.loss_mask, hf.tokenizer, prompt_len).ok
    assert "<tool_response>\n42\n</tool_response>" in sample.response


@amark
async def test_metadata_records_the_rollouts_counts(tool_server, sandbox) -> None:
    sample = SlimeLikeSample(prompt="What is 6*7?")
    await generate_for_sample(tool_args(tool_server), sample, TOOL_SAMPLING, sandbox=sandbox)
    meta = sample.metadata["retool"]
    assert set(meta) == METADATA_KEYS and sample.metadata["tool_call_count"] == 1
    assert (meta["turns"], meta["tool_calls"], meta["malformed_calls"], meta["tool_statuses"]) == (2, 1, 0, ["ok"])
    assert meta["status_reason"] == "final answer" and meta["tool_tokens"] == sample.loss_mask.count(0)


@amark
async def test_args_limits_reach_the_rollout(tool_server, sandbox) -> None:
    sample = SlimeLikeSample(prompt="What is 6*7?")
    await generate_for_sample(tool_args(tool_server, retool_max_turns=1), sample, TOOL_SAMPLING, sandbox=sandbox)
    assert sample.status == SlimeLikeSample.Status.TRUNCATED and "max_turns=1" in sample.metadata["retool"]["status_reason"]


@amark
async def test_existing_reward_is_never_touched(server, sandbox) -> None:
    sample = SlimeLikeSample(prompt="What is 6*7?", reward=0.75)
    await generate_for_sample(slime_args(server), sample, SLIME_SAMPLING, sandbox=sandbox)
    assert sample.reward == 0.75


@amark
async def test_server_down_raises_naming_the_url_as_miles_post_does(hf: HFEngine, sandbox) -> None:
    """miles/utils/http_utils.py ``post`` raises once its retries are spent; so do we (miles drops the group)."""
    port = _closed_port()
    args = SimpleNamespace(sglang_router_ip="127.0.0.1", sglang_router_port=port, hf_checkpoint=str(tiny_model_dir()),
                           retool_engine_retries=0)
    with pytest.raises(EngineError, match=f"http://127.0.0.1:{port}/generate"):
        await generate_for_sample(args, SlimeLikeSample(prompt="What is 6*7?"), SLIME_SAMPLING, sandbox=sandbox)


@amark
async def test_plain_sample_gets_a_lowercase_string_status(server, sandbox) -> None:
    sample = PlainSample(prompt="What is 6*7?")
    await generate_for_sample(slime_args(server), sample, SLIME_SAMPLING, sandbox=sandbox)
    assert sample.status == sample.status.lower() and sample.status in ("completed", "truncated", "failed")


# ------------------------------------------------------------------------------ the module sandbox


@amark
async def test_default_sandbox_is_one_per_event_loop_until_closed(module_sandbox_closed) -> None:
    args = SimpleNamespace(retool_sandbox_allow_weaker=bool(sandbox_options()))  # a non-root host: its layers
    first = default_sandbox(args)
    assert default_sandbox(args) is first and isinstance(first, PythonSandbox)
    await rollout_slime.close_default_sandbox()
    assert default_sandbox(args) is not first


@amark
async def test_default_sandbox_is_a_remote_farm_with_retool_sandbox_url(module_sandbox_closed) -> None:
    from retool.sandbox.service.remote import RemoteSandbox

    await rollout_slime.close_default_sandbox()  # the loop's sandbox from an earlier test goes first
    box = default_sandbox(SimpleNamespace(retool_sandbox_url="http://127.0.0.1:9", retool_sandbox_token_file=None))
    assert isinstance(box, RemoteSandbox) and box.url == "http://127.0.0.1:9"
    await rollout_slime.close_default_sandbox()


class RaisingSandbox:
    """A Sandbox double whose every execution raises (a broken sandbox service)."""

    async def execute_code(self, code: str) -> str:
        raise RuntimeError("sandbox service crashed")


@amark
async def test_a_failing_sample_comes_back_failed_with_its_reason(tool_server) -> None:
    sample = SlimeLikeSample(prompt="What is 6*7?")
    await generate_for_sample(tool_args(tool_server), sample, TOOL_SAMPLING, sandbox=RaisingSandbox())
    assert sample.status == SlimeLikeSample.Status.FAILED
    assert sample.metadata["retool"]["status_reason"] == "sandbox raised RuntimeError: sandbox service crashed"
    assert len(sample.loss_mask) == sample.response_length > 0


class OldStatusSample(SlimeLikeSample):
    class Status(enum.Enum):
        PENDING = "pending"
        COMPLETED = "completed"
        TRUNCATED = "truncated"
        ABORTED = "aborted"


def test_failed_maps_to_aborted_on_a_status_enum_without_failed() -> None:
    assert rollout_slime._status(OldStatusSample(), "failed") == OldStatusSample.Status.ABORTED
    assert rollout_slime._status(OldStatusSample(), "completed") == OldStatusSample.Status.COMPLETED


# ------------------------------------------------------------------------------ a default miles / slime launch
# The frameworks' own rollout code (restated in tests/unit/integrations/frameworks.py from their sources)
# drives our generate and reward over real HTTP: a GenerateServer on loopback speaking SGLang's schema.

from retool.rollout.engines.server import ServerFaults  # noqa: E402
from tests.unit.integrations import frameworks as fw  # noqa: E402

ABORTED = fw.FrameworkSample.Status.ABORTED


def fw_args(server: GenerateServer, **overrides: Any) -> SimpleNamespace:
    overrides = {"rollout_max_response_len": 512, **overrides}
    return fw.framework_args(server.url, str(tiny_model_dir()), retool_sandbox_allow_weaker=bool(sandbox_options()),
                             **overrides)


def fw_group(group_index: int = 0, n: int = 2, prompt: str = "What is 6*7?") -> list[fw.FrameworkSample]:
    return [fw.FrameworkSample(group_index=group_index, index=group_index * n + i, prompt=prompt, label="42")
            for i in range(n)]


def scripted(hf: HFEngine, turns: Sequence[str] = tool_heavy_turns(1, "print(6*7)")) -> ScriptedHF:
    return ScriptedHF(hf.model, hf.tokenizer, turns)


@amark
async def test_an_engine_abort_leaves_a_batch_miles_can_log_and_convert(hf: HFEngine, module_sandbox_closed) -> None:
    """Point 1: generate_and_rm skips the reward of an ABORTED sample (miles/rollout/sglang_rollout.py); with no
    dynamic filter the group is kept, and miles's metrics round the reward and its train-data conversion builds
    ``torch.tensor(raw_rewards)``: our aborted sample carries the zero reward and trains on nothing."""
    with GenerateServer(scripted(hf), faults=ServerFaults(aborts=1)) as srv:
        args = fw_args(srv)
        groups = await fw.rollout_groups(args, [fw_group()], rollout.generate, retool.reward.reward_func)
    samples = [s for g in groups for s in g]
    aborted = [s for s in samples if s.status == ABORTED]
    assert len(aborted) == 1 and aborted[0].reward == 0.0 and not any(aborted[0].loss_mask)
    fw.rollout_metrics(args, samples)
    assert len(fw.convert_to_train_data(args, samples)["rewards"]) == 2


@amark
async def test_a_group_whose_engine_keeps_failing_is_dropped_and_the_rest_trains(hf: HFEngine, module_sandbox_closed) -> None:
    """Point 1: past its retries generate raises like miles's ``post``; miles's rollout loop
    (inference_rollout_train.py) logs the raised group and drops it."""
    with GenerateServer(scripted(hf), faults=ServerFaults(http_5xx=4)) as srv:
        args = fw_args(srv, retool_engine_retries=1, retool_engine_retry_interval_s=0.0)
        groups = await fw.rollout_groups(args, [fw_group(0), fw_group(1)], rollout.generate, retool.reward.reward_func)
    assert [g[0].group_index for g in groups] == [1]
    assert len(fw.convert_to_train_data(args, groups[0])["rewards"]) == 2


@amark
async def test_by_default_5xx_answers_are_retried_as_long_as_miles_retries(hf: HFEngine, module_sandbox_closed) -> None:
    """Point 1: miles's ``post`` tries 60 times, 1 s apart (miles/utils/http_utils.py); four 503s in a row
    are survived with the default settings."""
    faults = ServerFaults(http_5xx=4)
    with GenerateServer(scripted(hf), faults=faults) as srv:
        sample = await rollout.generate(fw_args(srv), fw.FrameworkSample(prompt="What is 6*7?"), TOOL_SAMPLING)
    assert sample.status == fw.FrameworkSample.Status.COMPLETED and len(faults.requests) == 4 + 2


@amark
async def test_slime_top_p_params_reach_the_engine_and_fill_the_top_p_fields(hf: HFEngine, module_sandbox_closed) -> None:
    """Point 3: slime's GenerateState adds ``custom_params.return_top_p_token_ids`` when ``--rollout-top-p`` < 1 and its
    train-data conversion needs ``rollout_top_p_token_ids`` with ``response_length + 1`` offsets; tool tokens get
    empty spans (slime's ``Sample.append_response_tokens``)."""
    faults = ServerFaults()
    with GenerateServer(scripted(hf), faults=faults) as srv:
        args = fw_args(srv, rollout_top_p=0.9)
        (group,) = await fw.rollout_groups(args, [fw_group()], rollout.generate, retool.reward.reward_func)
    assert all(r["body"]["sampling_params"]["custom_params"] == {"return_top_p_token_ids": True} for r in faults.requests)
    for sample in group:
        offsets = sample.rollout_top_p_token_offsets
        spans = [offsets[i + 1] - offsets[i] for i in range(sample.response_length)]
        assert len(offsets) == sample.response_length + 1 and offsets[-1] == len(sample.rollout_top_p_token_ids)
        assert all((n > 0) == bool(m) for n, m in zip(spans, sample.loss_mask)) and 0 in sample.loss_mask
    fw.convert_to_train_data(args, group)


@amark
async def test_weight_version_and_cached_tokens_are_recorded_per_engine_call(hf: HFEngine, module_sandbox_closed) -> None:
    """Point 4: miles's ``Sample.update_from_meta_info`` appends ``weight_version`` to ``weight_versions`` (the
    fully-async staleness filter reads it) and adds ``cached_tokens`` / ``prompt_tokens`` to ``prefix_cache_info``."""
    faults = ServerFaults()
    with GenerateServer(scripted(hf), faults=faults, weight_version="7") as srv:
        args = fw_args(srv)
        sample = await rollout.generate(args, fw.FrameworkSample(prompt="What is 6*7?"), TOOL_SAMPLING)
    prompts = [len(r["body"]["input_ids"]) for r in faults.requests]
    assert sample.weight_versions == ["7", "7"] and sample.prefix_cache_info.total_prompt_tokens == sum(prompts)
    assert sample.prefix_cache_info.cached_tokens >= prompts[0]  # the second turn re-reads the first one's prefix
    sample.reward = await retool.reward.reward_func(args, sample)
    assert fw.rollout_metrics(args, [sample])["prefix_cache_hit_rate"] > 0


@amark
async def test_a_lora_launch_sends_lora_path_on_every_request(hf: HFEngine, module_sandbox_closed) -> None:
    """Point 4: miles sends ``lora_path="miles_lora"`` when ``lora_rank > 0`` or ``lora_adapter_path`` is set and not
    ``--lora-train-only`` (miles/utils/lora: ``lora_rollout_enabled``, ``LORA_ADAPTER_NAME``)."""
    faults = ServerFaults()
    with GenerateServer(scripted(hf), faults=faults) as srv:
        await rollout.generate(fw_args(srv, lora_rank=16), fw.FrameworkSample(prompt="What is 6*7?"), TOOL_SAMPLING)
    assert len(faults.requests) == 2 and all(r["body"]["lora_path"] == "miles_lora" for r in faults.requests)


@amark
async def test_without_lora_no_lora_path_is_sent(hf: HFEngine, module_sandbox_closed) -> None:
    faults = ServerFaults()
    with GenerateServer(scripted(hf), faults=faults) as srv:
        await rollout.generate(fw_args(srv), fw.FrameworkSample(prompt="What is 6*7?"), TOOL_SAMPLING)
    assert faults.requests and all("lora_path" not in r["body"] for r in faults.requests)


@pytest.mark.parametrize(("overrides", "sample_fields"), [
    ({"sglang_router_policy": "consistent_hashing"}, {"routing_key": "key-1"}),  # miles: sample.routing_key
    ({"router_policy": "consistent_hashing"}, {"session_id": "key-1"}),  # slime: sample.session_id
])
@amark
async def test_every_turn_of_a_sample_carries_its_routing_key(hf: HFEngine, module_sandbox_closed, overrides,
                                                              sample_fields) -> None:
    """Point 4: miles's ``compute_routing_headers`` / slime's generate send ``X-SMG-Routing-Key`` so consistent-hash
    routing keeps one sample's turns on one worker."""
    faults = ServerFaults()
    with GenerateServer(scripted(hf), faults=faults) as srv:
        sample = fw.FrameworkSample(prompt="What is 6*7?", **sample_fields)
        await rollout.generate(fw_args(srv, **overrides), sample, TOOL_SAMPLING)
    assert len(faults.requests) == 2 and {r["headers"]["x-smg-routing-key"] for r in faults.requests} == {"key-1"}


@amark
async def test_a_keyed_router_policy_gives_a_sample_without_a_key_one_key(hf: HFEngine, module_sandbox_closed) -> None:
    faults = ServerFaults()
    with GenerateServer(scripted(hf), faults=faults) as srv:
        sample = await rollout.generate(fw_args(srv, sglang_router_policy="consistent_hashing"),
                                        fw.FrameworkSample(prompt="What is 6*7?"), TOOL_SAMPLING)
    assert sample.routing_key and {r["headers"]["x-smg-routing-key"] for r in faults.requests} == {sample.routing_key}


@amark
async def test_reward_key_score_trains_and_eval_reward_key_acc_counts_correct_samples(hf: HFEngine,
                                                                                      module_sandbox_closed) -> None:
    """Point 5: ``get_reward_value`` indexes ``reward[args.reward_key]``; eval reads ``eval_reward_key or reward_key``
    and pass@k counts ``reward == 1`` (miles/utils/metric_utils.py); the shaped score of a correct answer is 1.15."""
    with GenerateServer(scripted(hf)) as srv:
        args = fw_args(srv, reward_key="score", eval_reward_key="acc")
        (group,) = await fw.rollout_groups(args, [fw_group()], rollout.generate, retool.reward.reward_func)
    assert [s.get_reward_value(args) for s in group] == [pytest.approx(1.15)] * 2
    assert fw.pass_at_k(fw.eval_rewards(args, group), 2)["pass@1"] == 1.0
    fw.convert_to_train_data(args, group)


@amark
async def test_group_rm_leaves_an_aborted_sample_unscored(hf: HFEngine, module_sandbox_closed) -> None:
    """Point 5: with ``--group-rm`` the group's one reward call sets every reward (miles asserts none was set
    before); the aborted sample gets the zero reward without being scored."""
    with GenerateServer(scripted(hf), faults=ServerFaults(aborts=1)) as srv:
        args = fw_args(srv, group_rm=True, reward_key="score")
        (group,) = await fw.rollout_groups(args, [fw_group()], rollout.generate, retool.reward.reward_func)
    (aborted,) = [s for s in group if s.status == ABORTED]
    (done,) = [s for s in group if s.status != ABORTED]
    assert aborted.reward["score"] == 0.0 and aborted.reward["acc"] == 0.0
    assert aborted.metadata["reward_breakdown"]["reason"] == "aborted sample: no reward"
    assert done.reward["acc"] == 1.0
    fw.convert_to_train_data(args, group)


@amark
async def test_evaluation_uses_the_eval_response_budget(hf: HFEngine, module_sandbox_closed) -> None:
    """Point 6: eval passes ``evaluation=True`` when the signature has it and the eval dataset's ``max_response_len``
    (``--eval-max-response-len``, 16384 upstream against 8192 for training) as ``max_new_tokens``."""
    with GenerateServer(scripted(hf, ["word " * 80 + "\\boxed{1}<|im_end|>"])) as srv:
        args = fw_args(srv, rollout_max_response_len=8, eval_max_response_len=40)
        sample = await fw.generate_and_rm(args, fw.FrameworkSample(prompt="Count."), fw.eval_sampling_params(args),
                                          rollout.generate, retool.reward.reward_func, evaluation=True)
    assert sample.status == fw.FrameworkSample.Status.TRUNCATED and sample.response_length == 40


@amark
async def test_tool_call_count_round_number_and_non_generation_time_are_set(tool_server, module_sandbox_closed) -> None:
    """Point 7: upstream's ReTool generate sets ``sample.tool_call_count`` (its reward reads it) and
    ``metadata["round_number"]``; miles reports ``non_generation_time`` (time outside generation)."""
    sample = await rollout.generate(fw_args(tool_server), fw.FrameworkSample(prompt="What is 6*7?"), TOOL_SAMPLING)
    meta = sample.metadata["retool"]
    assert sample.tool_call_count == 1 and sample.metadata["round_number"] == 2 == meta["turns"]
    assert meta["tool_time_s"] <= sample.non_generation_time <= meta["wall_time_s"] and sample.non_generation_time > 0


@amark
async def test_retool_allowed_modules_selects_the_recipe_preset_or_a_module_list(module_sandbox_closed) -> None:
    weaker = bool(sandbox_options())
    await rollout_slime.close_default_sandbox()
    recipe = default_sandbox(SimpleNamespace(retool_sandbox_allow_weaker=weaker, retool_allowed_modules="recipe"))
    assert recipe.config.module_preset == "recipe" and "sympy" in recipe.config.allowed_modules
    assert (await recipe.execute_code("import sympy; print(sympy.Integer(6) * 7)")).strip() == "42"
    await rollout_slime.close_default_sandbox()
    listed = default_sandbox(SimpleNamespace(retool_sandbox_allow_weaker=weaker, retool_allowed_modules=["math"]))
    assert listed.config.allowed_modules == ("math",)
    await rollout_slime.close_default_sandbox()


@pytest.mark.parametrize("bad", ["numpy-everything", 7, ["math", 3]])
def test_a_bad_retool_allowed_modules_is_refused_naming_it(bad) -> None:
    from retool.integrations.slime.settings import modules_from_args
    from retool.sandbox import TOOL_CONFIGS, SandboxConfig

    with pytest.raises(ValueError, match="module_preset|retool_allowed_modules"):
        SandboxConfig.from_tool_configs(TOOL_CONFIGS, **modules_from_args(SimpleNamespace(retool_allowed_modules=bad)))
