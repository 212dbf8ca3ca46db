#!/usr/bin/python3
"""Replay rate accuracy at a configured rate, against tcpreplay at the same
rate on the same veth, measured the same way. Prints figures and ratios;
asserts nothing about them.

Usage: bench_replay_rate.py NETSHARE_REPLAY [SECONDS]

A veth pair with its peer in a network namespace; tcpdump captures there
(nanosecond timestamps, 128-byte snaplen). For each case the same
records are sent by netshare-replay (net_af_packet on the veth, TSC
pacing, --pps or --mbps) and by tcpreplay (--pps or --mbps, from the pcap
netshare-replay --write-pcap makes of the same records), each for
SECONDS (default 3):

- 100 kpps of 64-byte frames (60 + FCS), every frame its own 5-tuple;
- 50 Mbit/s of IMIX frames (7:4:1 of 60/570/1514 bytes).

From the capture: the achieved rate over the run ((N - 1) frames, or the
bits of all frames but the last, over the first-to-last span) and its
error against the configured rate (target |error| <= 0.1 %), the same
from a least-squares fit of departure times against the ideal schedule
(which a late first or last frame does not move), the deviation of 1 ms
windows from the rate (mean, p99, max), and the inter-departure error
|dt - ideal gap| (p50, p99), where the ideal gap is 1/pps or the frame's
bits over the bit rate. Exit 77 when root, tcpdump,
tcpreplay or hugepages are missing.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "dataplane"))
import dputil  # noqa: E402
import rputil  # noqa: E402
from test_rp_veth import Capture  # noqa: E402


def records(n, sizes):
    recs, t = [], 1_700_000_000_000_000_000
    for i in range(n):
        recs.append(rputil.record(
            4, 17, sizes[i % len(sizes)] - 14, t,
            f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
            f"192.168.{(i >> 8) & 255}.{(i * 7) & 255}",
            sport=1024 + i % 60000, dport=(i * 7919) & 0xFFFF))
        t += 1000
    return recs


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(q * len(v) + 0.5) - 1))]


def analyse(frames, mode, rate):
    """Figures from a capture: [(ts_ns, caplen, len, data)]."""
    ts = [f[0] for f in frames]
    lens = [f[2] for f in frames]
    span = (ts[-1] - ts[0]) / 1e9
    if mode == "pps":
        achieved = (len(ts) - 1) / span
        gaps = [1e9 / rate] * (len(ts) - 1)
    else:
        achieved = sum(lens[:-1]) * 8 / span / 1e6
        gaps = [lens[i] * 8 / (rate * 1e6) * 1e9
                for i in range(len(ts) - 1)]
    ipt = [abs((ts[i + 1] - ts[i]) - gaps[i]) / 1000.0
           for i in range(len(ts) - 1)]
    # the rate as the slope of departure time over the ideal schedule
    # (least squares): blind to a late first or last frame
    ideal = [0.0]
    for g in gaps:
        ideal.append(ideal[-1] + g)
    n = len(ts)
    mx, my = sum(ideal) / n, sum(ts) / n
    sxy = sum((x - mx) * (t - my) for x, t in zip(ideal, ts))
    sxx = sum((x - mx) ** 2 for x in ideal)
    fit_err = (sxx / sxy - 1) * 100 if sxy else 0.0
    # 1 ms windows from the first frame, the last partial one left out
    per_ms = rate * 1e-3 if mode == "pps" else rate * 1e6 * 1e-3
    win = {}
    for t, ln in zip(ts, lens):
        k = (t - ts[0]) // 1_000_000
        win[k] = win.get(k, 0) + (1 if mode == "pps" else ln * 8)
    last = (ts[-1] - ts[0]) // 1_000_000
    dev = [abs(win.get(k, 0) - per_ms) / per_ms * 100
           for k in range(int(last))]
    return dict(frames=len(ts), span=span, achieved=achieved,
                err=(achieved - rate) / rate * 100, fit_err=fit_err,
                win_mean=sum(dev) / len(dev), win_p99=pct(dev, 0.99),
                win_max=max(dev), ipt_p50=pct(ipt, 0.5),
                ipt_p99=pct(ipt, 0.99))


def show(tool, a, unit):
    print(f"  {tool:15s} {a['frames']:7d} frames in {a['span']:.4f} s: "
          f"{a['achieved']:.3f} {unit}, error {a['err']:+.4f} % "
          f"(least-squares fit {a['fit_err']:+.4f} %); 1 ms "
          f"windows: mean {a['win_mean']:.2f} %, p99 {a['win_p99']:.2f} %, "
          f"max {a['win_max']:.1f} %; inter-departure |dt - gap| p50 "
          f"{a['ipt_p50']:.2f} us, p99 {a['ipt_p99']:.2f} us")


def run_case(prog, ns, host_if, peer_if, tmp, name, mode, rate, sizes,
             seconds):
    pps = rate if mode == "pps" else \
        rate * 1e6 / (sum(sizes) / len(sizes) * 8)
    n = int(pps * seconds)
    recs = records(n, sizes)
    inp = os.path.join(tmp, f"{name}.pcap")
    rputil.write_record_pcap(inp, recs)
    frames_file = os.path.join(tmp, f"{name}.frames.pcap")
    subprocess.run([prog, "--write-pcap", frames_file, "--input", inp,
                    "-q"], check=True, capture_output=True)
    flag = f"--{mode}"
    print(f"{name}: {n} frames at {rate:g} {mode} on a veth")
    out = {}

    cap = Capture(ns, peer_if, os.path.join(tmp, f"{name}.rp.cap"))
    rc, so, se = rputil.replay(
        prog, dputil.prefix(name),
        ["--input", inp, "--port",
         f"net_af_packet_{name},iface={host_if},framesz=2048,"
         "blocksz=4096,framecnt=4096", flag, str(rate), "--json", "-q"],
        timeout=seconds * 10 + 60)
    frames, kdrop = cap.stop(expect=n)
    if rc != 0:
        print(f"  netshare-replay failed: {se[-2000:]}")
        return None
    st = json.loads(so)
    unit = "pps" if mode == "pps" else "Mbit/s"
    print(f"  netshare-replay says: {st['pps']:.1f} pps, {st['mbps']:.3f} "
          f"Mbit/s, sent {st['sent']}, dropped {st['dropped']}, late "
          f"{st['late']}; its timing error p50 "
          f"{st['timing_error_us']['p50']:.3f} us, p99 "
          f"{st['timing_error_us']['p99']:.3f} us; capture: {len(frames)} "
          f"frames, {kdrop} kernel drops")
    out["replay"] = analyse(frames, mode, rate)
    show("netshare-replay", out["replay"], unit)

    cap = Capture(ns, peer_if, os.path.join(tmp, f"{name}.tr.cap"))
    r = subprocess.run(["tcpreplay", "-i", host_if, f"{flag}={rate}",
                        frames_file], capture_output=True, text=True,
                       timeout=seconds * 10 + 60)
    frames, kdrop = cap.stop(expect=n)
    if r.returncode != 0:
        print(f"  tcpreplay failed: {r.stderr[-2000:]}")
        return out
    rated = [ln.strip() for ln in r.stdout.splitlines() if "Rated" in ln]
    print(f"  tcpreplay says: {rated[0] if rated else '?'}; capture: "
          f"{len(frames)} frames, {kdrop} kernel drops")
    out["tcpreplay"] = analyse(frames, mode, rate)
    show("tcpreplay", out["tcpreplay"], unit)
    a, b = out["replay"], out["tcpreplay"]
    print(f"  ratio tcpreplay / netshare-replay: |rate error| "
          f"{abs(b['err']) / max(abs(a['err']), 1e-9):.1f}x, 1 ms window "
          f"p99 {b['win_p99'] / max(a['win_p99'], 1e-9):.1f}x, "
          f"inter-departure p99 "
          f"{b['ipt_p99'] / max(a['ipt_p99'], 1e-9):.1f}x")
    return out


def main():
    prog = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    dputil.need_hugepages()
    for tool in ("ip", "tcpdump", "tcpreplay"):
        if not shutil.which(tool):
            dputil.skip(f"{tool} is not installed")
    with open("/proc/loadavg") as f:
        print(f"load average before: {f.read().split()[0]} on "
              f"{os.cpu_count()} CPUs (others' work delays a busy-waiting "
              f"pacer; the figures are what this machine gave)")
    ns, host_if, peer_if = dputil.veth_pair("b")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run_case(prog, ns, host_if, peer_if, tmp, "rpb100k", "pps",
                     100000, [60], seconds)
            run_case(prog, ns, host_if, peer_if, tmp, "rpb50m", "mbps", 50,
                     [60, 570, 60, 570, 60, 60, 570, 60, 60, 1514, 570, 60],
                     seconds)
    finally:
        dputil.remove_veth(ns, host_if)


if __name__ == "__main__":
    main()
