#!/usr/bin/python3
"""netshare-convert's flow meter agrees with softflowd on every real pcap.

Usage: test_softflowd_flows.py NETSHARE_CONVERT

softflowd -r FILE exports IPFIX to an nfcapd on 127.0.0.1 (a free port,
a temporary directory); nfdump reads the records back. Both tools are
compared with the same packet-level ground truth (tshark, through
nstrace.tshark_frames) under their documented semantics, and with each
other. dataplane/README.md "Flow meter semantics" explains every
difference assumed here:

  * softflowd keys ICMP as sport 0, dport type*256+code (ours: type,
    code), gives port-less protocols (SCTP too) ports 0, gives IPv6 later
    fragments protocol 0 and TCP/UDP headers cut short by the capture
    ports 0;
  * softflowd counts L2 payload bytes (frame length minus the link
    header, so Ethernet padding and trailers count); ours counts the IP
    total length;
  * IPFIX, not v9: nfdump 1.7.1 drops the ICMPv6 type/code that
    softflowd's v9 records carry in ICMP_TYPE_IPV6, merging ICMPv6 flows.

Case A, timeouts off on both sides (ours --active-timeout 0
--inactive-timeout 0 --tcp-end off; softflowd maxlife=0): one record per
unidirectional 5-tuple on both sides, packets and bytes per 5-tuple
exactly equal (bytes after adding the L2 padding ours leaves out).

Case B, finite timeouts (ours 60 s inactive, 300 s active, TCP end on;
softflowd maxlife=300 plus 60 s idle timeouts): totals per 5-tuple still
exactly equal. Flow counts differ, and each side must produce exactly the
number of records its semantics predict, replayed here in Python:
  * ours: unidirectional; a packet idle >= 60 s after the flow's last one
    or >= 300 s after its first starts a new flow; FIN or RST closes the
    flow at once;
  * softflowd -r: idle and TCP timeouts never apply to a capture file
    (check_expired runs in "forced only" mode); a bidirectional flow whose
    last - first packet second exceeds maxlife is marked, and marked flows
    are exported after each pcap_dispatch() batch of max_flows (-m)
    frames; the next packet opens a new flow.
"""
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict

sys.dont_write_bytecode = True
import nstrace  # noqa: E402

NS = 1000000000
IDLE, ACTIVE = 60, 300           # Case B, seconds
SF_BATCH = 8192                  # softflowd -m in Case B: its batch size
L2_LEN = {1: 14, 12: 0, 101: 0, 0: 4, 108: 4, 113: 16, 9: 5}


class Collector:
    """nfcapd on 127.0.0.1 at a free port, writing into a temp dir."""

    def __init__(self, tmp):
        self.dir = tempfile.mkdtemp(prefix="nfcapd-", dir=tmp)
        for _ in range(5):
            self.port = free_port()
            self.log = open(os.path.join(self.dir, "..", "nfcapd.log"), "w")
            self.proc = subprocess.Popen(
                ["nfcapd", "-b", "127.0.0.1", "-p", str(self.port),
                 "-w", self.dir, "-t", "3600", "-B", "4194304"],
                stdout=self.log, stderr=subprocess.STDOUT)
            if wait_bound(self.port, self.proc):
                # a datagram nfcapd discards: once it is read, nfcapd
                # is in its receive loop
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(b"\0\0\0\0", ("127.0.0.1", self.port))
                wait_drained(self.port)
                return
            self.stop()
        raise AssertionError("nfcapd did not start on 127.0.0.1")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        self.log.close()

    def records(self):
        """Stop nfcapd once it has read everything (it flushes its file
        on SIGTERM) and read the flows back."""
        wait_drained(self.port)
        time.sleep(0.2)
        self.stop()
        r = nstrace.run(["nfdump", "-R", self.dir, "-q", "-N", "-6", "-o",
                         "fmt:%sa|%da|%sp|%dp|%pr|%pkt|%byt"])
        assert r.returncode == 0, f"nfdump: {r.stderr.strip()}"
        rows = []
        for line in r.stdout.splitlines():
            c = [x.strip() for x in line.split("|")]
            if len(c) != 7:
                continue
            ver = 6 if ":" in c[0] else 4
            dp = c[3]
            if "." in dp:  # ICMP shown as type.code
                t, code = dp.split(".")
                dp = int(t) * 256 + int(code)
            key = (str(ipaddress.ip_address(c[0])),
                   str(ipaddress.ip_address(c[1])), int(c[2]), int(dp),
                   int(c[4]), ver)
            rows.append((key, int(c[5]), int(c[6])))
        return rows


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_bound(port, proc, limit=10.0):
    """True once something holds UDP 127.0.0.1:port (nfcapd is up)."""
    end = time.monotonic() + limit
    while time.monotonic() < end and proc.poll() is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return True
        time.sleep(0.05)
    return False


