"""Fixtures shared by the train tests: one torch thread per test, the shipped SFT sample as records."""

from __future__ import annotations

import pytest
import torch

from retool.data import prepare_sft, read_jsonl, sample_path


@pytest.fixture(autouse=True)
def _one_thread():
    # 2 shared cores: one intra-op thread is several times faster than two contending ones here
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sft_records(tmp_path_factory):
    out = tmp_path_factory.mktemp("sft") / "sft.jsonl"
    prepare_sft(sample_path("retool_sft_sample.jsonl"), out)
    return read_jsonl(out)
