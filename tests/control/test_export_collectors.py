#!/usr/bin/python3
"""netshare-export against real collectors started here.

Usage: test_export_collectors.py NETSHARE_EXPORT [NETSHARE_CONVERT]

Every export goes to two collectors at once: nfcapd on 127.0.0.1 (read
back with nfdump -o json) and a recorder on [::1] whose datagrams tshark
decodes. The truth is the flow CSV this script writes (IPv4 and IPv6,
TCP/UDP/ICMP/ICMPv6/GRE/ESP, counters above 2^32, sub-millisecond
times), parsed here, not by the project's readers:

  * nfdump reads back every record with addresses, ports, protocol,
    packets, octets, first and last to the millisecond (v5: IPv4 only,
    counters cut to 2^32-1; the exporter's JSON counts the rest);
  * nfcapd counts no sequence errors for v5 and v9, and none for IPFIX
    with --ipfix-sequence flows; with the RFC 7011 default it counts one
    per options record, while tshark's sequence analysis is clean then
    (and warns with "flows") -- the two disagree on options records;
  * tshark decodes every packet, none malformed, no expert warning, and
    its flow records equal the truth;
  * --sampling-interval 10 reaches nfdump (v5 header, v9/IPFIX options
    record): packets and octets read back ten times larger;
  * a collector started after the exporter decodes data within one
    template refresh, and --wall-clock times start at the export;
  * --loop moves each pass past the previous one in time;
  * with $NS_SHARED_DATA: ugr16-small.csv (parsed here), the real
    ctu-scan.nfcapd (nfdump's own reading of the original file is the
    truth) and an Argus file through netshare-convert.
Skips (77) without nfcapd, nfdump or tshark.
"""
import ipaddress
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import collectors as col  # noqa: E402

U32 = (1 << 32) - 1
PROTO = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58,
         "gre": 47, "esp": 50, "ipip": 4, "ipv6": 41, "sctp": 132,
         "icmp6": 58, "igmp": 2, "rsvp": 46, "ah": 51, "pim": 103,
         "ospf": 89, "udplite": 136}


class Flow:
    """One flow as a collector must see it."""

    def __init__(self, src, dst, sp, dp, proto, first_ns, last_ns, pkts,
                 byts):
        self.src = str(ipaddress.ip_address(src))
        self.dst = str(ipaddress.ip_address(dst))
        self.ver = ipaddress.ip_address(src).version
        self.proto = proto
        if proto in (1, 58):  # NetFlow: type * 256 + code, sport 0
            dp = dp if dp > 0xFF else (sp & 0xFF) << 8 | dp
            sp = 0
        self.sp, self.dp = sp, dp
        self.first_ns, self.last_ns = first_ns, last_ns
        self.first_ms, self.last_ms = first_ns // 10**6, last_ns // 10**6
        self.pkts, self.byts = pkts, byts

    def key(self, v5=False, scale=1, times=True):
        p, b = self.pkts, self.byts
        if v5:
            p, b = min(p, U32), min(b, U32)
        k = (self.src, self.dst, self.sp, self.dp, self.proto, p * scale,
             b * scale)
        return k + (self.first_ms, self.last_ms) if times else k


def ns_of(text, scale):
    """A decimal in text times 10^scale, rounded half up (the readers'
    rule)."""
    return int((Decimal(text) * 10**scale).to_integral_value(ROUND_HALF_UP))


