"""The demo's results: held-out figures before and after GRPO, and whether a run did what it must.

Contract: :class:`EvalResult` is one held-out evaluation; :class:`DemoResult` one run (the SFT
policy's and the GRPO policy's figures, per-iteration rewards, wall times), with
:attr:`DemoResult.gain_points`, :attr:`DemoResult.expectation_met` (the healthy run reaches
:data:`TARGETS`; a twin gains less than :data:`TWIN_MAX_GAIN_POINTS`), :meth:`DemoResult.summary`
(``summary.json``) and :meth:`DemoResult.figure_lines` (what ``retool demo`` prints).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["TARGETS", "TWIN_MAX_GAIN_POINTS", "DemoResult", "EvalResult"]

# The figures for the healthy run, measured on held-out prompts.
TARGETS: dict[str, float] = {"sft_valid_tool_call_rate": 0.9, "gain_points": 15.0}
TWIN_MAX_GAIN_POINTS = 5.0  # a twin that gains this much held-out exact match or more has learned



@dataclass(frozen=True, kw_only=True)
class EvalResult:
    exact_match: float
    valid_tool_call_rate: float
    format_rate: float
    samples: int


@dataclass(frozen=True, kw_only=True)
class DemoResult:
    config: Any  # the run's retool.recipes.demo.DemoConfig
    sft: EvalResult  # held-out, the SFT policy
    rl: EvalResult  # held-out, after GRPO
    sft_first_loss: float
    sft_last_loss: float
    rl_rewards: tuple[float, ...]  # mean shaped reward per iteration
    rl_exact_match: tuple[float, ...]  # training exact match per iteration
    sft_wall_s: float
    rl_wall_s: float
    eval_wall_s: float
    metrics_path: str | None

    @property
    def gain_points(self) -> float:
        """Held-out exact match after GRPO minus the SFT policy's, in percentage points."""
        return 100.0 * (self.rl.exact_match - self.sft.exact_match)

    @property
    def expectation_met(self) -> bool:
        """The healthy run reaches the figures (:data:`TARGETS`); a twin does not learn
        (gains less than :data:`TWIN_MAX_GAIN_POINTS`)."""
        if self.config.twin == "none":
            return (self.sft.valid_tool_call_rate >= TARGETS["sft_valid_tool_call_rate"]
                    and self.gain_points >= TARGETS["gain_points"])
        return self.gain_points < TWIN_MAX_GAIN_POINTS

    def summary(self) -> dict[str, Any]:
        return {"twin": self.config.twin, "seed": self.config.seed, "model": self.config.model,
                "sft_steps": self.config.sft_steps, "rl_iterations": self.config.rl_iterations,
                "heldout_sft": dataclasses.asdict(self.sft), "heldout_rl": dataclasses.asdict(self.rl),
                "gain_points": self.gain_points, "expectation_met": self.expectation_met,
                "sft_loss": [self.sft_first_loss, self.sft_last_loss], "rl_rewards": list(self.rl_rewards),
                "rl_exact_match": list(self.rl_exact_match),
                "wall_s": {"sft": self.sft_wall_s, "rl": self.rl_wall_s, "eval": self.eval_wall_s}}

    def figure_lines(self) -> list[str]:
        n = self.sft.samples
        lines = [f"held-out ({n} samples at T={self.config.eval_temperature:g}) {'':<8} SFT policy   after GRPO",
                 f"  exact match {'':<28} {self.sft.exact_match:>10.3f}   {self.rl.exact_match:>10.3f}",
                 f"  valid tool-call rate {'':<19} {self.sft.valid_tool_call_rate:>10.3f}   {self.rl.valid_tool_call_rate:>10.3f}",
                 f"  format rate {'':<28} {self.sft.format_rate:>10.3f}   {self.rl.format_rate:>10.3f}",
                 (f"GRPO gain: {self.gain_points:+.1f} points of exact match "
                  f"(wall: SFT {self.sft_wall_s:.0f}s, GRPO {self.rl_wall_s:.0f}s, eval {self.eval_wall_s:.0f}s)")]
        if self.config.twin == "none":
            ok_rate = self.sft.valid_tool_call_rate >= TARGETS["sft_valid_tool_call_rate"]
            ok_gain = self.gain_points >= TARGETS["gain_points"]
            lines.append(f"target: valid tool-call rate after SFT >= {TARGETS['sft_valid_tool_call_rate']:g}: "
                         f"{'met' if ok_rate else 'NOT met'}")
            lines.append(f"target: GRPO gain >= {TARGETS['gain_points']:g} points: {'met' if ok_gain else 'NOT met'}")
        else:
            lines.append(f"twin {self.config.twin}: must not learn (gain < {TWIN_MAX_GAIN_POINTS:g} points): "
                         f"{'it did not (as it must)' if self.expectation_met else 'IT LEARNED'}")
        return lines
