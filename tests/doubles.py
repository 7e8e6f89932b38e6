"""Test double for the Engine edge: emits scripted token sequences with exact logprobs.

Each call to ``generate`` takes the next script entry (or, with ``by_turn=True``, the entry of the
conversation's turn: the number of tool turns already in its input, so concurrent samples each
follow the script): a string (tokenized once here: these are
"the model's sampled ids") or the word ``"ABORT"``. Like a real engine it honours stop strings
(kept), stop token ids / EOS (kept) and ``max_new_tokens`` ("length"). The logprob of the k-th
emitted token of call (or turn) c is ``-(c + 1) / 100 - k / 1000``, so every value is distinguishable.
With ``honor_stops=False`` stop strings are ignored (an engine whose turn holds several calls).
It records every request's input ids and params.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retool.rollout.engines import Generation, SamplingParams


def scripted_logprobs(call: int, n: int) -> tuple[float, ...]:
    return tuple(-(call + 1) / 100 - k / 1000 for k in range(n))


class ScriptedEngine:
    def __init__(self, tokenizer: Any, script: Sequence[str], *, by_turn: bool = False, honor_stops: bool = True) -> None:
        self.tokenizer = tokenizer
        self.script = list(script)
        self.by_turn = by_turn
        self.honor_stops = honor_stops
        self.inputs: list[list[int]] = []
        self.params: list[SamplingParams] = []
        self.emitted: list[tuple[int, ...]] = []

    def ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    async def generate(self, input_ids: Sequence[int], params: SamplingParams) -> Generation:
        call = len(self.inputs)
        if self.by_turn:
            call = self.tokenizer.decode(list(input_ids), skip_special_tokens=False).count("<|im_start|>assistant") - 1
        self.inputs.append(list(input_ids))
        self.params.append(params)
        entry = self.script[call] if call < len(self.script) else self.script[-1]
        if entry == "ABORT":
            self.emitted.append(())
            return Generation.aborted("scripted abort")
        ids = self.ids(entry)
        stop_ids = set(params.stop_token_ids) | ({self.tokenizer.eos_token_id} if not params.ignore_eos else set())
        out: list[int] = []
        reason, matched = "length", None
        for token in ids:
            if len(out) >= params.max_new_tokens:
                break
            out.append(token)
            if token in stop_ids:
                reason, matched = "stop", token
                break
            text = self.tokenizer.decode(out, skip_special_tokens=False)
            hit = next((s for s in params.stop if s in text), None) if self.honor_stops else None
            if hit is not None:
                reason, matched = "stop", hit
                break
        else:
            if len(out) < params.max_new_tokens:
                reason = "stop"  # the script ended: treat as EOS-free end of turn
        self.emitted.append(tuple(out))
        return Generation(output_ids=tuple(out), output_logprobs=scripted_logprobs(call, len(out)),
                          finish_reason=reason, matched=matched,
                          text=self.tokenizer.decode(out, skip_special_tokens=False))
