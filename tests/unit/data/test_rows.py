"""Row errors name the field, text fields are bounded and valid Unicode, messages describe any value briefly."""

from __future__ import annotations

import pytest

from retool.data.rows import MAX_TEXT_CHARS, DataError, RowError, describe, text_field


def test_row_error_message_names_the_field_and_reason():
    err = RowError("label", "missing")
    assert (err.field, err.reason, err.excerpt, str(err)) == ("label", "missing", None, "field 'label': missing")


def test_data_error_message_names_file_row_and_field():
    err = DataError("in.jsonl", 3, "prompt", "empty")
    assert str(err) == "in.jsonl: row 3: field 'prompt': empty" and (err.file, err.row) == ("in.jsonl", 3)


def test_text_field_returns_a_good_string_unchanged():
    text = "Find $x$ — ünïcode 数学"
    assert text_field(text, "prompt") is text


@pytest.mark.parametrize("value", [3, None, ["a"], {"a": 1}, b"bytes", True])
def test_text_field_refuses_a_value_that_is_not_a_string(value):
    with pytest.raises(RowError, match="expected a string") as info:
        text_field(value, "prompt")
    assert info.value.field == "prompt"


def test_text_field_refuses_a_nul_character_naming_its_position():
    with pytest.raises(RowError, match="NUL character at char 2"):
        text_field("ab\x00c", "prompt")


def test_text_field_refuses_a_lone_surrogate_naming_its_position():
    with pytest.raises(RowError, match="lone surrogate .* at char 1"):
        text_field("a\ud800b", "prompt")


def test_text_field_refuses_text_over_the_bound():
    with pytest.raises(RowError, match=f"exceeds the bound of {MAX_TEXT_CHARS}"):
        text_field("x" * (MAX_TEXT_CHARS + 1), "prompt")
    assert text_field("xy", "f", max_chars=2) == "xy"


def test_describe_is_short_for_huge_values():
    assert len(describe("x" * 10**6)) < 80
    assert len(describe(list(range(10**5)))) < 40
    assert describe(10**5000) == f"an int of {(10**5000).bit_length()} bits"  # str() would raise past 4,300 digits


@pytest.mark.parametrize(("value", "shown"), [(None, "None"), (True, "True"), (1.5, "1.5"), (7, "7"), ({"a": 1}, "a dict of 1 items")])
def test_describe_shows_scalars_and_sizes(value, shown):
    assert describe(value) == shown
