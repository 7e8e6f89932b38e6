"""The rollout's leaf: its config, the sampling parameters, and the two edges it talks to.

Contract (imports nothing of the rollout, so every other rollout module and every engine can
depend on it without a cycle):
- :class:`SamplingParams` (frozen; validated on construction; ``to_sglang()`` is the
  ``sampling_params`` object of SGLang's ``/generate`` with ``no_stop_trim=True`` and
  ``skip_special_tokens=False``) and :class:`Generation` (``output_ids`` and ``output_logprobs`` of
  the same length, checked; ``finish_reason`` stop | length | abort; an abort carries no tokens).
- :class:`Engine`: ``await engine.generate(input_ids, params) -> Generation``; an engine that
  cannot serve at all raises :class:`EngineError`.
- :class:`Sandbox`: ``await sandbox.execute_code(code) -> str`` (``retool.sandbox.PythonSandbox``
  is one; with ``run`` and ``config`` too, per-call statuses are recorded).
- :class:`RolloutConfig`: the limits and sampling of one rollout (frozen, keyword-only; bad values
  raise ``ValueError`` naming the field).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from retool.text.dialect import DialectName, get_dialect
from retool.text.grammar import DEFAULT_TOOLS, ToolSpec

__all__ = ["Engine", "EngineError", "FinishReason", "Generation", "RolloutConfig", "SamplingParams", "Sandbox"]

FinishReason = Literal["stop", "length", "abort"]


class EngineError(RuntimeError):
    """The engine could not serve a request at all (server down, bad request): not the model's fault."""


@dataclass(frozen=True, kw_only=True)
class SamplingParams:
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature (0: greedy)"})
    top_p: float = 1.0
    top_k: int = -1  # -1: no top-k (SGLang's convention)
    max_new_tokens: int = field(default=1024, metadata={"help": "tokens per model turn at most"})
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    seed: int | None = None
    ignore_eos: bool = False
    # SGLang's ``custom_params`` passed through as given (slime sets ``{"return_top_p_token_ids": True}``
    # when ``--rollout-top-p`` < 1); None: not sent
    custom_params: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.temperature < float("inf"):  # NaN fails every comparison
            raise ValueError(f"temperature must be finite and >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k == 0 or self.top_k < -1:
            raise ValueError(f"top_k must be -1 or >= 1, got {self.top_k}")
        if self.max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        object.__setattr__(self, "stop", tuple(self.stop))
        object.__setattr__(self, "stop_token_ids", tuple(int(t) for t in self.stop_token_ids))

    def replace(self, **changes: Any) -> SamplingParams:
        return dataclasses.replace(self, **changes)

    def to_sglang(self) -> dict[str, Any]:
        """The ``sampling_params`` object of SGLang's ``/generate`` request."""
        out: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "max_new_tokens": self.max_new_tokens,
            "stop": list(self.stop),
            "stop_token_ids": list(self.stop_token_ids),
            "no_stop_trim": True,
            "skip_special_tokens": False,
            "spaces_between_special_tokens": False,
            "ignore_eos": self.ignore_eos,
        }
        if self.seed is not None:
            out["sampling_seed"] = self.seed
        if self.custom_params is not None:
            out["custom_params"] = dict(self.custom_params)
        return out

    @property
    def wants_top_p_token_ids(self) -> bool:
        """slime's request for the kept nucleus of every sampled token (``custom_params``)."""
        return bool((self.custom_params or {}).get("return_top_p_token_ids"))


