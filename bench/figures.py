"""What a benchmark measures, summed up over runs: the median with its min and max, the
baseline it is a ratio of, and the target it is held to."""

import asyncio
import json
import statistics
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Run:
    """One run of one subject: a rate (per second), latencies, the load generator's CPU."""

    rate: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    client_cpu: float | None = None  # share of one core the load generator used


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float | None]) -> "Spread | None":
        known = [v for v in values if v is not None]
        if not known:
            return None
        return cls(statistics.median(known), min(known), max(known))


@dataclass
class Figure:
    case: str
    subject: str
    unit: str  # of the rate: events/s, req/s
    runs: list[Run] = field(default_factory=list)

    def spread(self, name: str) -> Spread | None:
        return Spread.of([getattr(r, name) for r in self.runs])

    def as_json(self) -> dict[str, Any]:
        found = {n: self.spread(n) for n in ("rate", "p50_ms", "p99_ms", "client_cpu")}
        return {
            "case": self.case,
            "subject": self.subject,
            "unit": self.unit,
            "runs": [asdict(r) for r in self.runs],
            **{n: asdict(s) if s else None for n, s in found.items()},
        }


@dataclass(frozen=True)
class Target:
    """A figure's median held to a bound: `of` a baseline's median rate (a ratio), or absolute."""

    case: str
    subject: str
    measure: str  # rate, p50_ms or p99_ms
    at_least: float | None = None
    below: float | None = None
    of: str | None = None  # the baseline subject, for a ratio

    def check(self, figures: dict[tuple[str, str], Figure]) -> dict[str, Any]:
        mine = figures.get((self.case, self.subject))
        value = mine.spread(self.measure) if mine else None
        shown = value.median if value else None
        if shown is not None and self.of is not None:
            base = figures.get((self.case, self.of))
            base_value = base.spread(self.measure) if base else None
            shown = shown / base_value.median if base_value and base_value.median else None
        met = shown is not None and (
            (self.at_least is None or shown >= self.at_least)
            and (self.below is None or shown < self.below)
        )
        return {**asdict(self), "value": shown, "met": met, "text": self.text(shown)}

    def text(self, value: float | None) -> str:
        what = f"{self.subject} {self.measure}" + (f" / {self.of}" if self.of else "")
        bound = f">= {self.at_least:g}" if self.at_least is not None else f"< {self.below:g}"
        shown = "n/a" if value is None else f"{value:,.2f}"
        return f"{self.case}: {what} = {shown} (target {bound})"


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def table(figures: list[Figure]) -> str:
    header = f"{'case':9} {'subject':28} {'rate (median)':>22} {'min':>9} {'max':>9}"
    header += f" {'p50 ms':>8} {'p99 ms':>8} {'client CPU':>10}"
    lines = [header, "-" * len(header)]
    for f in figures:
        rate, p50, p99, cpu = (f.spread(n) for n in ("rate", "p50_ms", "p99_ms", "client_cpu"))
        lines.append(
            f"{f.case:9} {f.subject:28}"
            f" {number(rate.median if rate else None) + ' ' + f.unit:>22}"
            f" {number(rate.low if rate else None):>9} {number(rate.high if rate else None):>9}"
            f" {number(p50.median if p50 else None):>8} {number(p99.median if p99 else None):>8}"
            f" {'-' if cpu is None else f'{cpu.median:.0%}':>10}"
        )
    return "\n".join(lines)


def percentiles_ms(seconds: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 of durations in seconds, in milliseconds."""
    cuts = statistics.quantiles(seconds, n=100) if len(seconds) > 1 else [float("nan")] * 99
    return cuts[49] * 1000, cuts[98] * 1000


def run_plan(run: Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]) -> None:
    """`python -m bench.MODULE PLAN.json`: run the plan, print the result as one JSON line."""
    with open(sys.argv[1], encoding="utf-8") as f:
        plan = json.load(f)
    print(json.dumps(asyncio.run(run(plan))))
