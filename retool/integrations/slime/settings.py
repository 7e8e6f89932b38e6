"""miles/slime ``args`` and ``sampling_params`` read into our RolloutConfig and engine settings.

Contract:
- :data:`RETOOL_ARGS` names every ``retool_*`` attribute we read, with its default. miles and slime
  have no ``add_arguments`` hook for a custom generate function, so these arrive through
  ``--custom-config-path FILE.yaml`` (the frameworks ``yaml.safe_load`` it and ``setattr(args, k, v)``
  each key). :func:`check_retool_args` raises ``ValueError`` naming any other ``retool_*``
  attribute (a typo in that file would otherwise be ignored silently).
- :func:`sampling_from_dict`: the framework's ``sampling_params`` dict (SGLang's names) as
  :class:`SamplingParams`; ``custom_params`` passes through unchanged.
- :func:`config_from_args` ``(args, sampling_params, *, evaluation=False, prompt_len=None)``:
  the response budget is ``rollout_max_response_len`` (else the dict's ``max_new_tokens``); in
  evaluation the dict's ``max_new_tokens`` (the eval dataset's ``max_response_len``, which the
  framework resolves from ``--eval-max-response-len``), else ``eval_max_response_len``, else the
  rollout one. The context cap is ``rollout_max_context_len`` (evaluation: ``eval_max_context_len``,
  else the rollout one); unset, there is no cap beyond the budget, as in the frameworks
  (``max_context_len = prompt_len + budget``). Evaluation reads missing sampling keys from
  ``eval_temperature`` / ``eval_top_p`` / ``eval_top_k``. ``apply_chat_template_kwargs`` (the
  frameworks' ``--apply-chat-template-kwargs``) reach our chat template rendering too.
- :func:`engine_retries` ``(args) -> (max_retries, interval_s)``: by default miles's own HTTP
  helper's schedule, 60 attempts 1 s apart; :func:`engine_timeout_s`: one request's time limit
  (default an hour: a 16k-token eval turn must not time out and be generated again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retool.rollout.config import RolloutConfig, SamplingParams

__all__ = ["RETOOL_ARGS", "check_retool_args", "config_from_args", "context_cap", "engine_retries", "engine_timeout_s",
           "modules_from_args",
           "sampling_from_dict"]

# name -> (default, what it sets); the README's --custom-config-path example lists the same keys
RETOOL_ARGS: dict[str, tuple[Any, str]] = {
    "retool_max_turns": (16, "model turns per sample at most"),
    "retool_max_tool_calls": (16, "executed tool calls per sample at most"),
    "retool_system_prompt": (None, "a system turn for prompts without one"),
    "retool_dialect": ("qwen3", "tool-call format: qwen3 (<tool_call> JSON) or retool-code (<code>/<interpreter>, the published ReTool checkpoint's)"),
    "retool_max_abort_retries": (0, "reruns from clean state of a sample the engine aborted"),
    "retool_engine_retries": (59, "HTTP retries of one request (transport errors, 5xx, 408, 429)"),
    "retool_engine_retry_interval_s": (1.0, "seconds between HTTP retries"),
    "retool_engine_timeout_s": (3600.0, "seconds one generate request may take (miles's client waits without limit)"),
    "retool_sandbox_allow_weaker": (False, "run the sandbox without the kernel layers this host lacks"),
    "retool_sandbox_url": (None, "run tool calls on a `retool sandbox serve` farm at this URL instead of in-process"),
    "retool_sandbox_token_file": (None, "file whose first line is the farm's bearer token"),
    "retool_allowed_modules": (None, "the in-process sandbox's modules: a preset name ('recipe': numpy, sympy, mpmath, ... "
                                     "pre-imported) or a list of module names (null: TOOL_CONFIGS's)"),
}


def check_retool_args(args: Any) -> None:
    """Raise ``ValueError`` naming every ``retool_*`` attribute of ``args`` that we do not read."""
    names = vars(args) if hasattr(args, "__dict__") else {}
    unknown = sorted(k for k in names if k.startswith("retool_") and k not in RETOOL_ARGS)
    if unknown:
        raise ValueError(f"unknown retool settings {unknown} (from --custom-config-path?); known: {sorted(RETOOL_ARGS)}")


def _arg(args: Any, name: str) -> Any:
    value = getattr(args, name, None)
    return RETOOL_ARGS[name][0] if value is None else value


def sampling_from_dict(params: Mapping[str, Any]) -> SamplingParams:
    """slime's ``sampling_params`` dict (SGLang's names) as our SamplingParams."""
    stop = params.get("stop") or ()
    return SamplingParams(
        temperature=float(params.get("temperature", 1.0)),
        top_p=float(params.get("top_p", 1.0)),
        top_k=int(params.get("top_k", -1)),
        max_new_tokens=int(params.get("max_new_tokens", 8192)),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
        stop_token_ids=tuple(params.get("stop_token_ids") or ()),
        seed=params.get("sampling_seed"),
        ignore_eos=bool(params.get("ignore_eos") or False),
        custom_params=params.get("custom_params"),
    )


def _eval_sampling(args: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for key in ("temperature", "top_p", "top_k"):
        if out.get(key) is None:
            value = getattr(args, f"eval_{key}", None)
            value = getattr(args, f"rollout_{key}", None) if value is None else value
            if value is not None:
                out[key] = value
            else:
                out.pop(key, None)
    return out


def _budget(args: Any, params: Mapping[str, Any], evaluation: bool) -> int:
    if evaluation:
        for value in (params.get("max_new_tokens"), getattr(args, "eval_max_response_len", None),
                      getattr(args, "rollout_max_response_len", None)):
            if value:
                return int(value)
        return 8192
    return int(getattr(args, "rollout_max_response_len", None) or params.get("max_new_tokens") or 8192)


def context_cap(args: Any, *, evaluation: bool = False) -> int | None:
    """The prompt + response cap the framework applies, None when it applies none."""
    cap = getattr(args, "eval_max_context_len", None) if evaluation else None
    cap = getattr(args, "rollout_max_context_len", None) if cap is None else cap
    return None if cap is None else int(cap)


def config_from_args(args: Any, sampling_params: Mapping[str, Any], *, evaluation: bool = False,
                     prompt_len: int | None = None) -> RolloutConfig:
    params = _eval_sampling(args, sampling_params) if evaluation else sampling_params
    sampling = sampling_from_dict(params)
    budget = _budget(args, params, evaluation)
    cap = context_cap(args, evaluation=evaluation)
    return RolloutConfig(
        max_turns=int(_arg(args, "retool_max_turns")),
        max_tool_calls=int(_arg(args, "retool_max_tool_calls")),  # an explicit 0 (a no-tool run) is kept
        rollout_max_response_len=budget,
        max_context_len=cap if cap is not None else (prompt_len or 0) + budget,
        sampling=sampling,
        n_samples_per_prompt=1,
        system_prompt=getattr(args, "retool_system_prompt", None),
        dialect=str(_arg(args, "retool_dialect")),
        max_abort_retries=int(_arg(args, "retool_max_abort_retries")),
        chat_template_kwargs=dict(getattr(args, "apply_chat_template_kwargs", None) or {}),
    )


def modules_from_args(args: Any) -> dict[str, Any]:
    """``SandboxConfig`` overrides from ``retool_allowed_modules``: a preset name selects
    ``module_preset``, a list of names is ``allowed_modules``; unset, none (``TOOL_CONFIGS`` decides).
    Anything else raises ``ValueError`` naming the setting (SandboxConfig names a bad preset or module)."""
    value = getattr(args, "retool_allowed_modules", None)
    if value is None:
        return {}
    if isinstance(value, str):
        return {"module_preset": value}
    if isinstance(value, (list, tuple)) and all(isinstance(m, str) for m in value):
        return {"allowed_modules": tuple(value)}
    raise ValueError(f"retool_allowed_modules must be a preset name or a list of module names, got {value!r}")


def engine_retries(args: Any) -> tuple[int, float]:
    """(HTTP retries, seconds between them) for the engine client (see the module docstring)."""
    return int(_arg(args, "retool_engine_retries")), float(_arg(args, "retool_engine_retry_interval_s"))


def engine_timeout_s(args: Any) -> float:
    """Seconds one request may take before it counts as a transport error (and is retried)."""
    return float(_arg(args, "retool_engine_timeout_s"))
