"""Hostile and typical texts for the ``adversarial`` benchmark group and the property tests.

Contract:
- :data:`FAMILIES` names the hostile families; :func:`hostile_text` ``(family, n_chars)`` gives a
  response-shaped text of that family, within 5% of ``n_chars`` characters (at least a few hundred),
  deterministic. Each family is one hazard repeated through the whole text, so time per KB shows
  how the reader scales on it:

  ``nested_json``       tool calls whose JSON nests ``[``/``{`` thousands deep (``depth`` levels, 10k by default)
  ``unclosed_boxed``    ``\\boxed{`` repeated, never closed
  ``call_openers``      ``<tool_call>`` + a valid call object, repeated, never closed
  ``closers``           ``</tool_call>``, ``</tool_response>``, ``}``, ``]`` repeated with no openers
  ``tool_answer_line``  one tool response holding a single ``answer: ...`` line of the whole size, then ``\\boxed{42}``
  ``special_tokens``    every special token and tag (chat markup, tool tags, think tags) repeated
  ``backslash_run`` / ``space_run`` / ``asterisk_run``
                        one long run after ``Final answer:`` and one inside a ``\\boxed{``
  ``lone_surrogates``   lone surrogates and U+FFFD in prose, code strings of well-formed calls and boxes
  ``nested_box_braces`` ``\\boxed{`` holding braces nested thousands deep (closed)

- :func:`typical_trajectory` ``(n_chars, seed)`` is a realistic ReTool episode of about that size
  (math prose, 2-10 code-interpreter calls of sympy code with their tool outputs, a final
  ``\\boxed{}``), as a :class:`Trajectory` rendered three ways: :meth:`Trajectory.response` (our
  grammar, as the rollout decodes it), :meth:`Trajectory.sft_text` (the ReTool-SFT inline layout,
  ``<code>``/``<interpreter>``) and :meth:`Trajectory.turns` (model and tool pieces, for token
  segments). 32k characters is about 8k Qwen3 tokens.
- :func:`to_sft_markup` moves a response's tags into the SFT layout (``<tool_call>`` -> ``<code>``,
  ``<tool_response>`` -> ``<interpreter>``), so a family's hazard reaches the SFT row converter.
- :func:`typical_metrics_text` / :func:`hostile_metrics_text` are metrics JSONL of the same sizes:
  realistic training rows, and rows carrying a family's text as a string value (``nested_json``:
  the nesting raw in the row's JSON).
Everything here is pure and deterministic.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from retool.text.grammar import (CODE_INTERPRETER, END_OF_TEXT, IM_END, IM_START, TOOL_CALL_CLOSE, TOOL_CALL_OPEN,
                                 TOOL_RESPONSE_CLOSE, TOOL_RESPONSE_OPEN, format_tool_call, tool_turn_text)

__all__ = ["FAMILIES", "Trajectory", "hostile_metrics_text", "hostile_text", "to_sft_markup", "typical_metrics_text",
           "typical_trajectory"]

_MIN_CHARS = 256
_CALL = format_tool_call(CODE_INTERPRETER.name, {"code": "print(1)"})


def _fill(head: str, unit: str, tail: str, n_chars: int) -> str:
    k = max(1, round((n_chars - len(head) - len(tail)) / len(unit)))
    return head + unit * k + tail


def _nested(depth: int) -> str:
    opens = "".join("[" if i % 2 else '{"k":' for i in range(depth))
    return opens + "0" + "".join("]" if i % 2 else "}" for i in reversed(range(depth)))


def _nested_json(n: int, depth: int) -> str:
    head = f'{TOOL_CALL_OPEN}\n{{"name": "{CODE_INTERPRETER.name}", "arguments": {{"code": "print(1)", "data": '
    tail = f"}}}}\n{TOOL_CALL_CLOSE}\n"
    per_level = 4  # characters a level costs on average ('{"k":' + '}' or '[' + ']')
    blocks = max(1, math.ceil(n / (len(head) + len(tail) + per_level * max(2, depth))))
    depth = max(2, (n // blocks - len(head) - len(tail)) // per_level)
    return (head + _nested(depth) + tail) * blocks


def _run(char: str, n: int) -> str:
    half = max(1, (n - 40) // 2)
    return "Final answer: " + char * half + "\n\\boxed{" + char * half + "}\n"


_SPECIALS = (f"{IM_START}assistant\n", f"{IM_START}user\n", IM_START, IM_END, END_OF_TEXT, TOOL_CALL_OPEN,
             TOOL_CALL_CLOSE, TOOL_RESPONSE_OPEN, TOOL_RESPONSE_CLOSE, "<think>", "</think>", "\n")
_SURROGATE_UNIT = ("Let \ud800 be \udfff and \ufffd\ufffd so $x = \\boxed{\udc80}$ or \\boxed{\ud83d}.\n"
                   + format_tool_call(CODE_INTERPRETER.name, {"code": "print('\udcff\ufffd\ud800')"}) + "\n")

_FAMILY_MAKERS: dict[str, Callable[[int, int], str]] = {
    "nested_json": _nested_json,
    "unclosed_boxed": lambda n, _d: _fill("So the answer is ", "\\boxed{", "", n),
    "call_openers": lambda n, _d: _fill("", _CALL.removesuffix(TOOL_CALL_CLOSE), "", n),
    "closers": lambda n, _d: _fill("", f"{TOOL_CALL_CLOSE}\n{TOOL_RESPONSE_CLOSE}\n}}]", "\\boxed{42}", n),
    "tool_answer_line": lambda n, _d: (f"Let me run it.\n{_CALL}"
                                       + tool_turn_text(["answer: " + "9" * max(1, n - len(_CALL) - 140)])
                                       + "The tool agrees, so the answer is \\boxed{42}."),
    "special_tokens": lambda n, _d: _fill("", "".join(_SPECIALS), "", n),
    "backslash_run": lambda n, _d: _run("\\", n),
    "space_run": lambda n, _d: _run(" ", n),
    "asterisk_run": lambda n, _d: _run("*", n),
    "lone_surrogates": lambda n, _d: _fill("", _SURROGATE_UNIT, "\\boxed{42}", n),
    "nested_box_braces": lambda n, d: (lambda k: "The answer is \\boxed{" + "{" * k + "42" + "}" * k + "}.")(
        max(1, (n - 40) // 2)),
}
FAMILIES: tuple[str, ...] = tuple(_FAMILY_MAKERS)


def hostile_text(family: str, n_chars: int = 32_768, *, depth: int = 10_000) -> str:
    """A text of ``family`` (see the module docstring) of about ``n_chars`` characters."""
    maker = _FAMILY_MAKERS.get(family)
    if maker is None:
        raise ValueError(f"unknown hostile family {family!r}; choose from {', '.join(FAMILIES)}")
    return maker(max(_MIN_CHARS, int(n_chars)), depth)


# ---- typical text ----------------------------------------------------------------------------

_SENTENCES = (
    "Let $f(x) = x^{{3}} - {a}x^{{2}} + {b}x - {c}$, so by Vieta's formulas the roots sum to ${a}$.",
    "We need the number of integers $n \\le {c}$ such that $n^{{2}} + {a}n + {b}$ is divisible by ${p}$.",
    "Since $\\gcd({a}, {p}) = 1$, the congruence $x \\equiv {b} \\pmod{{{p}}}$ has a unique solution.",
    "Consider the case $k = {a}$ first; then the sum $\\sum_{{i=1}}^{{{c}}} i^{{2}}$ is easy to evaluate.",
    "That gives $\\frac{{{b}}}{{{p}}}$ of the total, which is not an integer, so something must be off.",
    "Let me double-check this with a quick computation rather than trusting the algebra.",
    "By symmetry the two triangles are congruent, hence $AB = CD = \\sqrt{{{b}}}$.",
    "The area is $\\frac{{1}}{{2}} \\cdot {a} \\cdot {b} \\sin\\theta$, maximised at $\\theta = \\frac{{\\pi}}{{2}}$.",
    "So the probability is $\\binom{{{a}}}{{2}} / \\binom{{{c}}}{{2}}$, which simplifies once we cancel.",
    "Therefore the remainder when ${c}^{{{a}}}$ is divided by ${p}$ follows from Fermat's little theorem.",
    "Hmm, the code's output disagrees with my estimate; I will trust the exact computation.",
    "Write $m = {p}q + r$ with $0 \\le r < {p}$ and count the admissible residues $r$.",
)


def _prose(rng: random.Random, n_chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < n_chars:
        s = rng.choice(_SENTENCES).format(a=rng.randint(2, 40), b=rng.randint(2, 500), c=rng.randint(10, 2000),
                                          p=rng.choice((7, 11, 13, 17, 97, 101, 1009)))
        out.append(s + ("\n\n" if rng.random() < 0.2 else " "))
        size += len(out[-1])
    return "".join(out).rstrip()


def _code(rng: random.Random) -> str:
    lines = ["from sympy import symbols, factorint, Rational, binomial, gcd", "", "x = symbols('x')", "total = 0"]
    for i in range(rng.randint(8, 24)):
        lines.append(rng.choice((
            f"for n in range(1, {rng.randint(100, 5000)}):\n    if (n**2 + {rng.randint(1, 50)}*n) % {rng.randint(3, 97)} == 0:\n        total += 1",
            f"v{i} = sum(Rational(1, k*(k+1)) for k in range(1, {rng.randint(10, 300)}))",
            f"print('step {i}:', factorint({rng.randint(10**5, 10**9)}))",
            f"c{i} = binomial({rng.randint(10, 60)}, {rng.randint(2, 9)}) % {rng.randint(7, 1009)}",
        )))
    lines.append("print('total =', total)")
    return "\n".join(lines)


def _output(rng: random.Random) -> str:
    return "\n".join(f"step {i}: {{{rng.randint(2, 97)}: {rng.randint(1, 5)}, {rng.randint(101, 997)}: 1}}"
                     for i in range(rng.randint(2, 8))) + f"\ntotal = {rng.randint(0, 10**6)}"


@dataclass(frozen=True)
class Trajectory:
    """One episode: ``steps`` of (prose, code, tool output), then the ``final`` answer text."""

    steps: tuple[tuple[str, str, str], ...]
    final: str

    def turns(self) -> tuple[tuple[str, str], ...]:
        """``("model" | "tool", text)`` pieces whose concatenation is :meth:`response`."""
        out: list[tuple[str, str]] = []
        for prose, code, output in self.steps:
            out.append(("model", prose + "\n\n" + format_tool_call(CODE_INTERPRETER.name, {"code": code})))
            out.append(("tool", tool_turn_text([output])))
        out.append(("model", self.final))
        return tuple(out)

    def response(self) -> str:
        return "".join(text for _, text in self.turns())

    def sft_text(self) -> str:
        parts = [f"{prose}\n\n<code>\n```python\n{code}\n```\n</code>\n<interpreter>\n{output}\n</interpreter>\n\n"
                 for prose, code, output in self.steps]
        return "".join(parts) + self.final


def typical_trajectory(n_chars: int = 32_768, *, seed: int = 0) -> Trajectory:
    """A realistic ReTool episode of about ``n_chars`` characters (see the module docstring)."""
    rng = random.Random(seed)
    n_chars = max(_MIN_CHARS * 4, int(n_chars))
    tools = [(_code(rng), _output(rng)) for _ in range(min(10, max(2, n_chars // 6000)))]
    markup = sum(len(format_tool_call(CODE_INTERPRETER.name, {"code": c})) + len(tool_turn_text([o])) + 2
                 for c, o in tools)
    final_tail = f"\n\nThis matches the computation, so the answer is $\\boxed{{{rng.randint(1, 999)}}}$."
    prose_each = max(40, (n_chars - markup - len(final_tail)) // (len(tools) + 1))
    steps = tuple((_prose(rng, prose_each), c, o) for c, o in tools)
    return Trajectory(steps=steps, final=_prose(rng, prose_each) + final_tail)


def to_sft_markup(text: str) -> str:
    """Our grammar's tags -> the ReTool-SFT inline tags (calls -> ``<code>``, responses -> ``<interpreter>``)."""
    for ours, theirs in ((TOOL_CALL_OPEN, "<code>"), (TOOL_CALL_CLOSE, "</code>"),
                         (TOOL_RESPONSE_OPEN, "<interpreter>"), (TOOL_RESPONSE_CLOSE, "</interpreter>")):
        text = text.replace(ours, theirs)
    return text


