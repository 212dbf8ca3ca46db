#!/usr/bin/python3
"""net_af_xdp with our XDP front filter on a veth: non-IP frames are
dropped in the kernel, sampling happens before the AF_XDP socket, and the
dataplane receives exactly what the filter redirects.

Usage: test_dp_af_xdp.py NETSHARE_DATAPLANE NETSHARE_CONVERT XDP_OBJECT

Run 1, every frame kept ("sample_one_in": 1): of the frames tcpreplay
sends from the namespace side, the filter drops the non-IP ones, the
dataplane receives all the rest (rx == the filter's redirected count),
and its records equal the offline ingest's IP count for the file.
Run 2, "sample_one_in": 4: the dataplane hands N to the filter; the kept
fraction of IP frames is within 5 sigma of 1/4 (binomial), and the
software sampler stays off (sampled_out 0).
"""
import math
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


def run(dp, pfx, tmp, tag, host_if, ns, peer_if, prog, pcap, sample, loops):
    cfg = os.path.join(tmp, f"{tag}.json")
    dputil.write_config(cfg, {
        "ports": [{"name": f"net_af_xdp_{tag}",
                   "devargs": f"iface={host_if},start_queue=0,"
                              f"queue_count=1,xdp_prog={prog},"
                              "force_copy=1"}],
        "sample_one_in": sample, "flow_table_size": 65536,
        "mbufs": 8191, "rx_desc": 1024, "idle_sleep_us": 100})
    primary = subprocess.Popen(
        [dp] + dputil.eal(pfx, "0-1") + ["--", "--config", cfg],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        dputil.stats(dp, pfx)
        r = sh("ip", "netns", "exec", ns, "tcpreplay", "-i", peer_if,
               "--pps=10000", f"--loop={loops}", pcap)
        m = re.search(r"Successful packets:\s+(\d+)", r.stdout)
        sent = int(m.group(1)) if m else -1
        st = None
        for _ in range(50):
            st = dputil.stats(dp, pfx)
            if st["ports"][0]["xdp_seen"] >= sent:
                break
            time.sleep(0.1)
        time.sleep(0.3)  # the last redirected frames reach the lcore
        st = dputil.stats(dp, pfx)
        primary.terminate()
        out, err = primary.communicate(timeout=60)
    finally:
        if primary.poll() is None:
            primary.kill()
            primary.wait()
        dputil.cleanup_prefix(pfx)
    return sent, st, primary.returncode, err


def main():
    dp, convert, prog = sys.argv[1:4]
    dputil.need_hugepages()
    for tool in ("ip", "tcpreplay"):
        if not shutil.which(tool):
            dputil.skip(f"{tool} is not installed")
    data = os.environ.get("NS_SHARED_DATA", "")
    pcap = os.path.join(data, "pcap", "ndpi-gnutella.pcap")
    if not os.path.exists(pcap):
        dputil.skip(f"{pcap} is not available")
    s = dputil.summary(convert, pcap)
    ns, host_if, peer_if = dputil.veth_pair("x")
    problems = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # run 1: everything kept
            sent, st, rc, err = run(dp, dputil.prefix("xa"), tmp, "a",
                                    host_if, ns, peer_if, prog, pcap, 1, 1)
            if "XDP filter" in err and rc != 0:
                dputil.skip(f"no AF_XDP with our program here: {err}")
            port, tot = st["ports"][0], st["total"]
            dropped = port["xdp_drop_non_ip"] + port["xdp_drop_malformed"]
            print(f"run 1: sent {sent}; XDP saw {port['xdp_seen']}, "
                  f"dropped {dropped} non-IP/malformed, redirected "
                  f"{port['xdp_redirected']}; dataplane rx {tot['rx']}, "
                  f"{tot['parsed']} records (offline {s['ip_packets']} IP "
                  f"of {s['packets']})")
            # a frame over the veth's MTU fails to send: allow for it
            unsent = s["packets"] - sent
            if not 0 <= unsent <= 2:
                problems.append(f"tcpreplay sent {sent} of {s['packets']}")
            if port["xdp_seen"] != sent:
                problems.append(f"XDP saw {port['xdp_seen']} of {sent}")
            if tot["rx"] != port["xdp_redirected"] or \
                    tot["rx"] + dropped != sent:
                problems.append(f"rx {tot['rx']} != redirected "
                                f"{port['xdp_redirected']} or rx + "
                                f"dropped != sent")
            if tot["parsed"] != tot["rx"] or tot["not_ip"] or \
                    not s["ip_packets"] - unsent <= tot["parsed"] <= \
                    s["ip_packets"]:
                problems.append(f"{tot['parsed']} records and "
                                f"{tot['not_ip']} non-IP reached the "
                                f"dataplane; offline {s['ip_packets']} IP")
            if rc != 0 or dputil.sanitizer_trouble(err):
                problems.append(f"primary exit {rc}: {err[-1500:]}")
            # run 2: 1 in 4 in the kernel
            loops = 4
            sent, st, rc, err = run(dp, dputil.prefix("xb"), tmp, "b",
                                    host_if, ns, peer_if, prog, pcap, 4,
                                    loops)
            port, tot = st["ports"][0], st["total"]
            ip = port["xdp_seen"] - port["xdp_drop_non_ip"] - \
                port["xdp_drop_malformed"]
            sd = math.sqrt(ip * 0.25 * 0.75)
            print(f"run 2: sent {sent}, {ip} IP; kept {tot['rx']} "
                  f"(expect {ip / 4:.0f} +- {5 * sd:.0f}), sampled out "
                  f"{port['xdp_drop_sampled']} in the kernel, "
                  f"{tot['sampled_out']} in software")
            if abs(tot["rx"] - ip / 4) > 5 * sd:
                problems.append(f"kept {tot['rx']} of {ip} IP frames")
            if tot["rx"] + port["xdp_drop_sampled"] != ip:
                problems.append("kept + sampled out != IP frames")
            if tot["sampled_out"]:
                problems.append("software sampling ran as well")
            if rc != 0 or dputil.sanitizer_trouble(err):
                problems.append(f"primary exit {rc}: {err[-1500:]}")
    finally:
        dputil.remove_veth(ns, host_if)
    if problems:
        print("FAIL: " + "; ".join(problems))
        sys.exit(1)
    print("ok: the XDP filter dropped non-IP and sampled before the socket")


if __name__ == "__main__":
    main()