@dataclass(frozen=True, kw_only=True)
class Generation:
    output_ids: tuple[int, ...]
    output_logprobs: tuple[float, ...]
    finish_reason: FinishReason
    matched: str | int | None = None
    text: str = ""
    abort_reason: str = ""
    # from SGLang's meta_info, when the engine reports them (miles's Sample.update_from_meta_info reads
    # the same keys): the serving weights' version, prompt tokens and how many of them hit the prefix cache
    weight_version: str | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    # the kept top-p nucleus per output token, ragged: token i kept
    # ``top_p_token_ids[top_p_token_offsets[i]:top_p_token_offsets[i + 1]]``; None: not reported
    top_p_token_ids: tuple[int, ...] | None = None
    top_p_token_offsets: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.output_ids) != len(self.output_logprobs):
            raise ValueError(
                f"output_ids ({len(self.output_ids)}) and output_logprobs ({len(self.output_logprobs)}) differ in length"
            )
        if self.finish_reason not in ("stop", "length", "abort"):
            raise ValueError(f"finish_reason must be stop|length|abort, got {self.finish_reason!r}")
        if (self.top_p_token_ids is None) != (self.top_p_token_offsets is None):
            raise ValueError("top_p_token_ids and top_p_token_offsets come together")
        offsets = self.top_p_token_offsets
        if offsets is not None and (len(offsets) != len(self.output_ids) + 1 or offsets[0] != 0
                                    or offsets[-1] != len(self.top_p_token_ids or ())
                                    or any(b < a for a, b in zip(offsets, offsets[1:]))):
            raise ValueError(f"top_p_token_offsets {list(offsets)[:8]}... do not span {len(self.output_ids)} tokens "
                             f"over {len(self.top_p_token_ids or ())} ids")

    @classmethod
    def aborted(cls, reason: str, **meta: Any) -> Generation:
        return cls(output_ids=(), output_logprobs=(), finish_reason="abort", abort_reason=reason, **meta)


@runtime_checkable
class Engine(Protocol):
    async def generate(self, input_ids: Sequence[int], params: SamplingParams) -> Generation: ...


@runtime_checkable
class Sandbox(Protocol):
    """The code interpreter as the rollout needs it (``retool.sandbox.PythonSandbox`` is one).

    A sandbox that also has ``run(code) -> ExecutionResult`` and ``config`` gives per-call
    statuses; with ``execute_code`` alone every executed call is recorded as ``"ok"``.
    """

    async def execute_code(self, code: str) -> str: ...


@dataclass(frozen=True, kw_only=True)
class RolloutConfig:
    max_turns: int = field(default=16, metadata={"help": "model turns per sample at most"})
    max_tool_calls: int = field(default=16, metadata={"help": "executed tool calls per sample at most"})
    rollout_max_response_len: int = field(default=8192, metadata={"help": "response budget: model and tool tokens after the prompt"})
    max_context_len: int = field(default=9216, metadata={"help": "prompt + response tokens at most"})
    tools: tuple[ToolSpec, ...] = DEFAULT_TOOLS
    sampling: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=1.0, max_new_tokens=8192))
    n_samples_per_prompt: int = field(default=8, metadata={"help": "samples per prompt (the GRPO group size)"})
    concurrent_tool_calls: bool = True  # the calls of one turn run concurrently
    max_concurrent_samples: int | None = None  # None: every sample of the batch in flight
    max_abort_retries: int = 0
    system_prompt: str | None = None  # None: the dialect's own (retool-code: its format instructions)
    dialect: DialectName = field(default="qwen3", metadata={"help": "tool-call format: qwen3 (<tool_call> JSON) or retool-code (<code>/<interpreter>)"})
    chat_template_kwargs: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None  # per-turn seeds derived from it; None: the engine's own randomness
    verify_masks: bool = True  # run verify_loss_mask after every turn

    def __post_init__(self) -> None:
        for name in ("max_turns", "rollout_max_response_len", "max_context_len", "n_samples_per_prompt"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_tool_calls < 0 or self.max_abort_retries < 0:
            raise ValueError(f"max_tool_calls/max_abort_retries must be >= 0, got {self.max_tool_calls}/{self.max_abort_retries}")
        get_dialect(self.dialect)  # an unknown name raises, naming the choices
        if self.max_concurrent_samples is not None and self.max_concurrent_samples < 1:
            raise ValueError(f"max_concurrent_samples must be >= 1 or None, got {self.max_concurrent_samples}")
