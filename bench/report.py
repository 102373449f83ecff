"""Medians, ranges and ratios, as one markdown table."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Row:
    label: str
    values: list[float]
    ratios: list[float]
    target: str = ""


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
    ) -> Row:
        """A row whose ratio is taken round by round against the same round's baseline.

        `ratios_of` gives the figures to divide when they are not the values
        themselves (times already taken relative to a reference).
        """
        top, bottom = ratios_of or (values, baseline)
        ratios = [v / b if b else float("nan") for v, b in zip(top, bottom, strict=True)]
        row = Row(label, list(values), ratios)
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


def render(sections: Sequence[Section]) -> str:
    lines = [
        "| measure | variant | median | min..max | ratio | ratio min..max | target |",
        "|---|---|---:|---:|---:|---:|---|",
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
                        row.target,
                    ]
                )
                + " |"
            )
    return "\n".join(lines)
