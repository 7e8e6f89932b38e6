"""retool.checkpoint.args (pure: no megatron-core, no I/O): ``MegatronArgs`` and its validation,
``megatron_args_from_hf`` (rope base from ``rope_parameters`` or legacy ``rope_theta``, overrides,
unsupported architectures), ``rope_base_of``, the Megatron-LM namespace mapping both ways and
``compare_args`` (one ``FieldCheck`` per checked field, messages naming field, values, consequence).
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import pytest

from retool.checkpoint.args import (CHECKED_FIELDS, MegatronArgs, args_from_namespace, compare_args,
                                    megatron_args_from_hf, rope_base_of)
from retool.embedded.models import tiny_qwen3_config

VOCAB = 1000  # not a multiple of 128: exercises the padded embedding rows


def _args(**changes: object) -> MegatronArgs:
    expected = megatron_args_from_hf(tiny_qwen3_config(VOCAB))
    return dataclasses.replace(expected, **changes)


# ---- args from the HF config (moved from test_conversion.py) ------------------------------------


def test_override_disagreeing_with_config_raises_naming_both_values() -> None:
    with pytest.raises(ValueError, match="override 1000000 disagrees with the HF config's rope_theta 5000000"):
        megatron_args_from_hf(tiny_qwen3_config(VOCAB), rotary_base_override=1e6)


def test_forced_override_is_used() -> None:
    assert megatron_args_from_hf(tiny_qwen3_config(VOCAB), rotary_base_override=1e6, force=True).rotary_base == 1e6


def test_agreeing_override_is_accepted() -> None:
    assert megatron_args_from_hf(tiny_qwen3_config(VOCAB), rotary_base_override=5_000_000).rotary_base == 5e6


def test_legacy_top_level_rope_theta_is_read() -> None:
    legacy = tiny_qwen3_config(VOCAB).to_dict()
    legacy.pop("rope_parameters")
    legacy["rope_theta"] = 1_000_000.0
    assert rope_base_of(legacy) == 1e6
    assert megatron_args_from_hf(legacy).rotary_base == 1e6


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"model_type": "qwen2"}, "model_type 'qwen2'"),
        ({"attention_bias": True}, "attention_bias=True"),
        ({"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e6, "factor": 4.0}}, "rope_type 'yarn'"),
        ({"rope_parameters": None}, "neither"),
    ],
)
def test_unsupported_config_raises_naming_the_field(change: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        megatron_args_from_hf({**tiny_qwen3_config(VOCAB).to_dict(), **change})


def test_args_survive_the_megatron_namespace_round_trip() -> None:
    args = megatron_args_from_hf(tiny_qwen3_config(VOCAB, tie_word_embeddings=False))
    assert args_from_namespace(args.to_namespace()) == args


def test_megatron_lm_defaults_apply_to_sparse_args() -> None:
    ns = argparse.Namespace(num_layers=2, hidden_size=64, num_attention_heads=4, vocab_size=128)
    args = args_from_namespace(ns)
    assert (args.rotary_base, args.kv_channels, args.num_query_groups, args.ffn_hidden_size) == (10000, 16, 4, 256)


def test_compare_args_reports_every_differing_field() -> None:
    expected = megatron_args_from_hf(tiny_qwen3_config(VOCAB))
    fields = {f.name: getattr(expected, f.name) for f in expected.__dataclass_fields__.values()}
    stored = MegatronArgs(**{**fields, "num_query_groups": 4, "norm_epsilon": 1e-5, "tie_embeddings": False})
    bad = {c.field: c.message for c in compare_args(stored, expected) if not c.ok}
    assert set(bad) == {"num_query_groups", "norm_epsilon", "tie_embeddings"}
    assert bad["num_query_groups"].startswith("query groups 4 != num_key_value_heads 2")


# ---- megatron_args_from_hf --------------------------------------------------------------------


def test_args_from_a_config_object_and_its_dict_are_the_same() -> None:
    config = tiny_qwen3_config(VOCAB)
    assert megatron_args_from_hf(config) == megatron_args_from_hf(config.to_dict())


def test_args_take_the_architecture_from_the_config() -> None:
    config = tiny_qwen3_config(VOCAB, num_attention_heads=6, num_key_value_heads=3, head_dim=8, rms_norm_eps=1e-5)
    args = megatron_args_from_hf(config)
    assert (args.num_attention_heads, args.num_query_groups, args.kv_channels, args.norm_epsilon) == (6, 3, 8, 1e-5)
    assert (args.num_layers, args.hidden_size, args.ffn_hidden_size) == (
        config.num_hidden_layers, config.hidden_size, config.intermediate_size)


def test_padded_vocab_rounds_up_to_a_multiple_of_128_and_keeps_the_vocab() -> None:
    args = megatron_args_from_hf(tiny_qwen3_config(VOCAB))
    assert (args.vocab_size, args.padded_vocab_size) == (VOCAB, 1024)
    assert megatron_args_from_hf(tiny_qwen3_config(256)).padded_vocab_size == 256


@pytest.mark.parametrize(("change", "match"), [
    ({"hidden_act": "gelu"}, "hidden_act='gelu'"),
    ({"use_sliding_window": True}, "use_sliding_window=True"),
])
def test_non_silu_activation_and_sliding_window_raise_naming_the_field(change: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        megatron_args_from_hf({**tiny_qwen3_config(VOCAB).to_dict(), **change})


def test_legacy_rope_scaling_raises_naming_its_type() -> None:
    legacy = tiny_qwen3_config(VOCAB).to_dict()
    legacy.pop("rope_parameters")
    legacy.update(rope_theta=1e6, rope_scaling={"type": "linear", "factor": 2.0})
    with pytest.raises(ValueError, match="rope_type 'linear'"):
        megatron_args_from_hf(legacy)


def test_a_forced_non_finite_override_is_still_invalid() -> None:
    with pytest.raises(ValueError, match="rotary_base must be positive and finite"):
        megatron_args_from_hf(tiny_qwen3_config(VOCAB), rotary_base_override=math.inf, force=True)


def test_a_config_that_is_neither_object_nor_dict_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="expected a transformers config or a config.json dict"):
        megatron_args_from_hf(["qwen3"])


def test_the_config_dtype_becomes_params_dtype_without_the_torch_prefix() -> None:
    assert megatron_args_from_hf({**tiny_qwen3_config(VOCAB).to_dict(), "dtype": "torch.bfloat16"}).params_dtype == "bfloat16"


# ---- MegatronArgs validation ------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [("num_layers", 0), ("hidden_size", -64), ("vocab_size", 1.5),
                                              ("kv_channels", True)])
def test_size_fields_must_be_positive_ints(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"{field} must be a positive int"):
        _args(**{field: value})


def test_heads_must_be_a_multiple_of_query_groups() -> None:
    with pytest.raises(ValueError, match="num_attention_heads 4 is not a multiple of num_query_groups 3"):
        _args(num_query_groups=3)


def test_padded_vocab_may_not_be_smaller_than_the_vocab() -> None:
    with pytest.raises(ValueError, match="padded_vocab_size 999 < vocab_size 1000"):
        _args(padded_vocab_size=999)


@pytest.mark.parametrize("base", [0.0, -1.0, math.inf, math.nan])
def test_rotary_base_must_be_positive_and_finite(base: float) -> None:
    with pytest.raises(ValueError, match="rotary_base must be positive and finite"):
        _args(rotary_base=base)


@pytest.mark.parametrize("eps", [0.0, -1e-6, math.nan])
def test_norm_epsilon_must_be_positive(eps: float) -> None:
    with pytest.raises(ValueError, match="norm_epsilon must be positive"):
        _args(norm_epsilon=eps)


# ---- the Megatron-LM namespace ------------------------------------------------------------------


def test_namespace_uses_megatron_lm_flag_names() -> None:
    ns = _args(tie_embeddings=False, num_query_groups=2).to_namespace()
    assert ns.untie_embeddings_and_output_weights is True
    assert (ns.group_query_attention, ns.num_query_groups, ns.kv_channels) == (True, 2, 16)
    assert (ns.position_embedding_type, ns.ckpt_format) == ("rope", "torch_dist")


def test_namespace_stores_an_integral_rotary_base_as_an_int() -> None:
    assert _args(rotary_base=5e6).to_namespace().rotary_base == 5_000_000
    assert isinstance(_args(rotary_base=5e6).to_namespace().rotary_base, int)
    assert _args(rotary_base=12345.5).to_namespace().rotary_base == 12345.5


def test_namespace_sets_the_precision_flags_from_params_dtype() -> None:
    ns = _args(params_dtype="bfloat16").to_namespace()
    assert (ns.bf16, ns.fp16) == (True, False)


@pytest.mark.parametrize("changes", [{}, {"tie_embeddings": False}, {"rotary_base": 12345.5}, {"params_dtype": "bfloat16"},
                                     {"num_query_groups": 4}])
def test_namespace_round_trip_keeps_every_field(changes: dict) -> None:
    args = _args(**changes)
    assert args_from_namespace(args.to_namespace()) == args


def test_stored_args_may_be_a_plain_dict() -> None:
    args = _args()
    assert args_from_namespace(vars(args.to_namespace())) == args


def test_stored_args_lacking_core_fields_raise_naming_them() -> None:
    with pytest.raises(ValueError, match="stored args lack hidden_size, num_attention_heads"):
        args_from_namespace({"num_layers": 2})


def test_stored_args_lacking_any_vocab_raise() -> None:
    with pytest.raises(ValueError, match="lack vocab_size and padded_vocab_size"):
        args_from_namespace({"num_layers": 2, "hidden_size": 64, "num_attention_heads": 4})


def test_query_groups_are_ignored_without_group_query_attention() -> None:
    ns = {"num_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "vocab_size": 128,
          "group_query_attention": False, "num_query_groups": 2}
    assert args_from_namespace(ns).num_query_groups == 4


def test_a_torch_prefixed_stored_dtype_is_read_without_the_prefix() -> None:
    ns = {"num_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "vocab_size": 128, "params_dtype": "torch.float16"}
    assert args_from_namespace(ns).params_dtype == "float16"


# ---- compare_args -------------------------------------------------------------------------------


def test_compare_args_checks_every_listed_field_in_order() -> None:
    assert [c.field for c in compare_args(_args(), _args())] == list(CHECKED_FIELDS)


def test_identical_args_pass_every_check_with_message_ok() -> None:
    assert all(c.ok and c.message == "ok" for c in compare_args(_args(), _args()))


def test_a_wrong_rotary_base_message_names_both_values_and_the_consequence() -> None:
    (bad,) = [c for c in compare_args(_args(rotary_base=1e6), _args()) if not c.ok]
    assert bad.message == "rotary base 1000000 != rope_theta 5000000: generations will be garbled"
    assert (bad.field, bad.hf_name, bad.stored, bad.expected) == ("rotary_base", "rope_theta", 1e6, 5e6)


def test_float_fields_agree_within_a_relative_tolerance_of_1e_9() -> None:
    assert all(c.ok for c in compare_args(_args(rotary_base=5e6 * (1 + 1e-12)), _args()))
    assert not all(c.ok for c in compare_args(_args(rotary_base=5e6 * (1 + 1e-6)), _args()))


def test_every_checked_field_mismatch_is_reported_with_its_consequence() -> None:
    stored = _args(num_layers=3, hidden_size=128, ffn_hidden_size=64, vocab_size=1024, qk_layernorm=False,
                   swiglu=False, normalization="LayerNorm", add_bias_linear=True, add_qkv_bias=True)
    bad = {c.field: c.message for c in compare_args(stored, _args()) if not c.ok}
    assert set(bad) == {"num_layers", "hidden_size", "ffn_hidden_size", "vocab_size", "qk_layernorm", "swiglu",
                        "normalization", "add_bias_linear", "add_qkv_bias"}
    assert all(msg.endswith(CHECKED_FIELDS[name][2]) for name, msg in bad.items())
