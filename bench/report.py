"""Medians, ranges and ratios, as one markdown table."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# A ratio whose rounds stay within this of their median is stable.
STABLE = 0.10


@dataclass
class Row:
    label: str
    values: list[float]
    ratios: list[float]
    target: str = ""
    # Whether the run goes on until this row's ratio is stable.
    watched: bool = False

    @property
    def spread(self) -> float:
        """How far the ratio's rounds stray from their median, as a fraction of it."""
        if not self.ratios:
            return float("nan")
        mid = statistics.median(self.ratios)
        if not mid:
            return float("nan")
        return max(max(self.ratios) / mid - 1, 1 - min(self.ratios) / mid)

    @property
    def stable(self) -> bool:
        return self.spread <= STABLE


@dataclass
class Section:
    title: str
    unit: str
    baseline: str
    rows: list[Row] = field(default_factory=list)

    def add(
        self,
        label: str,
        values: Sequence[float],
        baseline: Sequence[float],
        target: Callable[[float], str] | None = None,
        *,
        ratios_of: tuple[Sequence[float], Sequence[float]] | None = None,
        watched: bool | None = None,
    ) -> Row:
        """A row whose ratio is taken round by round against the same round's baseline.

        `ratios_of` gives the figures to divide when they are not the values
        themselves (times already taken relative to a reference). A row with a
        target is `watched` unless told otherwise.
        """
        top, bottom = ratios_of or (values, baseline)
        ratios = [v / b if b else float("nan") for v, b in zip(top, bottom, strict=True)]
        watch = target is not None if watched is None else watched
        row = Row(label, list(values), ratios, watched=watch)
        if target is not None and ratios:
            row.target = target(statistics.median(ratios))
        self.rows.append(row)
        return row


def at_most(limit: float) -> Callable[[float], str]:
    return lambda ratio: f"<= {limit:g}x: {'met' if ratio <= limit else 'MISSED'}"


def at_least(limit: float) -> Callable[[float], str]:
    return lambda ratio: f">= {limit:g}x: {'met' if ratio >= limit else 'MISSED'}"


def _number(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _median(values: Sequence[float]) -> str:
    return _number(statistics.median(values)) if values else "n/a"


def _range(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    return f"{fmt(min(values))}..{fmt(max(values))}" if values else "n/a"


def unstable(sections: Sequence[Section]) -> list[str]:
    """The watched rows whose ratio is not yet stable."""
    return [
        f"{section.title}: {row.label}"
        for section in sections
        for row in section.rows
        if row.watched and not row.stable
    ]


def _stability(row: Row) -> str:
    spread = row.spread
    if spread != spread or row.ratios == [1.0] * len(row.ratios):
        return ""
    return f"±{spread * 100:.0f}%" + ("" if spread <= STABLE else " (unstable)")


def render(sections: Sequence[Section]) -> str:
    lines = [
        "| measure | variant | median | min..max | ratio | ratio min..max | stability | target |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for section in sections:
        for row in section.rows:
            lines.append(
                "| "
                + " | ".join(
                    [
                        f"{section.title} ({section.unit}; 1.00x = {section.baseline})",
                        row.label,
                        _median(row.values),
                        _range(row.values, _number),
                        f"{statistics.median(row.ratios):.2f}x" if row.ratios else "n/a",
                        _range(row.ratios, lambda r: f"{r:.2f}"),
                        _stability(row),
                        row.target,
                    ]
                )
                + " |"
            )
    return "\n".join(lines)
