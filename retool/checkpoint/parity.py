"""The rotary-base check: a converted megatron-core checkpoint against its Hugging Face original.

Contract:
- :func:`check` compares the checkpoint's stored Megatron ``args`` to the HF config field by
  field (:func:`retool.checkpoint.args.compare_args`), then builds the megatron-core model the way
  Megatron would (from the stored args, so a wrong ``rotary_base`` is used as stored), loads its
  weights, runs it and the HF model on the same tokens in float32 and compares the logits.
- ``megatron_dir`` is the root, the iteration directory or a flat torch_dist directory; the
  report's ``layout_ok`` is the frameworks' rule (:func:`retool.checkpoint.layout.is_megatron_checkpoint`),
  and a directory they would take for HF weights is a failure.
- Mismatches are results, not exceptions: :class:`CheckReport` has ``ok`` and ``failures`` (one
  readable line each, naming the field, both values and what it breaks). A checkpoint whose
  weights cannot even be loaded under its stored args is a failed logits check with the reason.
  Bad paths or arguments raise (``FileNotFoundError``/``ValueError``) with the offending value.
- ``stored_overrides`` reads the checkpoint as if its stored args held these values (the field
  comparison and the model build both see them). A wrong ``rotary_base`` read this way is exactly
  the checkpoint a conversion with that base writes (the base is not in the weights), which is
  how ``retool verify`` proves the check catches it without a second conversion.
- Default tokens: 64 ids drawn from a fixed-seed generator over the vocabulary (positions far
  enough apart for a wrong rope base to show). ``device=None`` uses CUDA when present.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.distributed.checkpoint.api import CheckpointException

from retool.checkpoint.args import FieldCheck, MegatronArgs, compare_args, megatron_args_from_hf
from retool.checkpoint.conversion import load_megatron, load_stored_args, read_hf_config
from retool.checkpoint.layout import describe_layout, is_megatron_checkpoint
from retool.checkpoint.megatron_cpu import megatron_session

DEFAULT_ATOL = 1e-3
DEFAULT_NUM_TOKENS = 64


@dataclass(frozen=True, kw_only=True)
class LogitsCheck:
    ok: bool
    max_abs_diff: float | None  # None when the megatron model could not be built or loaded
    atol: float
    num_tokens: int
    device: str
    message: str


@dataclass(frozen=True, kw_only=True)
class CheckReport:
    hf_dir: str
    megatron_dir: str
    stored: MegatronArgs
    expected: MegatronArgs
    fields: tuple[FieldCheck, ...]
    logits: LogitsCheck | None  # None when the logits comparison was not requested
    layout_ok: bool = True  # False: miles/slime would take the directory for Hugging Face weights
    layout: str = ""

    @property
    def ok(self) -> bool:
        return self.layout_ok and all(f.ok for f in self.fields) and (self.logits is None or self.logits.ok)

    @property
    def failures(self) -> tuple[str, ...]:
        lines = [] if self.layout_ok else [f"layout: {self.layout}"]
        lines += [f.message for f in self.fields if not f.ok]
        if self.logits is not None and not self.logits.ok:
            lines.append(self.logits.message)
        return tuple(lines)

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)

        return {
            "ok": self.ok,
            "hf_dir": self.hf_dir,
            "megatron_dir": self.megatron_dir,
            "failures": list(self.failures),
            "layout_ok": self.layout_ok,
            "layout": self.layout,
            "fields": [{k: plain(v) for k, v in asdict(f).items()} for f in self.fields],
            "logits": None if self.logits is None else asdict(self.logits),
            "stored_args": asdict(self.stored),
            "expected_args": asdict(self.expected),
        }


def default_tokens(vocab_size: int, num_tokens: int = DEFAULT_NUM_TOKENS, *, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab_size, (1, num_tokens), generator=generator)  # (1, T)


def _as_batch(tokens: Any, vocab_size: int) -> torch.Tensor:
    ids = torch.as_tensor(tokens, dtype=torch.long)
    if ids.dim() == 1:
        ids = ids.unsqueeze(0)  # (1, T)
    if ids.dim() != 2 or ids.shape[1] == 0:
        raise ValueError(f"tokens must be a non-empty (T,) or (B, T) sequence, got shape {tuple(ids.shape)}")
    if int(ids.min()) < 0 or int(ids.max()) >= vocab_size:
        raise ValueError(f"token ids must lie in [0, {vocab_size}), got [{int(ids.min())}, {int(ids.max())}]")
    return ids  # (B, T)


def megatron_logits(model: Any, ids: torch.Tensor) -> torch.Tensor:
    """Logits of a megatron-core ``GPTModel`` with a causal mask (explicit: the default is CUDA-only)."""
    batch, length = ids.shape
    positions = torch.arange(length, device=ids.device).unsqueeze(0).expand(batch, -1)  # (B, T)
    mask = torch.triu(torch.ones(length, length, dtype=torch.bool, device=ids.device), diagonal=1)  # (T, T)
    with torch.no_grad():
        return model(ids, positions, attention_mask=mask[None, None]).float()  # (B, T, V_padded)


def hf_logits(hf_dir: str | os.PathLike[str], ids: torch.Tensor) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32, local_files_only=True)
    model = model.to(ids.device).eval()
    with torch.no_grad():
        return model(input_ids=ids).logits.float()  # (B, T, V)


def _compare_logits(hf_dir: str, megatron_dir: str, stored: MegatronArgs, expected: MegatronArgs,
                    tokens: Any, atol: float, device: str) -> LogitsCheck:
    ids = _as_batch(tokens if tokens is not None else default_tokens(expected.vocab_size), expected.vocab_size)
    ids = ids.to(device)  # (B, T)
    reference = hf_logits(hf_dir, ids)  # (B, T, V)
    num_tokens = int(ids.numel())
    with megatron_session():
        try:
            model, _ = load_megatron(megatron_dir, stored)
        except (Exception, CheckpointException) as exc:  # the stored args cannot hold these weights (a
            # torch_dist load failure is a CheckpointException, which derives from BaseException only)
            return LogitsCheck(ok=False, max_abs_diff=None, atol=atol, num_tokens=num_tokens, device=device,
                               message=f"the checkpoint does not load under its stored args: {type(exc).__name__}: "
                                       f"{str(exc).splitlines()[0][:300] if str(exc) else ''}")
        model = model.float().to(device)
        if int(ids.max()) >= stored.padded_vocab_size:
            return LogitsCheck(ok=False, max_abs_diff=None, atol=atol, num_tokens=num_tokens, device=device,
                               message=f"token ids reach {int(ids.max())} but the checkpoint has "
                                       f"{stored.padded_vocab_size} embedding rows")
        logits = megatron_logits(model, ids)  # (B, T, V_padded)
    vocab = min(reference.shape[-1], logits.shape[-1])
    diff = float((logits[..., :vocab] - reference[..., :vocab]).abs().max())  # max over (B, T, V)
    ok = diff <= atol
    message = (f"logits match the HF model within {atol:g} (max |diff| {diff:.3g} over {num_tokens} tokens)" if ok
               else f"logits differ from the HF model by {diff:.3g} > atol {atol:g} over {num_tokens} tokens: "
                    "the converted model computes a different function (garbled generations)")
    return LogitsCheck(ok=ok, max_abs_diff=diff, atol=atol, num_tokens=num_tokens, device=device, message=message)


def check(hf_dir: str | os.PathLike[str], megatron_dir: str | os.PathLike[str], *, tokens: Any = None,
          atol: float = DEFAULT_ATOL, device: str | None = None, compare_logits: bool = True,
          stored_overrides: Mapping[str, Any] | None = None) -> CheckReport:
    """Compare a converted checkpoint to its HF original (see the module contract)."""
    if not atol >= 0:
        raise ValueError(f"atol must be non-negative, got {atol!r}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    config = read_hf_config(hf_dir)
    expected = megatron_args_from_hf(config)
    stored = load_stored_args(megatron_dir)
    if stored_overrides:
        unknown = sorted(set(stored_overrides) - set(asdict(stored)))
        if unknown:
            raise ValueError(f"stored_overrides names no MegatronArgs field: {unknown}")
        stored = replace(stored, **dict(stored_overrides))
    fields = compare_args(stored, expected)
    logits = None
    if compare_logits:
        logits = _compare_logits(str(hf_dir), str(megatron_dir), stored, expected, tokens, atol, device)
    return CheckReport(hf_dir=str(Path(hf_dir)), megatron_dir=str(Path(megatron_dir)), stored=stored,
                       expected=expected, fields=fields, logits=logits, layout_ok=is_megatron_checkpoint(megatron_dir),
                       layout=describe_layout(megatron_dir))