def make_trace(path, n=600, seed=7):
    """A NetShare flow CSV (ts in us, td in s) and its flows, in start
    order."""
    rnd = random.Random(seed)
    flows = []
    ts = 1700000000000000  # us
    with open(path, "w") as f:
        f.write("srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n")
        for i in range(n):
            ts += rnd.randint(0, 2500)
            td = rnd.randint(0, 90 * 10**6)  # us
            kind = i % 10
            if kind < 6:
                src = f"10.{i % 200}.{i // 200}.{1 + i % 250}"
                dst = f"192.0.2.{i % 250}"
                proto = "TCP" if kind < 4 else "UDP"
                sp, dp = 1024 + i, rnd.choice([53, 80, 443, 8080])
            elif kind == 6:
                src, dst = f"10.99.{i // 250}.{i % 250}", "198.51.100.7"
                proto, sp, dp = "ICMP", rnd.choice([0, 3, 8, 11]), \
                    rnd.randint(0, 3)
            elif kind == 7:
                src = f"2001:db8:{i:x}::1"
                dst = "2001:db8:ffff::2"
                proto, sp, dp = "TCP", 40000 + i, 443
            elif kind == 8:
                src, dst = f"2001:db8:{i:x}::5", "2001:db8::9"
                proto, sp, dp = "ICMPv6", rnd.choice([128, 129, 135]), 0
            else:
                src, dst = f"10.77.{i // 250}.{i % 250}", "203.0.113.1"
                proto, sp, dp = rnd.choice(["GRE", "ESP"]), 0, 0
            pkts = rnd.randint(1, 5000)
            byts = pkts * rnd.randint(40, 1500)
            if i % 97 == 13:  # beyond 32 bits
                pkts, byts = 5000000000 + i, 7000000000000 + i
            # the integer as text for IPv4 now and then, as NetShare does
            s_txt = str(int(ipaddress.ip_address(src))) \
                if i % 3 == 0 and ":" not in src else src
            td_txt = f"{td // 10**6}.{td % 10**6:06d}"
            f.write(f"{s_txt},{dst},{sp},{dp},{proto},{ts},{td_txt},{pkts},"
                    f"{byts},benign\n")
            first = ts * 1000
            flows.append(Flow(src, dst, sp, dp, PROTO[proto.lower()], first,
                              first + td * 1000, pkts, byts))
    return flows


def utc_ms(text):
    d = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f")
    return int(d.replace(tzinfo=timezone.utc).timestamp() * 1000 + 0.5)


def nf_key(x, times=True, flags=False):
    """A record nfdump read back, in Flow.key form."""
    src = x.get("src4_addr") or x.get("src6_addr")
    dst = x.get("dst4_addr") or x.get("dst6_addr")
    if x["proto"] in (1, 58):
        sp, dp = 0, x.get("icmp_type", 0) << 8 | x.get("icmp_code", 0)
    else:
        sp, dp = x.get("src_port", 0), x.get("dst_port", 0)
    k = (str(ipaddress.ip_address(src)), str(ipaddress.ip_address(dst)),
         sp, dp, x["proto"], x["in_packets"], x["in_bytes"])
    if times:
        k += (utc_ms(x["first"]), utc_ms(x["last"]))
    if flags:
        k += (x.get("tcp_flags", ""),)
    return k


def ts_key(f):
    """A record tshark decoded, in Flow.key(times=False) form."""
    src = f.get("cflow.srcaddr") or f.get("cflow.srcaddrv6")
    dst = f.get("cflow.dstaddr") or f.get("cflow.dstaddrv6")
    return (str(ipaddress.ip_address(src)), str(ipaddress.ip_address(dst)),
            int(f["cflow.srcport"]), int(f["cflow.dstport"]),
            int(f["cflow.protocol"]), int(f["cflow.packets"]),
            int(f["cflow.octets"]))


def assert_same(what, got, want):
    missing, extra = want - got, got - want
    assert not missing and not extra, \
        f"{what}: {sum(missing.values())} records missing, e.g. " \
        f"{list(missing)[:2]}; {sum(extra.values())} unexpected, e.g. " \
        f"{list(extra)[:2]}"


