"""Benchmark: geocode 1,000,000 place names against the OCHA populated places.

The names are drawn from the gazetteer with transliteration and typing noise (deterministic,
seeded), plus a share of names that are in no gazetteer; half the rows carry a governorate as
context (OCHA, ACLED or P-code spelling).  The fast path (:meth:`Gazetteer.match`: fold and
deduplicate, dict lookup of folded forms, ``rapidfuzz.process.cdist`` for the distinct unmatched
names only, blocked by context or first letter) is compared with the plain way, one row at a
time with the scalar :func:`geoconflict.names.folded_score` (what ``df.apply`` would do), on a
sample of rows: the answers must be identical, the plain way's time is extrapolated.

    .venv/bin/python scripts/bench_geocode.py [--rows 1000000] [--sample 3000] [--seed 7]

Needs ../shared/data/syria-cod/syr_populated_places_ocha_20210113.csv.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from geoconflict.gazetteer import (
    _UNBLOCKED_MAX,
    CANDIDATE_MIN,
    FUZZY_MIN,
    MARGIN,
    Gazetteer,
    _block,
    _literal,
)
from geoconflict.names import fold_name, folded_score

ROOT = Path(__file__).resolve().parents[1]
PLACES = ROOT.parent / "shared" / "data" / "syria-cod" / "syr_populated_places_ocha_20210113.csv"

SWAPS = [
    ("ou", "u"), ("u", "ou"), ("o", "ou"), ("i", "ee"), ("ee", "i"), ("e", "a"), ("a", "e"),
    ("e", "i"), ("q", "k"), ("k", "q"), ("sh", "sch"), ("sh", "ch"), ("ay", "ei"), ("ei", "ay"),
    ("aa", "a"), ("a", "aa"), ("'", ""), ("-", " "), (" ", "-"), ("h", ""), ("gh", "g"),
]
GOVERNORATES = {
    "Idleb": ["Idlib", "Idleb", "SY07"], "Hama": ["Hamah", "Hama", "SY05"],
    "Aleppo": ["Aleppo", "Halab", "SY02"], "Lattakia": ["Latakia", "Lattakia", "SY06"],
    "Homs": ["Homs", "Hims", "SY04"], "Dar'a": ["Daraa", "Dar'a", "SY12"],
}


def noisy(name: str, rng: np.random.Generator) -> str:
    """A press-like respelling of ``name``."""
    s = name
    for _ in range(rng.integers(0, 3)):
        a, b = SWAPS[rng.integers(len(SWAPS))]
        if a in s.lower():
            i = s.lower().index(a)
            s = s[:i] + b + s[i + len(a):]
    r = rng.random()
    if r < 0.15:
        s = "al-" + s
    elif r < 0.25 and s.lower().endswith("a"):
        s = s + "h"
    elif r < 0.35 and len(s) > 4:  # a typo: one letter dropped, doubled or swapped
        i = int(rng.integers(1, len(s) - 1))
        kind = rng.integers(3)
        s = (s[:i] + s[i + 1:]) if kind == 0 else (s[:i] + s[i] + s[i:]) if kind == 1 else (
            s[:i] + s[i + 1] + s[i] + s[i + 2:])
    if rng.random() < 0.3:
        s = s.lower() if rng.random() < 0.5 else s.upper()
    return s


def make_names(
    places: pd.DataFrame, rows: int, seed: int
) -> tuple[pd.Series, pd.Series, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_variants = 120_000
    pick = rng.integers(len(places), size=n_variants)
    base = places["PP_NAME_EN"].to_numpy()[pick]
    variants = np.array([noisy(str(b), rng) for b in base], dtype=object)
    fake = rng.random(n_variants) < 0.05
    letters = np.array(list("abdfhjklmnrstz"))
    variants[fake] = ["".join(rng.choice(letters, size=int(rng.integers(5, 11)))).title()
                      for _ in range(int(fake.sum()))]
    adm1 = places["ADM1_EN"].to_numpy()[pick]
    ctx = np.array([
        (GOVERNORATES[a][int(rng.integers(3))] if a in GOVERNORATES else a) for a in adm1
    ], dtype=object)
    # a Zipf-like draw: some places are reported again and again
    weights = 1.0 / np.arange(1, n_variants + 1) ** 0.6
    rows_pick = rng.choice(n_variants, size=rows, p=weights / weights.sum())
    with_ctx = rng.random(rows) < 0.5
    names = pd.Series(variants[rows_pick], dtype=object)
    context = pd.Series(np.where(with_ctx, ctx[rows_pick], None), dtype=object)
    return names, context, places["PP_PCODE"].to_numpy()[pick][rows_pick]


def plain_match(gaz: Gazetteer, name: str, ctx: object) -> tuple[str, str | None]:
    """One row at a time, scalar scores (the plain way); returns (status, pcode)."""
    f = fold_name(name)
    if not f:
        return "none", None
    mask = gaz.context_mask(ctx)
    places = gaz.places
    hits = gaz._by_folded.get(f)
    if hits is not None and mask is not None:
        hits = hits[mask[hits]]
    if hits is not None and len(hits):
        _, first = np.unique(gaz._place_group[hits], return_index=True)
        hits = hits[np.sort(first)]
        if len(hits) > 1 and mask is not None:
            lit = gaz._by_literal.get(_literal(name))
            if lit is not None and np.isin(hits, lit).sum() == 1:
                hits = hits[np.isin(hits, lit)]
        if len(hits) == 1:
            return "exact", str(places["PP_PCODE"].iat[hits[0]])
        return "ambiguous", None
    allowed = np.ones(len(gaz._entry_place), bool) if mask is None else mask[gaz._entry_place]
    if allowed.sum() > _UNBLOCKED_MAX:
        allowed &= gaz._entry_block == _block(f)
    best: dict[int, tuple[float, int]] = {}
    for e in np.flatnonzero(allowed):
        s = folded_score(f, gaz._entry_folded[e])
        g = int(gaz._place_group[gaz._entry_place[e]])
        if g not in best or s > best[g][0]:
            best[g] = (s, int(gaz._entry_place[e]))
    ranked = sorted(best.values(), key=lambda t: -t[0])
    if not ranked or ranked[0][0] < FUZZY_MIN:
        return "none", None
    second = ranked[1][0] if len(ranked) > 1 else 0.0
    if ranked[0][0] - second >= MARGIN:
        return "fuzzy", str(places["PP_PCODE"].iat[ranked[0][1]])
    return "ambiguous", None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=3_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if not PLACES.exists():
        print(f"needs {PLACES}", file=sys.stderr)
        return 1
    assert CANDIDATE_MIN < FUZZY_MIN
    places = pd.read_csv(PLACES)
    t0 = time.perf_counter()
    names, context, truth = make_names(places, args.rows, args.seed)
    print(f"generated {len(names):,} names ({names.nunique():,} distinct) "
          f"in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    gaz = Gazetteer.from_files(PLACES)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = gaz.match(names, context={"admin1": context})
    t_fast = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    counts = result["geocode_status"].value_counts()
    placed = result["geocode_status"].isin(["exact", "fuzzy"]).to_numpy()
    wrong = placed & (result["PP_PCODE"].to_numpy(dtype=object) != truth)
    print(f"gazetteer build: {t_build:.2f} s ({len(gaz):,} places)")
    print(f"fast match: {len(names):,} rows in {t_fast:.1f} s "
          f"({len(names) / t_fast:,.0f} rows/s), peak RSS {rss_mb:,.0f} MB")
    print("statuses: " + ", ".join(f"{s} {int(counts.get(s, 0)):,}" for s in
                                   ("exact", "fuzzy", "ambiguous", "none")))
    print(f"placed rows whose P-code differs from the source community: {int(wrong.sum()):,} "
          f"({wrong.sum() / max(placed.sum(), 1):.2%} of placed; includes names shared by "
          "several communities and noise that made another community's name)")

    rng = np.random.default_rng(args.seed + 1)
    sample = np.sort(rng.choice(len(names), size=min(args.sample, len(names)), replace=False))
    t0 = time.perf_counter()
    plain = [plain_match(gaz, names.iat[i], context.iat[i]) for i in sample]
    t_plain = time.perf_counter() - t0
    fast_status = result["geocode_status"].to_numpy()[sample]
    fast_code = result["PP_PCODE"].to_numpy(dtype=object)[sample]
    mismatch = [
        (names.iat[i], context.iat[i], p, (s, c))
        for i, p, s, c in zip(sample, plain, fast_status, fast_code, strict=True)
        if p[0] != s or (p[1] is not None and p[1] != c)
    ]
    per_row = t_plain / len(sample)
    print(f"plain row-by-row: {len(sample):,} rows in {t_plain:.1f} s "
          f"-> {per_row * len(names):,.0f} s extrapolated to {len(names):,} rows "
          f"(fast path {per_row * len(names) / t_fast:,.0f}x faster)")
    assert not mismatch, f"fast and plain answers differ: {mismatch[:5]}"
    print(f"identical answers on the {len(sample):,}-row sample")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
