"""The ``/run_code`` request and response, pure: parsing, caps, the prologue and the status mapping.

Status values and field names are checked against the ``sandbox-fusion`` client's own models
(``RunCodeResponse``, ``RunStatus``, ``CommandRunStatus``): every body is parsed by them.
"""

from __future__ import annotations

import base64
import json
import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retool.sandbox.config import STATUSES, ExecutionResult
from retool.sandbox.service.protocol import (
    Refusal,
    RunRequest,
    ServiceLimits,
    build_code,
    parse_run_request,
    response_for,
    result_from_verdict,
    sandbox_error,
    split_fetched,
)
from tests.capabilities import missing_package

LIMITS = ServiceLimits(max_timeout_s=30.0, max_memory_bytes=10**9)
_MISSING = missing_package("sandbox_fusion", "pip install sandbox-fusion==0.3.7, the test extra")


def body(**fields: object) -> bytes:
    return json.dumps({"code": "print(1)", "language": "python", **fields}).encode()


def test_a_plain_request_runs_the_code_byte_for_byte() -> None:
    request = parse_run_request(body(code="x = 1\nx"), LIMITS)
    assert isinstance(request, RunRequest) and request.plain
    assert build_code(request, LIMITS, "n" * 32) == "x = 1\nx"


def test_run_timeout_is_capped_at_the_server_limit() -> None:
    assert parse_run_request(body(run_timeout=3600), LIMITS).timeout_s == 30.0
    assert parse_run_request(body(run_timeout=2), LIMITS).timeout_s == 2.0
    assert parse_run_request(body(run_timeout=0), LIMITS).timeout_s == 30.0


def test_the_client_default_timeout_of_10_s_applies_when_absent() -> None:
    assert parse_run_request(json.dumps({"code": "1", "language": "python"}), LIMITS).timeout_s == 10.0


def test_memory_limit_mb_only_lowers_the_cap() -> None:
    assert parse_run_request(body(memory_limit_MB=100), LIMITS).memory_bytes == 100 * 2**20
    assert parse_run_request(body(memory_limit_MB=10**6), LIMITS).memory_bytes == 0  # 0 = the server's cap
    assert parse_run_request(body(memory_limit_MB=-1), LIMITS).memory_bytes == 0


def test_unknown_fields_are_ignored_like_sandboxfusion() -> None:
    assert isinstance(parse_run_request(body(compile_timeout=5, extra_thing=[1]), LIMITS), RunRequest)


@pytest.mark.parametrize("raw", [b"", b"{", b"null", b"[]", b'"x"', json.dumps({"language": "python"}).encode(),
                                 body(code=None), body(language=3), body(stdin=5), body(files=[]),
                                 body(fetch_files="a"), body(run_timeout=True), body(run_timeout="5"),
                                 body(files={"a.txt": "not base64!"}), b"\xff\xfe"])
def test_malformed_bodies_are_400_refusals_with_a_reason(raw: bytes) -> None:
    refusal = parse_run_request(raw, LIMITS)
    assert isinstance(refusal, Refusal) and not refusal.sandbox_error and refusal.reason


def test_another_language_is_a_sandbox_error_refusal() -> None:
    refusal = parse_run_request(body(language="cpp"), LIMITS)
    assert isinstance(refusal, Refusal) and refusal.sandbox_error and "'cpp'" in refusal.reason


@pytest.mark.parametrize("path", ["/etc/passwd", "..", "../a", "a/../../b", "", "a\x00b", "a\\b", "."])
def test_paths_outside_the_run_dir_are_refused(path: str) -> None:
    for fields in ({"files": {path: "eA=="}}, {"fetch_files": [path]}):
        refusal = parse_run_request(body(**fields), LIMITS)
        assert isinstance(refusal, Refusal) and refusal.sandbox_error, (path, fields)


def test_a_file_without_content_is_skipped_like_sandboxfusion() -> None:
    assert parse_run_request(body(files={"a.txt": None}), LIMITS).files == {}


