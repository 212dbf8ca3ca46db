"""Shared helpers of the integration tests that check netshare-convert
against real traces and reference tools (tshark, softflowd, capinfos).

Nothing here writes into the source tree: callers put temporary output in
tempfile directories. The test scripts set sys.dont_write_bytecode before
importing this module so that no __pycache__ appears beside it.
"""
import ipaddress
import json
import os
import shutil
import subprocess
import sys
from collections import namedtuple

SKIP = 77

# Protocol names netshare-convert writes (tools/trace/trace.c), lower case.
PROTO_NAMES = {
    "icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "udp": 17, "ipv6": 41,
    "rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "icmp6": 58,
    "ipv6-icmp": 58, "icmpv6": 58, "pim": 103, "sctp": 132, "udplite": 136,
}

# IPv6 extension headers as tshark names them in frame.protocols, each
# with the field holding its Next Header value.
V6_EXT = {
    "ipv6.hopopts": "ipv6.hopopts.nxt",
    "ipv6.routing": "ipv6.routing.nxt",
    "ipv6.fraghdr": "ipv6.fraghdr.nxt",
    "ipv6.dstopts": "ipv6.dstopts.nxt",
}

TSHARK_FIELDS = [
    "frame.len", "frame.cap_len", "frame.time_epoch", "frame.protocols",
    "ip.src", "ip.dst", "ip.proto", "ip.len", "ip.hdr_len",
    "ip.frag_offset",
    "ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.plen",
    "ipv6.hopopts.nxt", "ipv6.routing.nxt", "ipv6.fraghdr.nxt",
    "ipv6.dstopts.nxt", "ipv6.fraghdr.offset",
    "tcp.srcport", "tcp.dstport", "tcp.flags",
    "udp.srcport", "udp.dstport", "sctp.srcport", "sctp.dstport",
    "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
]

# One captured frame as tshark decodes it. key is the unidirectional
# 5-tuple (src, dst, sport, dport, proto, ipversion) or None when tshark
# found no IP header; ports are ICMP type/code for ICMP and ICMPv6, 0 for
# later fragments and protocols without ports.
Frame = namedtuple("Frame", "number len caplen ts_ns protos key ip_len "
                   "l3_hdr_len later_frag tcp_flags")


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(SKIP)


def shared_dir(sub):
    """$NS_SHARED_DATA/sub, or exit 77 (meson's skip) when it is absent."""
    root = os.environ.get("NS_SHARED_DATA")
    if not root:
        skip("NS_SHARED_DATA is not set: the real traces are not available")
    path = os.path.join(root, sub)
    if not os.path.isdir(path):
        skip(f"{path} does not exist: the real traces are not available")
    return path


def need_tools(*names):
    for n in names:
        if not shutil.which(n):
            skip(f"{n} is not installed")


def files_in(folder, exts=(".pcap", ".pcapng")):
    return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                  if f.endswith(exts))


def run(cmd, timeout=120, env=None):
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def summary(exe, path, timeout=120, env=None):
    """The JSON line of `netshare-convert --summary path`."""
    r = run([exe, "--summary", path], timeout=timeout, env=env)
    assert r.returncode == 0, \
        f"--summary {path} exited {r.returncode}: {r.stderr.strip()}"
    return json.loads(r.stdout)


def addr(text):
    """Canonical text of an address written as text or as a uint32."""
    text = text.strip()
    if text.isdigit():
        return str(ipaddress.IPv4Address(int(text)))
    return str(ipaddress.ip_address(text))


def proto_number(text):
    text = text.strip()
    if text.isdigit():
        return int(text)
    assert text.lower() in PROTO_NAMES, f"unknown protocol name {text!r}"
    return PROTO_NAMES[text.lower()]


def read_flow_csv(path):
    """NetShare flow CSV rows as (key, packets, bytes) tuples."""
    rows = []
    with open(path, encoding="ascii") as f:
        header = f.readline().strip()
        assert header == "srcip,dstip,srcport,dstport,proto,ts,td,pkt," \
            "byt,type", f"{path}: unexpected header {header!r}"
        for n, line in enumerate(f, 2):
            c = line.rstrip("\n").split(",")
            assert len(c) == 10, f"{path}:{n}: {len(c)} fields"
            ver = 4 if c[0].strip().isdigit() else 6
            key = (addr(c[0]), addr(c[1]), int(c[2]), int(c[3]),
                   proto_number(c[4]), ver)
            rows.append((key, int(c[7]), int(c[8])))
    return rows


