"""retool.checkpoint.model_script (pure): a miles/slime model script's MODEL_ARGS, read without running it.

The script text is miles's ``scripts/models/qwen3-4B.sh`` as published (the comment lines and the
``${MODEL_ARGS_ROTARY_BASE:-1000000}`` default are its own).
"""

from __future__ import annotations

import pytest

from retool.checkpoint import read_model_args

QWEN3_4B_SH = """MODEL_ARGS=(
   --swiglu
   --num-layers 36
   --hidden-size 2560
   --ffn-hidden-size 9728
   --num-attention-heads 32
   --group-query-attention
   --num-query-groups 8
   --use-rotary-position-embeddings
   --disable-bias-linear
   --normalization "RMSNorm"
   --norm-epsilon 1e-6
   --rotary-base "${MODEL_ARGS_ROTARY_BASE:-1000000}"
   # Original: --vocab-size 151936
   --vocab-size 151936
   --kv-channels 128
   --qk-layernorm
)"""


def test_the_miles_qwen3_4b_script_reads_as_its_flags() -> None:
    args = read_model_args(QWEN3_4B_SH)
    assert args.tokens[:3] == ("--swiglu", "--num-layers", "36")
    assert args.tokens[args.tokens.index("--rotary-base") + 1] == "1000000"
    assert args.tokens.count("--vocab-size") == 1 and args.tokens[-1] == "--qk-layernorm"


def test_a_defaulted_variable_is_read_as_its_default_with_a_note_naming_the_line() -> None:
    (note,) = read_model_args(QWEN3_4B_SH, source="qwen3-4B.sh").notes
    assert note.startswith("qwen3-4B.sh:13: ${MODEL_ARGS_ROTARY_BASE} read as its default '1000000'")


def test_lines_outside_model_args_are_ignored_and_appended_arrays_join() -> None:
    text = 'source "$HOME/env.sh"\nMODEL_ARGS=(--swiglu)\nPERF_ARGS=(--tensor-model-parallel-size 2)\nMODEL_ARGS+=(\n  --qk-layernorm\n)\n'
    assert read_model_args(text).tokens == ("--swiglu", "--qk-layernorm")


@pytest.mark.parametrize(("text", "match"), [
    ("MODEL_ARGS=(\n  --rotary-base $BASE\n)", r"<model script>:2: a shell expansion .*'--rotary-base \$BASE'"),
    ("MODEL_ARGS=(\n  --num-layers ${LAYERS}\n)", r":2: a shell expansion"),
    ("MODEL_ARGS=(\n  --num-layers $(nproc)\n)", r":2: a shell expansion"),
    ("MODEL_ARGS=(\n  --normalization \"RMSNorm\n)", r":2: cannot be read as shell words"),
    ("MODEL_ARGS=(\n  --swiglu\n", r":1: MODEL_ARGS=\( is never closed"),
    ("ARGS=(--swiglu)", r"defines no MODEL_ARGS"),
])
def test_an_unreadable_script_is_an_error_naming_the_line(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        read_model_args(text)
