#!/usr/bin/python3
"""The exporter's benchmark, in one run: encoding records/s on one core
(bench_export), then a sustained IPFIX export at 100 k records/s for
30 s into a local nfcapd, every record counted by nfdump. Prints the
figures, the targets (control/README.md, anchors T2/T2b) and met/NOT met;
asserts nothing about speed.

Usage: bench_export.py BENCH_EXPORT NETSHARE_EXPORT [SECONDS]
"""
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import collectors as col  # noqa: E402

RATE = 100000          # records/s target, anchors T2b
PACE = 110000          # sent at 10 % above it, to show it holds
SECONDS = 30


def make_trace(path, n=100000):
    rnd = random.Random(5)
    ts = 1700000000000000
    with open(path, "w") as f:
        f.write("srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n")
        for i in range(n):
            ts += rnd.randint(0, 100)
            src = f"10.{i % 250}.{(i // 250) % 250}.{1 + i % 200}" \
                if i % 5 else f"2001:db8:{i:x}::1"
            dst = "192.0.2.1" if i % 5 else "2001:db8::2"
            f.write(f"{src},{dst},{1024 + i % 60000},443,"
                    f"{'TCP' if i % 3 else 'UDP'},{ts},"
                    f"{rnd.randint(0, 60000)}.000123,{1 + i % 900},"
                    f"{64 * (1 + i % 900)},b\n")


def sustained(exe, seconds):
    if not all(shutil.which(t) for t in ("nfcapd", "nfdump")):
        print("sustained export: SKIPPED (nfcapd/nfdump not installed: "
              "apt-get install nfdump)")
        return
    with tempfile.TemporaryDirectory(prefix="ns-export-bench-") as tmp:
        trace = os.path.join(tmp, "flows.csv")
        make_trace(trace)
        nf = col.Nfcapd(tmp, bufsize=64 << 20)
        cmd = [exe, "--input", trace, "--collector", nf.addr, "--version",
               "10", "--ipfix-sequence", "flows", "--rate", str(PACE),
               "--loop", "--duration", str(seconds), "--json", "-q"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = col.run(cmd, timeout=seconds + 120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.returncode != 0:
            nf.stop()
            print(f"sustained export: FAILED to run: {r.stderr.strip()}")
            return
        st = json.loads(r.stdout.strip().splitlines()[-1])
        stat = nf.finish()
        counted = nf.info().get("Flows", 0)
        cpu = (after.ru_utime - before.ru_utime) + \
            (after.ru_stime - before.ru_stime)
    rate = st["records"] / st["seconds"]
    every = counted == st["records"]
    print(f"sustained IPFIX export to nfcapd: {st['records']} records in "
          f"{st['packets']} packets over {st['seconds']:.1f} s = "
          f"{rate:,.0f} records/s, exporter CPU {100 * cpu / st['seconds']:.0f}"
          f"% of one core")
    print(f"  nfdump counted {counted} of {st['records']} records; nfcapd "
          f"sequence errors {stat.get('Sequence Errors')}; kernel UDP drops "
          f"{nf.drops}")
    print(f"  target >= {RATE:,} records/s for {seconds} s: "
          f"{'met' if rate >= RATE and st['seconds'] >= seconds * 0.99 else 'NOT met'} (paced at {PACE:,}/s)")
    print(f"  target every record counted by nfdump: "
          f"{'met' if every else 'NOT met'}")


def main():
    bench, exe = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else SECONDS
    r = subprocess.run([bench, "2"], capture_output=True, text=True,
                       check=False)
    print(r.stdout, end="")
    if r.returncode:
        print(f"bench_export failed: {r.stderr.strip()}")
    sustained(exe, seconds)


if __name__ == "__main__":
    main()
