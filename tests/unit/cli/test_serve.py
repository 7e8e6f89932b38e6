"""``retool serve`` (retool.cli.serve): a non-loopback host is refused without --allow-remote, a
busy port exits 2, and bad arguments exit 2 naming the value. Serving itself is tested in
tests/unit/rollout/engines/test_server.py."""

from __future__ import annotations

import socket

import pytest

from retool.cli import main


def test_a_non_loopback_host_is_refused_naming_it(capsys) -> None:
    assert main(["serve", "--model", "tiny", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to bind '0.0.0.0': not a loopback address" in err


def test_a_port_in_use_exits_2(capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--model", "tiny", "--port", str(port)]) == 2
    assert "Address already in use" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "bad"), [
    (["serve", "--model", "tiny", "--port", "http"], "'http'"),
    (["serve", "--model", "tiny", "--seed", "x"], "'x'"),
    (["serve"], "--model"),
])
def test_a_bad_argument_exits_2_naming_it(argv: list[str], bad: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and bad in capsys.readouterr().err


def test_a_missing_model_dir_exits_2_naming_it(tmp_path, capsys) -> None:
    assert main(["serve", "--model", str(tmp_path / "nomodel")]) == 2
    assert "nomodel" in capsys.readouterr().err


@pytest.mark.slow
def test_retool_serve_refuses_an_unknown_sampling_key_with_400() -> None:
    """SGLang refuses a sampling key its SamplingParams does not take with HTTP 400; ``retool serve`` too."""
    import re
    import subprocess
    import sys

    from retool.rollout.engines import http_client_module

    httpx = http_client_module()
    proc = subprocess.Popen([sys.executable, "-m", "retool.cli", "serve", "--model", "tiny", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        match = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline())
        assert match
        reply = httpx.post(f"{match.group(0)}/generate", timeout=60,
                           json={"input_ids": [1, 2], "sampling_params": {"max_new_tokens": 1, "return_top_p": True}})
        assert reply.status_code == 400 and "'return_top_p'" in reply.json()["error"]["message"]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
