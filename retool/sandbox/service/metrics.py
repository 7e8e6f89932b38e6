"""What the service counts: runs by status, refusals, queue depth, latency percentiles, exec/s.

Contract: ``ServiceMetrics(window_s=10.0)``; ``record(status, latency_s)`` after each run (the
``ExecutionResult`` status, or ``"refused"``/``"cancelled"``), ``reject(code)`` for each HTTP
refusal (400, 401, 413, 429, 503, ...); ``snapshot(queued, running) -> dict`` (JSON-ready):
``exec_per_s`` over the last ``window_s`` seconds, ``exec_per_s_total`` since start, ``statuses``,
``rejected`` by HTTP code, ``queue_depth`` and ``running`` (given by the server), ``latency_ms``
p50/p99 over the last 4096 runs. ``prometheus(snapshot)`` is the same in Prometheus text format.
Time comes from ``time.monotonic``; nothing here blocks or raises.
"""

from __future__ import annotations

import collections
import time
from typing import Any

_LATENCY_SAMPLES = 4096


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class ServiceMetrics:
    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self.started = time.monotonic()
        self.statuses: collections.Counter[str] = collections.Counter()
        self.rejected: collections.Counter[int] = collections.Counter()
        self._latencies: collections.deque[float] = collections.deque(maxlen=_LATENCY_SAMPLES)
        self._recent: collections.deque[float] = collections.deque()

    def record(self, status: str, latency_s: float) -> None:
        now = time.monotonic()
        self.statuses[status] += 1
        self._latencies.append(latency_s)
        self._recent.append(now)
        self._trim(now)

    def reject(self, code: int) -> None:
        self.rejected[code] += 1

    def _trim(self, now: float) -> None:
        while self._recent and self._recent[0] < now - self.window_s:
            self._recent.popleft()

    def snapshot(self, *, queued: int, running: int) -> dict[str, Any]:
        now = time.monotonic()
        self._trim(now)
        window = min(self.window_s, max(now - self.started, 1e-9))
        latencies = list(self._latencies)
        total = sum(self.statuses.values())
        return {
            "exec_per_s": len(self._recent) / window,
            "exec_per_s_total": total / max(now - self.started, 1e-9),
            "runs": total,
            "statuses": dict(self.statuses),
            "rejected": {str(k): v for k, v in sorted(self.rejected.items())},
            "queue_depth": queued,
            "running": running,
            "latency_ms": {"p50": 1000 * _percentile(latencies, 0.50), "p99": 1000 * _percentile(latencies, 0.99)},
            "uptime_s": now - self.started,
        }


def prometheus(snapshot: dict[str, Any]) -> str:
    """The snapshot in Prometheus text exposition format."""
    lines = [
        "# TYPE retool_sandbox_runs_total counter",
        *(f'retool_sandbox_runs_total{{status="{k}"}} {v}' for k, v in sorted(snapshot["statuses"].items())),
        "# TYPE retool_sandbox_rejected_total counter",
        *(f'retool_sandbox_rejected_total{{code="{k}"}} {v}' for k, v in snapshot["rejected"].items()),
        "# TYPE retool_sandbox_queue_depth gauge", f"retool_sandbox_queue_depth {snapshot['queue_depth']}",
        "# TYPE retool_sandbox_running gauge", f"retool_sandbox_running {snapshot['running']}",
        "# TYPE retool_sandbox_exec_per_second gauge", f"retool_sandbox_exec_per_second {snapshot['exec_per_s']:.3f}",
        "# TYPE retool_sandbox_latency_ms gauge",
        f'retool_sandbox_latency_ms{{quantile="0.5"}} {snapshot["latency_ms"]["p50"]:.3f}',
        f'retool_sandbox_latency_ms{{quantile="0.99"}} {snapshot["latency_ms"]["p99"]:.3f}',
    ]
    return "\n".join(lines) + "\n"


__all__ = ["ServiceMetrics", "prometheus"]