def meter(exe, path, out_csv, *opts, timeout=120, env=None):
    """Run `netshare-convert [opts] path out.csv` and read the flows."""
    r = run([exe, *opts, path, out_csv], timeout=timeout, env=env)
    assert r.returncode == 0, \
        f"netshare-convert {path} exited {r.returncode}: {r.stderr.strip()}"
    return read_flow_csv(out_csv)


def _epoch_ns(text):
    sec, _, frac = text.partition(".")
    return int(sec) * 1000000000 + int((frac + "000000000")[:9])


def _num(text, default=0):
    return int(text, 0) if text else default


def _frame(number, d):
    protos = d["frame.protocols"].split(":")
    l3 = next((p for p in protos if p in ("ip", "ipv6")), None)
    key, ip_len, hdr_len, later = None, 0, 0, False
    if l3 == "ip" and d["ip.src"]:
        proto, ver = int(d["ip.proto"]), 4
        src, dst = d["ip.src"], d["ip.dst"]
        later = d["ip.frag_offset"] not in ("", "0")
        ip_len, hdr_len = _num(d["ip.len"]), _num(d["ip.hdr_len"])
    elif l3 == "ipv6" and d["ipv6.src"]:
        # the final Next Header: walk the extension headers that follow
        # the outer IPv6 header in frame.protocols
        proto, ver = int(d["ipv6.nxt"]), 6
        src, dst = d["ipv6.src"], d["ipv6.dst"]
        for p in protos[protos.index("ipv6") + 1:]:
            if p not in V6_EXT:
                break
            if d[V6_EXT[p]]:
                proto = int(d[V6_EXT[p]])
            if p == "ipv6.fraghdr":
                later = d["ipv6.fraghdr.offset"] not in ("", "0")
        ip_len, hdr_len = 40 + _num(d["ipv6.plen"]), 40
    else:
        l3 = None
    if l3:
        # ports of the outer L4 header: with occurrence=f the first
        # tcp/udp port may come from the packet an ICMP error quotes, so
        # ICMP takes its own type/code and nothing else
        sp = dp = ""
        if not later:
            sp, dp = {
                1: ("icmp.type", "icmp.code"),
                58: ("icmpv6.type", "icmpv6.code"),
                6: ("tcp.srcport", "tcp.dstport"),
                17: ("udp.srcport", "udp.dstport"),
                136: ("udp.srcport", "udp.dstport"),
                132: ("sctp.srcport", "sctp.dstport"),
            }.get(proto, ("", ""))
            sp, dp = d.get(sp, ""), d.get(dp, "")
        key = (str(ipaddress.ip_address(src)),
               str(ipaddress.ip_address(dst)),
               _num(sp), _num(dp), proto, ver)
    flags = _num(d["tcp.flags"]) if key and key[4] == 6 else 0
    return Frame(number, int(d["frame.len"]), int(d["frame.cap_len"]),
                 _epoch_ns(d["frame.time_epoch"]), protos, key, ip_len,
                 hdr_len, later, flags)


def tshark_frames(path):
    """Every frame of path as tshark 4.0 decodes it, without reassembly:
    later fragments carry no ports. Fields take their first occurrence,
    i.e. the outermost header."""
    cmd = ["tshark", "-n", "-r", path,
           "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
           "-o", "tcp.desegment_tcp_streams:FALSE",
           "-T", "fields", "-E", "occurrence=f", "-E", "separator=\t"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    r = run(cmd, timeout=300)
    assert r.returncode == 0, f"tshark -r {path}: {r.stderr.strip()}"
    frames = []
    for n, line in enumerate(r.stdout.splitlines(), 1):
        d = dict(zip(TSHARK_FIELDS, line.split("\t")))
        frames.append(_frame(n, d))
    return frames


def print_table(header, rows):
    cols = [header] + [[str(c) for c in r] for r in rows]
    width = [max(len(r[i]) for r in cols) for i in range(len(header))]
    for n, r in enumerate(cols):
        print("  ".join(c.rjust(w) if i else c.ljust(w)
                        for i, (c, w) in enumerate(zip(r, width))))
        if n == 0:
            print("  ".join("-" * w for w in width))
