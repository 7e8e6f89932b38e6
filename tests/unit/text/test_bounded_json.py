"""Bounded JSON decoding: depth past the bound is a JSONDecodeError, never a RecursionError, and
the scan reads no further than the decoder would."""

from __future__ import annotations

import json

import pytest

from retool.text.bounded_json import MAX_JSON_DEPTH, decode_prefix, decode_whole, too_deep


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_at_the_bound_decodes() -> None:
    assert decode_whole(nested(MAX_JSON_DEPTH)) == json.loads(nested(MAX_JSON_DEPTH))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1200, 100_000])
def test_nesting_past_the_bound_is_a_decode_error(depth: int) -> None:
    with pytest.raises(json.JSONDecodeError, match=f"deeper than {MAX_JSON_DEPTH}"):
        decode_whole(nested(depth))


def test_unclosed_deep_nesting_is_a_decode_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        decode_prefix('{"code": ' + "[" * 5000, 0)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"code": "[" * 5000 + '\\"{' * 100})
    assert decode_whole(text) == json.loads(text)


def test_scan_stops_after_the_first_value() -> None:
    assert not too_deep("[1] " + "[" * 5000, 0)
    assert decode_prefix("[1] " + "[" * 5000, 0) == ([1], 3)


def test_scan_stops_at_a_tag_outside_strings() -> None:
    assert not too_deep('{"a": 1 </tool_call>' + "[" * 5000, 0)


def test_a_scalar_is_never_too_deep() -> None:
    assert not too_deep('"x" ' + "[" * 5000, 0) and decode_prefix('7 [[[', 0) == (7, 1)


def test_an_unclosed_string_runs_to_the_end_without_counting() -> None:
    assert not too_deep('["' + "[" * 5000, 0)


def test_extra_data_after_the_value_is_an_error() -> None:
    with pytest.raises(json.JSONDecodeError, match="Extra data"):
        decode_whole('{"a": 1} x')


def test_surrounding_json_whitespace_is_allowed() -> None:
    assert decode_whole(' \n{"a": [1]}\t ') == {"a": [1]}


def test_raw_control_characters_in_strings_are_accepted() -> None:
    assert decode_whole('{"code": "a\nb\tc"}') == {"code": "a\nb\tc"}


def test_error_positions_are_offsets_into_the_whole_text() -> None:
    text = "\n" * 50 + '{"a": x}'
    with pytest.raises(json.JSONDecodeError) as info:
        decode_prefix(text, 50)
    assert info.value.pos == 56 and text[info.value.pos] == "x"


def test_the_decoder_reads_only_the_values_extent() -> None:
    text = '{"a": 1 <' + "\n" * 100_000
    with pytest.raises(json.JSONDecodeError) as info:
        decode_prefix(text, 0)
    assert info.value.doc == '{"a": 1 '  # not the 100k newlines after the '<'


def test_an_integer_past_the_interpreters_digit_limit_is_a_decode_error() -> None:
    with pytest.raises(json.JSONDecodeError, match="number too large"):
        decode_whole('{"code": ' + "9" * 5000 + "}")
