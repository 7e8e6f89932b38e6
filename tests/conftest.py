"""The hypothesis ``fuzz`` profile: ``pytest --hypothesis-profile=fuzz`` runs the property and
fuzz tests with many more examples (1000 each, no deadline) than CI's default profile."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("fuzz", deadline=None, max_examples=1000,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
