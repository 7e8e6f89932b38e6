"""retool.answer.config: ``AnswerConfig`` (frozen, keyword-only limits of one comparison),
``Verdict`` ``(equal, reason, method)`` and ``config_as_dict`` (the config as plain data, what the
worker process receives)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from retool.answer.config import AnswerConfig, Verdict, config_as_dict

DOCUMENTED_LIMITS = {"max_answer_chars", "max_digits", "max_bits", "max_depth", "max_nodes", "symbolic", "timeout_s"}


def test_config_holds_exactly_the_documented_limits() -> None:
    assert {f.name for f in dataclasses.fields(AnswerConfig)} == DOCUMENTED_LIMITS


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        AnswerConfig().max_digits = 5  # type: ignore[misc]


def test_config_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        AnswerConfig(1000)  # type: ignore[misc]


def test_configs_with_equal_limits_are_equal_and_hash_alike() -> None:
    assert AnswerConfig(max_digits=7) == AnswerConfig(max_digits=7)
    assert hash(AnswerConfig(max_digits=7)) == hash(AnswerConfig(max_digits=7))
    assert AnswerConfig(max_digits=7) != AnswerConfig(max_digits=8)


def test_default_config_decides_symbolically_with_a_positive_deadline() -> None:
    config = AnswerConfig()
    assert config.symbolic is True and config.timeout_s > 0


def test_config_as_dict_is_json_plain_data_of_every_field() -> None:
    data = config_as_dict(AnswerConfig(max_nodes=12, symbolic=False))
    assert set(data) == DOCUMENTED_LIMITS
    assert json.loads(json.dumps(data)) == data
    assert (data["max_nodes"], data["symbolic"]) == (12, False)


def test_config_as_dict_round_trips_to_an_equal_config() -> None:
    config = AnswerConfig(max_answer_chars=10, max_digits=3, max_bits=64, max_depth=2, max_nodes=5,
                          symbolic=False, timeout_s=0.5)
    assert AnswerConfig(**config_as_dict(config)) == config


def test_config_as_dict_is_a_copy_not_a_view() -> None:
    config = AnswerConfig()
    config_as_dict(config)["max_digits"] = -1
    assert config.max_digits == AnswerConfig().max_digits


def test_verdict_is_equal_reason_method_in_that_order() -> None:
    equal, reason, method = dataclasses.astuple(Verdict(True, "equal", "fast"))
    assert (equal, reason, method) == (True, "equal", "fast")
    assert Verdict(True, "equal", "fast") == Verdict(equal=True, reason="equal", method="fast")


def test_verdict_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Verdict(False, "not equal", "fast").equal = True  # type: ignore[misc]
