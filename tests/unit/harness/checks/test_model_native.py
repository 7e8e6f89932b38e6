"""The pipeline check in the retool-code dialect: SFT on native records, a rollout whose <code> call
runs and whose <interpreter> text is mask 0, the native reward (the tool bonus included: 1.15), one
GRPO step."""

from __future__ import annotations

import pytest

from retool.harness.checks.model import check_pipeline
from retool.harness.verify import VerifyConfig
from tests.capabilities import requires_isolation

NATIVE = VerifyConfig(dialect="retool-code")


@requires_isolation
@pytest.mark.timeout(300)
def test_pipeline_check_passes_in_the_native_dialect() -> None:
    result = check_pipeline(NATIVE)
    assert result.ok, result.detail
    good, worse = result.data["rewards"]
    assert good == pytest.approx(1.15) and good > worse
