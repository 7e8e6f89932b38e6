"""``retool sandbox serve`` as a real process: it serves, answers the client package, drains on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.capabilities import missing_isolation, missing_package

ROOT = Path(__file__).resolve().parents[3]
WEAKER = ["--allow-weaker"] if missing_isolation() else []
_MISSING_CLIENT = missing_package("sandbox_fusion", "pip install sandbox-fusion==0.3.7, the test extra")


def serve(*flags: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "retool.cli.sandbox_serve", "--port", "0", "--concurrency", "2",
            "--timeout-s", "5", "--memory-limit", "512MB", "--uid-base", "63200", *WEAKER, *flags]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = serve("--preset", "fusion")
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("serving http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
        yield proc, line.split()[1]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


@pytest.mark.skipif(_MISSING_CLIENT is not None, reason=str(_MISSING_CLIENT))
def test_the_client_package_runs_code_against_the_served_process(server: tuple[subprocess.Popen[str], str]) -> None:
    import sandbox_fusion as sf

    _, url = server
    response = sf.run_code(sf.RunCodeRequest(code="import sys\nprint(sys.stdin.read()[::-1])", stdin="abc",
                                             language="python"), endpoint=url, max_attempts=1)
    assert response.status == sf.RunStatus.Success and response.run_result.stdout == "cba\n"


def test_sigterm_drains_the_run_in_flight_and_exits_0(server: tuple[subprocess.Popen[str], str]) -> None:
    proc, url = server
    answers: list[httpx.Response] = []
    call = threading.Thread(target=lambda: answers.append(httpx.post(
        f"{url}/run_code", json={"code": "import time\ntime.sleep(1)\nprint('done')", "language": "python"}, timeout=30)))
    call.start()
    in_flight = False
    for _ in range(100):  # until the run is in flight
        if httpx.get(f"{url}/metrics").json()["running"] == 1:
            in_flight = True
            break
        threading.Event().wait(0.02)
    assert in_flight
    proc.send_signal(signal.SIGTERM)
    call.join(30)
    assert proc.wait(30) == 0
    assert answers[0].status_code == 200 and answers[0].json()["run_result"]["stdout"] == "done\n"


def test_a_module_preset_makes_its_modules_importable() -> None:
    proc = serve("--module-preset", "recipe")
    try:
        url = proc.stdout.readline().split()[1]  # type: ignore[union-attr]
        body = httpx.post(f"{url}/run_code", json={"code": "import numpy as np\nint(np.arange(4).sum())",
                                                   "language": "python"}, timeout=30).json()
        assert body["status"] == "Success" and body["retool"]["text"] == "6"
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_a_public_bind_without_a_token_file_exits_2_with_the_reason() -> None:
    proc = serve("--host", "0.0.0.0")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "needs a token" in err


def test_an_unknown_preset_exits_2_naming_the_presets() -> None:
    proc = serve("--preset", "nope")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "fusion" in err and "retool" in err


def test_the_token_file_is_read_and_enforced(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s" * 32 + "\n")
    os.chmod(token_file, 0o600)
    proc = serve("--preset", "fusion", "--token-file", str(token_file))
    try:
        url = proc.stdout.readline().split()[1]  # type: ignore[union-attr]
        body = {"code": "print(1)", "language": "python"}
        assert httpx.post(f"{url}/run_code", json=body).status_code == 401
        assert httpx.post(f"{url}/run_code", json=body, headers={"Authorization": "Bearer " + "s" * 32}).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(30) == 0


def test_a_short_token_file_exits_2_with_the_reason(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("abc\n")
    proc = serve("--token-file", str(short))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "at least 16" in err
