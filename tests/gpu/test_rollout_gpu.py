"""GPU twin of tests/unit/rollout/test_sampled.py: the same rollouts against a real SGLang server.

Runs where CUDA and the ``sglang`` package are present (``pytest -m gpu``); skips with the reason
otherwise. The code interpreter is ``PythonSandbox`` on the kernel layers the host has (a non-root
GPU node lacks the per-slot uid layer; these tests are about the rollout, not isolation). The server serves the cached tiny model (float32, triton attention, no CUDA graphs) on
127.0.0.1; logprobs are compared at temperature 1.0, where SGLang's and ours are the same quantity.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import pytest_asyncio
import torch

import retool.rollout as rollout  # rollout.generate: the documented miles/slime entry point
from retool.integrations import slime as rollout_slime
from retool.rollout.engines import SamplingParams, SGLangEngine, http_client_module
from retool.text.masking import verify_loss_mask
from retool.embedded.models import load_model, tiny_model_dir
from retool.rollout import RolloutConfig, generate_batch
from retool.sandbox import PythonSandbox
from tests.capabilities import requires_sglang, sandbox_options

httpx = http_client_module()
pytestmark = [pytest.mark.gpu, requires_sglang]
amark = pytest.mark.asyncio(loop_scope="module")
PROMPTS = [{"prompt": "What is 6*7?", "label": "42"}, {"prompt": "Compute 2**10.", "label": "1024"}]
CONFIG = RolloutConfig(n_samples_per_prompt=4, rollout_max_response_len=64, max_context_len=4096,
                       sampling=SamplingParams(temperature=1.0, max_new_tokens=32))


@pytest.fixture(scope="module")
def sglang_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "sglang.launch_server", "--model-path", str(tiny_model_dir()), "--host", "127.0.0.1",
           "--port", str(port), "--dtype", "float32", "--mem-fraction-static", "0.2", "--attention-backend", "triton",
           "--disable-cuda-graph", "--random-seed", "0"]
    proc = subprocess.Popen(cmd, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sglang server exited with {proc.returncode}: {' '.join(cmd)}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("sglang server did not become healthy within 600 s")
            time.sleep(2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def hf():
    model, tokenizer = load_model(tiny_model_dir(), device="cuda")
    return model, tokenizer


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox():
    box = PythonSandbox(timeout_s=10, concurrency=8, **sandbox_options())  # the layers this host has
    yield box
    await box.close()
    await rollout_slime.close_default_sandbox()


@amark
async def test_real_sglang_rollouts_keep_ids_masks_and_logprobs_in_step(sglang_url, hf, sandbox) -> None:
    model, tokenizer = hf
    client = SGLangEngine(sglang_url)
    samples = await generate_batch(PROMPTS, client, sandbox, tokenizer, CONFIG, progress=False)
    await client.aclose()
    assert len(samples) == 8 and all(s.status != "aborted" for s in samples)
    for s in samples:
        n = s.response_length
        assert len(s.tokens) == s.prompt_len + n and len(s.loss_mask) == len(s.rollout_log_probs) == n <= 64
        if s.status != "failed":
            assert verify_loss_mask(s.tokens, [0] * s.prompt_len + list(s.loss_mask), tokenizer, s.prompt_len).ok
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([s.tokens], device="cuda")).logits[0, s.prompt_len - 1 : -1].float()  # (n, V)
        expected = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(s.tokens[s.prompt_len :], device="cuda")[:, None])[:, 0]  # (n,)
        mask = torch.tensor(s.loss_mask, dtype=torch.bool, device="cuda")  # (n,)
        got = torch.tensor(s.rollout_log_probs, device="cuda")  # (n,)
        assert torch.allclose(got[mask], expected[mask], atol=2e-2)
        assert torch.all(got[~mask] == 0.0)


@amark
async def test_drop_in_generate_against_real_sglang(sglang_url, hf, sandbox) -> None:
    host, port = sglang_url.removeprefix("http://").rsplit(":", 1)
    args = SimpleNamespace(sglang_router_ip=host, sglang_router_port=int(port), hf_checkpoint=str(tiny_model_dir()),
                           rollout_max_response_len=48, rollout_max_context_len=None, partial_rollout=False,
                           retool_sandbox_allow_weaker=bool(sandbox_options()))
    sample = SimpleNamespace(prompt="What is 6*7?", tokens=[], response="", response_length=0, loss_mask=None,
                             rollout_log_probs=None, status="pending", metadata={})
    params = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "max_new_tokens": 48, "stop": None, "stop_token_ids": None,
              "skip_special_tokens": False, "no_stop_trim": True, "spaces_between_special_tokens": False}
    out = await rollout.generate(args, sample, params)
    assert out.status in ("completed", "truncated", "failed")
    assert len(out.loss_mask) == len(out.rollout_log_probs) == out.response_length > 0
