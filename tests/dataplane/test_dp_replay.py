#!/usr/bin/python3
"""Every real pcap replayed through net_pcap gives exactly the records and
flow records the offline ingest gives for the same file, and a secondary
(netshare-ringdump) drains the rings while the primary runs.

Usage: test_dp_replay.py NETSHARE_DATAPLANE NETSHARE_RINGDUMP
       NETSHARE_CONVERT

For each pcap of $NS_SHARED_DATA/pcap and tests/data/real.pcap (when the
setup fetched it): the primary replays the file with "timestamps": "port"
(the file's own times, as the offline tools use) and the meter's default
timeouts; ringdump attaches while it runs and must empty the packet ring
before the test stops the primary (SIGTERM, which flushes the open
flows); ringdump then writes the packet and flow CSVs. The
same files from `netshare-convert FILE x.pkt.csv` and `... x.csv` must be
equal: packet rows in order, flow rows as a multiset (the offline tool
sorts flows by start, the dataplane emits them as they close). No ring
may drop a record, and the --stats counters must add up.
"""
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dputil  # noqa: E402

TABLE = 65536


def wait_drained(dp, pfx, frames, dump):
    """Counters once every frame is in and the consumer has emptied the
    packet ring while the primary still runs."""
    for _ in range(600):
        if dump.poll() is not None:
            raise AssertionError(f"ringdump quit early: "
                                 f"{dump.stderr.read()[-3000:]}")
        st = dputil.stats(dp, pfx)
        t = st["total"]
        if t["rx"] >= frames and t["pkt_ring_used"] == 0:
            return st
        time.sleep(0.1)
    raise AssertionError(f"ring never drained: {st}")


def replay(dp, rd, pcap, linktype, frames, tmp, tag):
    pfx = dputil.prefix(tag)
    cfg = os.path.join(tmp, "dp.json")
    dputil.write_config(cfg, {
        "ports": [{"name": f"net_pcap_{tag}",
                   "devargs": f"rx_pcap={pcap}", "linktype": linktype}],
        "timestamps": "port", "flow_table_size": TABLE,
        "pkt_ring_size": 1 << 17, "flow_ring_size": 1 << 15,
        "mbufs": 4095, "rx_desc": 512, "idle_sleep_us": 200,
        "drain_wait_s": 30})
    pkt_out = os.path.join(tmp, "dp.pkt.csv")
    flow_out = os.path.join(tmp, "dp.csv")
    primary = subprocess.Popen(
        [dp] + dputil.eal(pfx, "0-1") + ["--", "--config", cfg],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dump = None
    try:
        for _ in range(300):  # the primary publishes "running" once
            st = dputil.stats(dp, pfx)  # its ports and rings are up
            if st["state"] != "starting":
                break
            time.sleep(0.1)
        assert st["state"] == "running", st
        dump = subprocess.Popen(
            [rd] + dputil.eal(pfx) +
            ["--", "--packets", pkt_out, "--flows", flow_out, "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        running = wait_drained(dp, pfx, frames, dump)
        primary.terminate()
        out, err = primary.communicate(timeout=180)
        dout, derr = dump.communicate(timeout=60)
    finally:
        for p in (primary, dump):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        dputil.cleanup_prefix(pfx)
    return primary.returncode, err, dump.returncode, derr, running, \
        pkt_out, flow_out


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def main():
    dp, rd, convert = sys.argv[1:4]
    dputil.need_hugepages()
    data = os.environ.get("NS_SHARED_DATA", "")
    src = os.environ.get("NS_SOURCE_ROOT", ".")
    pcaps = []
    pdir = os.path.join(data, "pcap")
    if os.path.isdir(pdir):
        pcaps += sorted(os.path.join(pdir, f) for f in os.listdir(pdir)
                        if f.endswith((".pcap", ".pcapng")))
    real = os.path.join(src, "tests", "data", "real.pcap")
    if os.path.exists(real):
        pcaps.append(real)
    if not pcaps:
        dputil.skip("no real pcaps: neither $NS_SHARED_DATA/pcap nor "
                    "tests/data/real.pcap")
    failures = 0
    for i, pcap in enumerate(pcaps):
        name = os.path.basename(pcap)
        with tempfile.TemporaryDirectory() as tmp:
            s = dputil.summary(convert, pcap)
            assert s, f"{name}: netshare-convert --summary failed"
            exp_pkt = os.path.join(tmp, "exp.pkt.csv")
            exp_flow = os.path.join(tmp, "exp.csv")
            for out in (exp_pkt, exp_flow):
                subprocess.run([convert, "-q", "--max-flows", str(TABLE),
                                pcap, out], check=True,
                               capture_output=True)
            rc, err, drc, derr, running, got_pkt, got_flow = replay(
                dp, rd, pcap, s["linktype"], s["packets"], tmp, f"r{i}")
            problems = []
            if rc != 0 or dputil.sanitizer_trouble(err):
                problems.append(f"primary exit {rc}: {err[-2000:]}")
            if drc != 0 or dputil.sanitizer_trouble(derr):
                problems.append(f"ringdump exit {drc}: {derr[-2000:]}")
            if not problems:
                tot = running["total"]
                want_p, have_p = read_lines(exp_pkt), read_lines(got_pkt)
                want_f = sorted(read_lines(exp_flow))
                have_f = sorted(read_lines(got_flow))
                if have_p != want_p:
                    diff = next((k for k, (a, b) in
                                 enumerate(zip(want_p, have_p)) if a != b),
                                min(len(want_p), len(have_p)))
                    problems.append(
                        f"packet records differ: {len(have_p) - 1} vs "
                        f"{len(want_p) - 1} offline; first at row {diff}: "
                        f"{have_p[diff:diff + 1]} vs {want_p[diff:diff + 1]}")
                if have_f != want_f:
                    extra = sorted(set(have_f) - set(want_f))[:3]
                    missing = sorted(set(want_f) - set(have_f))[:3]
                    problems.append(
                        f"flow records differ: {len(have_f) - 1} vs "
                        f"{len(want_f) - 1} offline; only ours {extra}; "
                        f"only offline {missing}")
                if "ring drops: 0 records, 0 flows" not in err:
                    problems.append(f"primary reports drops: {err}")
                if running["state"] != "running" or \
                        " 0 of them while the primary ran" in derr:
                    problems.append("ringdump did not drain the ring "
                                    "while the primary ran")
                if tot["rx"] != s["packets"]:
                    problems.append(f"stats rx {tot['rx']} != "
                                    f"{s['packets']} frames in the file")
                if tot["pkt_ring_drops"] or tot["flow_ring_drops"]:
                    problems.append(f"ring drops: {tot}")
                if tot["parsed"] + tot["not_ip"] + tot["malformed"] + \
                        tot["truncated"] != tot["rx"]:
                    problems.append(f"counters do not add up: {tot}")
            if problems:
                failures += 1
                print(f"FAIL {name}: " + "; ".join(problems))
            else:
                print(f"ok   {name}: {len(want_p) - 1} records, "
                      f"{len(want_f) - 1} flows equal to the offline "
                      f"ingest; {running['total']['rx']} frames")
    print(f"{len(pcaps) - failures} of {len(pcaps)} pcaps replayed "
          f"exactly")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
