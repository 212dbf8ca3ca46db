#!/usr/bin/python3
"""Malformed and odd captures go through the dataplane without a crash.

Usage: test_dp_robustness.py NETSHARE_DATAPLANE NETSHARE_CONVERT

Every file of $NS_SHARED_DATA/robustness is replayed through net_pcap
(--in-memory, the primary stops itself once the file is done). A run
passes when the primary exits 0 with its summary line, or exits 1 with a
message naming the cause (a file libpcap refuses cannot become a port);
never a signal, a hang (the test's timeout), or a sanitizer report. Where
it ran, the counters must account for every frame and match the offline
ingest's IP count. In the ASan+UBSan build the binaries are instrumented,
so this is the sanitizer run the issue asks for.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dputil  # noqa: E402

SUMMARY = re.compile(r"stopped: (\d+) frames, (\d+) records")


def run_one(dp, path, linktype, tmp, tag):
    cfg = os.path.join(tmp, f"{tag}.json")
    dputil.write_config(cfg, {
        "ports": [{"name": f"net_pcap_{tag}", "devargs": f"rx_pcap={path}",
                   "linktype": linktype}],
        "timestamps": "port", "flow_table_size": 4096, "mbufs": 2047,
        "rx_desc": 256, "idle_sleep_us": 200, "stop_after_idle_s": 0.3,
        "drain_wait_s": 0})
    r = subprocess.run([dp] + dputil.eal(tag, "0", in_memory=True) +
                       ["--", "--config", cfg],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stderr


def main():
    dp, convert = sys.argv[1:3]
    dputil.need_hugepages()
    data = os.environ.get("NS_SHARED_DATA", "")
    rdir = os.path.join(data, "robustness")
    if not os.path.isdir(rdir):
        dputil.skip(f"{rdir} does not exist: the robustness captures are "
                    "not available")
    files = sorted(f for f in os.listdir(rdir)
                   if os.path.isfile(os.path.join(rdir, f)))
    ran = refused = 0
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(files):
            path = os.path.join(rdir, name)
            s = dputil.summary(convert, path)
            linktype = s.get("linktype", 1) if s else 1
            try:
                rc, err = run_one(dp, path, linktype, tmp, f"rb{i}_")
            except subprocess.TimeoutExpired:
                failures.append(f"{name}: hung")
                continue
            if dputil.sanitizer_trouble(err):
                failures.append(f"{name}: sanitizer report: {err[-3000:]}")
            elif rc == 0:
                m = SUMMARY.search(err)
                if not m:
                    failures.append(f"{name}: exit 0 without a summary")
                    continue
                ran += 1
                frames, records = int(m.group(1)), int(m.group(2))
                # the offline reader refuses frames whose nanosecond
                # fraction is >= 1 s; libpcap (net_pcap) passes them on,
                # and those that are IP become records here
                if s:
                    lo = s["ip_packets"]
                    hi = lo + s["skipped"].get("bad_timestamp", 0)
                    if not lo <= records <= hi:
                        failures.append(f"{name}: {records} records, "
                                        f"offline {lo}..{hi}")
                print(f"ok   {name}: {frames} frames, {records} records")
            elif rc == 1 and "netshare-dataplane:" in err:
                refused += 1
                why = [ln for ln in err.splitlines()
                       if ln.startswith("netshare-dataplane:")][0]
                print(f"ok   {name}: refused: {why}")
            else:
                failures.append(f"{name}: exit {rc}: {err[-1000:]}")
    for f in failures:
        print(f"FAIL {f}")
    print(f"{len(files)} files: {ran} replayed, {refused} refused with a "
          f"message, {len(failures)} failures")
    sys.exit(1 if failures or not files else 0)


if __name__ == "__main__":
    main()
