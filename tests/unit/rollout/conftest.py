"""Fixtures shared by the rollout tests: the tiny tokenizer and one real sandbox per test module."""

from __future__ import annotations

import pytest
import pytest_asyncio

from retool.embedded.tokenizer import tiny_tokenizer
from retool.sandbox import PythonSandbox
from tests.capabilities import sandbox_options


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox():
    box = PythonSandbox(timeout_s=10, concurrency=4, **sandbox_options())
    yield box
    await box.close()
