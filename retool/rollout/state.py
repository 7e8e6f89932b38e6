"""Per-sample rollout state: a set-once status and the token/mask/logprob trajectory with its invariants.

Contract:
- :class:`StatusCell` holds one of ``completed``, ``truncated``, ``aborted``, ``failed`` (the
  values of miles/slime's ``Sample.Status``) with its reason. It is set exactly once: a second
  ``set`` raises :class:`RolloutInvariantError` naming both values (a later branch can never
  overwrite TRUNCATED with COMPLETED).
- :class:`Trajectory` is built token-in/token-out: ``add_model(ids, logprobs)`` appends sampled ids
  with mask 1 and their logprobs, ``add_tool(ids)`` appends tool-turn ids with mask 0 and logprob
  0.0. Nothing is ever re-tokenized. ``check(where)`` asserts ``len(tokens) == prompt_len +
  response_length``, ``len(loss_mask) == len(rollout_log_probs) == response_length`` and
  :func:`retool.text.masking.verify_loss_mask`; a failure is *our* bug and raises
  :class:`RolloutInvariantError` naming the values, never a model-facing result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retool.text.masking import verify_loss_mask

STATUSES: tuple[str, ...] = ("completed", "truncated", "aborted", "failed")


class RolloutInvariantError(AssertionError):
    """Our own bookkeeping broke (never the model's fault)."""


class StatusCell:
    """A sample's final status, set once."""

    def __init__(self) -> None:
        self._value: str | None = None
        self._reason = ""

    def set(self, value: str, reason: str = "") -> None:
        if value not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {value!r}")
        if self._value is not None:
            raise RolloutInvariantError(
                f"status already set to {self._value!r} ({self._reason}); refusing to overwrite it with {value!r} ({reason})"
            )
        self._value, self._reason = value, reason

    @property
    def is_set(self) -> bool:
        return self._value is not None

    @property
    def value(self) -> str:
        if self._value is None:
            raise RolloutInvariantError("status read before it was set")
        return self._value

    @property
    def reason(self) -> str:
        return self._reason


class Trajectory:
    """Prompt ids plus the response built turn by turn from generated and tool ids."""

    def __init__(self, prompt_ids: Sequence[int], tokenizer: Any, *, verify_masks: bool = True, dialect: str = "qwen3") -> None:
        if not prompt_ids:
            raise ValueError("prompt_ids is empty")
        self.prompt_ids: tuple[int, ...] = tuple(int(t) for t in prompt_ids)
        self.tokenizer = tokenizer
        self.verify_masks = verify_masks
        self.dialect = dialect  # the mask rule verify_loss_mask checks
        self.response_ids: list[int] = []
        self.loss_mask: list[int] = []
        self.logprobs: list[float] = []
        self.tool_tokens = 0

    @property
    def prompt_len(self) -> int:
        return len(self.prompt_ids)

    @property
    def response_length(self) -> int:
        return len(self.response_ids)

    @property
    def tokens(self) -> list[int]:
        return [*self.prompt_ids, *self.response_ids]

    def add_model(self, ids: Sequence[int], logprobs: Sequence[float]) -> None:
        if len(ids) != len(logprobs):
            raise RolloutInvariantError(f"model turn has {len(ids)} ids but {len(logprobs)} logprobs")
        self.response_ids.extend(int(t) for t in ids)
        self.loss_mask.extend([1] * len(ids))
        self.logprobs.extend(float(x) for x in logprobs)

    def add_tool(self, ids: Sequence[int]) -> None:
        self.response_ids.extend(int(t) for t in ids)
        self.loss_mask.extend([0] * len(ids))
        self.logprobs.extend([0.0] * len(ids))
        self.tool_tokens += len(ids)

    def void(self) -> None:
        """Train on nothing of this trajectory: every loss-mask entry 0 and every logprob 0.0, the
        lengths made consistent with the response (for a sample whose rollout failed midway)."""
        n = self.response_length
        self.loss_mask = [0] * n
        self.logprobs = [0.0] * n

    def check(self, where: str) -> None:
        tokens = self.tokens
        n = self.response_length
        if len(tokens) != self.prompt_len + n:
            raise RolloutInvariantError(f"{where}: len(tokens)={len(tokens)} != prompt_len {self.prompt_len} + response_length {n}")
        if not len(self.loss_mask) == len(self.logprobs) == n:
            raise RolloutInvariantError(
                f"{where}: len(loss_mask)={len(self.loss_mask)}, len(rollout_log_probs)={len(self.logprobs)}, response_length={n}"
            )
        zero_lp = [i for i, (m, lp) in enumerate(zip(self.loss_mask, self.logprobs)) if m == 0 and lp != 0.0]
        if zero_lp:
            raise RolloutInvariantError(f"{where}: tool token {zero_lp[0]} has logprob {self.logprobs[zero_lp[0]]} != 0.0")
        if self.verify_masks:
            mask = [0] * self.prompt_len + self.loss_mask
            result = verify_loss_mask(tokens, mask, self.tokenizer, self.prompt_len, self.dialect)
            if not result.ok:
                raise RolloutInvariantError(f"{where}: verify_loss_mask failed: {result.reason} at tokens {result.span}")