# ---- metrics JSONL ---------------------------------------------------------------------------

_METRICS = ("reward/mean", "reward/exact_match", "reward/format", "tool/calls_per_sample", "tool/success_rate",
            "tool/code_chars", "tool/timeout_rate", "loss/policy", "loss/kl", "grad_norm", "lr", "entropy",
            "response/length_mean", "response/truncated_rate", "throughput/tokens_per_s")


def typical_metrics_text(n_chars: int = 32_768, *, seed: int = 0) -> str:
    """Metrics JSONL rows as the trainer writes them (``{"step": N, "<metric>": float, ...}``)."""
    rng = random.Random(seed)
    lines: list[str] = []
    size, step = 0, 0
    while size < max(_MIN_CHARS, n_chars):
        row = {"step": step, **{m: rng.uniform(-1.0, 1.0) * 10 ** rng.randint(-4, 3) for m in _METRICS}}
        lines.append(json.dumps(row, allow_nan=False) + "\n")
        size += len(lines[-1])
        step += 1
    return "".join(lines)


def hostile_metrics_text(family: str, n_chars: int = 32_768, *, depth: int = 10_000) -> str:
    """Metrics JSONL carrying ``family``'s text: each row ``{"step", "reward/mean", "note": <1-4 KB of
    the text>}`` (``nested_json``: rows whose value is the nesting itself, raw JSON)."""
    n_chars = max(_MIN_CHARS, int(n_chars))
    if family == "nested_json":
        depth = max(2, min(depth, (n_chars - 40) // 4))
        line = f'{{"step": 0, "reward/mean": 0.5, "note": {_nested(depth)}}}\n'
        return line * max(1, round(n_chars / len(line)))
    text = hostile_text(family, n_chars, depth=depth)
    chunk = 2048
    rows = [json.dumps({"step": k, "reward/mean": 0.5, "note": text[i:i + chunk]}, ensure_ascii=False) + "\n"
            for k, i in enumerate(range(0, len(text), chunk))]
    return "".join(rows)
