"""JSON lines read totally: every kind of malformed line is a RowError naming the problem, never another
exception, and the lines around it are still read."""

from __future__ import annotations

import io

import pytest

from retool.data.jsonl import decode_json_line, iter_json, iter_lines
from retool.data.rows import MAX_JSON_DEPTH, RowError
from tests.unit.data.timing import LINEAR_RATIO_BOUND, doubling_ratio, swallow


def _reason(raw) -> str:
    with pytest.raises(RowError) as info:
        decode_json_line(raw)
    assert info.value.field == "<line>"
    return info.value.reason


def _json(data: bytes, **kw) -> list:
    return list(iter_json(io.BytesIO(data), **kw))


# ---------------------------------------------------------------- one line


def test_a_good_line_decodes_from_bytes_and_str():
    assert decode_json_line(b'{"a": [1, 2.5, "x"]}') == decode_json_line('{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}


def test_a_crlf_line_end_is_whitespace():
    assert decode_json_line(b'{"a": 1}\r') == {"a": 1}


def test_malformed_json_names_the_column():
    assert _reason(b'{"a": }') == "not valid JSON: Expecting value at column 7"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 2_000, 100_000])
def test_deep_nesting_is_a_row_error_not_a_recursion_error(depth):
    assert "nests deeper than" in _reason(b"[" * depth + b"]" * depth)


def test_an_unclosed_run_of_100k_brackets_is_a_row_error():
    assert "not valid JSON" in _reason(b"[" * 100_000)


def test_nesting_at_the_bound_is_accepted():
    value = decode_json_line("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert isinstance(value, list)


def test_brackets_inside_strings_do_not_count_as_nesting():
    assert decode_json_line(b'{"a": "' + b"[" * 5000 + b'"}') == {"a": "[" * 5000}


def test_invalid_utf8_names_the_byte_offset():
    assert _reason(b'{"a": "\xff"}').startswith("invalid UTF-8 at byte 7")


def test_a_nul_byte_names_its_offset():
    assert _reason(b'{"a": 1}\x00') == "NUL byte at byte 8"
    assert _reason('{"a"\x00: 1}') == "NUL character at char 4"


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}'])
def test_nan_and_infinity_are_refused(raw):
    assert "is not a JSON number" in _reason(raw)


def test_a_float_overflow_is_refused():
    assert "overflows a float" in _reason(b'{"a": 1e400}')


def test_nan_is_read_as_a_float_when_allowed():
    value = decode_json_line(b'{"a": NaN, "b": 1e400}', allow_nan=True)
    assert value["a"] != value["a"] and value["b"] == float("inf")


def test_an_integer_of_more_than_4300_digits_is_a_row_error():
    assert "not valid JSON" in _reason(b'{"a": ' + b"9" * 5000 + b"}")


def test_a_value_that_is_not_text_is_a_row_error():
    assert "expected bytes or str" in _reason(12)


def test_the_error_carries_a_bounded_excerpt_of_the_line():
    with pytest.raises(RowError) as info:
        decode_json_line(b"{" + b"x" * 10_000)
    assert info.value.excerpt == ("{" + "x" * 10_000)[:120]


# ---------------------------------------------------------------- lines of a file


def test_lines_are_numbered_counting_blank_ones_and_blank_lines_are_skipped():
    got = _json(b'{"a": 1}\n\n  \r\n{"a": 2}\n')
    assert got == [(1, {"a": 1}), (4, {"a": 2})]


def test_an_invalid_utf8_line_is_rejected_alone_and_the_next_lines_are_read():
    got = _json(b'{"a": 1}\n{"a": "\xc3\x28"}\n{"a": 3}\n')
    assert [n for n, v in got if isinstance(v, RowError)] == [2]
    assert [v for _, v in got if not isinstance(v, RowError)] == [{"a": 1}, {"a": 3}]


def test_a_line_over_the_bound_is_read_past_and_rejected_with_its_size():
    got = _json(b'{"a": 1}\n' + b'"' + b"x" * 5000 + b'"\n{"a": 3}\n', max_line_bytes=1000)
    (n, err), = [(n, v) for n, v in got if isinstance(v, RowError)]
    assert n == 2 and err.reason == "line of 5002 bytes exceeds the bound of 1000 bytes"
    assert got[-1] == (3, {"a": 3})


def test_a_line_exactly_at_the_bound_is_read():
    line = b'"' + b"x" * 998 + b'"'
    assert _json(line + b"\n", max_line_bytes=1000) == [(1, "x" * 998)]


def test_a_truncated_last_line_is_a_row_error_saying_the_file_may_be_truncated():
    (_, err), = _json(b'{"a": 1')
    assert isinstance(err, RowError) and "the file may be truncated" in err.reason


def test_a_complete_last_line_without_newline_is_read():
    assert _json(b'{"a": 1}\n{"a": 2}') == [(1, {"a": 1}), (2, {"a": 2})]


def test_a_utf8_bom_at_the_start_is_dropped():
    assert _json(b'\xef\xbb\xbf{"a": 1}\n') == [(1, {"a": 1})]


def test_raw_nul_bytes_in_a_file_reject_that_line_only():
    got = _json(b'{"a": 1}\n\x00\x00\x00\n{"a": 3}\n')
    assert isinstance(got[1][1], RowError) and "NUL byte" in got[1][1].reason and got[2] == (3, {"a": 3})


def test_iter_lines_says_whether_each_line_ended_with_a_newline():
    assert [(n, t) for n, _, t in iter_lines(io.BytesIO(b"a\nb"))] == [(1, True), (2, False)]


def test_reading_lines_is_linear_in_the_file_size():
    def read(data: bytes) -> int:
        return sum(1 for _ in iter_json(io.BytesIO(data)))

    line = b'{"step": 1, "x": [1, 2, 3], "s": "' + b"y" * 200 + b'"}\n'
    assert doubling_ratio(read, line * 4_000, line * 8_000) < LINEAR_RATIO_BOUND


def test_decoding_deep_openers_is_linear():
    decode = swallow(decode_json_line, RowError)
    assert doubling_ratio(decode, b"[" * 200_000, b"[" * 400_000) < LINEAR_RATIO_BOUND
