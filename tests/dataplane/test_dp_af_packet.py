#!/usr/bin/python3
"""net_af_packet on a veth whose peer lives in a network namespace: every
frame tcpreplay sends there is received, and every IP frame becomes a
record. Two RX queues (the kernel's fanout spreads flows over them, as
RSS does on a NIC), both polled by lcore 1 as the config's "lcores"
says.

Usage: test_dp_af_packet.py NETSHARE_DATAPLANE NETSHARE_CONVERT

The veth pair is made for this run (IPv6 off on both ends so the kernel
sends nothing of its own); netshare-dataplane captures on the root-side
end through net_af_packet; tcpreplay, inside the namespace, sends a real
capture at a modest rate. The primary's counters must show rx equal to
the frames tcpreplay reports sent, and parsed records equal to what the
offline ingest counts as IP in the same file.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dputil  # noqa: E402


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True,
                          check=check)


def pick_pcap():
    data = os.environ.get("NS_SHARED_DATA", "")
    for name in ("ndpi-synscan.pcap", "ndpi-1kxun.pcap"):
        path = os.path.join(data, "pcap", name)
        if os.path.exists(path):
            return path
    real = os.path.join(os.environ.get("NS_SOURCE_ROOT", "."), "tests",
                        "data", "real.pcap")
    if os.path.exists(real):
        return real
    dputil.skip("no pcap to send: neither $NS_SHARED_DATA/pcap nor "
                "tests/data/real.pcap")


def main():
    dp, convert = sys.argv[1:3]
    dputil.need_hugepages()
    for tool in ("ip", "tcpreplay"):
        if not shutil.which(tool):
            dputil.skip(f"{tool} is not installed")
    pcap = pick_pcap()
    s = dputil.summary(convert, pcap)
    ns, host_if, peer_if = dputil.veth_pair("p")
    tag = host_if
    pfx = dputil.prefix("afp")
    primary = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "dp.json")
            dputil.write_config(cfg, {
                "ports": [{"name": f"net_af_packet_{tag}",
                           "devargs": f"iface={host_if},qpairs=2,"
                                      "framesz=2048,blocksz=4096,"
                                      "framecnt=2048",
                           "queues": 2}],
                "lcores": [1],
                "flow_table_size": 65536, "mbufs": 8191,
                "rx_desc": 1024, "idle_sleep_us": 100})
            primary = subprocess.Popen(
                [dp] + dputil.eal(pfx, "0-1") + ["--", "--config", cfg],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            dputil.stats(dp, pfx)
            before = dputil.stats(dp, pfx)["total"]["rx"]
            r = sh("ip", "netns", "exec", ns, "tcpreplay", "-i", peer_if,
                   "--pps=4000", pcap)
            m = re.search(r"Successful packets:\s+(\d+)", r.stdout)
            sent = int(m.group(1)) if m else -1
            failed = re.search(r"Failed packets:\s+(\d+)", r.stdout)
            st = None
            for _ in range(50):  # let the last frames arrive
                st = dputil.stats(dp, pfx)
                if st["total"]["rx"] - before >= sent:
                    break
                time.sleep(0.1)
            primary.terminate()
            out, err = primary.communicate(timeout=60)
        tot = st["total"]
        got = tot["rx"] - before
        print(f"queues: {[q['rx'] for q in st['queues']]}")
        print(f"tcpreplay sent {sent} frames ({failed.group(0) if failed else '?'}); "
              f"net_af_packet received {got}, {tot['parsed']} records; "
              f"offline: {s['packets']} frames, {s['ip_packets']} IP")
        problems = []
        if sent != s["packets"]:
            problems.append(f"tcpreplay sent {sent} of {s['packets']}")
        if got != sent:
            problems.append(f"received {got}, sent {sent}")
        if before != 0:
            problems.append(f"{before} frames arrived before tcpreplay")
        if tot["parsed"] != s["ip_packets"]:
            problems.append(f"{tot['parsed']} records, offline has "
                            f"{s['ip_packets']} IP packets")
        per_queue = [q["rx"] for q in st["queues"]]
        if len(per_queue) != 2 or min(per_queue) == 0:
            problems.append(f"frames per queue {per_queue}: the kernel's "
                            f"fanout should use both")
        if primary.returncode != 0 or dputil.sanitizer_trouble(err):
            problems.append(f"primary exit {primary.returncode}: "
                            f"{err[-2000:]}")
        if problems:
            print("FAIL: " + "; ".join(problems))
            sys.exit(1)
        print("ok: every frame sent was received")
    finally:
        if primary and primary.poll() is None:
            primary.kill()
            primary.wait()
        dputil.cleanup_prefix(pfx)
        dputil.remove_veth(ns, host_if)


if __name__ == "__main__":
    main()
