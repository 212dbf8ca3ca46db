#!/usr/bin/python3
"""netshare-replay onto a veth (net_af_packet) whose peer sits in a
network namespace, captured there with tcpdump: every frame arrives, each
equals its record, and the inter-departure error against the trace's
timestamps is printed.

Usage: test_rp_veth.py NETSHARE_REPLAY

Runs, each captured by a fresh tcpdump in the namespace (nanosecond
timestamps):

1. the record set of rputil.record_set, the trace's timing (--speed 1);
2. a synthetic trace of 2000 records over 50 flows with log-uniform gaps
   of 20 us to 2 ms, at --speed 2;
3. the same at a fixed --pps 20000 on two TX queues that one lcore serves
   round robin.

Each must deliver exactly the frames sent (tcpdump reports no kernel
drop), every frame checked against its record (rputil.check_frame; in
run 3 per flow, since the two queues interleave). For runs 1 and 2 the
test prints the distribution of |dt_captured - dt_trace / speed| over
consecutive frames (mean, p50, p99, max) and demands that the capture's
span equals the trace's span / speed within 5 % (a pacer that ignored
the timestamps would fail that); run 3's achieved rate over the capture
must be within 5 % of 20000 pps. The veth pair and the namespace are
removed whatever happens.
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dputil  # noqa: E402
import rputil  # noqa: E402


def synthetic(n=2000, flows=50, seed=7):
    rnd = random.Random(seed)
    recs, t = [], 1_700_000_000_000_000_000
    for i in range(n):
        f = rnd.randrange(flows)
        proto = 6 if f % 3 else 17
        recs.append(rputil.record(
            4, proto, rnd.choice((40, 60, 120, 576, 1000, 1500)), t,
            f"10.1.{f}.1", f"10.2.{f}.2", sport=20000 + f, dport=443,
            tos=f % 4, ttl=64, ip_id=i & 0xFFFF,
            tcp_flags=0x10 if proto == 6 else 0))
        t += int(20_000 * (100 ** rnd.random()))  # 20 us .. 2 ms
    return recs


class Capture:
    """tcpdump in the namespace, ready when it says it is listening."""

    def __init__(self, ns, iface, path):
        self.path = path
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", ns, "tcpdump", "-i", iface, "-nn",
             "-U", "-B", "16384", "--time-stamp-precision=nano",
             "-w", path],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = ""
        deadline = time.time() + 15
        while time.time() < deadline:
            line = self.p.stderr.readline()
            if "listening on" in line or not line:
                break
        if "listening on" not in line:
            self.stop()
            raise AssertionError(f"tcpdump did not start: {line}")

    def stop(self, expect=None):
        """Stop once expect frames are in (or 5 s pass); (frames, kernel
        drops)."""
        deadline = time.time() + 5
        while expect is not None and time.time() < deadline:
            try:
                if len(rputil.read_pcap(self.path)) >= expect:
                    break
            except (AssertionError, OSError, ValueError):
                pass
            time.sleep(0.05)
        time.sleep(0.2)  # anything that would come extra
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
        try:
            _, err = self.p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            _, err = self.p.communicate()
        m = re.search(r"(\d+) packets? dropped by kernel", err or "")
        return rputil.read_pcap(self.path), int(m.group(1)) if m else -1


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(q * len(v) + 0.5) - 1))]


def ipt_errors(cap_ts, rec_ts, speed):
    return [abs((cap_ts[i + 1] - cap_ts[i]) -
                (rec_ts[i + 1] - rec_ts[i]) / speed) / 1000.0
            for i in range(len(cap_ts) - 1)]


def one_run(prog, ns, host_if, peer_if, tmp, tag, recs, pace, queues,
            problems, speed=None, pps=None):
    inp = os.path.join(tmp, f"{tag}.pcap")
    # the input: full-length frames would do as well; header-only
    # frames carry every field the records need
    rputil.write_record_pcap(inp, recs)
    expect = [rputil.as_read_from_pcap(r) for r in recs]
    cap_path = os.path.join(tmp, f"{tag}.cap.pcap")
    cap = Capture(ns, peer_if, cap_path)
    rc, so, se = rputil.replay(
        prog, dputil.prefix(tag),
        ["--input", inp, "--port",
         f"net_af_packet_{tag},iface={host_if},qpairs={queues},"
         "framesz=2048,blocksz=4096,framecnt=1024",
         "--tx-queues", str(queues), "--json", "-q"] + pace)
    frames, kdrop = cap.stop(expect=len(recs))
    if rc != 0 or dputil.sanitizer_trouble(se):
        problems.append(f"{tag}: replay exit {rc}: {se[-3000:]}")
        return
    st = json.loads(so)
    print(f"{tag}: {len(recs)} records, sent {st['sent']}, dropped "
          f"{st['dropped']}, captured {len(frames)}, kernel drops {kdrop}; "
          f"replay's own timing error p50 "
          f"{st['timing_error_us']['p50']:.2f} us, p99 "
          f"{st['timing_error_us']['p99']:.2f} us")
    if st["sent"] != len(recs) or st["dropped"]:
        problems.append(f"{tag}: sent {st['sent']} of {len(recs)}, "
                        f"dropped {st['dropped']}")
    if len(frames) != len(recs):
        problems.append(f"{tag}: captured {len(frames)} of {len(recs)}")
        return
    if kdrop:
        problems.append(f"{tag}: tcpdump reports {kdrop} kernel drops")
    try:
        if queues == 1:
            for i, (f, r) in enumerate(zip(frames, expect)):
                rputil.check_frame(f[3], r, f"{tag} frame {i + 1}")
        else:
            # per flow, in order: a flow leaves on one queue
            key = (lambda src, dst: (src, dst))
            want, got = {}, {}
            for r in expect:
                want.setdefault(key(r["src"][:4], r["dst"][:4]),
                                []).append(r)
            for f in frames:
                d = f[3]
                got.setdefault(key(d[26:30], d[30:34]), []).append(d)
            if sorted(want) != sorted(got):
                raise AssertionError(f"{tag}: flows differ")
            for k in want:
                if len(want[k]) != len(got[k]):
                    raise AssertionError(f"{tag}: flow {k} has "
                                         f"{len(got[k])} frames of "
                                         f"{len(want[k])}")
                for i, (d, r) in enumerate(zip(got[k], want[k])):
                    rputil.check_frame(d, r, f"{tag} flow frame {i + 1}")
    except AssertionError as e:
        problems.append(str(e))
    cap_ts = [f[0] for f in frames]
    span = (cap_ts[-1] - cap_ts[0]) / 1e9
    if speed:
        rec_ts = [r["ts"] for r in recs]
        err = ipt_errors(cap_ts, rec_ts, speed)
        want = (rec_ts[-1] - rec_ts[0]) / speed / 1e9
        print(f"  inter-departure error |dt_captured - dt_trace/"
              f"{speed:g}| over {len(err)} gaps: mean "
              f"{sum(err) / len(err):.2f} us, p50 {pct(err, 0.5):.2f} us, "
              f"p99 {pct(err, 0.99):.2f} us, max {max(err):.2f} us; "
              f"span {span:.6f} s for {want:.6f} s")
        if abs(span - want) > 0.05 * want:
            problems.append(f"{tag}: the capture spans {span:.6f} s, the "
                            f"trace / speed {want:.6f} s")
    if pps:
        rate = (len(cap_ts) - 1) / span
        print(f"  rate over the capture: {rate:.1f} pps for {pps}")
        if abs(rate - pps) > 0.05 * pps:
            problems.append(f"{tag}: {rate:.1f} pps captured for {pps}")


def main():
    prog = sys.argv[1]
    dputil.need_hugepages()
    rputil.need_programs("ip", "tcpdump")
    problems = []
    ns, host_if, peer_if = dputil.veth_pair("r")
    try:
        for cmd in (["ip", "link", "set", host_if, "mtu", "9000"],
                    ["ip", "netns", "exec", ns, "ip", "link", "set",
                     peer_if, "mtu", "9000"]):
            subprocess.run(cmd, check=True, capture_output=True)
        with tempfile.TemporaryDirectory() as tmp:
            one_run(prog, ns, host_if, peer_if, tmp, "rpv1",
                    rputil.record_set(), ["--speed", "1"], 1, problems,
                    speed=1)
            syn = synthetic()
            one_run(prog, ns, host_if, peer_if, tmp, "rpv2", syn,
                    ["--speed", "2"], 1, problems, speed=2)
            one_run(prog, ns, host_if, peer_if, tmp, "rpv3", syn,
                    ["--pps", "20000"], 2, problems, pps=20000)
    finally:
        dputil.remove_veth(ns, host_if)
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("ok: every frame arrived, paced")


if __name__ == "__main__":
    main()
