"""SandboxFusion's ``/run_code`` over our sandbox: the request read, the code built, the response mapped.

Contract (pure functions; field names and status values are those of the ``sandbox-fusion``
client's models, ``RunCodeRequest`` / ``RunCodeResponse`` / ``RunStatus`` / ``CommandRunStatus``):

- ``parse_run_request(payload, limits) -> RunRequest | Refusal``: total. A body that is not a JSON
  object, or a field of the wrong type, is a ``Refusal`` (HTTP 400, with the reason); a language
  other than python, an unsafe file path or files too large for the code pipe are a ``Refusal``
  whose ``sandbox_error`` is set (HTTP 200 with ``status: SandboxError``, as SandboxFusion answers
  a run it cannot make). ``run_timeout`` and ``memory_limit_MB`` are capped at the server's limits
  whatever the request says; unknown fields are ignored (as SandboxFusion's server does).
- ``build_code(request, limits, nonce) -> str``: the code PythonSandbox runs. A plain request
  (no stdin, files, fetch_files or lower memory limit) is the code itself, byte for byte, so it
  runs exactly as in-process; otherwise a prologue writes the files into the run's scratch dir
  (the child's cwd), sets ``sys.stdin`` to the given text, lowers RLIMIT_AS, runs the code in the
  same namespace (the import guard still applies) and, whatever it did, appends the fetched files
  to stdout after a per-request marker.
- ``response_for(result, request, limits, nonce, text) -> dict``: the RunCodeResponse body (plus a
  ``retool`` object with our verdict and the model-facing text, which SandboxFusion's clients
  ignore). Mapping: ok -> Finished, return_code 0, Success; error, forbidden and memory -> Finished,
  return_code 1 (the exit status of an uncaught exception), Failed; timeout -> TimeLimitExceeded,
  Failed; output_limit and a crash by signal N -> Finished, return_code -N (SIGKILL for the output
  cap), Failed; a crash without a signal (the sandbox could not run it) -> Error, SandboxError.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
import signal
from dataclasses import asdict, dataclass, field
from typing import Any

from retool.sandbox.config import ExecutionResult

LANGUAGE = "python"
MARKER_PREFIX = "\x00retool-fetch-"


@dataclass(frozen=True, kw_only=True)
class ServiceLimits:
    """Server-side caps: a request may ask for less, never for more."""

    max_timeout_s: float
    max_memory_bytes: int
    max_code_bytes: int = 1 << 20
    max_files: int = 64
    max_fetch_bytes: int = 256 * 1024
    print_last_expression: bool = True


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    code: str
    timeout_s: float
    memory_bytes: int
    stdin: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    fetch_files: tuple[str, ...] = ()

    @property
    def plain(self) -> bool:
        return self.stdin is None and not self.files and not self.fetch_files and self.memory_bytes <= 0


@dataclass(frozen=True, kw_only=True)
class Refusal:
    reason: str
    sandbox_error: bool = False  # True: a 200 with status SandboxError; False: a 400


def _safe_path(path: object) -> str | None:
    """A relative path inside the scratch dir, normalised, or None."""
    if not isinstance(path, str) or not path or len(path) > 255 or "\x00" in path or "\\" in path:
        return None
    norm = posixpath.normpath(path)
    if norm.startswith("/") or norm == "." or norm == ".." or norm.startswith("../"):
        return None
    return norm


def _number(payload: dict[str, Any], name: str, default: float) -> float | str:
    value = payload.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return f"{name} must be a number, got {value!r}"[:200]
    return float(value)


def parse_run_request(payload: bytes | str, limits: ServiceLimits) -> RunRequest | Refusal:
    """The request as we run it, or why not (see the module contract). Never raises."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return Refusal(reason=f"body is not JSON: {exc}"[:300])
    if not isinstance(data, dict):
        return Refusal(reason=f"body must be a JSON object (RunCodeRequest), got {type(data).__name__}")
    code, language = data.get("code"), data.get("language")
    if not isinstance(code, str):
        return Refusal(reason="field 'code' is required and must be a string")
    if not isinstance(language, str):
        return Refusal(reason="field 'language' is required and must be a string")
    timeout = _number(data, "run_timeout", 10.0)
    memory_mb = _number(data, "memory_limit_MB", -1)
    for value in (timeout, memory_mb):
        if isinstance(value, str):
            return Refusal(reason=value)
    stdin = data.get("stdin")
    if stdin is not None and not isinstance(stdin, str):
        return Refusal(reason="field 'stdin' must be a string or null")
    files_in = {} if data.get("files") is None else data["files"]
    fetch_in = [] if data.get("fetch_files") is None else data["fetch_files"]
    if not isinstance(files_in, dict):
        return Refusal(reason="field 'files' must be an object {path: base64}")
    if not isinstance(fetch_in, list):
        return Refusal(reason="field 'fetch_files' must be a list of paths")
    if language != LANGUAGE:
        return Refusal(reason=f"language {language!r} is not supported by this server: only 'python' runs here",
                       sandbox_error=True)
    if len(files_in) > limits.max_files or len(fetch_in) > limits.max_files:
        return Refusal(reason=f"at most {limits.max_files} files and {limits.max_files} fetch_files", sandbox_error=True)
    files: dict[str, bytes] = {}
    for path, content in files_in.items():
        if content is None:  # SandboxFusion skips a file without content
            continue
        safe = _safe_path(path)
        if safe is None:
            return Refusal(reason=f"file path {str(path)[:100]!r} must be relative and inside the run's directory",
                           sandbox_error=True)
        if not isinstance(content, str):
            return Refusal(reason=f"file {safe!r}: content must be base64 text")
        try:
            files[safe] = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            return Refusal(reason=f"file {safe!r}: content is not valid base64")
    fetch: list[str] = []
    for path in fetch_in:
        safe = _safe_path(path)
        if safe is None:
            return Refusal(reason=f"fetch_files path {str(path)[:100]!r} must be relative and inside the run's directory",
                           sandbox_error=True)
        fetch.append(path)
    timeout_s = min(timeout, limits.max_timeout_s) if timeout > 0 else limits.max_timeout_s  # type: ignore[operator]
    memory = int(memory_mb * 2**20) if memory_mb > 0 else 0  # type: ignore[operator]
    memory_bytes = memory if 0 < memory < limits.max_memory_bytes else 0
    request = RunRequest(code=code, timeout_s=timeout_s, memory_bytes=memory_bytes, stdin=stdin, files=files,
                         fetch_files=tuple(fetch))
    if len(build_code(request, limits, "0" * 32).encode("utf-8", "replace")) > limits.max_code_bytes:
        return Refusal(reason=f"code plus files exceed the sandbox's {limits.max_code_bytes}-byte code limit",
                       sandbox_error=True)
    return request


