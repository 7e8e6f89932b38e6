"""The broken twin of each part ``retool verify`` checks: what each check must fail on.

Test doubles at the edges only: each is the real part with one defect (an encoder that masks the
end of turn or the tool tokens wrongly, a tokenizer whose ``<tool_call>`` is several tokens, an
always-true answer checker, a sandbox that runs code on the host, a conversion with a wrong
rotary base, a GRPO step with the advantage's sign flipped, a reward that ties every sample).
Named by ``pkg.module:name`` where a check takes its part through ``VerifyConfig``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from retool.text.masking import encode_sft


# -- masks: encoders -------------------------------------------------------------------------------


def _remask(ex: Any, kind: str, value: int, *, last_only: bool) -> Any:
    mask, pos = list(ex.loss_mask), 0
    for seg in ex.segments:
        if seg.kind == kind:
            span = range(pos + len(seg.ids) - 1, pos + len(seg.ids)) if last_only else range(pos, pos + len(seg.ids))
            for i in span:
                mask[i] = value
        pos += len(seg.ids)
    return dataclasses.replace(ex, loss_mask=tuple(mask))


def untrained_end_of_turn(tokenizer: Any, messages: Any) -> Any:
    """encode_sft, then every assistant turn's closing <|im_end|> masked 0: the model never learns to stop."""
    return _remask(encode_sft(tokenizer, messages), "model", 0, last_only=True)


def leaked_tool_tokens(tokenizer: Any, messages: Any) -> Any:
    """encode_sft, then every tool turn masked 1: the model is trained to write the tool's output."""
    return _remask(encode_sft(tokenizer, messages), "tool", 1, last_only=False)


# -- grammar: a tokenizer whose <tool_call> is not one token ---------------------------------------


def save_split_tool_call_tokenizer(tokenizer: Any, folder: Path) -> Path:
    """``tokenizer`` saved to ``folder`` without ``<tool_call>`` among its added tokens (the BPE splits it)."""
    tokenizer.save_pretrained(folder)
    path = folder / "tokenizer.json"
    data = json.loads(path.read_text())
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] != "<tool_call>"]
    path.write_text(json.dumps(data))
    return folder


# -- answers ---------------------------------------------------------------------------------------


def always_true(response: str, gold: str) -> bool:
    """A checker that credits everything: what a broken extractor looks like to the reward."""
    return True


# -- sandbox: code runs on the host, as the caller ---------------------------------------------------


class EscapingSandbox:
    """Runs each snippet in a plain ``python3 -I -S`` child: it reads host secrets and writes anywhere.

    Only the working directory is a scratch folder; nothing else is isolated. The child is killed
    at the timeout.
    """

    timeout_s = 5.0

    def __init__(self) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="escaping-sandbox-")

    async def execute_code(self, code: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", "-c", code, cwd=self._scratch.name,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return "Error: timed out"
        return out.decode("utf-8", "replace")

    def close(self) -> None:
        self._scratch.cleanup()


# -- conversion --------------------------------------------------------------------------------------


def wrong_base_convert(hf_dir: Any, out_dir: Any) -> Any:
    """The real conversion, forced to Qwen3's default rotary base 1e6 (the Instruct-2507 model needs 5e6)."""
    from retool.checkpoint import convert

    return convert(hf_dir, out_dir, rotary_base=1_000_000, force=True)


# -- pipeline --------------------------------------------------------------------------------------


def flipped_grpo_step(policy: Any, ref_model: Any, batch: Any, config: Any, optimizer: Any) -> Any:
    """The real GRPO step on negated rewards: every group-normalised advantage has its sign flipped."""
    from retool.train.grpo import grpo_step

    flipped = dataclasses.replace(batch, rewards=tuple(None if r is None else -r for r in batch.rewards))
    return grpo_step(policy, ref_model, flipped, config, optimizer)


def tied_reward(response: str, label: Any) -> float:
    """A reward that scores every response the same: a GRPO group without a direction."""
    return 0.5
