"""Tool output, code and invisible content inside the final text are not the model's answer."""

from __future__ import annotations

import pytest

from retool.text.regions import blank_invisible, own_text


def test_text_after_the_last_interpreter_block_is_the_models_own() -> None:
    text = "<code>print(1)</code>\n<interpreter>\n\\boxed{1}\n</interpreter>\nSo \\boxed{2}."
    assert own_text(text)[0] == "\nSo \\boxed{2}."


@pytest.mark.parametrize("text", ["<interpreter>\n\\boxed{5}\n", "```output\n\\boxed{5}\n"])
def test_an_unclosed_tool_output_block_leaves_no_text(text: str) -> None:
    assert own_text(text)[0] == ""


def test_an_output_fence_ends_like_a_tool_response() -> None:
    text = "```python\nprint(5)\n```\n```output\n\\boxed{5}\n```\nDone."
    assert own_text(text)[0] == "\nDone."


def test_an_unlabelled_fence_right_after_code_is_its_output() -> None:
    text = "```python\nprint(5)\n```\n```\n\\boxed{5}\n```\nDone."
    assert "boxed" not in own_text(text)[0]


def test_code_is_blanked_with_its_length_kept() -> None:
    text = "So \\boxed{4}\n```python\nprint('\\boxed{5}')\n```"
    own, _ = own_text(text)
    assert len(own) == len(text) and "boxed{5}" not in own and "boxed{4}" in own


@pytest.mark.parametrize("text", ["\\phantom{\\boxed{42}}", "<!-- \\boxed{42} -->", "{\\color{white} \\boxed{42}}",
                                  "\\textcolor{white}{\\boxed{42}}", "<!-- \\boxed{42}"])
def test_a_box_inside_invisible_content_is_blanked(text: str) -> None:
    assert "42" not in blank_invisible(text)


def test_plain_text_is_returned_unchanged() -> None:
    text = "So the answer is \\boxed{7}."
    assert own_text(text) == (text, 0)


def test_own_text_is_linear_on_a_flood_of_fences_and_tags() -> None:
    text = ("```python\n" + "<interpreter>" * 5 + "```\n") * 20_000
    own, _ = own_text(text)
    assert isinstance(own, str)


@pytest.mark.parametrize("unit", ["<a ", "~~ x ", "```python\n```\n```\n```\n"])
def test_blanking_is_linear_on_hostile_floods(unit: str) -> None:
    import time

    def cost(n: int) -> float:
        text = unit * n + "\\boxed{5} hidden"
        start = time.perf_counter()
        own_text(text)
        return time.perf_counter() - start

    small, large = min(cost(4_000) for _ in range(3)), min(cost(16_000) for _ in range(3))
    assert large < 12 * small + 0.05  # linear is 4x; quadratic would be 16x
