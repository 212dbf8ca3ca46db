#!/usr/bin/python3
"""net_ring: a secondary (ring_feeder) puts a real capture's frames, in
mbufs from the primary's pool, on the ring a net_ring port receives from;
the dataplane receives every one and makes the records the offline
ingest makes.

Usage: test_dp_ring.py NETSHARE_DATAPLANE RING_FEEDER NETSHARE_CONVERT
"""
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dputil  # noqa: E402


def main():
    dp, feeder, convert = sys.argv[1:4]
    dputil.need_hugepages()
    data = os.environ.get("NS_SHARED_DATA", "")
    pcap = os.path.join(data, "pcap", "ndpi-gnutella.pcap")
    if not os.path.exists(pcap):
        dputil.skip(f"{pcap} is not available")
    s = dputil.summary(convert, pcap)
    pfx = dputil.prefix("ring")
    ring = f"nsr{os.getpid()}"
    primary = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "dp.json")
            dputil.write_config(cfg, {
                "ports": [{"name": f"net_ring_{ring}",
                           "devargs": f"nodeaction={ring}:0:CREATE"}],
                "flow_table_size": 65536, "mbufs": 4095, "rx_desc": 512,
                "idle_sleep_us": 100})
            primary = subprocess.Popen(
                [dp] + dputil.eal(pfx, "0-1") + ["--", "--config", cfg],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            dputil.stats(dp, pfx)
            r = subprocess.run([feeder] + dputil.eal(pfx) +
                               ["--", f"ETH_RXTX0_{ring}", pcap],
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise AssertionError(f"ring_feeder: {r.stderr}")
            sent = int(r.stdout.split()[-1])
            st = None
            for _ in range(50):
                st = dputil.stats(dp, pfx)
                if st["total"]["rx"] >= sent:
                    break
                time.sleep(0.1)
            primary.terminate()
            out, err = primary.communicate(timeout=60)
        tot = st["total"]
        print(f"ring_feeder enqueued {sent} of {s['packets']} frames; the "
              f"dataplane received {tot['rx']}, {tot['parsed']} records "
              f"(offline {s['ip_packets']} IP)")
        problems = []
        if sent != s["packets"] or tot["rx"] != sent:
            problems.append("frames lost")
        if tot["parsed"] != s["ip_packets"]:
            problems.append("records differ from the offline count")
        if primary.returncode != 0 or dputil.sanitizer_trouble(err):
            problems.append(f"primary exit {primary.returncode}: "
                            f"{err[-1500:]}")
        if problems:
            print("FAIL: " + "; ".join(problems))
            sys.exit(1)
        print("ok: every frame put on the ring was received")
    finally:
        if primary and primary.poll() is None:
            primary.kill()
            primary.wait()
        dputil.cleanup_prefix(pfx)


if __name__ == "__main__":
    main()
