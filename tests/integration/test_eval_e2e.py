#!/usr/bin/python3
"""netshare-eval end to end on real traces.

Usage: test_eval_e2e.py NETSHARE_EVAL

Real data comes from $NS_SHARED_DATA (default ../shared/data beside the
checkout); without it the test is skipped (exit 77). Checks:
  * a trace against itself scores 0 on every distance and 1 on both
    privacy shares, for a pcap (packets) and a NetShare flow CSV (flows);
  * the first half of a trace against its second half gives small but
    non-zero distances, and for the NetShare flow CSV the same values as
    an independent numpy/scipy reading of netshare.md section 7.1;
  * the JSON has the documented shape, no NaN, and --out-json writes the
    same object;
  * bad usage exits 2, bad input (missing file, mixed modes) exits 1;
  * --plots draws PNGs when gnuplot is installed.
"""
import csv
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections import Counter

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

LN2 = math.log(2)
SKIP = 77
PCAP = "pcap/iot23-honeypot4-hue.pcap"
FLOWS = "netflow/ugr16-small.csv"
PKT_CSV = "pcap-csv/caida-10k.csv"


def data_dir():
    d = os.environ.get("NS_SHARED_DATA")
    if not d:
        here = os.path.dirname(os.path.abspath(__file__))
        d = os.path.join(here, "..", "..", "..", "shared", "data")
    return d


def run(exe, *args):
    return subprocess.run([exe, *args], capture_output=True, text=True,
                          check=False)


def no_nan(text):
    def bad(name):
        raise ValueError(f"{name} in JSON")
    return json.loads(text, parse_constant=bad)


def eval_json(exe, *paths):
    r = run(exe, "--json", "--quiet", *paths)
    if r.returncode != 0:
        raise AssertionError(f"exit {r.returncode}: {r.stderr}")
    return no_nan(r.stdout)


