"""The health watch: training metrics (JSONL rows) checked against the ReTool recipe's bands.

Contract (pure, except ``load_bands``, which reads one file; the metrics log is read by
:mod:`retool.train.metrics_log`):
- A ``Band`` bounds one metric: ``low`` and/or ``high`` (inclusive: a value inside [low, high]
  passes) and/or ``trend="up"``. Each carries the recipe's troubleshooting advice.
- ``check(rows, bands, window=..., warmup_steps=...)``:
  * rows with ``step < warmup_steps`` are not checked (the first RL steps from an SFT checkpoint
    are not yet representative);
  * range: every checked row whose value lies outside the band is one ``Breach`` (kind "below" or
    "above"); a value that is not a finite number is a breach of kind "invalid";
  * trend "up": the least-squares slope of value over step across the last ``window`` checked
    rows that have the metric; a slope <= 0 is one breach (kind "not_trending_up", reported at the
    last step, value = the slope). With fewer than ``window`` points the check is "pending" (not
    a breach), so a short or young run never false-alarms on trend;
  * a banded metric absent from every checked row is reported in ``missing`` and fails the
    report (never skipped silently); with no rows at all every band is missing;
  * a banded metric present only in rows inside the warm-up window gets status "warmup" and is
    reported in ``warmup_only`` instead of ``missing``: it is logged, just not checkable yet.
    ``all_in_warmup`` says every row is inside the window (a run shorter than its warm-up).
    It fails the report too, with that reason: nothing was checked, so nothing is healthy yet.
- ``WatchReport.ok`` is true when there is no breach, nothing missing and nothing warm-up only.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_WINDOW = 10
DEFAULT_WARMUP_STEPS = 5
MAX_BANDS_FILE_BYTES = 1 << 20
_TRENDS = (None, "up")


@dataclass(frozen=True, kw_only=True)
class Band:
    """A healthy range and/or trend for one metric, with what to do when it is left."""

    metric: str
    low: float | None = None
    high: float | None = None
    trend: str | None = None
    advice: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(f"Band.metric must be a non-empty str, got {self.metric!r}")
        if self.trend not in _TRENDS:
            raise ValueError(f"Band.trend must be 'up' or None, got {self.trend!r} for {self.metric}")
        for name in ("low", "high"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)):
                raise ValueError(f"Band.{name} must be a finite number or None, got {value!r} for {self.metric}")
        if self.low is None and self.high is None and self.trend is None:
            raise ValueError(f"Band for {self.metric} needs low, high or trend")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"Band for {self.metric} has low={self.low} > high={self.high}")

    def describe(self) -> str:
        parts = []
        if self.low is not None and self.high is not None:
            parts.append(f"{self.low:g}..{self.high:g}")
        elif self.low is not None:
            parts.append(f">= {self.low:g}")
        elif self.high is not None:
            parts.append(f"<= {self.high:g}")
        if self.trend == "up":
            parts.append("trending up")
        return ", ".join(parts)


# The recipe's "What to watch" table. format_bonus: 0.1 x valid-format share, so 0.08 means 80%
# of samples well formed; above 0.11 the format weight is not the recipe's 0.1.
DEFAULT_BANDS: tuple[Band, ...] = (
    Band(
        metric="retool/tool_calls_per_sample", low=1.5, high=3.0,
        advice="Falling toward 0: check the tool-response mask (tool tokens must be loss-masked) and "
        "the tool-use bonus, and that the tools block reaches the prompt. Above 3: the model loops on "
        "calls; check max_tool_calls and that tool errors are readable.",
    ),
    Band(
        metric="retool/tool_success_rate", low=0.85,
        advice="Check the sandbox's allowed modules and read the errors in a few tool responses "
        "(blocked imports, fenced code sent verbatim, missing print); `retool sandbox` shows the config.",
    ),
    Band(
        metric="retool/avg_code_length_chars", low=50.0, high=200.0,
        advice="Too long: the model writes whole programs; check the SFT data's code lengths and the "
        "response budget. Too short: trivial calls farmed for the tool bonus; check the bonus needs a "
        "successful call.",
    ),
    Band(
        metric="reward/exact_match", trend="up",
        advice="Flat (or stuck at 0): check the answer extractor on a few samples "
        "(`retool answers validate`), the label format, and that \\boxed{} reaches the final text.",
    ),
    Band(
        metric="reward/format_bonus", low=0.08, high=0.11,
        advice="Low: check the grammar and the stop strings (turns must stop at </tool_call>, not run "
        "to EOS) and that answers are boxed. Above 0.10: the format weight is not the recipe's 0.1.",
    ),
    Band(
        metric="sandbox/timeout_rate", high=0.02,
        advice="Raise python_timeout or restrict numpy/sympy (heavy imports and symbolic solves are the "
        "usual culprits); check sandbox concurrency against the cores.",
    ),
)


@dataclass(frozen=True, kw_only=True)
class Breach:
    metric: str
    step: int
    value: float | None
    kind: str  # "below" | "above" | "invalid" | "not_trending_up"
    band: Band
    advice: str

    def message(self) -> str:
        shown = "n/a" if self.value is None else f"{self.value:.4g}"
        what = {"below": "below band", "above": "above band", "invalid": "not a finite number",
                "not_trending_up": "slope <= 0, not trending up"}[self.kind]
        return f"{self.metric} at step {self.step}: {shown} ({what}; band {self.band.describe()})"


@dataclass(frozen=True, kw_only=True)
class BandCheck:
    """Summary of one band: status "ok" | "breach" | "missing" | "pending" (trend lacks points) | "warmup"
    (the metric is only in rows inside the warm-up window)."""

    band: Band
    status: str
    last_step: int | None
    last_value: float | None
    slope: float | None
    breaches: int


@dataclass(frozen=True, kw_only=True)
class WatchReport:
    checks: tuple[BandCheck, ...]
    breaches: tuple[Breach, ...]
    missing: tuple[str, ...]
    rows_checked: int
    warmup_only: tuple[str, ...] = ()  # banded metrics present only in rows inside the warm-up window
    rows_in_warmup: int = 0
    warmup_steps: int = 0

    @property
    def ok(self) -> bool:
        return not self.breaches and not self.missing and not self.warmup_only

    @property
    def all_in_warmup(self) -> bool:
        """Every row lies inside the warm-up window (there is at least one row, none checked)."""
        return self.rows_checked == 0 and self.rows_in_warmup > 0

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "rows_checked": self.rows_checked,
            "missing": list(self.missing),
            "warmup_only": list(self.warmup_only),
            "rows_in_warmup": self.rows_in_warmup,
            "warmup_steps": self.warmup_steps,
            "all_in_warmup": self.all_in_warmup,
            "checks": [asdict(check) for check in self.checks],
            "breaches": [{**asdict(breach), "message": breach.message()} for breach in self.breaches],
        }


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x; 0.0 when all x are equal or fewer than two points."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var_x = sum((x - mean_x) ** 2 for x, _ in points)
    if var_x == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var_x


def _check_band(band: Band, rows: Sequence[Mapping[str, object]], window: int) -> tuple[BandCheck, list[Breach]]:
    present = [(int(row["step"]), row[band.metric]) for row in rows if band.metric in row]
    if not present:
        return BandCheck(band=band, status="missing", last_step=None, last_value=None, slope=None, breaches=0), []
    breaches: list[Breach] = []
    finite_points: list[tuple[float, float]] = []
    for step, raw in present:
        value = _finite(raw)
        if value is None:
            breaches.append(Breach(metric=band.metric, step=step, value=None, kind="invalid", band=band, advice=band.advice))
            continue
        finite_points.append((float(step), value))
        if band.low is not None and value < band.low:
            breaches.append(Breach(metric=band.metric, step=step, value=value, kind="below", band=band, advice=band.advice))
        elif band.high is not None and value > band.high:
            breaches.append(Breach(metric=band.metric, step=step, value=value, kind="above", band=band, advice=band.advice))
    trend_slope: float | None = None
    pending = False
    if band.trend == "up":
        if len(finite_points) < window:
            pending = True
        else:
            trend_slope = slope(finite_points[-window:])
            if trend_slope <= 0:
                breaches.append(Breach(metric=band.metric, step=int(finite_points[-1][0]), value=trend_slope,
                                       kind="not_trending_up", band=band, advice=band.advice))
    last_step, last_raw = present[-1]
    status = "breach" if breaches else ("pending" if pending else "ok")
    check = BandCheck(band=band, status=status, last_step=last_step, last_value=_finite(last_raw),
                      slope=trend_slope, breaches=len(breaches))
    return check, breaches


def check(
    metrics_rows: Sequence[Mapping[str, object]],
    bands: Sequence[Band] = DEFAULT_BANDS,
    *,
    window: int = DEFAULT_WINDOW,
    warmup_steps: int = DEFAULT_WARMUP_STEPS,
) -> WatchReport:
    """Check metric rows (each with an int ``step``) against ``bands``; see the module contract."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise ValueError(f"window must be an int >= 2 (a slope needs two points), got {window!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be an int >= 0, got {warmup_steps!r}")
    for index, row in enumerate(metrics_rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"metrics row {index} is not an object: {type(row).__name__}")
        step = row.get("step")
        if isinstance(step, bool) or not isinstance(step, int):
            raise ValueError(f"metrics row {index} has no int 'step': {step!r}")
    rows = [row for row in metrics_rows if int(row["step"]) >= warmup_steps]
    early = [row for row in metrics_rows if int(row["step"]) < warmup_steps]
    checks: list[BandCheck] = []
    breaches: list[Breach] = []
    for band in bands:
        band_check, band_breaches = _check_band(band, rows, window)
        if band_check.status == "missing" and any(band.metric in row for row in early):
            band_check = dataclasses.replace(band_check, status="warmup")
        checks.append(band_check)
        breaches.extend(band_breaches)
    missing = tuple(c.band.metric for c in checks if c.status == "missing")
    warmup_only = tuple(c.band.metric for c in checks if c.status == "warmup")
    return WatchReport(checks=tuple(checks), breaches=tuple(breaches), missing=missing, rows_checked=len(rows),
                       warmup_only=warmup_only, rows_in_warmup=len(early), warmup_steps=warmup_steps)


def _band_from_mapping(raw: object, where: str, defaults: Mapping[str, Band]) -> Band:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: a band must be a table/object, got {type(raw).__name__}")
    unknown = set(raw) - {"metric", "low", "high", "trend", "advice"}
    if unknown:
        raise ValueError(f"{where}: unknown band keys {sorted(unknown)}")
    metric = raw.get("metric")
    default = defaults.get(metric) if isinstance(metric, str) else None
    advice = raw.get("advice", default.advice if default else "")
    try:
        return Band(metric=metric, low=raw.get("low"), high=raw.get("high"), trend=raw.get("trend"), advice=advice)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def load_bands(path: str | os.PathLike[str]) -> tuple[Band, ...]:
    """Bands from a ``.json`` or ``.toml`` file.

    Shape: ``{"bands": [{"metric": ..., "low": ..., "high": ..., "trend": "up", "advice": ...}]}``
    (TOML: ``[[bands]]`` tables; JSON may also be a bare list). A band without ``advice`` takes the
    default band's advice for that metric. With ``extend_defaults = true`` the file's bands replace
    the default bands of the same metric and the other defaults are kept; otherwise the file's
    bands are the whole set.
    """
    source = Path(path)
    with source.open("rb") as handle:
        raw = handle.read(MAX_BANDS_FILE_BYTES + 1)
    if len(raw) > MAX_BANDS_FILE_BYTES:
        raise ValueError(f"{source}: bands file larger than {MAX_BANDS_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{source}: cannot parse bands file: invalid UTF-8 at byte {exc.start}") from None
    try:
        if source.suffix.lower() == ".toml":
            data: object = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{source}: cannot parse bands file: {exc}") from None
    except RecursionError:
        raise ValueError(f"{source}: cannot parse bands file: nested too deeply") from None
    if isinstance(data, list):
        data = {"bands": data}
    if not isinstance(data, dict) or not isinstance(data.get("bands"), list):
        raise ValueError(f"{source}: expected a 'bands' list of band tables")
    extend = data.get("extend_defaults", False)
    if not isinstance(extend, bool):
        raise ValueError(f"{source}: extend_defaults must be true or false, got {extend!r}")
    defaults = {band.metric: band for band in DEFAULT_BANDS}
    bands = [_band_from_mapping(raw, f"{source}: band {i}", defaults) for i, raw in enumerate(data["bands"])]
    duplicated = sorted(m for m, n in Counter(band.metric for band in bands).items() if n > 1)
    if duplicated:
        raise ValueError(f"{source}: more than one band for {duplicated}")
    if not extend:
        return tuple(bands)
    by_metric = {band.metric: band for band in bands}
    merged = [by_metric.pop(band.metric, band) for band in DEFAULT_BANDS]
    return tuple(merged) + tuple(by_metric.values())
