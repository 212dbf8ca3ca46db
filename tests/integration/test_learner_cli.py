#!/usr/bin/env python3
"""netshare-train and netshare-generate from the command line: the same
seed, config and input give byte-identical checkpoints and outputs; a
resumed run equals an uninterrupted one; bad inputs and bad configs fail
with a message naming the file; packet models write pcaps tshark reads.

usage: test_learner_cli.py TRAIN GENERATE CONVERT
"""
import os
import random
import subprocess
import sys
import tempfile

TRAIN, GENERATE, CONVERT = sys.argv[1:4]


def run(*args, ok=True):
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if ok and p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
    return p


def same(a, b):
    with open(a, "rb") as x, open(b, "rb") as y:
        return x.read() == y.read()


def write_flows(path, n, seed):
    rnd = random.Random(seed)
    with open(path, "w") as f:
        f.write("srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n")
        for i in range(n):
            proto = rnd.choice(["TCP", "TCP", "UDP", "ICMP"])
            sp = 0 if proto == "ICMP" else rnd.choice([443, 53, 40000 + i % 50])
            dp = 0 if proto == "ICMP" else rnd.choice([443, 80, 53])
            pkt = rnd.randint(1, 30)
            f.write(f"{167772160 + rnd.randint(0, 40)},{3232235520 + rnd.randint(0, 9)},"
                    f"{sp},{dp},{proto},{1500000000000000 + i * 250000},"
                    f"{rnd.random() * 5:.6f},{pkt},{pkt * rnd.randint(40, 1500)},"
                    f"{rnd.choice(['background', 'background', 'attack'])}\n")


def main():
    tmp = tempfile.mkdtemp(prefix="ns_learner_cli_")
    data = os.path.join(tmp, "flows.csv")
    write_flows(data, 400, 1)
    small = os.path.join(tmp, "small.json")
    with open(small, "w") as f:
        f.write('{"model": {"gen_hidden": 32, "disc_hidden": 32, '
                '"lstm_units": 16, "batch": 20}}\n')

    a, b = os.path.join(tmp, "a.bin"), os.path.join(tmp, "b.bin")
    for out in (a, b):
        run(TRAIN, "--input", data, "--out", out, "--config", small,
            "--iterations", "30", "--seed", "7", "-q")
    assert same(a, b), "same seed and input gave different checkpoints"
    print("checkpoints from two runs with seed 7 are identical")

    c = os.path.join(tmp, "c.bin")
    run(TRAIN, "--input", data, "--out", c, "--config", small,
        "--iterations", "30", "--seed", "8", "-q")
    assert not same(a, c), "another seed gave the same checkpoint"

    # resume: 15 then 15 more equals 30 in one go
    r = os.path.join(tmp, "r.bin")
    run(TRAIN, "--input", data, "--out", r, "--config", small,
        "--iterations", "15", "--seed", "7", "-q")
    run(TRAIN, "--input", data, "--out", r, "--config", small,
        "--iterations", "30", "--seed", "7", "--resume", "-q")
    assert same(a, r), "a resumed run differs from an uninterrupted one"
    print("15 + 15 resumed iterations equal 30 in one run")

    g1, g2 = os.path.join(tmp, "g1.csv"), os.path.join(tmp, "g2.csv")
    for g in (g1, g2):
        run(GENERATE, "--model", a, "--count", "500", "--out", g,
            "--seed", "3", "-q")
    assert same(g1, g2), "same model and seed gave different outputs"
    rows = open(g1).read().splitlines()
    assert rows[0].startswith("srcip,dstip,srcport"), rows[0]
    assert len(rows) == 501, f"want 500 records, got {len(rows) - 1}"
    print("generation with seed 3 is repeatable: 500 records")

    base = os.path.join(tmp, "base.csv")
    run(GENERATE, "--baseline", "marginals", "--input", data, "--count",
        "300", "--out", base, "-q")
    assert len(open(base).read().splitlines()) == 301

    # a packet model writes a pcap that our reader and tshark accept
    pk = os.path.join(tmp, "pk.pkt.csv")
    with open(pk, "w") as f:
        f.write("srcip,dstip,srcport,dstport,proto,time,pkt_len,version,"
                "ihl,tos,id,flag,off,ttl\n")
        rnd = random.Random(2)
        for i in range(300):
            f.write(f"{167772161 + i % 5},{3232235521},{40000 + i % 7},443,TCP,"
                    f"{1500000000000000 + i * 1000},{rnd.randint(40, 1500)},4,5,0,"
                    f"{i},2,0,64\n")
    pm, pcap = os.path.join(tmp, "pk.bin"), os.path.join(tmp, "pk.pcap")
    run(TRAIN, "--input", pk, "--out", pm, "--config", small,
        "--iterations", "10", "-q")
    run(GENERATE, "--model", pm, "--count", "200", "--out", pcap, "-q")
    s = run(CONVERT, "--summary", pcap).stdout
    assert '"packets":200' in s, s
    t = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e",
                        "frame.number", "-e", "_ws.malformed"],
                       capture_output=True, text=True)
    if t.returncode == 0:
        lines = t.stdout.splitlines()
        assert len(lines) == 200, f"tshark read {len(lines)} frames"
        bad = [l for l in lines if "\t" in l and l.split("\t")[1]]
        assert not bad, f"tshark marks frames malformed: {bad[:3]}"
        print("a packet model's pcap: 200 frames, none malformed (tshark)")

    # failures name their cause
    p = run(TRAIN, "--input", os.path.join(tmp, "none.csv"), "--out",
            os.path.join(tmp, "z.bin"), ok=False)
    assert p.returncode == 1 and "none.csv" in p.stderr, p.stderr
    bad_cfg = os.path.join(tmp, "bad.json")
    with open(bad_cfg, "w") as f:
        f.write('{"model": {"batch": "many"}}')
    p = run(TRAIN, "--input", data, "--out", os.path.join(tmp, "z.bin"),
            "--config", bad_cfg, ok=False)
    assert p.returncode == 1 and "model.batch" in p.stderr, p.stderr
    trunc = os.path.join(tmp, "trunc.bin")
    with open(a, "rb") as f, open(trunc, "wb") as g:
        g.write(f.read()[:1000])
    p = run(GENERATE, "--model", trunc, "--count", "5", "--out",
            os.path.join(tmp, "z.csv"), ok=False)
    assert p.returncode == 1 and "trunc.bin" in p.stderr, p.stderr
    p = run(TRAIN, ok=False)
    assert p.returncode == 2 and "usage" in p.stderr
    print("missing input, bad config, truncated model and bad usage fail "
          "with messages")
    print("learner CLI: all checks passed")


if __name__ == "__main__":
    main()
