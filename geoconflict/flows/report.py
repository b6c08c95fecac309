"""Flows accounting: every individual read is drawn, a self-flow, cut, netted or quarantined."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: machine-readable reasons in a flows quarantine file
QUARANTINE_REASONS = (
    "missing_origin", "missing_destination", "non_numeric_individuals", "missing_individuals",
    "negative_individuals", "unparseable_date", "non_numeric_coordinate", "implausible_count",  # reading
    "unknown_place", "no_match", "ambiguous_name", "unknown_pcode", "coordinate_out_of_range",
    "no_gazetteer",  # resolving
)
#: absolute tolerance of the accounting sums (individuals)
SUM_TOLERANCE = 1e-6


# ============================================================================================
# accounting
# ============================================================================================

@dataclass
class FlowReport:
    """Where every input individual went (movements, as counted by the source)."""

    input_rows: int = 0
    input_individuals: float = 0.0
    quarantined_rows: int = 0
    quarantined: float = 0.0
    self_flows: float = 0.0  # movements within one unit (or between two places at one point)
    below_min: float = 0.0
    top_cut: float = 0.0
    netted: float = 0.0  # gross movements cancelled by the reverse direction (net=True)
    drawn: float = 0.0
    flows_drawn: int = 0
    flows_below_min: int = 0
    flows_top_cut: int = 0
    self_flow_units: int = 0
    total_mismatches: list[dict[str, Any]] = field(default_factory=list)

    def check(self) -> None:
        """Assert the invariant drawn + self + below_min + top_cut + netted + quarantined == input."""
        parts = self.drawn + self.self_flows + self.below_min + self.top_cut + self.netted + self.quarantined
        if not math.isclose(parts, self.input_individuals, rel_tol=1e-9, abs_tol=SUM_TOLERANCE):
            raise AssertionError(f"flows accounting broken: parts {parts} != input {self.input_individuals}")

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def summary(self) -> str:
        return (f"{format_count(self.input_individuals)} individuals in {self.input_rows} rows: drawn "
                f"{format_count(self.drawn)} in {self.flows_drawn} flows, self-flows {format_count(self.self_flows)}, "
                f"below --min {format_count(self.below_min)}, cut by --top {format_count(self.top_cut)}"
                + (f", netted {format_count(self.netted)}" if self.netted else "")
                + f", quarantined {format_count(self.quarantined)} ({self.quarantined_rows} rows)")


def format_count(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"
