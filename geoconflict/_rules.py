"""The per-row ingest rules of :mod:`geoconflict.incidents`: which rows are quarantined and why,
and which flags the kept rows carry.

Each rule is a function of already parsed columns (numpy arrays) returning ``(mask, name)``
pairs, in the order they are checked; :class:`Reasons` keeps the first reason of each row.
Nothing here reads files or schedules work: :func:`geoconflict.incidents.ingest_raw` parses the
columns (in threads) and applies these rules in order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "FLAGS",
    "GEOCODED_PRECISION",
    "QUARANTINE_REASONS",
    "Reasons",
    "coordinate_rules",
    "date_rules",
    "duplicated_among",
    "fatality_rules",
    "flag_rules",
    "flag_texts",
    "value_rules",
]

#: quarantine reasons, in the order they are checked (a row gets the first that applies)
QUARANTINE_REASONS: tuple[str, ...] = (
    "bad_encoding", "empty_geometry", "non_point_geometry", "missing_coordinate",
    "non_numeric_coordinate", "coordinate_out_of_range", "null_island",
    "missing_date", "unparseable_date", "non_numeric_fatalities", "non_finite_fatalities",
    "negative_fatalities", "duplicate_id", "malformed_row", "not_a_feature",
)
#: flags a kept row may carry (``;``-joined in its ``flags`` column)
FLAGS: tuple[str, ...] = ("imprecise_location", "outside_country", "future_date", "geocoded:<status>")
#: geo_precision given to a row placed by the gazetteer (a populated place's point)
GEOCODED_PRECISION = 2

Rule = tuple[np.ndarray, str]
_REASON_CODE = {r: i + 1 for i, r in enumerate(QUARANTINE_REASONS)}
_REASON_NAME = np.array([""] + list(QUARANTINE_REASONS), dtype=object)


class Reasons:
    """The first quarantine reason of each of ``n`` rows (a later rule never overrides one)."""

    def __init__(self, n: int) -> None:
        self.code = np.zeros(n, dtype=np.int8)

    def mark(self, mask: np.ndarray, reason: str) -> None:
        """Quarantine the rows of ``mask`` not yet quarantined, for ``reason``."""
        self.code[(self.code == 0) & mask] = _REASON_CODE[reason]

    def apply(self, rules: list[Rule]) -> None:
        for mask, reason in rules:
            self.mark(mask, reason)

    @property
    def kept(self) -> np.ndarray:
        return self.code == 0

    def names(self, rows: np.ndarray) -> pd.Series:
        """The reason of each row in ``rows`` (positions), as text."""
        return pd.Series(_REASON_NAME[self.code[rows]], dtype="str")


def coordinate_rules(missing: np.ndarray, bad: np.ndarray) -> list[Rule]:
    """Coordinates as parsed from text columns: empty, or not a number."""
    return [(missing, "missing_coordinate"), (bad, "non_numeric_coordinate")]


def value_rules(x: np.ndarray, y: np.ndarray) -> list[Rule]:
    """Coordinates of every row (text or geometry): too large for a float (``1e400``), off the
    Earth, or exactly (0, 0)."""
    with np.errstate(invalid="ignore"):
        return [(np.isinf(x) | np.isinf(y), "non_numeric_coordinate"),
                (~((np.abs(x) <= 180) & (np.abs(y) <= 90)), "coordinate_out_of_range"),
                ((x == 0) & (y == 0), "null_island")]


def date_rules(missing: np.ndarray, bad: np.ndarray) -> list[Rule]:
    return [(missing, "missing_date"), (bad, "unparseable_date")]


def fatality_rules(fatalities: np.ndarray, bad: np.ndarray) -> list[Rule]:
    with np.errstate(invalid="ignore"):
        return [(bad, "non_numeric_fatalities"), (np.isinf(fatalities), "non_finite_fatalities"),
                (fatalities < 0, "negative_fatalities")]


def duplicated_among(codes: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """``ids[ok].duplicated(keep="first")`` spread back over all rows (False outside ``ok``),
    from integer codes of the ids; only ids used more than once are looked at."""
    dup = np.zeros(len(codes), dtype=bool)
    if not len(codes):
        return dup
    counts = np.bincount(codes[ok], minlength=int(codes.max()) + 1)
    rows = np.flatnonzero(ok & (counts[codes] > 1))
    if len(rows):
        _, first = np.unique(codes[rows], return_index=True)
        dup[rows] = True
        dup[rows[first]] = False
    return dup


def flag_rules(
    geo_precision: pd.Series,
    *,
    outside_country: np.ndarray | None,
    day: np.ndarray,
    today: pd.Timestamp,
    geocoded: pd.Series | None,
) -> list[Rule]:
    """The flags of kept rows, in :data:`FLAGS` order: imprecise location (geo_precision 3),
    outside the country the row names, a day after ``today`` (``day``: ns since 1970), placed
    by the gazetteer (``geocoded``: the match status, exact / fuzzy)."""
    rules = [((geo_precision == 3).fillna(False).to_numpy(dtype=bool), "imprecise_location")]
    if outside_country is not None:
        rules.append((outside_country, "outside_country"))
    rules.append((day > today.value, "future_date"))
    if geocoded is not None:
        placed = geocoded.notna().to_numpy()
        if placed.any():
            for status in ("exact", "fuzzy"):
                rules.append((placed & (geocoded == status).fillna(False).to_numpy(bool), f"geocoded:{status}"))
    return rules


def flag_texts(rules: list[Rule], n: int) -> tuple[pd.Series, dict[str, int], int]:
    """The ``flags`` column (';'-joined names, in ``rules`` order), the count per flag and the
    number of flagged rows.  One bit per flag; the text is built once per distinct combination
    (found by counting, not sorting: there are at most a few dozen)."""
    bits = np.zeros(n, dtype=np.int64)
    counts: dict[str, int] = {}
    for i, (mask, fname) in enumerate(rules):
        if mask.any():
            bits |= mask.astype(np.int64) << i
            counts[fname] = int(mask.sum())
    present = np.bincount(bits, minlength=1) > 0
    combos = np.flatnonzero(present)  # ascending, as np.unique gives them
    inverse = (np.cumsum(present) - 1)[bits]
    labels = [";".join(f for i, (_, f) in enumerate(rules) if c >> i & 1) for c in combos.tolist()]
    flags_arr = pa.DictionaryArray.from_arrays(pa.array(inverse.astype(np.int32)),
                                               pa.array(labels, type=pa.string()))
    return pc.cast(flags_arr, pa.string()).to_pandas(), counts, int((bits != 0).sum())
