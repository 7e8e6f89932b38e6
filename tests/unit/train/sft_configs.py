"""A small, fast SFT config for the tests on the tiny model (not a test module)."""

from __future__ import annotations

from retool.train.sft import SFTConfig


def fast_sft_config(**kw) -> SFTConfig:
    base = dict(lr=3e-3, lr_schedule="constant", batch_size=4, progress=False, epochs=50)
    return SFTConfig(**{**base, **kw})