def rx_queue(port):
    """Bytes waiting in the receive queue of UDP 127.0.0.1:port."""
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            c = line.split()
            if c[1] == f"0100007F:{port:04X}":
                return int(c[4].split(":")[1], 16)
    return 0


def wait_drained(port, limit=10.0):
    end = time.monotonic() + limit
    while rx_queue(port) and time.monotonic() < end:
        time.sleep(0.05)


def softflowd(path, tmp, *opts):
    """softflowd's records of path. UDP may drop datagrams on a loaded
    machine; softflowd's own count of records sent tells, and such a run
    is repeated."""
    for _ in range(3):
        col = Collector(tmp)
        r = nstrace.run(["softflowd", "-r", path, "-d", "-v", "10",
                         "-n", f"127.0.0.1:{col.port}",
                         "-p", os.path.join(tmp, "softflowd.pid"), *opts])
        rows = col.records()
        assert r.returncode == 0, f"softflowd -r {path}: {r.stderr.strip()}"
        line = next((x for x in r.stdout.splitlines()
                     if x.startswith("Flows exported:")), "")
        sent = int(line.split("(")[1].split()[0]) if "(" in line else -1
        if len(rows) == sent:
            return rows
        print(f"{path}: softflowd sent {sent} records, nfcapd stored "
              f"{len(rows)}; again")
    raise AssertionError(f"{path}: records lost between softflowd and "
                         "nfcapd three times")


def sf_key(f, l2):
    """The unidirectional key softflowd gives frame f."""
    src, dst, sp, dp, proto, ver = f.key
    l4_captured = f.caplen - l2 - f.l3_hdr_len
    if f.later_frag:
        sp = dp = 0
        if ver == 6:
            proto = 0  # softflowd returns before storing the protocol
    elif proto in (1, 58):
        assert l4_captured >= 2, f"frame {f.number}: ICMP header not " \
            "captured (softflowd would read past the capture)"
        sp, dp = 0, sp * 256 + dp
    elif proto in (6, 17):
        if f.caplen < f.len:
            assert ver == 4 or "ipv6.hopopts" not in f.protos, \
                f"frame {f.number}: model the captured L4 length of a " \
                "truncated IPv6 frame with extension headers first"
            if l4_captured < (20 if proto == 6 else 8):
                sp = dp = 0  # softflowd's runt rule
    else:
        sp = dp = 0
    return (src, dst, sp, dp, proto, ver)


def conversation(k):
    """softflowd's bidirectional flow of unidirectional key k."""
    src, dst, sp, dp, proto, ver = k
    if ipaddress.ip_address(src).packed > ipaddress.ip_address(dst).packed:
        return (dst, src, dp, sp, proto, ver)
    return k


def frame_view(frames, linktype):
    """Per-frame keys and byte counts for both tools."""
    assert linktype in L2_LEN, f"link type {linktype} not modelled"
    view = []
    for f in frames:
        if not f.key:
            continue
        assert "mpls" not in f.protos, f"frame {f.number}: MPLS"
        vlans = f.protos.count("vlan")
        assert vlans <= 1, f"frame {f.number}: softflowd reads one VLAN tag"
        l2 = L2_LEN[linktype] + 4 * vlans
        view.append((f, sf_key(f, l2), f.len - l2))
    return view


def totals(pairs):
    """{key: [packets, bytes]} from (key, packets, bytes) rows."""
    t = defaultdict(lambda: [0, 0])
    for k, p, b in pairs:
        t[k][0] += p
        t[k][1] += b
    return {k: tuple(v) for k, v in t.items()}


def assert_same(name, what, got, want):
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    assert not missing and not extra, \
        f"{name} {what}: missing {missing[:3]}, unexpected {extra[:3]}"
    bad = [k for k in want if got[k] != want[k]]
    assert not bad, f"{name} {what}: {len(bad)} keys differ, e.g. " \
        f"{bad[0]}: got {got[bad[0]]}, want {want[bad[0]]}"


def model_ours(view, idle, active, tcp_end):
    """Records per key of our meter (dataplane/meter.c semantics)."""
    open_flows, records = {}, Counter()
    for f, _, _ in view:
        k, now = f.key, f.ts_ns
        e = open_flows.get(k)
        if e and ((idle and now > e[1] and now - e[1] >= idle) or
                  (active and now > e[0] and now - e[0] >= active)):
            e = None  # timed out: closed, this packet starts a new flow
        if e:
            e[0], e[1] = min(e[0], now), max(e[1], now)
        else:
            open_flows[k] = [now, now]
            records[k] += 1
        if tcp_end and k[4] == 6 and f.tcp_flags & 0x05:
            del open_flows[k]
    return records


