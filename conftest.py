"""Repository-wide pytest configuration: hypothesis profiles and the one GPU skip rule.

- Hypothesis profiles: ``dev`` (default), ``ci`` (selected when ``CI=true``: derandomized, no
  deadline, fewer examples so the suite stays well inside CI's budget) and ``fuzz`` (many
  examples; select with ``HYPOTHESIS_PROFILE=fuzz``).
- Every test marked ``gpu`` is skipped, with the reason, where CUDA is not available; the header
  names the card when it is, so a GPU run's log says which device produced its figures.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("fuzz", max_examples=2000, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI", "").lower() == "true" else "dev")
)


def _cuda_device_name() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(0)


def pytest_report_header(config: pytest.Config) -> str:
    name = _cuda_device_name()
    return f"retool-harness: CUDA device: {name}" if name else "retool-harness: no CUDA device (gpu tests skip)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items or _cuda_device_name() is not None:
        return
    skip = pytest.mark.skip(reason="needs CUDA: torch.cuda.is_available() is False on this host")
    for item in gpu_items:
        item.add_marker(skip)


# -- shared fixtures: the embedded default, built once per session -------------------------------


@pytest.fixture(scope="session")
def qwen3_tokenizer():
    """The real Qwen3 tokenizer and chat template, loaded offline."""
    from retool.embedded.tokenizer import load_qwen3_tokenizer

    return load_qwen3_tokenizer()


@pytest.fixture(scope="session")
def tiny_tok():
    """The tiny byte-level BPE with Qwen3's specials and chat template."""
    from retool.embedded.tokenizer import tiny_tokenizer

    return tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_lm():
    """``(model, tokenizer)``: the cached tiny Qwen3 (random init, rope base 5e6), in eval mode."""
    from retool.embedded.models import tiny_model

    return tiny_model()
