"""Seeded task families that need the code interpreter, for the CPU learning demo (``retool demo``).

Contract (pure; every function is deterministic in its arguments):
- A :class:`TaskFamily` names a problem kind. ``"multiply"``: the product of an ``a_digits``-digit
  and a ``b_digits``-digit number whose product has exactly ``a_digits + b_digits`` digits
  (defaults 4 and 3: a 7-digit product, which a small model cannot compute but can copy from the
  tool's output; one length keeps every copy at one distance, which a small model learns fastest).
- Held-out prompts are kept apart from training prompts by the prompt's text alone: a problem is
  held out iff the first byte of ``sha256(prompt)`` is below ``heldout_share * 256``. So the two
  splits never share a problem, whatever the seed or the number drawn, and a training seed can
  never draw a held-out problem. :func:`make_problems` draws ``n`` distinct problems of one split
  from ``seed`` (rejection sampling; raises ``ValueError`` naming ``n`` when the split holds
  fewer).
- :func:`rl_prompt` is the ``{"prompt", "label"}`` record the rollout and the reward read (the label
  is the exact integer as text).
- :data:`PROGRAMS` are the programs a trace runs: each names the operands, may print intermediates
  (``"digits"``: the partial products ``a * d`` for each digit ``d`` of ``b``; ``"split"``:
  ``a * (b // 100)`` and ``a * (b % 100)``; ``"direct"``: none) and prints the product last, so the
  product is always the tool output's last line. :func:`program` is the source,
  :func:`program_output` what it prints (checked against a real interpreter in the tests).
- :func:`sft_trace` is a prepared SFT record in the recipe's grammar: the user turn, an assistant
  turn calling ``code_interpreter`` with ``program_name``'s program, the tool turn with what it
  prints, and the final assistant turn ``\\boxed{product}``. With ``noisy_box=True`` the box holds a
  copy of the product with one digit changed (:func:`noisy_copy`, seeded by ``noise_seed``) while
  the tool output stays true: the traces of a deliberately partial SFT, whose policy runs the right
  program but copies its answer unreliably, which GRPO then has room to fix. Since the tool output
  then holds the product whether the box is right or not, a reward that reads the tool output pays
  a wrong copy as well as a right one.
- :class:`TaskFamily` also names the programs the SFT traces cycle through (``programs``, default
  ``("digits", "split")``: a tool output of 20 to 25 tokens that differs from one program to the
  other, longer than the 12-token final answer).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["PROGRAMS", "Problem", "TaskFamily", "is_heldout", "make_problems", "noisy_copy", "program",
           "program_output", "rl_prompt", "sft_trace"]

Split = Literal["train", "heldout"]


@dataclass(frozen=True, kw_only=True)
class TaskFamily:
    kind: Literal["multiply"] = "multiply"
    a_digits: int = 4
    b_digits: int = 3
    heldout_share: float = 0.25
    programs: tuple[str, ...] = ("digits", "split")  # the programs the SFT traces cycle through (PROGRAMS)

    def __post_init__(self) -> None:
        if self.kind != "multiply":
            raise ValueError(f"TaskFamily.kind must be 'multiply', got {self.kind!r}")
        for name in ("a_digits", "b_digits"):
            if not 1 <= getattr(self, name) <= 12:
                raise ValueError(f"TaskFamily.{name} must be in 1..12, got {getattr(self, name)}")
        if not 0.0 < self.heldout_share < 1.0:
            raise ValueError(f"TaskFamily.heldout_share must be in (0, 1), got {self.heldout_share}")
        if not self.programs or any(name not in PROGRAMS for name in self.programs):
            raise ValueError(f"TaskFamily.programs must be a non-empty tuple of {sorted(PROGRAMS)}, got {self.programs!r}")


@dataclass(frozen=True, kw_only=True)
class Problem:
    a: int
    b: int

    @property
    def prompt(self) -> str:
        return f"Compute {self.a} * {self.b}."

    @property
    def answer(self) -> str:
        return str(self.a * self.b)

    @property
    def code(self) -> str:
        return program(self, "direct")


# The programs an SFT trace may run. Each names the operands first and prints the product last, so the
# product is always the tool output's last line; "digits" and "split" print intermediates before it
# (partial products), as interpreter outputs in ReTool's traces usually hold more than the answer.
PROGRAMS: dict[str, str] = {
    "direct": "a, b = {a}, {b}\nprint(a * b)",
    "digits": "a, b = {a}, {b}\nfor d in str(b): print(a * int(d))\nprint(a * b)",
    "split": "a, b = {a}, {b}\nprint(a * (b // 100), a * (b % 100))\nprint(a * b)",
}


def program(problem: Problem, name: str) -> str:
    """The source of program ``name`` (:data:`PROGRAMS`) for ``problem``."""
    if name not in PROGRAMS:
        raise ValueError(f"unknown program {name!r}; the programs are {sorted(PROGRAMS)}")
    return PROGRAMS[name].format(a=problem.a, b=problem.b)


def program_output(problem: Problem, name: str) -> str:
    """What program ``name`` prints for ``problem`` (without the final newline)."""
    program(problem, name)  # raises naming an unknown program
    a, b = problem.a, problem.b
    intermediates = {"direct": [], "digits": [str(a * int(d)) for d in str(b)], "split": [f"{a * (b // 100)} {a * (b % 100)}"]}
    return "\n".join([*intermediates[name], str(a * b)])


def is_heldout(prompt: str, heldout_share: float) -> bool:
    """True iff ``prompt`` belongs to the held-out split (see the module contract)."""
    return hashlib.sha256(prompt.encode("utf-8")).digest()[0] < int(heldout_share * 256)


def _split_size_bound(family: TaskFamily) -> int:
    return (9 * 10 ** (family.a_digits - 1)) * (9 * 10 ** (family.b_digits - 1))


def make_problems(family: TaskFamily, split: Split, n: int, seed: int) -> list[Problem]:
    """``n`` distinct problems of ``split``, drawn from ``seed``."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    share = family.heldout_share if split == "heldout" else 1.0 - family.heldout_share
    if n < 0 or n > _split_size_bound(family) * share * 0.1:
        raise ValueError(f"cannot draw n={n} distinct {split} problems from {family}")
    rng = random.Random(f"{family.kind}-{family.a_digits}-{family.b_digits}-{split}-{seed}")
    want_heldout = split == "heldout"
    seen: set[tuple[int, int]] = set()
    out: list[Problem] = []
    while len(out) < n:
        a = rng.randrange(10 ** (family.a_digits - 1), 10 ** family.a_digits)
        b = rng.randrange(10 ** (family.b_digits - 1), 10 ** family.b_digits)
        problem = Problem(a=a, b=b)
        if len(problem.answer) != family.a_digits + family.b_digits or (a, b) in seen \
                or is_heldout(problem.prompt, family.heldout_share) != want_heldout:
            continue
        seen.add((a, b))
        out.append(problem)
    return out


def rl_prompt(problem: Problem) -> dict[str, Any]:
    return {"prompt": problem.prompt, "label": problem.answer}


def noisy_copy(text: str, seed: int) -> str:
    """``text`` with one digit changed to another digit (position and digit drawn from ``seed``)."""
    positions = [i for i, ch in enumerate(text) if ch.isdigit()]
    if not positions:
        raise ValueError(f"noisy_copy needs a digit in {text!r}")
    rng = random.Random(seed)
    at = rng.choice(positions)
    new = rng.choice([d for d in "0123456789" if d != text[at]])
    return text[:at] + new + text[at + 1:]


def sft_trace(problem: Problem, *, program_name: str = "direct", noisy_box: bool = False, noise_seed: int = 0) -> dict[str, Any]:
    """A prepared SFT record (see the module contract)."""
    boxed = noisy_copy(problem.answer, noise_seed) if noisy_box else problem.answer
    call = {"type": "function", "function": {"name": "code_interpreter", "arguments": {"code": program(problem, program_name)}}}
    return {"messages": [
        {"role": "user", "content": problem.prompt},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": program_output(problem, program_name)},
        {"role": "assistant", "content": f"\\boxed{{{boxed}}}"},
    ]}
