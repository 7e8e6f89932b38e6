"""``SandboxService`` through the real ``sandbox-fusion`` client (sync and async) over loopback.

Field names and status values are the client's own models (``sandbox_fusion.RunCodeRequest``,
``RunCodeResponse``, ``RunStatus``, ``CommandRunStatus``): the client parses every response into
them, so a field or status we got wrong fails the parse or the comparison here.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time

import httpx
import pytest

from tests.capabilities import missing_package
from tests.unit.sandbox.service.conftest import Served, serve

_MISSING = missing_package("sandbox_fusion", "pip install sandbox-fusion==0.3.7, the test extra")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))
if _MISSING is None:
    import sandbox_fusion as sf


def run(served: Served, **fields: object) -> "sf.RunCodeResponse":
    return sf.run_code(sf.RunCodeRequest(language=fields.pop("language", "python"), **fields),
                       endpoint=served.url, max_attempts=1)


def run_async(served: Served, **fields: object) -> "sf.RunCodeResponse":
    request = sf.RunCodeRequest(language="python", **fields)
    return asyncio.run(sf.run_code_async(request, endpoint=served.url, max_attempts=1))


# --- statuses -----------------------------------------------------------------------------------

def test_sync_client_gets_success_finished_and_stdout(fusion: Served) -> None:
    response = run(fusion, code="print(6 * 7)")
    assert response.status == sf.RunStatus.Success
    assert response.run_result.status == sf.CommandRunStatus.Finished
    assert (response.run_result.return_code, response.run_result.stdout) == (0, "42\n")


def test_async_client_gets_the_same_answer(fusion: Served) -> None:
    response = run_async(fusion, code="print(6 * 7)")
    assert response.status == sf.RunStatus.Success and response.run_result.stdout == "42\n"


def test_an_uncaught_exception_is_failed_with_return_code_1_and_the_traceback(fusion: Served) -> None:
    response = run(fusion, code="print('before')\nraise ValueError('boom')")
    assert response.status == sf.RunStatus.Failed
    assert response.run_result.status == sf.CommandRunStatus.Finished
    assert response.run_result.return_code == 1
    assert response.run_result.stdout == "before\n"
    assert "ValueError: boom" in response.run_result.stderr


def test_a_nonzero_exit_is_failed(fusion: Served) -> None:
    response = run(fusion, code="import sys\nsys.exit(3)")
    assert response.status == sf.RunStatus.Failed and response.run_result.return_code != 0


def test_run_timeout_is_time_limit_exceeded_within_it(fusion: Served) -> None:
    response = run(fusion, code="while True: pass", run_timeout=1)
    assert response.status == sf.RunStatus.Failed
    assert response.run_result.status == sf.CommandRunStatus.TimeLimitExceeded
    assert 1.0 <= response.run_result.execution_time < 3.0


def test_run_timeout_over_the_server_cap_is_capped(fusion: Served) -> None:
    response = run(fusion, code="import time\ntime.sleep(30)", run_timeout=3600)
    assert response.run_result.status == sf.CommandRunStatus.TimeLimitExceeded
    assert response.run_result.execution_time < 10.0  # the server's 5 s, not the hour asked for


def test_other_languages_are_refused_with_a_sandbox_error_naming_python(fusion: Served) -> None:
    with pytest.raises(Exception, match="only 'python' runs here"):
        run(fusion, code="int main() {}", language="cpp")


def test_a_refused_language_is_a_sandbox_error_body(fusion: Served) -> None:
    body = httpx.post(f"{fusion.url}/run_code", json={"code": "x", "language": "nodejs"}).json()
    assert sf.RunCodeResponse(**body).status == sf.RunStatus.SandboxError
    assert "nodejs" in body["message"]


# --- memory, stdin, files -------------------------------------------------------------------------

def test_memory_limit_mb_below_the_cap_is_enforced(fusion: Served) -> None:
    code = "b = bytearray(200_000_000)\nprint(len(b))"
    assert run(fusion, code=code).run_result.stdout == "200000000\n"  # under the server's 512 MB
    body = httpx.post(f"{fusion.url}/run_code", json={"code": code, "language": "python", "memory_limit_MB": 100}).json()
    assert body["status"] == "Failed" and "MemoryError" in body["run_result"]["stderr"]


def test_memory_above_the_server_cap_is_refused_by_the_cap(fusion: Served) -> None:
    body = httpx.post(f"{fusion.url}/run_code", json={"code": "b = bytearray(900_000_000)", "language": "python",
                                                     "memory_limit_MB": 100_000}).json()
    assert body["status"] == "Failed" and "MemoryError" in body["run_result"]["stderr"]


def test_stdin_is_the_runs_standard_input(fusion: Served) -> None:
    response = run(fusion, code="import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))", stdin="1 2\n3\n")
    assert response.run_result.stdout == "6\n"


def test_input_reads_stdin_lines(fusion: Served) -> None:
    assert run(fusion, code="a = input()\nb = input()\nprint(b, a)", stdin="x\ny\n").run_result.stdout == "y x\n"


def test_files_are_written_before_the_run_and_fetch_files_come_back(fusion: Served) -> None:
    code = "import os\ndata = open('in/data.txt').read()\nos.makedirs('out', exist_ok=True)\nopen('out/r.txt', 'w').write(data[::-1])"
    response = run(fusion, code=code, files={"in/data.txt": base64.b64encode(b"abc").decode()},
                   fetch_files=["out/r.txt"])
    assert response.status == sf.RunStatus.Success
    assert base64.b64decode(response.files["out/r.txt"]) == b"cba"


def test_fetch_files_come_back_even_when_the_code_fails(fusion: Served) -> None:
    response = run(fusion, code="open('r.txt', 'w').write('kept')\n1 / 0", fetch_files=["r.txt", "missing.txt"])
    assert response.status == sf.RunStatus.Failed
    assert base64.b64decode(response.files["r.txt"]) == b"kept" and "missing.txt" not in response.files
    assert "missing.txt" in response.message


def test_fetched_bytes_are_not_in_stdout(fusion: Served) -> None:
    response = run(fusion, code="print('visible')\nopen('r.bin', 'wb').write(bytes(range(256)))", fetch_files=["r.bin"])
    assert response.run_result.stdout == "visible\n"
    assert base64.b64decode(response.files["r.bin"]) == bytes(range(256))


def test_a_file_path_outside_the_run_dir_is_refused(fusion: Served) -> None:
    for path in ("/etc/passwd", "../x", "a/../../x"):
        body = httpx.post(f"{fusion.url}/run_code", json={"code": "1", "language": "python",
                                                         "files": {path: "eA=="}}).json()
        assert body["status"] == "SandboxError" and "relative" in body["message"], path


def test_files_do_not_leak_into_the_next_run(fusion: Served) -> None:
    run(fusion, code="open('left.txt', 'w').write('x')")
    response = run(fusion, code="import os\nprint(sorted(os.listdir('.')))")
    assert response.run_result.stdout == "[]\n"


def test_verls_sandbox_fusion_tool_request_runs(fusion: Served) -> None:
    # verl's tool posts this body with requests to the configured URL (stdin is str(None) there)
    import requests

    payload = {"compile_timeout": 30, "run_timeout": 30, "code": "print(sum(range(10)))", "stdin": "None",
               "memory_limit_MB": 1024, "language": "python", "files": {}, "fetch_files": []}
    response = requests.post(f"{fusion.url}/run_code", data=json.dumps(payload),
                             headers={"Content-Type": "application/json", "Accept": "application/json"}, timeout=40)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "Success"
    assert body["run_result"]["status"] == "Finished" and body["run_result"]["stdout"] + body["run_result"]["stderr"] == "45\n"


# --- the retool preset: a farm for our rollouts --------------------------------------------------

def test_retool_preset_answers_with_the_model_facing_text(retool_farm: Served) -> None:
    body = httpx.post(f"{retool_farm.url}/run_code", json={"code": "import math\nmath.factorial(10)", "language": "python"}).json()
    assert body["status"] == "Success" and body["retool"]["text"] == "3628800"


def test_retool_preset_keeps_the_import_allow_list(retool_farm: Served) -> None:
    body = httpx.post(f"{retool_farm.url}/run_code", json={"code": "import os", "language": "python"}).json()
    assert body["retool"]["status"] == "forbidden" and body["status"] == "Failed"


# --- malformed requests, token, health, metrics ------------------------------------------------

@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"language": "python"}', b'{"code": 1, "language": "python"}',
                                  b'{"code": "1", "language": "python", "run_timeout": "x"}',
                                  b'{"code": "1", "language": "python", "files": {"a": "***"}}'])
def test_a_malformed_run_request_is_a_400_with_a_reason(fusion: Served, body: bytes) -> None:
    response = httpx.post(f"{fusion.url}/run_code", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["detail"]


def _raw(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(("raw", "code"), [
    (b"GARBAGE\r\n\r\n", b"400"),
    (b"POST /run_code HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"411"),
    (b"POST /run_code HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", b"413"),
    (b"POST /run_code HTTP/1.1\r\nContent-Length: -1\r\n\r\n", b"400"),
    (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", b"431"),
])
def test_broken_http_is_answered_with_its_code_and_the_server_keeps_serving(fusion: Served, raw: bytes, code: bytes) -> None:
    assert _raw(fusion.url, raw).split(b" ")[1] == code
    assert run(fusion, code="print(1)").status == sf.RunStatus.Success


def test_the_body_cap_is_refused_before_reading_the_body(fusion: Served) -> None:
    head = b"POST /run_code HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (64 * 2**20)
    assert _raw(fusion.url, head).split(b" ")[1] == b"413"  # answered without sending a byte of the 64 MiB


def test_health_reports_ok_and_the_limits(fusion: Served) -> None:
    body = httpx.get(f"{fusion.url}/health").json()
    assert body["status"] == "ok" and body["limits"]["max_timeout_s"] == 5.0 and body["limits"]["concurrency"] == 4


def test_head_health_has_the_headers_and_no_body(fusion: Served) -> None:
    raw = _raw(fusion.url, b"HEAD /health HTTP/1.1\r\nConnection: close\r\n\r\n")
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: " in head and rest == b""


def test_connections_past_the_cap_get_503_and_the_server_keeps_serving() -> None:
    with serve("fusion", uid_offset=32, concurrency=1, service={"max_connections": 2}) as served:
        host, port = served.url.removeprefix("http://").split(":")
        held = [socket.create_connection((host, int(port)), timeout=10) for _ in range(2)]
        try:
            time.sleep(0.2)  # both accepted and idle
            assert _raw(served.url, b"GET /health HTTP/1.1\r\n\r\n").split(b" ")[1] == b"503"
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        assert httpx.get(f"{served.url}/health").status_code == 200


def test_metrics_count_statuses_and_report_percentiles(fusion: Served) -> None:
    run(fusion, code="print(1)")
    body = httpx.get(f"{fusion.url}/metrics").json()
    assert body["statuses"]["ok"] >= 1 and body["latency_ms"]["p99"] >= body["latency_ms"]["p50"] > 0
    assert {"exec_per_s", "queue_depth", "running", "rejected"} <= set(body)
    text = httpx.get(f"{fusion.url}/metrics?format=prometheus").text
    assert 'retool_sandbox_runs_total{status="ok"}' in text


TOKEN = "t" * 24


@pytest.fixture(scope="module")
def guarded() -> object:
    with serve("fusion", uid_offset=16, service={"token": TOKEN}) as served:
        yield served


def test_with_a_token_a_run_without_it_is_401(guarded: Served) -> None:
    response = httpx.post(f"{guarded.url}/run_code", json={"code": "print(1)", "language": "python"})
    assert response.status_code == 401
    wrong = httpx.post(f"{guarded.url}/run_code", json={"code": "print(1)", "language": "python"},
                       headers={"Authorization": "Bearer " + "u" * 24})
    assert wrong.status_code == 401


def test_the_bearer_token_is_accepted(guarded: Served) -> None:
    response = httpx.post(f"{guarded.url}/run_code", json={"code": "print(1)", "language": "python"},
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.json()["status"] == "Success"


def test_the_client_package_passes_the_token_in_the_url_prefix(guarded: Served) -> None:
    request = sf.RunCodeRequest(code="print(5)", language="python")
    assert sf.run_code(request, endpoint=f"{guarded.url}/t/{TOKEN}", max_attempts=1).run_result.stdout == "5\n"
    with pytest.raises(Exception, match="401"):
        sf.run_code(request, endpoint=f"{guarded.url}/t/{'x' * 24}", max_attempts=1)


def test_health_stays_open_with_a_token_and_metrics_do_not(guarded: Served) -> None:
    assert httpx.get(f"{guarded.url}/health").status_code == 200
    assert httpx.get(f"{guarded.url}/metrics").status_code == 401


# --- back-pressure and shutdown ----------------------------------------------------------------

def test_overload_gets_429_with_retry_after_and_every_admitted_run_completes() -> None:
    with serve("fusion", uid_offset=24, concurrency=2, service={"max_queue": 2}) as served:
        async def flood() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30) as client:
                calls = [client.post(f"{served.url}/run_code", json={"code": "import time\ntime.sleep(0.5)\nprint('done')",
                                                                      "language": "python"}) for _ in range(10)]
                return await asyncio.gather(*calls)

        responses = asyncio.run(flood())
        codes = sorted(r.status_code for r in responses)
        assert codes.count(200) == 4 and codes.count(429) == 6  # 2 running + 2 queued admitted
        assert all(r.headers["retry-after"] == "1" for r in responses if r.status_code == 429)
        assert all(r.json()["run_result"]["stdout"] == "done\n" for r in responses if r.status_code == 200)


def test_shutdown_finishes_running_runs_and_refuses_queued_ones_unstarted() -> None:
    with serve("fusion", uid_offset=28, concurrency=1, service={"drain_timeout_s": 10.0}) as served:
        async def scenario() -> tuple[list[httpx.Response], dict]:
            async with httpx.AsyncClient(timeout=30) as client:
                code = "import time\ntime.sleep(1.0)\nprint('finished')"
                calls = [asyncio.ensure_future(client.post(f"{served.url}/run_code", json={"code": code, "language": "python"}))
                         for _ in range(3)]
                await asyncio.sleep(0.4)  # one running, two queued
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(served.service.stop(), served.loop))
                return await asyncio.gather(*calls), served.service.metrics.snapshot(queued=0, running=0)

        responses, metrics = asyncio.run(scenario())
        finished = [r for r in responses if r.status_code == 200]
        assert len(finished) == 1 and finished[0].json()["run_result"]["stdout"] == "finished\n"
        refused = [r for r in responses if r.status_code == 503]
        assert len(refused) == 2 and all("not run" in r.json()["detail"] for r in refused)
        assert metrics["runs"] == 1  # exactly the one that ran: none lost, none made twice


def test_shutdown_past_the_drain_timeout_stops_the_run_and_says_so() -> None:
    with serve("fusion", uid_offset=30, concurrency=1, service={"drain_timeout_s": 0.5}) as served:
        async def scenario() -> httpx.Response:
            async with httpx.AsyncClient(timeout=30) as client:
                call = asyncio.ensure_future(client.post(f"{served.url}/run_code",
                                                         json={"code": "import time\ntime.sleep(4)", "language": "python"}))
                await asyncio.sleep(0.4)
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(served.service.stop(), served.loop))
                return await call

        response = asyncio.run(scenario())
        body = response.json()
        assert response.status_code == 200 and body["status"] == "SandboxError"
        assert "stopped, not completed" in body["message"]
        assert json.loads(json.dumps(body))["run_result"] is None


def test_after_shutdown_health_is_gone() -> None:
    with serve("fusion", uid_offset=31, concurrency=1) as served:
        served.call(served.service.stop)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{served.url}/health", timeout=2)


def test_an_oversized_upload_gets_its_413_not_a_reset(fusion: Served) -> None:
    body = b"x" * (3 * 2**20)  # over the 2 MiB cap, sent whole by the client
    response = httpx.post(f"{fusion.url}/run_code", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "limit" in response.json()["detail"]