def model_softflowd(frames, view, maxlife, batch):
    """Records per unidirectional key of softflowd -r with maxlife."""
    by_number = {f.number: (k, f) for f, k, _ in view}
    flows, marked, records = {}, set(), Counter()
    for i, f in enumerate(frames, 1):
        if f.number in by_number:
            k, _ = by_number[f.number]
            c = conversation(k)
            if c not in flows:
                flows[c] = [f.ts_ns // NS, set()]
            flow = flows[c]
            flow[1].add(k)
            if c not in marked and f.ts_ns // NS - flow[0] > maxlife:
                marked.add(c)
        if i % batch == 0:  # end of a pcap_dispatch() batch
            for c in marked:
                records.update(flows.pop(c)[1])
            marked.clear()
    for _, keys in flows.values():
        records.update(keys)
    return records


def compare_file(exe, path, tmp):
    name = os.path.basename(path)
    lt = nstrace.summary(exe, path)["linktype"]
    frames = nstrace.tshark_frames(path)
    view = frame_view(frames, lt)
    want_ours = totals((f.key, 1, f.ip_len) for f, _, _ in view)
    want_sf = totals((k, 1, b) for _, k, b in view)
    pad = totals((k, 0, b - f.ip_len) for f, k, b in view)

    # Case A: timeouts off
    ours = nstrace.meter(exe, path, f"{tmp}/{name}.a.csv", "-q",
                         "--active-timeout", "0", "--inactive-timeout", "0",
                         "--tcp-end", "off")
    sf = softflowd(path, tmp, "-m", "1000000", "-t", "maxlife=0")
    assert len(ours) == len(want_ours), \
        f"{name} A: {len(ours)} records for {len(want_ours)} 5-tuples"
    assert len(sf) == len(want_sf), \
        f"{name} A: softflowd {len(sf)} records for {len(want_sf)} keys"
    assert_same(name, "A ours vs tshark", totals(ours), want_ours)
    assert_same(name, "A softflowd vs tshark", totals(sf), want_sf)
    # ours against softflowd directly: our keys in softflowd's form
    # (per frame, so the runt and fragment rules apply), our bytes plus
    # the L2 padding softflowd counts
    ours_as_sf = totals((k, 1, f.ip_len) for f, k, _ in view)
    direct = {k: (p, b + pad[k][1]) for k, (p, b) in ours_as_sf.items()}
    assert_same(name, "A ours vs softflowd", direct, totals(sf))
    row_a = [name, f"{len(ours)}/{len(sf)}",
             f"{sum(p for _, p, _ in ours)}/{sum(p for _, p, _ in sf)}",
             f"{sum(b for _, _, b in ours)}/{sum(b for _, _, b in sf)}",
             sum(b for _, b in pad.values())]

    # Case B: finite timeouts
    ours = nstrace.meter(exe, path, f"{tmp}/{name}.b.csv", "-q",
                         "--active-timeout", str(ACTIVE),
                         "--inactive-timeout", str(IDLE), "--tcp-end", "on")
    sf = softflowd(path, tmp, "-m", str(SF_BATCH), "-t",
                   f"maxlife={ACTIVE}", "-t", f"general={IDLE}", "-t",
                   f"tcp={IDLE}", "-t", f"udp={IDLE}", "-t", f"icmp={IDLE}",
                   "-t", "tcp.fin=1", "-t", "tcp.rst=1")
    assert_same(name, "B ours totals", totals(ours), want_ours)
    assert_same(name, "B softflowd totals", totals(sf), want_sf)
    m_ours = model_ours(view, IDLE * NS, ACTIVE * NS, True)
    m_sf = model_softflowd(frames, view, ACTIVE, SF_BATCH)
    assert_same(name, "B ours records per 5-tuple",
                Counter(k for k, _, _ in ours), m_ours)
    assert_same(name, "B softflowd records per key",
                Counter(k for k, _, _ in sf), m_sf)
    row_b = [name, len(want_ours), f"{len(ours)}/{sum(m_ours.values())}",
             f"{len(sf)}/{sum(m_sf.values())}"]
    return row_a, row_b


def main():
    exe = sys.argv[1]
    folder = nstrace.shared_dir("pcap")
    nstrace.need_tools("tshark", "softflowd", "nfcapd", "nfdump")
    paths = nstrace.files_in(folder)
    assert paths, f"no pcap files in {folder}"
    rows_a, rows_b = [], []
    with tempfile.TemporaryDirectory(prefix="ns-softflowd-") as tmp:
        for p in paths:
            a, b = compare_file(exe, p, tmp)
            rows_a.append(a)
            rows_b.append(b)
    print("Case A, no timeouts: ours/softflowd (records = 5-tuples; "
          "bytes: IP length vs L2 payload, equal after the padding)")
    nstrace.print_table(["file", "records", "packets", "bytes", "L2 pad"],
                        rows_a)
    print(f"\nCase B, ours {IDLE} s idle / {ACTIVE} s active / TCP end; "
          f"softflowd maxlife={ACTIVE}: records actual/predicted")
    nstrace.print_table(["file", "5-tuples", "ours", "softflowd"], rows_b)
    print(f"OK: {len(paths)} files agree with softflowd")


if __name__ == "__main__":
    main()