def split_pcap(src, dst_a, dst_b):
    """Classic pcap: the first half of the records to a, the rest to b."""
    with open(src, "rb") as f:
        blob = f.read()
    magic = blob[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") \
        else ">"
    recs, off = [], 24
    while off + 16 <= len(blob):
        incl = struct.unpack(endian + "I", blob[off + 8:off + 12])[0]
        recs.append(blob[off:off + 16 + incl])
        off += 16 + incl
    half = len(recs) // 2
    for path, part in ((dst_a, recs[:half]), (dst_b, recs[half:])):
        with open(path, "wb") as f:
            f.write(blob[:24])
            f.write(b"".join(part))
    return len(recs)


def split_csv(src, dst_a, dst_b):
    with open(src) as f:
        lines = f.read().splitlines(keepends=True)
    head, rows = lines[0], lines[1:]
    half = len(rows) // 2
    for path, part in ((dst_a, rows[:half]), (dst_b, rows[half:])):
        with open(path, "w") as f:
            f.write(head)
            f.writelines(part)


def check_self(exe, path, labels):
    j = eval_json(exe, path, path)
    assert j["real"] == path and j["synthetic"] == [path], j
    m = j["metrics"][path]
    for label in labels:
        assert label in m, f"{label} missing for {path}"
    for name, v in m.items():
        if name in ("exact_record_share", "five_tuple_share"):
            assert v == 1, f"{path} self {name} = {v}"
        elif name == "avg_norm_emd":
            assert v == 0.5, f"one trace normalises to 0.5, got {v}"
        elif v is not None:
            assert v == 0, f"{path} against itself: {name} = {v}"
    print(f"ok: {os.path.basename(path)} against itself: "
          f"{len(m)} metrics, distances 0, shares 1 ({j['mode']})")
    return j


def check_halves(exe, a, b, jsd_labels, emd_labels, mode):
    j = eval_json(exe, a, b)
    assert j["mode"] == mode, j["mode"]
    m = j["metrics"][b]
    for label in jsd_labels:
        assert m[label] is not None and 0 < m[label] < 0.75 * LN2, \
            f"halves {label} = {m[label]}"
    assert 0 < m["avg_jsd"] < LN2 / 2, m
    for label in emd_labels:
        assert m[label] is not None and m[label] > 0, \
            f"halves {label} = {m[label]}"
    assert 0 <= m["five_tuple_share"] <= 1
    row = ", ".join(f"{k} {m[k]:.4g}" for k in jsd_labels + emd_labels)
    print(f"ok: halves of {mode} trace differ a little: {row}")
    return j


PROTO = {"TCP": 6, "UDP": 17, "ICMP": 1, "GRE": 47, "ESP": 50, "IPIP": 4,
         "IPv6": 41}


def reference_flow_metrics(path_real, path_syn, a=None, b=None,
                           pkt_mode=False):
    """NetShare's flow metrics straight from the CSV text (or, for packet
    rows, the five JSD ones)."""
    def rows(path):
        with open(path) as f:
            return list(csv.DictReader(f))

    def jsd(p, q):
        n = max(len(p), len(q))
        p = np.pad(np.asarray(p, float), (0, n - len(p)))
        q = np.pad(np.asarray(q, float), (0, n - len(q)))
        return jensenshannon(p, q) ** 2

    def rank(rs, col):
        return sorted(Counter(r[col] for r in rs).values(), reverse=True)

    def hist(rs, col, size):
        return np.bincount([int(r[col]) for r in rs], minlength=size)

    def proto(rs):
        return np.bincount([PROTO[r["proto"]] for r in rs], minlength=256)

    def ts(rs):
        t = np.array([float(r["ts"]) for r in rs])
        return t - t.min()

    def col(rs, name):
        return np.array([float(r[name]) for r in rs])

    if a is None:
        a, b = rows(path_real), rows(path_syn)
    ref = {
        "SA": jsd(rank(a, "srcip"), rank(b, "srcip")),
        "DA": jsd(rank(a, "dstip"), rank(b, "dstip")),
        "SP": jsd(hist(a, "srcport", 65536), hist(b, "srcport", 65536)),
        "DP": jsd(hist(a, "dstport", 65536), hist(b, "dstport", 65536)),
        "PR": jsd(proto(a), proto(b)),
    }
    if pkt_mode:
        return ref
    return ref | {
        "TS": wasserstein_distance(ts(a), ts(b)),
        "TD": wasserstein_distance(col(a, "td"), col(b, "td")),
        "PKT": wasserstein_distance(col(a, "pkt"), col(b, "pkt")),
        "BYT": wasserstein_distance(col(a, "byt"), col(b, "byt")),
    }


def reference_pkt_metrics(path_real, path_syn):
    """NetShare's packet metrics and three extended ones from the CSV
    text; the readers keep IPv4 rows only."""
    def rows(path):
        with open(path) as f:
            return [r for r in csv.DictReader(f) if r["version"] == "4"]

    def tup(r):
        return (r["srcip"], r["dstip"], r["srcport"], r["dstport"],
                r["proto"])

    def groups(rs):
        g = {}
        for r in rs:
            g.setdefault(tup(r), []).append(int(r["time"]))
        return [sorted(t) for t in g.values()]

    a, b = rows(path_real), rows(path_syn)
    ga, gb = groups(a), groups(b)
    ref = reference_flow_metrics(None, None, a, b, pkt_mode=True)
    emd = wasserstein_distance
    t0a = min(int(r["time"]) for r in a)
    t0b = min(int(r["time"]) for r in b)
    ref.update({
        "PS": emd([int(r["pkt_len"]) for r in a],
                  [int(r["pkt_len"]) for r in b]),
        "PAT": emd([int(r["time"]) - t0a for r in a],
                   [int(r["time"]) - t0b for r in b]),
        "FS": emd([len(t) for t in ga], [len(t) for t in gb]),
        "flow_duration": emd([t[-1] - t[0] for t in ga],
                             [t[-1] - t[0] for t in gb]),
        "interarrival_within_flow": emd(
            [y - x for t in ga for x, y in zip(t, t[1:])],
            [y - x for t in gb for x, y in zip(t, t[1:])]),
    })
    return ref


def check_reference(got, ref):
    worst = 0.0
    for k, v in ref.items():
        err = abs(got[k] - v) / max(abs(v), 1e-300)
        assert err <= 1e-7 or abs(got[k] - v) <= 1e-12, \
            f"{k}: netshare-eval {got[k]!r}, reference {v!r}"
        worst = max(worst, err)
    print(f"ok: {', '.join(ref)} match a numpy/scipy reading of "
          f"section 7.1 (max relative error {worst:.2g})")


def check_json_shape(j, paths):
    for key in ("mode", "real", "synthetic", "metrics", "normalised_emd",
                "counts"):
        assert key in j, f"JSON lacks {key}"
    for p in paths:
        assert p in j["counts"], f"no counts for {p}"
        assert isinstance(j["counts"][p]["records"], int)
        assert isinstance(j["counts"][p]["skipped"], dict)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    exe = sys.argv[1]
    data = data_dir()
    pcap = os.path.join(data, PCAP)
    flows = os.path.join(data, FLOWS)
    if not os.path.exists(pcap):
        print(f"skip: real data not found ({pcap}); set NS_SHARED_DATA")
        return SKIP

    tmp = tempfile.mkdtemp(prefix="ns-eval-")
    try:
        pkt_labels = ["SA", "DA", "SP", "DP", "PR", "PS", "PAT", "FS"]
        flow_labels = ["SA", "DA", "SP", "DP", "PR", "TS", "TD", "PKT",
                       "BYT"]
        ext = ["proto_dstport_jsd", "srcport_dstport_top_jsd",
               "exact_record_share", "five_tuple_share",
               "interarrival_within_flow", "avg_jsd", "avg_norm_emd"]
        check_self(exe, pcap, pkt_labels + ext + ["pkts_per_flow",
                                                   "flow_duration"])
        a, b = os.path.join(tmp, "a.pcap"), os.path.join(tmp, "b.pcap")
        n = split_pcap(pcap, a, b)
        j = check_halves(exe, a, b, pkt_labels[:5], pkt_labels[5:],
                         "packets")
        check_json_shape(j, [a, b])
        recs = j["counts"][a]["records"] + j["counts"][b]["records"]
        assert recs <= n, (recs, n)

        out = os.path.join(tmp, "out.json")
        r = run(exe, "--json", "-q", "--out-json", out, a, b)
        with open(out) as f:
            assert f.read() == r.stdout, "--out-json differs from stdout"
        assert not [x for x in os.listdir(tmp) if ".tmp." in x]
        print("ok: --out-json writes the same object")

        # a table by default, with every label
        r = run(exe, "-q", a, b)
        assert r.returncode == 0 and "avg_norm_emd" in r.stdout, r.stderr
        assert all(f"\n{lab} " in r.stdout for lab in pkt_labels)

        # usage and input errors
        assert run(exe).returncode == 2
        assert run(exe, a).returncode == 2
        assert run(exe, "--format", "nope", a, b).returncode == 2
        assert run(exe, "--bogus", a, b).returncode == 2
        r = run(exe, a, os.path.join(tmp, "missing.pcap"))
        assert r.returncode == 1 and "missing.pcap" in r.stderr, r.stderr
        print("ok: exit codes 2 for usage, 1 for a missing file")

        if os.path.exists(flows):
            check_self(exe, flows, flow_labels + ext + ["bytes_per_packet"])
            fa, fb = os.path.join(tmp, "a.csv"), os.path.join(tmp, "b.csv")
            split_csv(flows, fa, fb)
            j = check_halves(exe, fa, fb, flow_labels[:5], flow_labels[5:],
                             "flows")
            check_reference(j["metrics"][fb], reference_flow_metrics(fa, fb))
            r = run(exe, pcap, flows)
            assert r.returncode == 1, r
            assert pcap in r.stderr and flows in r.stderr, r.stderr
            print("ok: packets against flows is refused (exit 1)")

        pkt_csv = os.path.join(data, PKT_CSV)
        if os.path.exists(pkt_csv):
            ca, cb = os.path.join(tmp, "a-pkt.csv"), \
                os.path.join(tmp, "b-pkt.csv")
            split_csv(pkt_csv, ca, cb)
            j = check_halves(exe, ca, cb, pkt_labels[:5], pkt_labels[5:],
                             "packets")
            check_reference(j["metrics"][cb], reference_pkt_metrics(ca, cb))

        if shutil.which("gnuplot"):
            pd = os.path.join(tmp, "plots")
            r = run(exe, "--json", "-q", "--plots", pd, a, b)
            assert r.returncode == 0, r.stderr
            pngs = no_nan(r.stdout).get("plots", [])
            assert len(pngs) >= 8, pngs
            for p in pngs:
                with open(p, "rb") as f:
                    assert f.read(8) == b"\x89PNG\r\n\x1a\n", p
            print(f"ok: --plots drew {len(pngs)} PNGs")
        else:
            print("note: gnuplot not installed, --plots not checked")
    finally:
        shutil.rmtree(tmp)
    print("all netshare-eval checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