def export(exe, trace, version, addrs, *opts, timeout=300):
    cmd = [exe, "--input", trace, "--version", str(version), "--json",
           "-q", *opts]
    for a in addrs:
        cmd += ["--collector", a]
    r = col.run(cmd, timeout=timeout)
    assert r.returncode == 0, \
        f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def check_version(exe, trace, flows, version, tmp):
    """One export to nfcapd and the recorder; everything read back."""
    nf, rec = col.Nfcapd(tmp), col.Recorder()
    seq = ["--ipfix-sequence", "rfc"] if version == 10 else []
    st = export(exe, trace, version, [nf.addr, rec.addr], "--rate", "20000",
                "--template-packets", "10", *seq)
    stat = nf.finish()
    rec.stop()
    v5 = version == 5
    sent = [f for f in flows if f.ver == 4 or not v5]
    want = Counter(f.key(v5=v5) for f in sent)
    assert_same(f"v{version} nfdump readback",
                Counter(nf_key(x) for x in nf.flows()), want)
    assert st["records"] == len(sent)
    if v5:
        assert st["skipped_v6"] == len(flows) - len(sent)
        assert st["saturated"] == sum(f.byts > U32 or f.pkts > U32
                                      for f in sent)
    else:
        assert st["skipped_v6"] == 0 and st["saturated"] == 0
        assert st["template_sends"] > 1, "no template refresh happened"
    assert stat["Flows"] == len(sent), stat
    assert stat["Bad Packets"] == 0, stat
    assert nf.drops == 0, f"the kernel dropped {nf.drops} datagrams"
    seq_err = stat["Sequence Errors"]
    assert nf.info()["Sequence failures"] == seq_err
    if version == 10:
        # nfdump counts flow records only; each options record (one per
        # template send) moves the RFC sequence one further
        assert st["template_sends"] - 1 <= seq_err <= st["template_sends"]
    else:
        assert seq_err == 0, f"v{version}: nfcapd: {seq_err} sequence errors"

    pcap = os.path.join(tmp, f"v{version}.pcap")
    rec.write_pcap(pcap)
    ts = col.tshark_check(pcap, rec.port)
    assert ts["packets"] == st["packets"], \
        f"recorder: {ts['packets']} packets, exporter: {st['packets']}"
    assert ts["versions"] == {str(version)}
    assert not ts["bad"] and not ts["expert"], \
        f"v{version}: tshark flags frames {ts['bad'][:5]}: {ts['expert'][:5]}"
    decoded = [f for f in ts["flows"]
               if "cflow.srcaddr" in f or "cflow.srcaddrv6" in f]
    assert_same(f"v{version} tshark", Counter(ts_key(f) for f in decoded),
                Counter(f.key(v5=v5, times=False) for f in sent))
    options = len(ts["flows"]) - len(decoded)
    assert options == st["option_records"]
    return [f"v{version}" if version < 10 else "IPFIX", len(sent),
            st["packets"], st["template_sends"], seq_err, ts["packets"],
            "0"]


def check_ipfix_flows_mode(exe, trace, flows, tmp):
    """--ipfix-sequence flows: nfcapd counts no sequence error, tshark
    warns once per options record."""
    nf, rec = col.Nfcapd(tmp), col.Recorder()
    st = export(exe, trace, 10, [nf.addr, rec.addr], "--rate", "20000",
                "--template-packets", "10", "--ipfix-sequence", "flows")
    stat = nf.finish()
    rec.stop()
    assert_same("IPFIX (flows sequence) nfdump readback",
                Counter(nf_key(x) for x in nf.flows()),
                Counter(f.key() for f in flows))
    assert stat["Sequence Errors"] == 0, stat
    assert nf.info()["Sequence failures"] == 0
    pcap = os.path.join(tmp, "ipfix-flows.pcap")
    rec.write_pcap(pcap)
    ts = col.tshark_check(pcap, rec.port)
    warns = [x for x in ts["expert"] if "Unexpected flow sequence" in x]
    assert st["template_sends"] - 1 <= len(warns) <= st["template_sends"]
    return ["IPFIX --ipfix-sequence flows", len(flows), st["packets"],
            st["template_sends"], 0, ts["packets"], len(warns)]


def check_sampling(exe, trace, flows, version, tmp):
    """1-in-10 sampling announced: nfdump scales packets and octets."""
    nf = col.Nfcapd(tmp)
    export(exe, trace, version, [nf.addr], "--rate", "20000",
           "--sampling-interval", "10", "--ipfix-sequence", "flows")
    nf.finish()
    v5 = version == 5
    want = Counter(f.key(v5=v5, scale=10) for f in flows
                   if f.ver == 4 or not v5)
    got = nf.flows()
    assert_same(f"v{version} sampled readback",
                Counter(nf_key(x) for x in got), want)
    assert all(x.get("sampled") for x in got)


