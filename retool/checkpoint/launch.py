"""The launch-flags check: the architecture a Megatron launch builds, field by field against the HF config.

Why: miles/slime build the model from the launch flags (``MODEL_ARGS`` of a model script such as
miles's ``scripts/models/qwen3-4B.sh``, whose ``--rotary-base`` defaults to 1000000), not from the
checkpoint, and a resumed or reference load (``--finetune``) skips Megatron-LM's stored-args
comparison. RoPE has no weights, so a wrong ``--rotary-base`` loads silently and garbles every
generation; Qwen3-4B-Instruct-2507 needs 5000000.

Contract (pure: no I/O, no torch):
- :func:`parse_flags` reads Megatron-LM flags (``--flag value``, ``--flag=value``, switches) into
  :class:`LaunchFlags`; flags that do not shape the model are kept in ``ignored``. A value that
  does not parse, or a value flag without a value, raises ``ValueError`` naming flag and value.
- :func:`launch_architecture` applies Megatron-LM's own defaults where a flag is absent
  (``--rotary-base`` 10000, ``--norm-epsilon`` 1e-5, ``--normalization`` LayerNorm, linear bias on,
  ``--num-query-groups`` = heads without ``--group-query-attention``, ``--kv-channels`` = hidden /
  heads, ``--ffn-hidden-size`` 4h, or int(8h/3 / 64) * 64 with ``--swiglu``, learned absolute
  positions unless ``--position-embedding-type rope`` or ``--use-rotary-position-embeddings``,
  padded vocab = vocab rounded up to ``--make-vocab-size-divisible-by`` (128) x TP).
- :func:`check_launch` compares every architecture field with :class:`MegatronArgs` derived from
  the HF config and returns one :class:`retool.checkpoint.args.FieldCheck` per field; a mismatch's
  message names the flag, both values, what it breaks and the fix (``fix: --rotary-base 5000000``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from retool.checkpoint.args import FieldCheck, MegatronArgs

# flag -> value type; the switches below take no value.
VALUE_FLAGS: dict[str, type] = {
    "--num-layers": int, "--hidden-size": int, "--ffn-hidden-size": int, "--num-attention-heads": int,
    "--num-query-groups": int, "--kv-channels": int, "--norm-epsilon": float, "--rotary-base": float,
    "--rotary-percent": float, "--vocab-size": int, "--make-vocab-size-divisible-by": int,
    "--tensor-model-parallel-size": int, "--normalization": str, "--position-embedding-type": str,
}
SWITCHES = ("--swiglu", "--qk-layernorm", "--group-query-attention", "--untie-embeddings-and-output-weights",
            "--disable-bias-linear", "--add-qkv-bias", "--use-rotary-position-embeddings")


@dataclass(frozen=True, kw_only=True)
class LaunchFlags:
    values: dict[str, Any] = field(default_factory=dict)  # flag -> parsed value (last one wins)
    switches: frozenset[str] = frozenset()
    ignored: tuple[str, ...] = ()  # flags that do not shape the model

    def has(self, switch: str) -> bool:
        return switch in self.switches


def _parse_value(flag: str, raw: str) -> Any:
    kind = VALUE_FLAGS[flag]
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{flag} takes {'an integer' if kind is int else 'a number' if kind is float else 'a value'}, "
                         f"got {raw!r}") from None
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{flag} must be finite, got {raw!r}")
    return value


def parse_flags(tokens: Sequence[str]) -> LaunchFlags:
    """Megatron-LM flags -> :class:`LaunchFlags` (see the module contract)."""
    values: dict[str, Any] = {}
    switches: set[str] = set()
    ignored: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token.startswith("--"):
            continue  # a value of an ignored flag, or a word before the flags
        flag, eq, inline = token.partition("=")
        if flag in VALUE_FLAGS:
            if eq:
                raw = inline
            elif i < len(tokens) and not tokens[i].startswith("--"):
                raw, i = tokens[i], i + 1
            else:
                raise ValueError(f"{flag} needs a value")
            values[flag] = _parse_value(flag, raw)
        elif flag in SWITCHES:
            if eq:
                raise ValueError(f"{flag} is a switch and takes no value, got {token!r}")
            switches.add(flag)
        else:
            ignored.append(flag)
    return LaunchFlags(values=values, switches=frozenset(switches), ignored=tuple(ignored))


def launch_architecture(flags: LaunchFlags) -> dict[str, Any]:
    """The architecture Megatron-LM builds from these flags (its defaults where a flag is absent)."""
    v = flags.values
    hidden, heads = v.get("--hidden-size"), v.get("--num-attention-heads")
    ffn = v.get("--ffn-hidden-size")
    if ffn is None and hidden is not None:
        ffn = int((4 * hidden * 2 / 3) / 64) * 64 if flags.has("--swiglu") else 4 * hidden
    groups = v.get("--num-query-groups", 1) if flags.has("--group-query-attention") else heads
    kv = v.get("--kv-channels")
    if kv is None and hidden is not None and heads:
        kv = hidden // heads
    position = "rope" if flags.has("--use-rotary-position-embeddings") else v.get("--position-embedding-type",
                                                                                   "learned_absolute")
    vocab = v.get("--vocab-size")
    multiple = v.get("--make-vocab-size-divisible-by", 128) * v.get("--tensor-model-parallel-size", 1)
    return {
        "rotary_base": v.get("--rotary-base", 10000.0), "num_layers": v.get("--num-layers"), "hidden_size": hidden,
        "ffn_hidden_size": ffn, "num_attention_heads": heads, "num_query_groups": groups, "kv_channels": kv,
        "norm_epsilon": v.get("--norm-epsilon", 1e-5), "normalization": v.get("--normalization", "LayerNorm"),
        "qk_layernorm": flags.has("--qk-layernorm"), "swiglu": flags.has("--swiglu"),
        "tie_embeddings": not flags.has("--untie-embeddings-and-output-weights"),
        "add_bias_linear": not flags.has("--disable-bias-linear"), "add_qkv_bias": flags.has("--add-qkv-bias"),
        "position_embedding_type": position, "rotary_percent": v.get("--rotary-percent", 1.0),
        "vocab_size": vocab, "padded_vocab_size": None if vocab is None else -(-vocab // multiple) * multiple,
    }


# field -> (launch flag, HF config name, what a mismatch breaks)
LAUNCH_FIELDS: dict[str, tuple[str, str, str]] = {
    "rotary_base": ("--rotary-base", "rope_theta", "generations will be garbled"),
    "num_layers": ("--num-layers", "num_hidden_layers", "the checkpoint's layers do not fit the model"),
    "hidden_size": ("--hidden-size", "hidden_size", "weight shapes disagree: the checkpoint will not load"),
    "ffn_hidden_size": ("--ffn-hidden-size", "intermediate_size", "MLP shapes disagree: the checkpoint will not load"),
    "num_attention_heads": ("--num-attention-heads", "num_attention_heads", "attention is split into the wrong heads"),
    "num_query_groups": ("--num-query-groups", "num_key_value_heads", "the fused QKV weight is read in the wrong GQA layout"),
    "kv_channels": ("--kv-channels", "head_dim", "heads have the wrong size: the checkpoint will not load"),
    "norm_epsilon": ("--norm-epsilon", "rms_norm_eps", "every RMSNorm is computed differently: logits drift"),
    "normalization": ("--normalization", "RMSNorm", "the norms compute a different function"),
    "qk_layernorm": ("--qk-layernorm", "q_norm/k_norm", "query/key norms are skipped: attention is wrong"),
    "swiglu": ("--swiglu", "hidden_act=silu (gated)", "the MLP computes a different function"),
    "tie_embeddings": ("--untie-embeddings-and-output-weights", "tied embeddings (tie_word_embeddings)",
                       "the output layer is missing or ignored"),
    "add_bias_linear": ("--disable-bias-linear", "linear bias", "bias parameters that the HF model does not have"),
    "add_qkv_bias": ("--add-qkv-bias", "attention_bias", "bias parameters that the HF model does not have"),
    "position_embedding_type": ("--position-embedding-type", "RoPE", "positions are encoded the wrong way"),
    "rotary_percent": ("--rotary-percent", "full-width RoPE", "only part of each head is rotated: garbled"),
    "vocab_size": ("--vocab-size", "vocab_size", "Megatron takes the tokenizer's size: the embedding will not load"),
    "padded_vocab_size": ("--make-vocab-size-divisible-by", "embedding rows",
                          "the embedding table has the wrong number of rows: the checkpoint will not load"),
}
_INVERTED = {"tie_embeddings", "add_bias_linear"}  # the switch being present means False


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e18:
        return str(int(value))
    return "unset" if value is None else str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9)
    return a == b


def expected_architecture(hf: MegatronArgs) -> dict[str, Any]:
    return {**{name: getattr(hf, name) for name in LAUNCH_FIELDS if hasattr(hf, name)},
            "position_embedding_type": "rope", "rotary_percent": 1.0}


def _fix(name: str, want: Any, hf: MegatronArgs, tp: int) -> str:
    flag = LAUNCH_FIELDS[name][0]
    if name in ("qk_layernorm", "swiglu", "add_qkv_bias", "tie_embeddings", "add_bias_linear"):
        present = (not want) if name in _INVERTED else bool(want)
        return f"{'add' if present else 'remove'} {flag}"
    if name == "num_query_groups":
        return f"--group-query-attention --num-query-groups {want}"
    if name == "padded_vocab_size":
        return _vocab_fix(want, hf, tp)
    return f"{flag} {_num(want)}"


def _vocab_fix(rows: int, hf: MegatronArgs, tp: int) -> str:
    """``--vocab-size`` plus the largest ``--make-vocab-size-divisible-by`` that keeps ``rows`` at this TP."""
    for divisor in (128, 64, 32, 16, 8, 4, 2, 1):
        multiple = divisor * tp
        if -(-hf.vocab_size // multiple) * multiple == rows:
            return f"--vocab-size {hf.vocab_size} --make-vocab-size-divisible-by {divisor}"
    return f"--vocab-size {hf.vocab_size} and a --tensor-model-parallel-size whose padding keeps {rows} rows"


def _shown(name: str, got: Any) -> str:
    flag = LAUNCH_FIELDS[name][0]
    if isinstance(got, bool):
        present = (not got) if name in _INVERTED else got
        return f"{flag} {'present' if present else 'absent'}"
    if name == "padded_vocab_size":
        return f"the launch pads the vocabulary to {_num(got)} rows"
    return f"{flag} {_num(got)}"


def check_launch(flags: LaunchFlags, hf: MegatronArgs) -> tuple[FieldCheck, ...]:
    """One :class:`FieldCheck` per :data:`LAUNCH_FIELDS` entry: the launch (``stored``) vs the HF model."""
    got_all, want_all = launch_architecture(flags), expected_architecture(hf)
    tp = flags.values.get("--tensor-model-parallel-size", 1)
    checks = []
    for name, (_flag, hf_name, breaks) in LAUNCH_FIELDS.items():
        got, want = got_all[name], want_all[name]
        ok = _same(got, want)
        if isinstance(want, bool):
            has = f"{'has' if want else 'lacks'} {hf_name}"
        else:
            has = f"has {hf_name} {_num(want)}"
        message = "ok" if ok else f"{_shown(name, got)} but the HF model {has}: {breaks}; fix: {_fix(name, want, hf, tp)}"
        checks.append(FieldCheck(field=name, hf_name=hf_name, stored=got, expected=want, ok=ok, message=message))
    return tuple(checks)
