#!/usr/bin/env python3
"""netshare-learner live as a DPDK secondary on netshare-dataplane reading
the embedded default capture (tests/data/real.pcap) through net_pcap:

- it takes every flow record the offline meter makes of the file (none
  late), cuts them into the same 600 s blocks, trains each (the first as
  the seed) and publishes checkpoints and reports;
- stopped with SIGTERM while capturing, it keeps every closed and open
  block it held as captured, and `netshare-learner run --state` trains
  them afterwards: no captured block is lost.

Skips (77) without root, hugepages or real.pcap.

usage: test_learner_live.py DATAPLANE LEARNER CONVERT
"""
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "dataplane"))
import dputil  # noqa: E402

DP, LEARNER, CONVERT = sys.argv[1:4]
BLOCK_S = 600
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)


def start_dataplane(tmp, pfx, pcap, drain_wait=60):
    cfg = os.path.join(tmp, f"dp-{pfx}.json")
    dputil.write_config(cfg, {
        "ports": [{"name": f"net_pcap_{pfx}", "devargs": f"rx_pcap={pcap}"}],
        "timestamps": "port", "pkt_ring_size": 131072,
        "flow_ring_size": 32768, "mbufs": 8191, "rx_desc": 1024,
        "idle_sleep_us": 100, "stop_after_idle_s": 3,
        "drain_wait_s": drain_wait,
        "flow_table_size": 262144})
    p = subprocess.Popen([DP] + dputil.eal(pfx, "0-1") +
                         ["--", "--config", cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    dputil.stats(DP, pfx)
    return p


def state(d):
    with open(os.path.join(d, "state.json")) as f:
        return json.load(f)


def main():
    dputil.need_hugepages()
    root = os.environ.get("NS_SOURCE_ROOT", ".")
    pcap = os.path.join(root, "tests", "data", "real.pcap")
    if not os.path.exists(pcap):
        dputil.skip(f"{pcap} missing (tools/setup-deps.sh fetches it)")
    tmp = tempfile.mkdtemp(prefix="ns-learner-live-")
    offline = os.path.join(tmp, "flows.csv")
    subprocess.run([CONVERT, "-q", pcap, offline], check=True)
    with open(offline) as f:
        rows = list(csv.DictReader(f))
    want_blocks = sorted({int(r["ts"]) * 1000 // (BLOCK_S * 10**9)
                          for r in rows})
    cfg = os.path.join(tmp, "small.json")
    with open(cfg, "w") as f:
        json.dump({"model": {"gen_hidden": 24, "disc_hidden": 24,
                             "lstm_units": 12, "batch": 20, "iterations": 24,
                             "sample_len": 2},
                   "encoding": {"max_flow_len": 8},
                   "continuous": {"block_seconds": BLOCK_S, "workers": 2}},
                  f)

    # the whole capture, trained as blocks close
    pfx = dputil.prefix("lv")
    st_dir, status = os.path.join(tmp, "live"), os.path.join(tmp, "st.json")
    dp = start_dataplane(tmp, pfx, pcap)
    try:
        r = subprocess.run([LEARNER, "live"] + dputil.eal(pfx) +
                           ["--", "--state", st_dir, "--config", cfg,
                            "--status", status],
                           capture_output=True, text=True, timeout=600)
    finally:
        dp_err = dp.communicate(timeout=120)[1]
        dputil.cleanup_prefix(pfx)
    check(r.returncode == 0, f"live exited {r.returncode}: {r.stderr[-800:]}")
    check(not dputil.sanitizer_trouble(r.stderr + dp_err),
          f"sanitizer: {r.stderr[-800:]} {dp_err[-800:]}")
    with open(status) as f:
        stj = json.load(f)
    check(stj["records_in"] == len(rows) and stj["late_records"] == 0,
          f"records {stj['records_in']} (late {stj['late_records']}), "
          f"offline meter: {len(rows)}")
    st = state(st_dir)
    got_blocks = [b["index"] for b in st["blocks"]]
    check(got_blocks == want_blocks, f"blocks {got_blocks}, want "
          f"{want_blocks}")
    check(sum(b["records"] for b in st["blocks"]) == len(rows),
          "every record in a block")
    check(all(b["status"] == "trained" for b in st["blocks"]) and
          st["seed_block"] == want_blocks[0],
          f"trained, seed first: {st['blocks']}")
    check(os.listdir(os.path.join(st_dir, "blocks")) == [],
          "spool emptied")
    check("block" in r.stderr and "closed" in r.stderr, "progress lines")

    # stopped mid-capture: nothing captured is lost
    pfx = dputil.prefix("lw")
    st2 = os.path.join(tmp, "stopped")
    slow = os.path.join(tmp, "slow.json")
    with open(cfg) as f:
        c = json.load(f)
    c["model"]["iterations"] = 100000
    with open(slow, "w") as f:
        json.dump(c, f)
    # nobody drains the rings after the SIGTERM: a short wait at its stop
    dp = start_dataplane(tmp, pfx, pcap, drain_wait=2)
    try:
        lv = subprocess.Popen([LEARNER, "live"] + dputil.eal(pfx) +
                              ["--", "--state", st2, "--config", slow,
                               "--status", status, "-q"],
                              stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 300
        while time.monotonic() < end:
            try:
                if len(state(st2)["blocks"]) >= 2:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        lv.send_signal(signal.SIGTERM)
        err = lv.communicate(timeout=300)[1]
    finally:
        dp.communicate(timeout=120)
        dputil.cleanup_prefix(pfx)
    check(lv.returncode == 1, f"stopped live exits 1, got {lv.returncode}")
    check(not dputil.sanitizer_trouble(err), f"sanitizer: {err[-800:]}")
    with open(status) as f:
        stj = json.load(f)
    st = state(st2)
    held = sum(b["records"] for b in st["blocks"])
    check(stj["state"] == "stopped" and
          held == stj["records_in"] - stj["late_records"] and held > 0,
          f"held {held} of {stj['records_in']} taken: {stj}")
    check(all(b["status"] == "captured" for b in st["blocks"]),
          f"nothing published after SIGTERM: {st['blocks']}")
    r = subprocess.run([LEARNER, "run", "--state", st2, "--config", cfg,
                        "-q"], capture_output=True, text=True, timeout=600)
    check(r.returncode == 0, f"resume: {r.stderr[-600:]}")
    st = state(st2)
    check(all(b["status"] == "trained" for b in st["blocks"]) and
          sum(b["records"] for b in st["blocks"]) == held,
          f"after resume: {st['blocks']}")
    if failures:
        sys.exit(f"{len(failures)} failures")
    print(f"ok: {len(rows)} flow records live in {len(want_blocks)} blocks")


main()