def test_code_plus_files_over_the_code_limit_is_refused() -> None:
    big = base64.b64encode(b"x" * 2**20).decode()
    refusal = parse_run_request(body(files={"big.bin": big}), LIMITS)
    assert isinstance(refusal, Refusal) and refusal.sandbox_error and "code limit" in refusal.reason


@given(st.binary(max_size=300))
def test_parsing_never_raises(raw: bytes) -> None:
    assert isinstance(parse_run_request(raw, LIMITS), (RunRequest, Refusal))


@given(st.text(max_size=200), st.one_of(st.none(), st.text(max_size=100)))
def test_the_prologue_is_valid_python_for_any_code_and_stdin(code: str, stdin: str | None) -> None:
    request = RunRequest(code=code, timeout_s=1.0, memory_bytes=0, stdin=stdin or "", fetch_files=("a",))
    compile(build_code(request, LIMITS, "0" * 32), "<snippet>", "exec")


def test_the_fetch_trailer_is_split_from_stdout() -> None:
    files = {"a.txt": base64.b64encode(b"hi").decode()}
    stdout = "printed\n" + "\x00retool-fetch-" + "9" * 32 + "\x00" + json.dumps(files)
    assert split_fetched(stdout, "9" * 32) == ("printed\n", files)
    assert split_fetched("printed\n", "9" * 32) == ("printed\n", None)


def test_a_trailer_with_another_nonce_is_left_in_stdout() -> None:
    stdout = "\x00retool-fetch-" + "1" * 32 + "\x00{}"
    assert split_fetched(stdout, "2" * 32) == (stdout, None)


def _result(status: str, **fields: object) -> ExecutionResult:
    return ExecutionResult(status=status, stdout="o", stderr="e", duration_s=0.25, **fields)  # type: ignore[arg-type]


MAPPING = {  # our status -> (RunStatus, CommandRunStatus, return_code)
    "ok": ("Success", "Finished", 0),
    "error": ("Failed", "Finished", 1),
    "forbidden": ("Failed", "Finished", 1),
    "memory": ("Failed", "Finished", 1),
    "timeout": ("Failed", "TimeLimitExceeded", None),
    "output_limit": ("Failed", "Finished", -int(signal.SIGKILL)),
}


@pytest.mark.parametrize("status", sorted(MAPPING))
def test_each_status_maps_as_documented(status: str) -> None:
    request = parse_run_request(body(), LIMITS)
    out = response_for(_result(status), request, "0" * 32, "text")
    assert (out["status"], out["run_result"]["status"], out["run_result"]["return_code"]) == MAPPING[status]
    assert out["run_result"]["execution_time"] == 0.25


def test_a_crash_by_signal_is_finished_with_the_negative_signal() -> None:
    out = response_for(_result("crashed", term_signal=11), parse_run_request(body(), LIMITS), "0" * 32, "")
    assert (out["status"], out["run_result"]["return_code"]) == ("Failed", -11)


def test_a_crash_without_a_signal_is_a_sandbox_error() -> None:
    out = response_for(_result("crashed", detail="the zygote died"), parse_run_request(body(), LIMITS), "0" * 32, "")
    assert (out["status"], out["run_result"]["status"]) == ("SandboxError", "Error")


def test_every_status_is_mapped() -> None:
    assert set(MAPPING) | {"crashed"} == set(STATUSES)


@pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))
@pytest.mark.parametrize("status", STATUSES)
def test_every_response_parses_into_the_clients_model(status: str) -> None:
    import sandbox_fusion as sf

    out = response_for(_result(status), parse_run_request(body(), LIMITS), "0" * 32, "")
    parsed = sf.RunCodeResponse(**out)
    assert parsed.status.value == out["status"]
    assert parsed.run_result.status.value == out["run_result"]["status"]
    assert sf.RunCodeResponse(**sandbox_error("x")).status == sf.RunStatus.SandboxError


def test_the_verdict_round_trips_to_an_execution_result() -> None:
    result = _result("memory", exception="MemoryError", exit_code=0)
    out = response_for(result, parse_run_request(body(), LIMITS), "0" * 32, "")
    assert result_from_verdict(out["retool"]) == result
    assert result_from_verdict({"status": "nonsense"}) is None and result_from_verdict([]) is None
