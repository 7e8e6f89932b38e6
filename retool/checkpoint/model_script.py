"""Reading a miles/slime model script's ``MODEL_ARGS=( ... )`` without running it.

Contract (pure: text in, tokens out):
- :func:`read_model_args` collects the words of every ``MODEL_ARGS=(`` / ``MODEL_ARGS+=(`` array of
  a bash model script such as miles's ``scripts/models/qwen3-4B.sh``, in order, one shell line at a
  time (``shlex``: quotes, ``#`` comments). Everything outside those arrays is ignored.
- ``${NAME:-default}`` (or ``${NAME-default}``) is read as its default, with a note saying so (a
  variable set at launch would change it). Any other expansion (``$NAME``, ``${NAME}``,
  ``$(...)``, backticks), an unbalanced quote, or an array never closed is a ``ValueError`` naming
  the source, the line number and the line: a value the file does not state cannot be checked.
- No ``MODEL_ARGS`` array at all is a ``ValueError`` too.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

_START = re.compile(r"^\s*MODEL_ARGS\+?=\(\s*(.*)$")
_DEFAULTED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^${}`]*)\}")


@dataclass(frozen=True, kw_only=True)
class ModelArgs:
    tokens: tuple[str, ...]
    notes: tuple[str, ...]  # defaults read for ${NAME:-default}


def _line_error(source: str, number: int, line: str, why: str) -> ValueError:
    return ValueError(f"{source}:{number}: {why}: {line.strip()[:200]!r}")


def _words(source: str, number: int, line: str, notes: list[str]) -> list[str]:
    def default(match: re.Match[str]) -> str:
        notes.append(f"{source}:{number}: ${{{match.group(1)}}} read as its default {match.group(2)!r} "
                     f"(setting {match.group(1)} at launch would change it)")
        return match.group(2)

    text = _DEFAULTED.sub(default, line)
    if "$" in text or "`" in text:
        raise _line_error(source, number, line, "a shell expansion that cannot be read without running the script")
    try:
        return shlex.split(text, comments=True)
    except ValueError as exc:
        raise _line_error(source, number, line, f"cannot be read as shell words ({exc})") from None


def read_model_args(text: str, *, source: str = "<model script>") -> ModelArgs:
    """The words of the script's ``MODEL_ARGS`` arrays (see the module contract)."""
    tokens: list[str] = []
    notes: list[str] = []
    found = False
    open_at: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if open_at is None:
            start = _START.match(line)
            if start is None:
                continue
            found, open_at, line = True, number, start.group(1)
        words = _words(source, number, line, notes)
        if words and words[-1].endswith(")"):
            last = words.pop()[:-1]
            if last:
                words.append(last)
            open_at = None
        tokens.extend(words)
    if open_at is not None:
        raise ValueError(f"{source}:{open_at}: MODEL_ARGS=( is never closed with ')'")
    if not found:
        raise ValueError(f"{source} defines no MODEL_ARGS=( ... ) array")
    return ModelArgs(tokens=tuple(tokens), notes=tuple(notes))