def check_late_collector(exe, trace, flows, version, tmp):
    """The collector starts 2 s after the exporter; templates every 1 s
    (time only). Every record sent from one refresh after the collector
    came up is decoded, as a contiguous tail; --wall-clock times start
    when the export did."""
    rate, interval, delay, slack = 400, 1.0, 2.0, 0.5
    cmd = [exe, "--input", trace, "--version", str(version), "--rate",
           str(rate), "--template-interval", str(interval),
           "--template-packets", "0", "--wall-clock", "--json", "-q",
           "--ipfix-sequence", "flows"]
    port = col.free_port()  # nfcapd comes up on it later
    wall0 = time.time()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd + ["--collector", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(delay)
    nf = col.Nfcapd(tmp, port=port)
    ready = time.monotonic() - t0
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"late collector run: {err.strip()}"
    st = json.loads(out.strip().splitlines()[-1])
    assert st["records"] == len(flows)
    nf.finish()
    got = nf.flows()
    index = {f.key(times=False): i for i, f in enumerate(flows)}
    seen = sorted(index[nf_key(x, times=False)] for x in got)
    assert seen, "the late collector decoded nothing"
    first = seen[0]
    assert seen == list(range(first, len(flows))), \
        "the late collector's records are not a contiguous tail"
    assert first > 0, "the collector was not late: nothing was missed"
    lag = first / rate - ready
    assert lag <= interval + slack, \
        f"v{version}: decoding began {lag:.2f} s after the collector " \
        f"came up; the template interval is {interval} s"
    # --wall-clock: record i starts at the export's start plus its offset
    shift = wall0 * 1000 - flows[0].first_ms
    for x in got[:50]:
        i = index[nf_key(x, times=False)]
        want = flows[i].first_ms + shift
        assert abs(utc_ms(x["first"]) - want) < 3000, \
            f"--wall-clock: first seen {x['first']}, expected near " \
            f"{datetime.fromtimestamp(want / 1000, timezone.utc)}"
    return [f"v{version}" if version < 10 else "IPFIX", f"{ready:.2f} s",
            first, f"{max(lag, 0):.2f} s", len(seen)]


def check_loop(exe, trace, flows, tmp):
    """--loop: each pass shifted by the trace's span rounded down to a
    second, plus 1 s, so every record read back is a trace record moved
    by a whole number of passes."""
    nf = col.Nfcapd(tmp)
    small = flows[:40]
    path = os.path.join(tmp, "small.csv")
    with open(trace) as src, open(path, "w") as dst:
        for i, line in enumerate(src):
            if i <= 40:
                dst.write(line)
    st = export(exe, path, 9, [nf.addr], "--rate", "400", "--loop",
                "--duration", "1.5")
    nf.finish()
    got = nf.flows()
    assert st["loops"] >= 3 and len(got) == st["records"]
    end = max(f.last_ns for f in small)
    span = ((end - small[0].first_ns) // 10**9 + 1) * 1000
    base = {f.key(times=False): f for f in small}
    passes = Counter()
    for x in got:
        f = base[nf_key(x, times=False)]
        d = utc_ms(x["first"]) - f.first_ms
        assert d % span == 0 and utc_ms(x["last"]) - f.last_ms == d, \
            f"--loop: a record moved by {d} ms, not a multiple of {span}"
        passes[d // span] += 1
    assert all(passes[k] == len(small) for k in range(st["loops"] - 1))


def shared_checks(exe, convert, tmp, rows):
    root = os.environ.get("NS_SHARED_DATA", "")
    folder = os.path.join(root, "netflow")
    if not root or not os.path.isdir(folder):
        print(f"note: {folder or 'NS_SHARED_DATA'} absent: the shared "
              "NetFlow traces were not exported")
        return
    # UGR'16 in NetShare's schema, parsed here
    ugr = os.path.join(folder, "ugr16-small.csv")
    if os.path.exists(ugr):
        flows = []
        with open(ugr) as f:
            f.readline()
            for line in f:
                c = line.strip().split(",")
                first = ns_of(c[5], 3)
                flows.append(Flow(str(ipaddress.ip_address(int(c[0]))),
                                  str(ipaddress.ip_address(int(c[1]))),
                                  int(c[2]), int(c[3]), PROTO[c[4].lower()],
                                  first, first + ns_of(c[6], 9), int(c[7]),
                                  int(c[8])))
        for version in (5, 9, 10):
            nf = col.Nfcapd(tmp)
            st = export(exe, ugr, version, [nf.addr], "--rate", "20000",
                        "--ipfix-sequence", "flows")
            stat = nf.finish()
            assert_same(f"ugr16-small.csv v{version}",
                        Counter(nf_key(x) for x in nf.flows()),
                        Counter(f.key(v5=version == 5) for f in flows))
            assert stat["Sequence Errors"] == 0, stat
            rows.append([f"ugr16-small.csv v{version}", st["records"],
                         st["packets"], st["template_sends"], 0, "-", "-"])
    # the real ctu-scan.nfcapd: its nfdump -o csv dump exported; nfdump's
    # reading of the original file is the truth (the CSV has whole
    # seconds, so times compare to the second)
    cap = os.path.join(folder, "ctu-scan.nfcapd")
    if os.path.exists(cap) and os.path.exists(cap + ".csv"):
        r = col.run(["nfdump", "-r", cap, "-o", "json"],
                    env=dict(os.environ, TZ="UTC"))
        assert r.returncode == 0, r.stderr

        def sec_key(x):
            k = nf_key(x, flags=True)
            return k[:7] + (k[7] // 1000, k[8] // 1000, k[9])

        truth = Counter(sec_key(x) for x in json.loads(r.stdout)
                        if x.get("type") == "FLOW")
        nf = col.Nfcapd(tmp)
        st = export(exe, cap + ".csv", 10, [nf.addr], "--rate", "20000",
                    "--ipfix-sequence", "flows")
        stat = nf.finish()
        assert_same("ctu-scan.nfcapd.csv IPFIX vs the original file",
                    Counter(sec_key(x) for x in nf.flows()), truth)
        assert stat["Sequence Errors"] == 0, stat
        rows.append(["ctu-scan.nfcapd.csv IPFIX", st["records"],
                     st["packets"], st["template_sends"], 0, "-", "-"])
    # Argus with IPv6 rows, through netshare-convert's NetShare CSV
    argus = os.path.join(folder, "ctu-mixed-argus.binetflow")
    if convert and os.path.exists(argus):
        conv = os.path.join(tmp, "argus.csv")
        r = col.run([convert, "-q", argus, conv])
        assert r.returncode == 0, r.stderr
        flows = []
        with open(conv) as f:
            f.readline()
            for line in f:
                c = line.strip().split(",")
                src = str(ipaddress.ip_address(int(c[0]))) \
                    if c[0].isdigit() else c[0]
                dst = str(ipaddress.ip_address(int(c[1]))) \
                    if c[1].isdigit() else c[1]
                proto = int(c[4]) if c[4].isdigit() else PROTO[c[4].lower()]
                first = ns_of(c[5], 3)
                flows.append(Flow(src, dst, int(c[2]), int(c[3]), proto,
                                  first, first + ns_of(c[6], 9), int(c[7]),
                                  int(c[8])))
        assert any(f.ver == 6 for f in flows)
        nf = col.Nfcapd(tmp)
        st = export(exe, argus, 10, [nf.addr], "--rate", "20000",
                    "--ipfix-sequence", "flows")
        stat = nf.finish()
        assert_same("ctu-mixed-argus.binetflow IPFIX",
                    Counter(nf_key(x) for x in nf.flows()),
                    Counter(f.key() for f in flows))
        rows.append(["ctu-mixed-argus IPFIX", st["records"], st["packets"],
                     st["template_sends"], stat["Sequence Errors"], "-",
                     "-"])


def print_table(header, rows):
    cols = [header] + [[str(c) for c in r] for r in rows]
    width = [max(len(r[i]) for r in cols) for i in range(len(header))]
    for n, r in enumerate(cols):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, width))))
        if n == 0:
            print("  ".join("-" * w for w in width))


