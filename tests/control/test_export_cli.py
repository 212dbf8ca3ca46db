#!/usr/bin/python3
"""netshare-export's command line: help, exit codes 0/1/2, and error
messages that name the file, the line, the field or the option and the
cause. Needs no collector: packets go to a free port on 127.0.0.1.

Usage: test_export_cli.py NETSHARE_EXPORT
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import collectors as col  # noqa: E402

HEADER = "srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n"
ROW = "10.0.0.1,10.0.0.2,{sp},80,TCP,1700000000000000,1.5,10,1000,a\n"


def expect(exe, args, code, *needles, stream="stderr"):
    r = col.run([exe, *args], timeout=60)
    out = getattr(r, stream)
    assert r.returncode == code, \
        f"{args}: exit {r.returncode}, expected {code}: {r.stderr.strip()}"
    for n in needles:
        assert n in out, f"{args}: {n!r} not in {stream}: {out.strip()}"
    return r


def main():
    exe = sys.argv[1]
    dst = f"127.0.0.1:{col.free_port()}"
    src_root = os.environ.get("NS_SOURCE_ROOT", "")
    with tempfile.TemporaryDirectory(prefix="ns-export-cli-") as tmp:
        good = os.path.join(tmp, "good.csv")
        with open(good, "w") as f:
            f.write(HEADER + "".join(ROW.format(sp=i) for i in range(5)))
        base = ["--input", good, "--collector", dst]

        expect(exe, ["--help"], 0, "usage:", "--template-interval",
               "--wall-clock", stream="stdout")
        expect(exe, [], 2, "--input, --collector and --version are required")
        expect(exe, base + ["--version", "7"], 2, "'7' is not 5, 9 or 10")
        expect(exe, base + ["--version", "x"], 2, "--version", "'x'")
        expect(exe, ["--input", good, "--version", "9", "--collector",
                     "localhost"], 2, "'localhost': expected HOST:PORT")
        expect(exe, ["--input", good, "--version", "9", "--collector",
                     "::1:2055"], 2, "in brackets")
        expect(exe, ["--input", good, "--version", "9", "--collector",
                     "127.0.0.1:0"], 2, "port must be 1..65535")
        expect(exe, base + ["--version", "9", "--mtu", "100"], 2, "--mtu",
               "[512, 65507]")
        expect(exe, base + ["--version", "9", "--template-interval", "0",
                            "--template-packets", "0"], 2,
               "templates must be resent")
        expect(exe, base + ["--version", "5", "--sampling-interval",
                            "20000"], 2, "v5 carries a sampling interval")
        expect(exe, base + ["--version", "9", "--rate", "-5"], 2, "--rate")
        expect(exe, base + ["--version", "9", "--format", "pcap"], 2,
               "not a flow format")
        expect(exe, base + ["--version", "9", "extra"], 2,
               "unexpected argument 'extra'")
        expect(exe, base + ["--version", "9", "--ipfix-sequence", "x"], 2,
               "rfc or flows")

        missing = os.path.join(tmp, "missing.csv")
        expect(exe, ["--input", missing, "--collector", dst, "--version",
                     "9"], 1, missing)
        empty = os.path.join(tmp, "empty.csv")
        with open(empty, "w") as f:
            f.write(HEADER)
        expect(exe, ["--input", empty, "--collector", dst, "--version",
                     "9"], 1, "no flow records to send")
        pcap = os.path.join(src_root, "tests", "data", "real.pcap")
        if os.path.exists(pcap):
            expect(exe, ["--input", pcap, "--collector", dst, "--version",
                         "9"], 1, "holds packets", "netshare-convert")

        # bad rows: named by file, line and field, counted, skipped
        bad = os.path.join(tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write(HEADER + ROW.format(sp=1) + ROW.format(sp="http") +
                    ROW.format(sp=3) + "10.0.0.9,10.0.0.2\n")
        r = expect(exe, ["--input", bad, "--collector", dst, "--version",
                         "10", "--json"], 0, bad, "line 3", "srcport")
        st = json.loads(r.stdout)
        assert st["records"] == 2 and st["input_records"] == 2, st
        assert sum(st["input_skipped"].values()) == 2, st
        expect(exe, ["--input", bad, "--collector", dst, "--version", "10",
                     "--strict"], 1, "line 3")

        # v5: IPv6 flows named and counted, not an error
        v6 = os.path.join(tmp, "v6.csv")
        with open(v6, "w") as f:
            f.write(HEADER + ROW.format(sp=1) +
                    "2001:db8::1,2001:db8::2,1,2,UDP,1700000000000000,0,1,"
                    "60,a\n")
        r = expect(exe, ["--input", v6, "--collector", dst, "--version",
                         "5", "--json"], 0, "1 IPv6 flows not sent")
        assert json.loads(r.stdout)["skipped_v6"] == 1

        # a summary on stderr; --duration ends a --loop
        t0 = time.monotonic()
        r = expect(exe, base + ["--version", "9", "--loop", "--rate", "200",
                                "--duration", "1", "--json"], 0,
                   "records in", "packets")
        st = json.loads(r.stdout)
        assert time.monotonic() - t0 < 10
        assert st["loops"] > 1 and 150 <= st["records"] <= 260, st

        # SIGINT stops a --loop cleanly, with the summary
        p = subprocess.Popen([exe, *base, "--version", "10", "--loop",
                              "--rate", "100", "--json", "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        time.sleep(0.7)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        assert p.returncode == 0, f"SIGINT: exit {p.returncode}: {err}"
        st = json.loads(out)
        assert 30 <= st["records"] <= 110, st
    print("OK: netshare-export's command line")


if __name__ == "__main__":
    main()
