#!/usr/bin/python3
"""netshare-replay as a DPDK secondary (--proc-type=secondary) sends on a
port of a running netshare-dataplane primary: the TX queue the primary
set up on its net_pcap port (tx_pcap) receives every frame, each equal to
its record.

Usage: test_rp_secondary.py NETSHARE_DATAPLANE NETSHARE_REPLAY

The primary captures the record set (rx_pcap) while the replay, attached
with the same --file-prefix, sends the same records on the port's TX
queue with its own mempool; after the primary stops, the tx_pcap file
holds the replay's frames. A secondary given devargs is refused with a
message (it cannot create ports).
"""
import json
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dputil  # noqa: E402
import rputil  # noqa: E402


def main():
    dp, prog = sys.argv[1:3]
    dputil.need_hugepages()
    pfx = dputil.prefix("rps")
    problems = []
    primary = None
    try:
        # short paths: net_pcap hands its devargs to a secondary cut at
        # 63 characters (ETH_PCAP_ARG_MAXLEN), and a cut tx_pcap= path
        # would send the frames to another file
        with tempfile.TemporaryDirectory(prefix="r", dir="/tmp") as tmp:
            recs = rputil.record_set()
            inp = os.path.join(tmp, "i.pcap")
            rputil.write_record_pcap(inp, recs)
            out = os.path.join(tmp, "o.pcap")
            cfg = os.path.join(tmp, "dp.json")
            port = f"net_pcap_rps{os.getpid()}"
            devargs = f"rx_pcap={inp},tx_pcap={out}"
            assert len(devargs) < 64, devargs
            dputil.write_config(cfg, {
                "ports": [{"name": port, "devargs": devargs}],
                "flow_table_size": 4096, "mbufs": 2047, "rx_desc": 256,
                "idle_sleep_us": 200})
            primary = subprocess.Popen(
                [dp] + dputil.eal(pfx, "0-1") + ["--", "--config", cfg],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            dputil.stats(dp, pfx)
            sec = ["-l", "0", "--no-pci", dputil.EAL_QUIET,
                   "--file-prefix", pfx, "--proc-type=secondary"]
            r = subprocess.run([prog] + sec + ["--", "--input", inp,
                                                "--port", port, "--pps",
                                                "10000", "--json", "-q"],
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 0 or dputil.sanitizer_trouble(r.stderr):
                problems.append(f"secondary exit {r.returncode}: "
                                f"{r.stderr[-2000:]}")
            else:
                st = json.loads(r.stdout)
                print(f"secondary sent {st['sent']} frames on {port}, "
                      f"dropped {st['dropped']}")
                if st["sent"] != len(recs) or st["dropped"]:
                    problems.append(f"sent {st['sent']} of {len(recs)}")
            r = subprocess.run([prog] + sec + ["--", "--input", inp,
                                                "--port", port + ",x=1"],
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 2 or "a secondary sends on its primary" \
                    not in r.stderr:
                problems.append(f"devargs in a secondary: exit "
                                f"{r.returncode}: {r.stderr[-500:]}")
            primary.terminate()
            _, err = primary.communicate(timeout=60)
            if primary.returncode != 0 or dputil.sanitizer_trouble(err):
                problems.append(f"primary exit {primary.returncode}: "
                                f"{err[-1500:]}")
            if not problems:
                try:
                    rputil.check_pcap(out, [rputil.as_read_from_pcap(x)
                                            for x in recs], "tx_pcap")
                    print(f"tx_pcap holds {len(recs)} frames, each equal "
                          f"to its record")
                except AssertionError as e:
                    problems.append(str(e))
    finally:
        if primary and primary.poll() is None:
            primary.kill()
            primary.wait()
        dputil.cleanup_prefix(pfx)
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("ok: a secondary replays on the primary's port")


if __name__ == "__main__":
    main()