def main():
    exe = sys.argv[1]
    convert = sys.argv[2] if len(sys.argv) > 2 else None
    col.need_tools("nfcapd", "nfdump", "tshark")
    with tempfile.TemporaryDirectory(prefix="ns-export-") as tmp:
        trace = os.path.join(tmp, "flows.csv")
        flows = make_trace(trace)
        rows = [check_version(exe, trace, flows, v, tmp) for v in (5, 9, 10)]
        rows.append(check_ipfix_flows_mode(exe, trace, flows, tmp))
        for v in (5, 9, 10):
            check_sampling(exe, trace, flows, v, tmp)
        late_trace = os.path.join(tmp, "late.csv")
        late = make_trace(late_trace, n=2400, seed=11)
        late_rows = [check_late_collector(exe, late_trace, late, v, tmp)
                     for v in (9, 10)]
        check_loop(exe, trace, flows, tmp)
        shared_checks(exe, convert, tmp, rows)
    print_table(["export", "records", "packets", "template sends",
                 "nfcapd seq errors", "tshark packets", "tshark warnings"],
                rows)
    print()
    print_table(["late collector", "came up after", "first record decoded",
                 "decoding lag", "records decoded"], late_rows)
    print("OK: nfcapd and tshark read back every record")


if __name__ == "__main__":
    main()
