"""retool.checkpoint.launch (pure): the architecture a Megatron launch builds from its flags, against the HF config.

Facts used (stated from the sources): miles's ``scripts/models/qwen3-4B.sh`` MODEL_ARGS (its
``--rotary-base`` defaults to 1000000 through ``${MODEL_ARGS_ROTARY_BASE:-1000000}``) and
``scripts/models/qwen3-4B-Instruct-2507.sh`` (``--rotary-base 5000000``); Qwen3-4B-Instruct-2507's
config.json: 36 layers, hidden 2560, ffn 9728, 32 heads, 8 KV heads, head_dim 128, RMSNorm eps 1e-6,
q/k norms, vocab 151936, tied embeddings, rope_theta 5000000. Megatron-LM's defaults for absent
flags: ``megatron/training/arguments.py`` (``--rotary-base`` 10000, ``--norm-epsilon`` 1e-5,
``--normalization`` LayerNorm, ``--make-vocab-size-divisible-by`` 128, ffn 4h or int(8h/3/64)*64
with ``--swiglu``).
"""

from __future__ import annotations

import pytest

from retool.checkpoint import LAUNCH_FIELDS, check_launch, megatron_args_from_hf, parse_flags
from retool.checkpoint.launch import launch_architecture

QWEN3_4B_INSTRUCT_2507 = {
    "model_type": "qwen3", "num_hidden_layers": 36, "hidden_size": 2560, "intermediate_size": 9728,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-6,
    "vocab_size": 151936, "tie_word_embeddings": True, "hidden_act": "silu", "attention_bias": False,
    "max_position_embeddings": 262144, "rope_parameters": {"rope_type": "default", "rope_theta": 5000000.0},
}
HF = megatron_args_from_hf(QWEN3_4B_INSTRUCT_2507)

# miles scripts/models/qwen3-4B-Instruct-2507.sh MODEL_ARGS, as words
INSTRUCT_2507_FLAGS = ("--swiglu --num-layers 36 --hidden-size 2560 --ffn-hidden-size 9728 --num-attention-heads 32 "
                       "--group-query-attention --num-query-groups 8 --use-rotary-position-embeddings "
                       "--disable-bias-linear --normalization RMSNorm --norm-epsilon 1e-6 --rotary-base 5000000 "
                       "--vocab-size 151936 --kv-channels 128 --qk-layernorm").split()
# miles scripts/models/qwen3-4B.sh: the same, with the base model's --rotary-base default
QWEN3_4B_FLAGS = [("1000000" if prev == "--rotary-base" else word)
                  for prev, word in zip(["", *INSTRUCT_2507_FLAGS], INSTRUCT_2507_FLAGS)]


def _failures(tokens: list[str]) -> dict[str, str]:
    return {c.field: c.message for c in check_launch(parse_flags(tokens), HF) if not c.ok}


def _without(*switches: str) -> list[str]:
    return [t for t in INSTRUCT_2507_FLAGS if t not in switches]


def _replaced(flag: str, value: str) -> list[str]:
    tokens = list(INSTRUCT_2507_FLAGS)
    tokens[tokens.index(flag) + 1] = value
    return tokens


def test_the_instruct_2507_model_script_matches_its_hf_config() -> None:
    assert _failures(INSTRUCT_2507_FLAGS) == {}


def test_a_1e6_launch_of_the_5e6_model_is_caught_with_its_fix() -> None:
    assert _failures(QWEN3_4B_FLAGS) == {
        "rotary_base": "--rotary-base 1000000 but the HF model has rope_theta 5000000: generations will be garbled; "
                       "fix: --rotary-base 5000000"}


