"""End to end: netshare-control exports a flow CSV this test writes to
three nfcapd collectors on 127.0.0.1 (NetFlow v5, v9 and IPFIX), started
and stopped with netsharectl; nfdump must count every exported record in
each, with wall-clock times, and `stats` must agree.

Skips (77) without nfcapd or nfdump.
Usage: test_ctl_export.py NETSHARE-CONTROL NETSHARECTL
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import collectors as col  # noqa: E402

DAEMON, CTL = sys.argv[1:3]
N = 1500
RATE = 3000


def ctl(sock, *args):
    r = subprocess.run([CTL, "--socket", sock, "--json"] + list(args),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"netsharectl {args}: {r.returncode} " \
        f"{r.stdout} {r.stderr}"
    return json.loads(r.stdout)["result"]


def main():
    col.need_tools("nfcapd", "nfdump")
    tmp = tempfile.mkdtemp(prefix="ns_ctl_export_")
    flows = os.path.join(tmp, "flows.csv")
    with open(flows, "w") as f:
        f.write("srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n")
        for i in range(N):
            # 2019 times: the daemon moves them onto the wall clock
            f.write(f"{167772160 + i % 200},{3232235520 + i % 7},"
                    f"{1024 + i},{[80, 443, 53][i % 3]},"
                    f"{'TCP' if i % 4 else 'UDP'},"
                    f"{1550000000000000 + i * 1000},{(i % 9) * 0.1:.3f},"
                    f"{1 + i % 20},{(1 + i % 20) * 100},background\n")
    nfs = {v: col.Nfcapd(tmp) for v in (5, 9, 10)}
    sock = f"ipc://{tmp}/ctl.sock"
    conf = os.path.join(tmp, "control.json")
    with open(conf, "w") as f:
        json.dump({"version": 1, "socket": sock,
                   "dataplane_prefix": "ns-ctl-export-none",
                   "learner_status": "", "models_dir": tmp,
                   "export_flows": flows, "export_rate": RATE,
                   "wall_clock": True, "template_packets": 10,
                   "ipfix_seq_flows": True,
                   "exporters": [{"collector": nfs[v].addr, "version": v}
                                 for v in (5, 9, 10)]}, f)
    d = subprocess.Popen([DAEMON, "--config", conf, "-q"])
    try:
        for _ in range(200):
            if os.path.exists(sock[6:]):
                break
            time.sleep(0.05)
        t0 = time.time()
        ctl(sock, "export", "start")
        end = time.monotonic() + 60
        while time.monotonic() < end:
            ex = ctl(sock, "stats")["export"]
            if ex["state"] != "running":
                break
            time.sleep(0.1)
        took = time.time() - t0
        stop = ctl(sock, "export", "stop")
        stats = ctl(sock, "stats")["export"]
    finally:
        d.terminate()
        assert d.wait(timeout=30) == 0, "daemon exit status"
    assert ex["state"] == "finished", ex
    assert stop["was_running"] is False
    assert stats["records_in"] == N, stats
    # paced, not all at once: N records at RATE/s take about N/RATE s
    assert took >= 0.8 * N / RATE, f"{N} records in {took:.2f} s"
    by_version = {c["version"]: c for c in stats["collectors"]}
    for v, nf in nfs.items():
        stat = nf.finish()
        c = by_version[v]
        got = nf.flows()
        assert c["records"] == N and c["skipped_v6"] == 0 and \
            c["skipped_time"] == 0 and c["send_errors"] == 0, c
        assert stat["Flows"] == N and len(got) == N, \
            f"v{v}: nfcapd counted {stat['Flows']}, nfdump read " \
            f"{len(got)}, the daemon sent {c['records']}"
        assert stat["Bad Packets"] == 0, stat
        # times on the wall clock: every flow starts within the run
        firsts = sorted(x["first"] for x in got)
        print(f"v{v}: {len(got)} flows, first {firsts[0]}, "
              f"last {firsts[-1]}")
        y = time.strftime("%Y", time.gmtime(t0))
        assert firsts[0].startswith(y) and firsts[-1].startswith(y), \
            f"v{v}: times not on the wall clock: {firsts[0]}"
    print(f"OK: {N} records to v5, v9 and IPFIX nfcapd, counted by "
          f"nfdump, in {took:.2f} s; stats agrees")


main()
