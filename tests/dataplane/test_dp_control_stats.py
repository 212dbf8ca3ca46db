#!/usr/bin/python3
"""The control daemon's `stats` reads a running dataplane's counters
through its memzone: netsharectl's reply must show the same frames,
records and flows as `netshare-dataplane --stats --json`.

Usage: test_dp_control_stats.py NETSHARE_DATAPLANE NETSHARE_CONTROL
       NETSHARECTL
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dputil  # noqa: E402


def main():
    dp, daemon, ctl = sys.argv[1:4]
    dputil.need_hugepages()
    real = os.path.join(os.environ.get("NS_SOURCE_ROOT", "."), "tests",
                        "data", "real.pcap")
    data = os.environ.get("NS_SHARED_DATA", "")
    pcap = real if os.path.exists(real) else \
        os.path.join(data, "pcap", "ndpi-gnutella.pcap")
    if not os.path.exists(pcap):
        dputil.skip("no pcap to replay")
    pfx = dputil.prefix("ctl")
    procs = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "dp.json")
            dputil.write_config(cfg, {
                "ports": [{"name": "net_pcap_ctl",
                           "devargs": f"rx_pcap={pcap}"}],
                "timestamps": "port", "flow_table_size": 65536,
                "mbufs": 4095, "rx_desc": 512, "idle_sleep_us": 200})
            procs.append(subprocess.Popen(
                [dp] + dputil.eal(pfx, "0-1") + ["--", "--config", cfg],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            sock = f"ipc://{tmp}/ctl.sock"
            ccfg = os.path.join(tmp, "control.json")
            with open(ccfg, "w") as f:
                json.dump({"version": 1, "socket": sock,
                           "dataplane_prefix": pfx, "dataplane_bin": dp,
                           "learner_status": os.path.join(tmp, "st.json"),
                           "models_dir": tmp}, f)
            procs.append(subprocess.Popen(
                [daemon, "--config", ccfg, "-q"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            ours = None
            for _ in range(100):  # until the file is replayed
                ours = dputil.stats(dp, pfx)
                rx = ours["total"]["rx"]
                time.sleep(0.3)
                again = dputil.stats(dp, pfx)
                if rx and again["total"]["rx"] == rx and \
                        again["state"] == "running":
                    ours = again
                    break
            r = subprocess.run([ctl, "--socket", sock, "--json", "stats"],
                               capture_output=True, text=True, timeout=60)
            reply = json.loads(r.stdout)
        dpst = reply.get("result", {}).get("dataplane", {})
        got = dpst.get("counters", {}).get("total", {})
        print(f"dataplane --stats: rx {ours['total']['rx']}, parsed "
              f"{ours['total']['parsed']}, flows created "
              f"{ours['total']['flows_created']}; netsharectl stats: "
              f"state {dpst.get('state')}, rx {got.get('rx')}, parsed "
              f"{got.get('parsed')}, flows created "
              f"{got.get('flows_created')}")
        problems = []
        if r.returncode != 0 or not reply.get("ok"):
            problems.append(f"netsharectl stats failed: {r.stdout} "
                            f"{r.stderr}")
        for k in ("rx", "parsed", "not_ip", "flows_created"):
            if got.get(k) != ours["total"][k]:
                problems.append(f"{k}: {got.get(k)} vs "
                                f"{ours['total'][k]}")
        if problems:
            print("FAIL: " + "; ".join(problems))
            sys.exit(1)
        print("ok: the control daemon reports the dataplane's counters")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        dputil.cleanup_prefix(pfx)


if __name__ == "__main__":
    main()