MISMATCHES = {  # field -> (flags that break only it, its fix as stated in the message)
    "rotary_base": (_replaced("--rotary-base", "1000000"), "--rotary-base 5000000"),
    "num_layers": (_replaced("--num-layers", "28"), "--num-layers 36"),
    "hidden_size": (_replaced("--hidden-size", "2048"), "--hidden-size 2560"),
    "ffn_hidden_size": (_replaced("--ffn-hidden-size", "6144"), "--ffn-hidden-size 9728"),
    "num_attention_heads": (_replaced("--num-attention-heads", "16"), "--num-attention-heads 32"),
    "num_query_groups": (_replaced("--num-query-groups", "4"), "--group-query-attention --num-query-groups 8"),
    "kv_channels": (_replaced("--kv-channels", "64"), "--kv-channels 128"),
    "norm_epsilon": (_replaced("--norm-epsilon", "1e-5"), "--norm-epsilon 1e-06"),
    "normalization": (_replaced("--normalization", "LayerNorm"), "--normalization RMSNorm"),
    "qk_layernorm": (_without("--qk-layernorm"), "add --qk-layernorm"),
    "swiglu": (_without("--swiglu"), "add --swiglu"),
    "tie_embeddings": ([*INSTRUCT_2507_FLAGS, "--untie-embeddings-and-output-weights"],
                       "remove --untie-embeddings-and-output-weights"),
    "add_bias_linear": (_without("--disable-bias-linear"), "add --disable-bias-linear"),
    "add_qkv_bias": ([*INSTRUCT_2507_FLAGS, "--add-qkv-bias"], "remove --add-qkv-bias"),
    "position_embedding_type": (_without("--use-rotary-position-embeddings"), "--position-embedding-type rope"),
    "rotary_percent": ([*INSTRUCT_2507_FLAGS, "--rotary-percent", "0.5"], "--rotary-percent 1"),
    "vocab_size": ([t for t in INSTRUCT_2507_FLAGS if t not in ("--vocab-size", "151936")], "--vocab-size 151936"),
    "padded_vocab_size": ([*INSTRUCT_2507_FLAGS, "--tensor-model-parallel-size", "2"],
                          "--vocab-size 151936 --make-vocab-size-divisible-by 64"),
}


def test_every_launch_field_has_a_mismatch_case() -> None:
    assert set(MISMATCHES) == set(LAUNCH_FIELDS)


@pytest.mark.parametrize("field", list(MISMATCHES))
def test_each_field_mismatch_is_named_with_its_fix(field: str) -> None:
    tokens, fix = MISMATCHES[field]
    failures = _failures(tokens)
    expected = {field, "padded_vocab_size"} if field == "vocab_size" else {field}  # no --vocab-size: no rows either
    assert set(failures) == expected
    assert failures[field].startswith(LAUNCH_FIELDS[field][0] if field != "padded_vocab_size" else "the launch pads")
    assert failures[field].endswith(f"{LAUNCH_FIELDS[field][2]}; fix: {fix}")


@pytest.mark.parametrize("field", list(MISMATCHES))
def test_applying_the_stated_fix_clears_the_mismatch(field: str) -> None:
    tokens, fix = MISMATCHES[field]
    if fix.startswith("remove "):
        tokens = [t for t in tokens if t != fix.removeprefix("remove ")]
    else:
        tokens = [*tokens, *fix.removeprefix("add ").split()]
    assert _failures(tokens) == {}


def test_absent_flags_take_megatron_lms_defaults() -> None:
    arch = launch_architecture(parse_flags(["--num-layers", "2", "--hidden-size", "2560", "--num-attention-heads", "32",
                                            "--swiglu"]))
    assert (arch["rotary_base"], arch["norm_epsilon"], arch["normalization"]) == (10000.0, 1e-5, "LayerNorm")
    assert (arch["ffn_hidden_size"], arch["num_query_groups"], arch["kv_channels"]) == (6784, 32, 80)
    assert (arch["position_embedding_type"], arch["tie_embeddings"], arch["add_bias_linear"]) == (
        "learned_absolute", True, True)


def test_ffn_defaults_to_four_times_hidden_without_swiglu() -> None:
    assert launch_architecture(parse_flags(["--hidden-size", "64"]))["ffn_hidden_size"] == 256


def test_query_groups_default_to_one_with_group_query_attention() -> None:
    flags = parse_flags(["--num-attention-heads", "32", "--group-query-attention"])
    assert launch_architecture(flags)["num_query_groups"] == 1


# ---- parse_flags -----------------------------------------------------------------------------------


def test_inline_values_and_the_last_occurrence_win() -> None:
    flags = parse_flags(["--rotary-base=1000000", "--rotary-base", "5e6"])
    assert flags.values["--rotary-base"] == 5e6


def test_flags_that_do_not_shape_the_model_are_kept_as_ignored() -> None:
    flags = parse_flags(["train.py", "--lr", "1e-6", "--num-layers", "36", "--bf16", "--micro-batch-size", "1"])
    assert flags.ignored == ("--lr", "--bf16", "--micro-batch-size") and flags.values == {"--num-layers": 36}


@pytest.mark.parametrize(("tokens", "match"), [
    (["--num-layers", "thirty"], "--num-layers takes an integer, got 'thirty'"),
    (["--rotary-base", "inf"], "--rotary-base must be finite"),
    (["--hidden-size"], "--hidden-size needs a value"),
    (["--hidden-size", "--swiglu"], "--hidden-size needs a value"),
    (["--swiglu=yes"], "--swiglu is a switch and takes no value"),
])
def test_an_unreadable_flag_raises_naming_flag_and_value(tokens: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_flags(tokens)
