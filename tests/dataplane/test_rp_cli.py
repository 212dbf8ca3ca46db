#!/usr/bin/python3
"""netshare-replay's command line: --help, errors that name the option or
the file and the cause, bad and truncated inputs reported with their line
or packet number (skipped, or fatal with --strict), never a crash; and on
DPDK ports (net_null, net_pcap): --loop, --max-frame, a port that cannot
take the queues asked for, devargs a driver refuses, SIGINT during an
endless loop.

Usage: test_rp_cli.py NETSHARE_REPLAY
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
import dputil  # noqa: E402
import rputil  # noqa: E402

problems = []


def run(prog, args, timeout=120):
    r = subprocess.run([prog] + args, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode < 0 or dputil.sanitizer_trouble(r.stderr):
        problems.append(f"{' '.join(args)}: signal or sanitizer: "
                        f"{r.returncode} {r.stderr[-2000:]}")
    return r


def expect(prog, args, rc, *needles, where="stderr"):
    r = run(prog, args)
    text = r.stdout if where == "stdout" else r.stderr
    ok = r.returncode == rc and all(n in text for n in needles)
    print(f"{'ok ' if ok else 'BAD'} exit {r.returncode}: "
          f"{' '.join(args)[:90]}")
    if not ok:
        problems.append(f"{' '.join(args)}: exit {r.returncode} (want "
                        f"{rc}), wanted {needles} in: {text[-1500:]}")
    return r


def offline(prog, tmp):
    recs = rputil.record_set()
    good = os.path.join(tmp, "recs.pcap")
    rputil.write_record_pcap(good, recs)
    out = os.path.join(tmp, "o.pcap")
    n = len(recs)

    expect(prog, ["--help"], 0, "usage: netshare-replay", "--write-pcap",
           where="stdout")
    expect(prog, ["-l", "0", "--help"], 0, "usage:", where="stdout")
    expect(prog, ["--write-pcap", out], 2, "--input FILE is required")
    expect(prog, ["--input", good, "--bogus"], 2,
           "unknown option '--bogus'")
    expect(prog, ["--input"], 2, "--input needs a value")
    expect(prog, ["--input", good, "--pps", "abc"], 2,
           "--pps abc: not a number")
    expect(prog, ["--input", good, "--pps", "5", "--mbps", "3"], 2,
           "--pps and --mbps")
    expect(prog, ["--input", good, "--burst", "1000"], 2,
           "--burst 1000: out of range")
    expect(prog, ["--input", good, "--tx-queues", "1.5"], 2,
           "--tx-queues 1.5: not a whole number")
    expect(prog, ["--input", good, "--src-mac", "02:00:zz"], 2,
           "--src-mac 02:00:zz: not a MAC address")
    expect(prog, ["--input", good, "--from", "zeek"], 2, "--from zeek")
    expect(prog, ["--input", good, "--write-pcap", out, "--loop", "0"],
           2, "--loop 0")
    expect(prog, ["--write-pcap", out, "--input",
                  os.path.join(tmp, "missing.pkt.csv")], 1,
           "missing.pkt.csv: cannot open: No such file or directory")
    expect(prog, ["--write-pcap", out, "--input", tmp], 1,
           "a directory, not a file")
    empty = os.path.join(tmp, "empty.pkt.csv")
    open(empty, "w").close()
    expect(prog, ["--write-pcap", out, "--input", empty], 1,
           "empty.pkt.csv: empty file")
    expect(prog, ["--write-pcap", os.path.join(tmp, "no", "x.pcap"),
                  "--input", good], 1, "no/x.pcap: cannot write")

    # a bad row: reported with its line and field, skipped; --strict
    # makes it fatal
    csv = os.path.join(tmp, "bad.pkt.csv")
    rputil.write_record_csv(csv, recs)
    with open(csv) as f:
        lines = f.readlines()
    lines[4] = lines[4].replace(",4,5,", ",4,9,", 1).replace(
        f",{recs[3]['ip_len']},", ",12abc,", 1)
    with open(csv, "w") as f:
        f.writelines(lines)
    r = expect(prog, ["--write-pcap", out, "--input", csv, "--json"], 0,
               "line 5", "pkt_len")
    if r.returncode == 0:
        got = json.loads(r.stdout)["frames"]
        if got != n - 1:
            problems.append(f"bad row: {got} frames written, want {n - 1}")
    expect(prog, ["--write-pcap", out, "--input", csv, "--strict"], 1,
           "line 5")

    # a pcap cut inside a record: the packets before it, the byte
    # offset and the count named; --strict: fatal
    cut = os.path.join(tmp, "cut.pcap")
    with open(good, "rb") as f:
        data = f.read()
    with open(cut, "wb") as f:
        f.write(data[:len(data) - 10])
    r = expect(prog, ["--write-pcap", out, "--input", cut, "--json"], 0,
               "cut short", f"after {n - 1} packets")
    if r.returncode == 0 and json.loads(r.stdout)["frames"] != n - 1:
        problems.append("cut pcap: not every whole packet was written")
    expect(prog, ["--write-pcap", out, "--input", cut, "--strict"], 1,
           "cut short")

    # garbage, flows instead of packets
    junk = os.path.join(tmp, "junk.pcap")
    with open(junk, "wb") as f:
        f.write(bytes(range(256)) * 3)
    expect(prog, ["--write-pcap", out, "--input", junk], 1, "junk.pcap")
    flows = os.path.join(tmp, "f.csv")
    with open(flows, "w") as f:
        f.write("srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n"
                "1,2,3,4,TCP,100,5,1,40,benign\n")
    expect(prog, ["--write-pcap", out, "--input", flows], 1,
           "holds flows")

    # --loop and --pps in the pcap: times follow the schedule
    r = expect(prog, ["--write-pcap", out, "--input", good, "--loop", "3",
                      "--pps", "1000", "--json"], 0)
    if r.returncode == 0:
        ts = [f[0] for f in rputil.read_pcap(out)]
        gaps = {ts[i + 1] - ts[i] for i in range(len(ts) - 1)}
        if len(ts) != 3 * n or gaps != {1_000_000}:
            problems.append(f"--loop 3 --pps 1000: {len(ts)} frames, gaps "
                            f"{sorted(gaps)[:5]}")
    # --max-frame: longer frames skipped with their record number
    r = expect(prog, ["--write-pcap", out, "--input", good, "--max-frame",
                      "1000", "--json"], 0, "record 2:",
               "longer than --max-frame")
    if r.returncode == 0:
        st = json.loads(r.stdout)
        big = sum(rputil.expected_ip_len(x) + (18 if x["vlan"] is not None
                                               else 14) > 1000
                  for x in recs)
        if st["records"]["oversize"] != big or st["frames"] != n - big:
            problems.append(f"--max-frame 1000: {st}")


def on_ports(prog, tmp):
    recs = rputil.record_set()
    good = os.path.join(tmp, "recs.pcap")
    rputil.write_record_pcap(good, recs)
    n = len(recs)

    def dp(tag, args, lcores="0-1"):
        return ([prog] + dputil.eal(dputil.prefix(tag), lcores) + ["--"] +
                args, dputil.prefix(tag))

    cmd, pfx = dp("rpc1", ["--input", good, "--port", "net_null_rpc1",
                           "--loop", "50", "--topspeed", "--json"])
    try:
        r = run(prog, cmd[1:])
    finally:
        dputil.cleanup_prefix(pfx)
    if r.returncode != 0:
        problems.append(f"net_null --loop 50: {r.stderr[-2000:]}")
    else:
        st = json.loads(r.stdout)
        print(f"ok  net_null --loop 50: sent {st['sent']} at "
              f"{st['pps'] / 1e6:.2f} Mpps")
        if st["sent"] != 50 * n or st["dropped"]:
            problems.append(f"--loop 50: sent {st['sent']} of {50 * n}")

    out = os.path.join(tmp, "q.pcap")
    cmd, pfx = dp("rpc2", ["--input", good, "--port",
                           f"net_pcap_rpc2,tx_pcap={out}",
                           "--tx-queues", "2"])
    try:
        r = run(prog, cmd[1:])
    finally:
        dputil.cleanup_prefix(pfx)
    ok = r.returncode == 1 and "--tx-queues 2" in r.stderr and \
        "at most 1 TX queue" in r.stderr
    print(f"{'ok ' if ok else 'BAD'} net_pcap with one tx_pcap and "
          f"--tx-queues 2 refused")
    if not ok:
        problems.append(f"--tx-queues 2 on net_pcap: {r.returncode} "
                        f"{r.stderr[-1500:]}")

    cmd, pfx = dp("rpc3", ["--input", good, "--port",
                           "net_pcap_rpc3,no_such_arg=1"])
    try:
        r = run(prog, cmd[1:])
    finally:
        dputil.cleanup_prefix(pfx)
    ok = r.returncode == 1 and ("no_such_arg" in r.stderr or
                                "EAL init failed" in r.stderr)
    print(f"{'ok ' if ok else 'BAD'} devargs the driver refuses")
    if not ok:
        problems.append(f"bad devargs: {r.returncode} {r.stderr[-1500:]}")

    cmd, pfx = dp("rpc5", ["--input", good, "--port", "net_null_rpc5",
                           "--port", "net_null_rpc5"])
    try:
        r = run(prog, cmd[1:])
    finally:
        dputil.cleanup_prefix(pfx)
    ok = r.returncode == 1 and "the same port as an earlier" in r.stderr
    print(f"{'ok ' if ok else 'BAD'} one port given twice refused")
    if not ok:
        problems.append(f"--port twice: {r.returncode} {r.stderr[-1500:]}")

    # --loop 0 until SIGINT: stops, prints its counters, exits 0
    cmd, pfx = dp("rpc4", ["--input", good, "--port", "net_null_rpc4",
                           "--loop", "0", "--pps", "100000", "--json"])
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        p.send_signal(signal.SIGINT)
        so, se = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        dputil.cleanup_prefix(pfx)
    ok = p.returncode == 0 and "stopped by a signal" in se
    if ok:
        st = json.loads(so)
        ok = st["sent"] > 10 * n
        print(f"ok  SIGINT after 3 s of --loop 0 at 100 kpps: sent "
              f"{st['sent']}, {st['pps']:.0f} pps")
    if not ok or dputil.sanitizer_trouble(se):
        problems.append(f"--loop 0 + SIGINT: exit {p.returncode}: "
                        f"{se[-1500:]}")


def main():
    prog = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        offline(prog, tmp)
        if os.geteuid() == 0 and dputil_hugepages_ok():
            on_ports(prog, tmp)
        else:
            print("SKIP (ports): DPDK needs root and hugepages here")
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("ok: every error named its cause")


def dputil_hugepages_ok():
    try:
        with open("/proc/sys/vm/nr_hugepages") as f:
            return int(f.read()) >= 64
    except OSError:
        return False


if __name__ == "__main__":
    main()
