#!/usr/bin/python3
"""ns_jsd and ns_emd against scipy.

Usage: test_metrics_scipy.py METRICS_CLI

Generates seeded random and edge-case inputs, feeds them to the C helper
(tests/integration/metrics_cli.c) in one run, and checks every result
against scipy.spatial.distance.jensenshannon(p, q)**2 and
scipy.stats.wasserstein_distance(a, b[, wa, wb]): relative error at most
1e-9, or absolute error at most 1e-12 near zero. Inputs where the C
library documents NaN (empty, all-zero, negative, non-finite) must give
NaN.
"""
import math
import subprocess
import sys
import warnings

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

REL_TOL = 1e-9
ABS_TOL = 1e-12
SIZES = [1, 2, 3, 10, 100, 1000, 10000, 100000]


def fmt(v):
    return " ".join(repr(float(x)) for x in v)


def scipy_jsd(p, q):
    n = max(len(p), len(q))
    p = np.concatenate([np.asarray(p, float), np.zeros(n - len(p))])
    q = np.concatenate([np.asarray(q, float), np.zeros(n - len(q))])
    return jensenshannon(p, q) ** 2


def jsd_cases(rng):
    cases = []

    def add(label, p, q):
        cases.append(("jsd", label, (list(p), list(q))))

    for n in SIZES:
        add(f"uniform n={n}", rng.random(n), rng.random(n))
        m = max(1, n // 3)
        add(f"unequal lengths {n}/{m}", rng.random(n), rng.random(m))
        p = rng.integers(0, 5, n).astype(float)
        q = rng.integers(0, 5, n).astype(float)
        p[0] = q[-1] = 1.0  # never all zero
        add(f"counts with zeros n={n}", p, q)
        add(f"pareto heavy tail n={n}", rng.pareto(0.7, n) + 1e-3,
            rng.pareto(1.5, n))
        base = rng.random(n) + 0.1
        add(f"near-identical n={n}", base,
            base * (1 + 1e-7 * rng.standard_normal(n)))
        add(f"rank-frequency n={n}", np.sort(rng.zipf(1.5, n))[::-1],
            np.sort(rng.zipf(2.5, max(1, n // 2)))[::-1])
    add("identical", [1, 2, 3], [1, 2, 3])
    add("scaled copy", [1, 2, 3], [10, 20, 30])
    add("single values", [4.0], [0.5])
    add("disjoint supports", [1, 0, 2, 0], [0, 3, 0, 4])
    add("disjoint by padding", [1, 1], [0, 0, 5])
    add("tiny masses", [1e-300, 2e-300], [3e-300, 1e-300])
    add("huge masses", [1e300, 1e300], [1e300, 1e299])
    add("one dominant bin", [1e12, 1, 1], [1, 1, 1e12])
    return cases


def emd_cases(rng):
    cases = []

    def add(label, a, b, wa=None, wb=None):
        if wa is None:
            cases.append(("emd", label, (list(a), list(b))))
        else:
            cases.append(("wemd", label, (list(a), list(wa), list(b),
                                          list(wb))))

    for n in SIZES:
        m = max(1, (n * 2) // 3)
        add(f"normal n={n}/{m}", rng.standard_normal(n),
            rng.standard_normal(m) + 0.3)
        add(f"ties n={n}", rng.integers(0, 10, n).astype(float),
            rng.integers(0, 12, m).astype(float))
        add(f"lognormal heavy tail n={n}", rng.lognormal(0, 3, n),
            rng.lognormal(0.5, 2, m))
        add(f"cauchy n={n}", rng.standard_cauchy(n), rng.standard_cauchy(m))
        add(f"disjoint supports n={n}", rng.random(n), rng.random(m) + 100)
        add(f"large offset n={n}", 1.5e15 + rng.integers(0, 10**6, n),
            1.5e15 + rng.integers(0, 10**6, m))
        z = rng.random(n)
        z[rng.random(n) < 0.5] = 0.0
        add(f"many zeros n={n}", z, np.zeros(m) + (rng.random(m) < 0.1))
        add(f"weighted n={n}", rng.standard_normal(n),
            rng.standard_normal(m), rng.random(n),
            rng.random(m) * (rng.random(m) < 0.8) + 1e-3)
    add("identical", [3, 1, 2], [1, 2, 3])
    add("single values", [5.0], [-2.0])
    add("same single value", [7.0], [7.0])
    add("one vs two", [0.0], [0.0, 1.0])
    add("negative and positive", [-1e6, 0, 1e6], [-5, 5])
    add("subnormal spread", [0.0, 5e-324], [1e-323])
    add("weighted integer weights", [1, 2], [0, 4, 5], [3, 1], [1, 2, 1])
    add("weighted zero weight", [1, 2, 3], [2], [1, 0, 1], [1])
    return cases


NAN_CASES = [
    ("jsd", "empty p", ([], [1.0])),
    ("jsd", "both empty", ([], [])),
    ("jsd", "all-zero q", ([1.0, 2.0], [0.0, 0.0])),
    ("jsd", "negative entry", ([1.0, -1.0], [1.0, 1.0])),
    ("jsd", "nan entry", ([1.0, float("nan")], [1.0, 1.0])),
    ("emd", "empty a", ([], [1.0])),
    ("emd", "both empty", ([], [])),
    ("emd", "infinite value", ([1.0, float("inf")], [1.0])),
    ("wemd", "zero total weight", ([1.0], [0.0], [2.0], [1.0])),
    ("wemd", "negative weight", ([1.0, 2.0], [1.0, -1.0], [2.0], [1.0])),
]


def encode(kind, arrays):
    if kind == "wemd":
        a, wa, b, wb = arrays
        return f"wemd {len(a)} {len(b)}\n{fmt(a)}\n{fmt(wa)}\n{fmt(b)}\n" \
               f"{fmt(wb)}\n"
    p, q = arrays
    return f"{kind} {len(p)} {len(q)}\n{fmt(p)}\n{fmt(q)}\n"


def reference(kind, arrays):
    if kind == "jsd":
        return scipy_jsd(*arrays)
    if kind == "emd":
        return wasserstein_distance(*arrays)
    a, wa, b, wb = arrays
    return wasserstein_distance(a, b, wa, wb)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    rng = np.random.default_rng(20240601)
    cases = jsd_cases(rng) + emd_cases(rng)
    all_cases = cases + NAN_CASES
    stdin = "".join(encode(k, arr) for k, _, arr in all_cases)
    run = subprocess.run([sys.argv[1]], input=stdin, capture_output=True,
                         text=True, check=False)
    if run.returncode != 0:
        print(f"helper failed ({run.returncode}): {run.stderr}")
        return 1
    got = [float(x) for x in run.stdout.split()]
    if len(got) != len(all_cases):
        print(f"helper gave {len(got)} results for {len(all_cases)} cases")
        return 1

    failures = 0
    worst = {"jsd": (0.0, ""), "emd": (0.0, ""), "wemd": (0.0, "")}
    max_abs_near_zero = 0.0
    for (kind, label, arrays), c in zip(cases, got):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = float(reference(kind, arrays))
        err = abs(c - ref)
        ok = err <= ABS_TOL or err <= REL_TOL * abs(ref)
        if abs(ref) > ABS_TOL:
            rel = err / abs(ref)
            if rel > worst[kind][0]:
                worst[kind] = (rel, label)
        else:
            max_abs_near_zero = max(max_abs_near_zero, err)
        if not ok or math.isnan(c) != math.isnan(ref):
            failures += 1
            print(f"FAIL {kind} {label}: C {c!r} scipy {ref!r}")
    for (kind, label, _), c in zip(NAN_CASES, got[len(cases):]):
        if not math.isnan(c):
            failures += 1
            print(f"FAIL {kind} {label}: C {c!r}, documented as NaN")

    counts = {k: sum(1 for c in cases if c[0] == k) for k in worst}
    print(f"compared {len(cases)} cases with scipy "
          f"(jsd {counts['jsd']}, emd {counts['emd']}, weighted emd "
          f"{counts['wemd']}; lengths 1..{max(SIZES)}) and "
          f"{len(NAN_CASES)} documented NaN cases")
    for kind, (rel, label) in worst.items():
        print(f"  max relative error {kind}: {rel:.3g} ({label or '-'})")
    print(f"  max absolute error where scipy gives ~0: "
          f"{max_abs_near_zero:.3g}")
    if failures:
        print(f"{failures} case(s) failed")
        return 1
    print("all within rel 1e-9 / abs 1e-12")
    return 0


if __name__ == "__main__":
    sys.exit(main())
