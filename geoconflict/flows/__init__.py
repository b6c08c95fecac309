"""Displacement flows: records or origin/destination matrices -> places -> flows -> arcs and arrows.

The stages, each a function a script can call:

1. :func:`read_flows` (:mod:`.read`): CSV/Excel records or matrices into one
   record table, with a report (header row, columns, ``Grand Total`` disagreements).
2. :func:`resolve_places` (:mod:`.places`): every origin and destination to a point, by coordinates, by P-code or by
   name against admin layers (a representative point inside the polygon) and places tables
   (the shared gazetteer, tolerant of transliteration).  What cannot be resolved is quarantined
   with the reason and the closest candidates.
3. :func:`aggregate_flows` (:mod:`.aggregate`): flows per period and admin level, gross or net; self-flows (the matrix
   diagonal) reported, not drawn; ``min_individuals`` and ``top`` cut flows but count them.
4. :func:`flow_arcs` and :func:`arrowheads` (:mod:`.arcs`): curved arcs built in a metric CRS, bending to the right
   of travel by a fixed fraction of their length (so A->B and B->A never overlap), and triangles
   whose tip is exactly the destination; :func:`width_scale` maps volume to line width.
5. :func:`build_flows` (all of the above in one call) and :func:`write_flows` (:mod:`.write`).

Accounting (:class:`FlowReport` in :mod:`.report`, asserted in code):
``drawn + self_flows + below_min + top_cut + netted + quarantined == input_individuals``.
HNAP counts movements, not unique persons; so do these sums.  A count above ``MAX_COUNT`` (1e12;
``1e308`` would make every sum infinite) is no count of people: its row is quarantined as
``implausible_count`` with the value in ``detail``, and the value is in none of these sums.
"""

from __future__ import annotations

from .aggregate import FlowTable, aggregate_flows
from .arcs import arrowheads, flow_arcs, width_scale
from .places import ResolvedFlows, resolve_places
from .read import FlowRecords, ReadReport, TotalMismatch, read_flows
from .report import QUARANTINE_REASONS, FlowReport
from .write import FlowLayers, build_flows, check_flow_outputs, flow_outputs, flows_html, write_flows

__all__ = [
    "read_flows",
    "resolve_places",
    "aggregate_flows",
    "flow_arcs",
    "arrowheads",
    "width_scale",
    "flows_html",
    "build_flows",
    "write_flows",
    "flow_outputs",
    "check_flow_outputs",
    "FlowLayers",
    "FlowRecords",
    "ReadReport",
    "TotalMismatch",
    "ResolvedFlows",
    "FlowTable",
    "FlowReport",
    "QUARANTINE_REASONS",
]
