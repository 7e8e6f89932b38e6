"""The service's counters: statuses, refusals, the exec/s window and latency percentiles."""

from __future__ import annotations

import time

from retool.sandbox.service.metrics import ServiceMetrics, prometheus


def test_statuses_and_rejections_are_counted() -> None:
    metrics = ServiceMetrics()
    for status in ("ok", "ok", "timeout"):
        metrics.record(status, 0.01)
    metrics.reject(429)
    snap = metrics.snapshot(queued=3, running=2)
    assert snap["statuses"] == {"ok": 2, "timeout": 1} and snap["rejected"] == {"429": 1}
    assert (snap["queue_depth"], snap["running"], snap["runs"]) == (3, 2, 3)


def test_percentiles_follow_the_latencies() -> None:
    metrics = ServiceMetrics()
    for ms in range(1, 101):
        metrics.record("ok", ms / 1000)
    latency = metrics.snapshot(queued=0, running=0)["latency_ms"]
    assert 49 <= latency["p50"] <= 52 and 98 <= latency["p99"] <= 100


def test_exec_per_s_counts_only_the_window() -> None:
    metrics = ServiceMetrics(window_s=0.2)
    for _ in range(10):
        metrics.record("ok", 0.001)
    assert metrics.snapshot(queued=0, running=0)["exec_per_s"] > 0
    time.sleep(0.3)
    snap = metrics.snapshot(queued=0, running=0)
    assert snap["exec_per_s"] == 0 and snap["runs"] == 10


def test_an_empty_snapshot_has_zero_percentiles() -> None:
    assert ServiceMetrics().snapshot(queued=0, running=0)["latency_ms"] == {"p50": 0.0, "p99": 0.0}


def test_prometheus_text_names_every_series() -> None:
    metrics = ServiceMetrics()
    metrics.record("ok", 0.002)
    metrics.reject(401)
    text = prometheus(metrics.snapshot(queued=1, running=0))
    for line in ('retool_sandbox_runs_total{status="ok"} 1', 'retool_sandbox_rejected_total{code="401"} 1',
                 "retool_sandbox_queue_depth 1", 'retool_sandbox_latency_ms{quantile="0.99"}'):
        assert line in text