_PROLOGUE = """\
def __retool_service_run(__src, __stdin, __files, __fetch, __lower_as, __marker, __fetch_cap, __last):
    __sys, __os, __io = __import__("sys"), __import__("os"), __import__("io")
    __b64, __json = __import__("binascii"), __import__("json")
    for __path, __data in __files:
        __dir = __os.path.dirname(__path)
        if __dir:
            __os.makedirs(__dir, exist_ok=True)
        with open(__path, "wb") as __fh:
            __fh.write(__b64.a2b_base64(__data))
    if __stdin is not None:
        __sys.stdin = __io.StringIO(__stdin)
    if __lower_as > 0:
        __resource = __import__("resource")
        __soft, __hard = __resource.getrlimit(__resource.RLIMIT_AS)
        if __soft != __resource.RLIM_INFINITY and __soft > __lower_as:
            __resource.setrlimit(__resource.RLIMIT_AS, (__soft - __lower_as, __hard))
    __linecache, __ast = __import__("linecache"), __import__("ast")
    __linecache.cache["<code>"] = (len(__src), None, __src.splitlines(True), "<code>")
    __linecache.cache["<snippet>"] = (0, None, [], "<snippet>")  # tracebacks: no prologue source
    __scope = globals()
    try:
        __tree = __ast.parse(__src, "<code>", "exec")
        __tail = None
        if __last and __tree.body and isinstance(__tree.body[-1], __ast.Expr):
            __tail = __ast.Expression(__tree.body.pop().value)
        exec(compile(__tree, "<code>", "exec"), __scope)
        if __tail is not None:
            __value = eval(compile(__tail, "<code>", "eval"), __scope)
            if __value is not None:
                print(repr(__value))
    finally:
        if __fetch:
            __out, __left = {}, __fetch_cap
            for __path in __fetch:
                try:
                    with open(__path, "rb") as __fh:
                        __data = __fh.read(__left + 1)
                except OSError:
                    continue
                if len(__data) > __left:
                    break
                __left -= len(__data)
                __out[__path] = __b64.b2a_base64(__data, newline=False).decode("ascii")
            try:
                __sys.stdout.flush()
            except BaseException:
                pass
            __os.write(1, (__marker + __json.dumps(__out)).encode("ascii"))
"""


