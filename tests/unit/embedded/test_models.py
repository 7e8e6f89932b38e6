"""The tiny Qwen3 model: architecture, rope base where transformers 5 keeps it, a real step."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from retool.embedded.models import TinyModelConfig, build_tiny_model, load_model, rope_theta_of, tiny_qwen3_config


def test_tiny_config_keeps_rope_base_in_rope_parameters():
    config = tiny_qwen3_config(1000)
    assert config.rope_parameters["rope_theta"] == 5_000_000.0
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (2, 64, 4, 2, 16)


@pytest.mark.parametrize(
    ("config", "theta"),
    [
        (SimpleNamespace(rope_parameters={"rope_theta": 1e6}), 1e6),
        (SimpleNamespace(rope_parameters=None, rope_theta=10000), 1e4),
        (SimpleNamespace(rope_theta=5e6), 5e6),
    ],
)
def test_rope_theta_is_read_from_either_config_generation(config, theta):
    assert rope_theta_of(config) == theta


def test_missing_rope_theta_is_an_error_naming_the_type():
    with pytest.raises(ValueError, match="SimpleNamespace"):
        rope_theta_of(SimpleNamespace())


def test_cached_tiny_model_matches_its_tokenizer_and_trains(tiny_lm):
    model, tok = tiny_lm
    assert model.config.vocab_size == len(tok)
    model = build_tiny_model(len(tok))
    model.train()
    ids = torch.randint(0, len(tok), (4, 64))  # (B, T)
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    assert out.logits.shape == (4, 64, len(tok))
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


def test_seeded_builds_are_identical_and_seeds_differ():
    a, b, c = build_tiny_model(300), build_tiny_model(300), build_tiny_model(300, TinyModelConfig(seed=1))
    wa, wb, wc = (m.model.layers[0].mlp.up_proj.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_rope_base_changes_the_logits():
    ids = torch.arange(40).unsqueeze(0)  # (1, T)
    a = build_tiny_model(300)
    b = build_tiny_model(300, TinyModelConfig(rope_theta=10_000.0))
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        diff = (a(input_ids=ids).logits - b(input_ids=ids).logits).abs().max().item()
    assert diff > 1e-4


def test_load_model_reads_a_saved_directory(tmp_path, tiny_lm):
    model, tok = tiny_lm
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, loaded_tok = load_model(tmp_path)
    ids = torch.arange(10).unsqueeze(0)
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids).logits, model(input_ids=ids).logits)
    assert rope_theta_of(loaded.config) == 5_000_000.0 and len(loaded_tok) == len(tok)


def test_load_model_rejects_a_directory_without_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_model(tmp_path)


def test_demo_presets_keep_tiny_and_lower_the_rope_base():
    from retool.embedded.models import MODEL_PRESETS

    assert MODEL_PRESETS["tiny"] == TinyModelConfig()
    assert MODEL_PRESETS["tiny-rope10k"] == TinyModelConfig(rope_theta=10_000.0)
    small = MODEL_PRESETS["small"]
    assert (small.num_layers, small.hidden_size, small.head_dim, small.rope_theta) == (4, 128, 32, 10_000.0)


def test_embedded_model_builds_the_named_preset():
    from retool.embedded.models import embedded_model

    model, tok = embedded_model("tiny-rope10k")
    assert rope_theta_of(model.config) == 10_000.0 and model.config.vocab_size == len(tok)


def test_unknown_preset_is_an_error_naming_the_presets():
    from retool.embedded.models import embedded_model

    with pytest.raises(ValueError, match="tiny-rope10k"):
        embedded_model("huge")