def build_code(request: RunRequest, limits: ServiceLimits, nonce: str) -> str:
    """The code PythonSandbox runs for ``request`` (see the module contract). Pure."""
    if request.plain:
        return request.code
    files = [(path, base64.b64encode(data).decode("ascii")) for path, data in request.files.items()]
    lower_as = limits.max_memory_bytes - request.memory_bytes if request.memory_bytes > 0 else 0
    args = ", ".join(repr(a) for a in (request.code, request.stdin, files, list(request.fetch_files), lower_as,
                                       MARKER_PREFIX + nonce + "\x00", limits.max_fetch_bytes,
                                       limits.print_last_expression))
    return f"{_PROLOGUE}__retool_service_run({args})\n"


def split_fetched(stdout: str, nonce: str) -> tuple[str, dict[str, str] | None]:
    """(stdout without the fetch trailer, the fetched files or None when the trailer is missing)."""
    marker = MARKER_PREFIX + nonce + "\x00"
    at = stdout.rfind(marker)
    if at < 0:
        return stdout, None
    try:
        files = json.loads(stdout[at + len(marker):])
    except ValueError:
        return stdout[:at], None
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return stdout[:at], None
    return stdout[:at], files


def _run_status(result: ExecutionResult) -> tuple[str, int | None, str]:
    """(CommandRunStatus, return_code, RunStatus) for one verdict."""
    if result.status == "ok":
        return "Finished", 0, "Success"
    if result.status in ("error", "forbidden", "memory"):
        return "Finished", result.exit_code if result.exit_code not in (None, 0) else 1, "Failed"
    if result.status == "timeout":
        return "TimeLimitExceeded", None, "Failed"
    if result.status == "output_limit":
        return "Finished", -int(signal.SIGKILL), "Failed"
    if result.term_signal:
        return "Finished", -int(result.term_signal), "Failed"
    return "Error", None, "SandboxError"


def response_for(result: ExecutionResult, request: RunRequest, nonce: str, text: str) -> dict[str, Any]:
    """The RunCodeResponse body for one run (see the module contract). Pure."""
    stdout, files = result.stdout, {}
    notes = []
    if request.fetch_files:
        stdout, fetched = split_fetched(result.stdout, nonce)
        if fetched is None:
            notes.append("fetch_files: the run ended before its files were read")
        files = fetched or {}
        missing = [p for p in request.fetch_files if p not in files]
        if fetched is not None and missing:
            notes.append(f"fetch_files: not found or over the size cap: {', '.join(missing)[:300]}")
    run_status, code, status = _run_status(result)
    message = "; ".join([result.detail if result.status != "ok" else "", *notes]).strip("; ")
    verdict = {**asdict(result), "stdout": stdout, "text": text}
    return {
        "status": status,
        "message": message,
        "compile_result": None,
        "run_result": {"status": run_status, "execution_time": result.duration_s, "return_code": code,
                       "stdout": stdout, "stderr": result.stderr},
        "executor_pod_name": None,
        "files": files,
        "retool": verdict,
    }


def sandbox_error(message: str) -> dict[str, Any]:
    """A RunCodeResponse for a run that was not (or not wholly) made: status SandboxError."""
    return {"status": "SandboxError", "message": message, "compile_result": None, "run_result": None,
            "executor_pod_name": None, "files": {}}


def result_from_verdict(verdict: Any) -> ExecutionResult | None:
    """Our ``ExecutionResult`` back from a response's ``retool`` object, or None when it is not one."""
    if not isinstance(verdict, dict):
        return None
    names = ExecutionResult.__dataclass_fields__
    try:
        return ExecutionResult(**{k: v for k, v in verdict.items() if k in names})
    except (TypeError, ValueError):
        return None


__all__ = ["LANGUAGE", "Refusal", "RunRequest", "ServiceLimits", "build_code", "parse_run_request",
           "response_for", "result_from_verdict", "sandbox_error", "split_fetched"]
