"""Helpers of the netshare-replay tests: a record set written byte by
byte (as a pcap of header-only frames and as a netshare-pkt CSV), a
pcap reader, and an independent parser and checker of the frames the
replay builds (every header field, every checksum, the fill).

The frame rules checked here are the ones include/netshare/frame.h
states; nothing is imported from the C side.
"""
import os
import struct
import subprocess

import dputil

DF, MF = 0x4000, 0x2000
OFF_MASK = 0x1FFF
INNER_PROTO = 253
FRAME_MAX = 65535

# ---------------------------------------------------------------- records


def v4(a):
    return bytes(int(x) for x in a.split("."))


def v6(a):
    import ipaddress
    return ipaddress.IPv6Address(a).packed


def record(ver, proto, ip_len, ts_ns, src, dst, sport=0, dport=0, tos=0,
           ttl=64, ip_id=0, frag=0, tcp_flags=0, vlan=None):
    return dict(ver=ver, proto=proto, ip_len=ip_len, ts=ts_ns,
                src=v4(src) if ver == 4 else v6(src),
                dst=v4(dst) if ver == 4 else v6(dst), sport=sport,
                dport=dport, tos=tos, ttl=ttl, ip_id=ip_id, frag=frag,
                tcp_flags=tcp_flags, vlan=vlan)


def record_set():
    """IPv4 and IPv6; TCP, UDP, ICMP, ICMPv6, IGMP, GRE; fragments
    (first and later, none completing a datagram); odd TOS, TTL and id;
    lengths below the headers' (raised); VLAN tags. Gaps of 0.1 to 3 ms.
    """
    a4, b4 = "10.0.0.1", "192.0.2.200"
    a6, b6 = "2001:db8::1", "2001:db8:ffff::2"
    R = [
        (4, 6, 60, dict(sport=40000, dport=80, tcp_flags=0x02, frag=DF,
                        ip_id=1)),
        (4, 6, 1500, dict(sport=80, dport=40000, tcp_flags=0x18, tos=0xFF,
                          ttl=1, ip_id=0xFFFF)),
        (4, 6, 30, dict(sport=1, dport=2, tcp_flags=0x11)),  # raised
        (4, 6, 41, dict(sport=65535, dport=0, tcp_flags=0xFF, tos=0x03)),
        (4, 17, 73, dict(sport=5353, dport=53, tos=0xB8, ttl=255)),
        (4, 17, 28, dict(sport=123, dport=123)),
        (4, 17, 1500, dict(sport=4000, dport=4001, frag=MF, ip_id=0x1234)),
        (4, 17, 621, dict(frag=185, ip_id=0x4321)),  # later fragment
        (4, 6, 1020, dict(frag=MF | 100, ip_id=0x0BAD)),
        (4, 1, 84, dict(sport=8, dport=0, ip_id=77)),  # echo request
        (4, 1, 84, dict(sport=0, dport=0, ttl=128)),   # echo reply
        (4, 1, 56, dict(sport=3, dport=3)),            # port unreachable
        (4, 1, 20, dict(sport=11, dport=0)),           # raised to 48
        (4, 2, 32, dict(ttl=1)),                       # IGMP
        (4, 47, 100, dict(ip_id=9)),                   # GRE: fill only
        (4, 6, 40, dict(sport=22, dport=50000, tcp_flags=0x10, vlan=42)),
        (6, 6, 80, dict(sport=443, dport=51000, tcp_flags=0x02, tos=0x28,
                        ttl=255)),
        (6, 6, 1280, dict(sport=51000, dport=443, tcp_flags=0x10,
                          tos=0xFF, ttl=1)),
        (6, 17, 48, dict(sport=546, dport=547)),
        (6, 17, 41, dict(sport=9, dport=9)),           # raised to 48
        (6, 58, 104, dict(sport=128, dport=0)),        # echo request
        (6, 58, 200, dict(sport=1, dport=4)),          # unreachable
        (6, 58, 72, dict(sport=135, dport=0, ttl=255)),  # NS
        (6, 17, 1000, dict(sport=7000, dport=7001, frag=MF,
                           ip_id=0xDEADBEEF)),
        (6, 17, 800, dict(frag=200, ip_id=0xCAFE)),    # later fragment
        (6, 17, 333, dict(sport=1000, dport=2000, vlan=4094)),
    ]
    out, t = [], 1_600_000_000_000_000_000
    for i, (ver, proto, ln, kw) in enumerate(R):
        src, dst = (a4, b4) if ver == 4 else (a6, b6)
        if i % 2:
            src, dst = dst, src
        out.append(record(ver, proto, ln, t, src, dst, **kw))
        t += 100_000 + (i * 397_123) % 2_900_000
    return out


def _put_l4_hint(r):
    """The first bytes of an L4 header that the parser reads."""
    if r["frag"] & OFF_MASK:
        return b""
    p = r["proto"]
    if p == 6:
        return struct.pack(">HHIIBBH", r["sport"], r["dport"], 0, 0, 0x50,
                           r["tcp_flags"], 0)
    if p == 17:
        return struct.pack(">HH", r["sport"], r["dport"])
    if p in (1, 58):
        return bytes([r["sport"] & 0xFF, r["dport"] & 0xFF])
    return b""


def header_frame(r):
    """A header-only Ethernet frame carrying r's fields: (bytes, len)."""
    eth = b"\x02\x00\x00\x00\x00\x0b\x02\x00\x00\x00\x00\x0a"
    if r["vlan"] is not None:
        eth += struct.pack(">HH", 0x8100, r["vlan"])
    if r["ver"] == 4:
        eth += b"\x08\x00"
        h = struct.pack(">BBHHHBBH4s4s", 0x45, r["tos"], r["ip_len"],
                        r["ip_id"], r["frag"], r["ttl"], r["proto"], 0,
                        r["src"], r["dst"])
        h = h[:10] + struct.pack(">H", csum(h)) + h[12:]
    else:
        eth += b"\x86\xdd"
        fragment = bool(r["frag"] & (MF | OFF_MASK))
        h = struct.pack(">IHBB16s16s", 0x60000000 | r["tos"] << 20,
                        r["ip_len"] - 40, 44 if fragment else r["proto"],
                        r["ttl"], r["src"], r["dst"])
        if fragment:
            h += struct.pack(">BBHI", r["proto"], 0,
                             (r["frag"] & OFF_MASK) << 3
                             | (1 if r["frag"] & MF else 0), r["ip_id"])
    data = eth + h + _put_l4_hint(r)
    return data, len(eth) + r["ip_len"]


def write_record_pcap(path, recs):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        for r in recs:
            data, wire = header_frame(r)
            f.write(struct.pack("<IIII", r["ts"] // 10**9, r["ts"] % 10**9,
                                len(data), wire))
            f.write(data)


def write_record_csv(path, recs):
    """NetShare's packet CSV (no TCP flags, no VLAN)."""
    import ipaddress
    with open(path, "w") as f:
        f.write("srcip,dstip,srcport,dstport,proto,time,pkt_len,version,"
                "ihl,tos,id,flag,off,ttl\n")
        for r in recs:
            ip = ipaddress.ip_address
            f.write(f"{ip(r['src'])},{ip(r['dst'])},{r['sport']},"
                    f"{r['dport']},{r['proto']},{r['ts'] // 1000}."
                    f"{r['ts'] % 1000:03d},{r['ip_len']},{r['ver']},"
                    f"{5 if r['ver'] == 4 else 0},"
                    f"{r['tos']},{r['ip_id']},{r['frag'] >> 13},"
                    f"{r['frag'] & OFF_MASK},{r['ttl']}\n")


# ------------------------------------------------------------ pcap files


def read_pcap(path):
    """[(ts_ns, caplen, len, bytes)] of a classic pcap, us or ns."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    else:
        e = ">"
        magic = struct.unpack(">I", data[:4])[0]
    nano = magic == 0xA1B23C4D
    out, at = [], 24
    while at + 16 <= len(data):
        s, frac, cap, wire = struct.unpack(e + "IIII", data[at:at + 16])
        at += 16
        if at + cap > len(data):
            raise AssertionError(f"{path}: cut inside frame {len(out) + 1}")
        ts = s * 10**9 + (frac if nano else frac * 1000)
        out.append((ts, cap, wire, data[at:at + cap]))
        at += cap
    return out


# ------------------------------------------------------- frame checking


def csum(b):
    if len(b) % 2:
        b += b"\x00"
    s = sum(struct.unpack(f">{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def verifies(b):
    return csum(b) == 0


def pseudo(src, dst, proto, length, ver):
    if ver == 4:
        return src + dst + struct.pack(">BBH", 0, proto, length)
    return src + dst + struct.pack(">IxxxB", length, proto)


ICMP4_ERRORS = {3, 4, 5, 11, 12}
ICMP6_ERRORS = {1, 2, 3, 4}
ICMP6_FIXED = {130: 16, 131: 16, 132: 16, 134: 8, 135: 16, 136: 16,
               137: 32}
V6_EXT = {0, 43, 44, 51, 60, 135, 139, 140}


def min_ip_len(r):
    """The least IP length that holds the headers frame.h promises."""
    v6 = r["ver"] == 6
    frag6 = v6 and bool(r["frag"] & (MF | OFF_MASK))
    n = (40 + (8 if frag6 else 0)) if v6 else 20
    if r["frag"] & OFF_MASK:
        return n
    p, t = r["proto"], r["sport"] & 0xFF
    if v6 and p in V6_EXT:
        return n + (12 if p == 51 else 8)
    if p == 6:
        return n + 20
    if p in (17, 136, 2):
        return n + 8
    if p == 132:
        return n + 12
    if p == 1:
        return n + 8 + (20 if t in ICMP4_ERRORS else 0)
    if p == 58:
        if t in ICMP6_ERRORS:
            return n + 8 + 40
        return n + 8 + ICMP6_FIXED.get(t, 0)
    return n


def expected_ip_len(r):
    l2 = 18 if r.get("vlan") is not None else 14
    return min(max(r["ip_len"], min_ip_len(r)), FRAME_MAX - l2)


def check_frame(frame, r, where):
    """Every promise of frame.h for record r; raises AssertionError."""
    def fail(msg):
        raise AssertionError(f"{where}: {msg}")

    def eq(name, got, want):
        if got != want:
            fail(f"{name} {got!r}, record has {want!r}")

    if frame[0:12] != b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01":
        fail(f"MAC addresses {frame[0:12].hex()}")
    at = 12
    etype = struct.unpack(">H", frame[at:at + 2])[0]
    if r.get("vlan") is not None:
        eq("TPID", etype, 0x8100)
        eq("VLAN id", struct.unpack(">H", frame[14:16])[0] & 0xFFF,
           r["vlan"])
        at = 16
        etype = struct.unpack(">H", frame[at:at + 2])[0]
    l3 = at + 2
    ip_len = expected_ip_len(r)
    eq("frame length", len(frame), l3 + ip_len)
    later = bool(r["frag"] & OFF_MASK)
    if r["ver"] == 4:
        eq("EtherType", etype, 0x0800)
        h = frame[l3:l3 + 20]
        (vihl, tos, tot, ipid, frag, ttl, proto, _c, src,
         dst) = struct.unpack(">BBHHHBBH4s4s", h)
        eq("version/IHL", vihl, 0x45)
        eq("TOS", tos, r["tos"])
        eq("total length", tot, ip_len)
        eq("IP id", ipid, r["ip_id"] & 0xFFFF)
        eq("flags/offset", frag, r["frag"])
        eq("TTL", ttl, r["ttl"])
        eq("protocol", proto, r["proto"])
        eq("source", src, r["src"][:4])
        eq("destination", dst, r["dst"][:4])
        if not verifies(h):
            fail("IPv4 header checksum does not verify")
        l4 = l3 + 20
    else:
        eq("EtherType", etype, 0x86DD)
        vtf, plen, nh, hlim, src, dst = struct.unpack(
            ">IHBB16s16s", frame[l3:l3 + 40])
        eq("version", vtf >> 28, 6)
        eq("traffic class", (vtf >> 20) & 0xFF, r["tos"])
        eq("flow label", vtf & 0xFFFFF, 0)
        eq("payload length", plen, ip_len - 40)
        eq("hop limit", hlim, r["ttl"])
        eq("source", src, r["src"])
        eq("destination", dst, r["dst"])
        l4 = l3 + 40
        if r["frag"] & (MF | OFF_MASK):
            eq("next header", nh, 44)
            fnh, _res, fo, fid = struct.unpack(">BBHI",
                                               frame[l4:l4 + 8])
            eq("fragment next header", fnh, r["proto"])
            eq("fragment offset", fo >> 3, r["frag"] & OFF_MASK)
            eq("M flag", fo & 1, 1 if r["frag"] & MF else 0)
            eq("fragment id", fid, r["ip_id"])
            l4 += 8
        else:
            eq("next header", nh, r["proto"])
    msg = frame[l4:]
    fill = l4
    p = r["proto"]
    if not later:
        src = r["src"] if r["ver"] == 6 else r["src"][:4]
        dst = r["dst"] if r["ver"] == 6 else r["dst"][:4]
        if p == 6:
            sp, dp, seq, ack, off, fl, win = struct.unpack(
                ">HHIIBBH", msg[:16])
            eq("TCP source port", sp, r["sport"])
            eq("TCP destination port", dp, r["dport"])
            eq("TCP data offset", off, 0x50)
            if r["tcp_flags"] is not None:
                eq("TCP flags", fl, r["tcp_flags"])
            if not verifies(pseudo(src, dst, 6, len(msg), r["ver"]) + msg):
                fail("TCP checksum does not verify")
            fill = l4 + 20
        elif p == 17:
            sp, dp, ulen, uc = struct.unpack(">HHHH", msg[:8])
            eq("UDP source port", sp, r["sport"])
            eq("UDP destination port", dp, r["dport"])
            eq("UDP length", ulen, len(msg))
            if uc == 0 or not verifies(
                    pseudo(src, dst, 17, len(msg), r["ver"]) + msg):
                fail("UDP checksum does not verify")
            fill = l4 + 8
        elif p in (1, 58):
            eq("ICMP type", msg[0], r["sport"] & 0xFF)
            eq("ICMP code", msg[1], r["dport"] & 0xFF)
            ok = verifies(msg) if p == 1 else verifies(
                pseudo(src, dst, 58, len(msg), 6) + msg)
            if not ok:
                fail("ICMP checksum does not verify")
            fill = l4 + 8
            if p == 1 and msg[0] in ICMP4_ERRORS:
                inner = msg[8:28]
                if inner[0] != 0x45 or not verifies(inner):
                    fail("ICMP error without a valid inner IPv4 header")
                eq("inner protocol", inner[9], INNER_PROTO)
                fill += 20
            elif p == 58 and msg[0] in ICMP6_ERRORS:
                eq("inner version", msg[8] >> 4, 6)
                fill += 40
            elif p == 58 and (msg[0] in ICMP6_FIXED or
                              msg[0] in (133, 143)):
                fill = None  # MLD, ND: a body of written fields
        elif p == 2:
            if not verifies(msg):
                fail("IGMP checksum does not verify")
            fill = l4 + (12 if len(msg) >= 12 else 8)
        else:
            fill = l4
    if fill is not None:
        for o in range(fill, len(frame)):
            if frame[o] != o & 0xFF:
                fail(f"fill byte at {o} is {frame[o]}, not {o & 0xFF}")


def check_pcap(path, recs, what):
    """Frames of path equal recs in order, each checked; returns the
    frames' timestamps."""
    frames = read_pcap(path)
    if len(frames) != len(recs):
        raise AssertionError(f"{what}: {len(frames)} frames for "
                             f"{len(recs)} records")
    for i, ((_ts, cap, wire, data), r) in enumerate(zip(frames, recs)):
        if cap != wire:
            raise AssertionError(f"{what} frame {i + 1}: caplen {cap} "
                                 f"!= len {wire}")
        check_frame(data, r, f"{what} frame {i + 1}")
    return [f[0] for f in frames]


# ---------------------------------------------------------- the program


def replay(prog, pfx, args, lcores="0-1", timeout=300, eal_extra=()):
    """Run netshare-replay as a primary; (returncode, stdout, stderr)."""
    cmd = [prog] + dputil.eal(pfx, lcores) + list(eal_extra) + ["--"] + \
        list(args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout)
    finally:
        dputil.cleanup_prefix(pfx)
    return r.returncode, r.stdout, r.stderr


def csv_rows(path):
    import csv
    with open(path) as f:
        return list(csv.DictReader(f))


def addr_bytes(s):
    """A CSV address (dotted, IPv6 text or NetShare's integer) as bytes."""
    import ipaddress
    if s.isdigit():
        return int(s).to_bytes(4, "big")
    return ipaddress.ip_address(s).packed


PROTO_NAMES = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMP6": 58, "IGMP": 2,
               "GRE": 47, "ESP": 50, "AH": 51, "SCTP": 132}


def proto_num(s):
    """A CSV protocol, by name or number."""
    return PROTO_NAMES[s] if s in PROTO_NAMES else int(s)


def as_read_from_pcap(r):
    """What the trace reader keeps of r from a header-only frame whose
    IP length ends inside the L4 header: ports need 4 bytes, ICMP type
    and code 2, TCP flags 14."""
    c = dict(r)
    if r["frag"] & OFF_MASK:
        return c
    room = r["ip_len"] - (20 if r["ver"] == 4 else 40)
    if r["ver"] == 6 and r["frag"] & (MF | OFF_MASK):
        room -= 8
    if r["proto"] in (6, 17) and room < 4:
        c["sport"] = c["dport"] = 0
    if r["proto"] in (1, 58) and room < 2:
        c["sport"] = c["dport"] = 0
    if r["proto"] == 6 and room < 14:
        c["tcp_flags"] = 0
    return c


def rows_to_records(rows):
    """netshare-convert's packet CSV rows as records (no TCP flags or
    VLAN: the CSV has none)."""
    import ipaddress
    out = []
    for row in rows:
        ver = int(row["version"])

        addr = addr_bytes
        proto = proto_num(row["proto"])
        t = row["time"]
        out.append(dict(
            ver=ver, proto=proto, ip_len=int(row["pkt_len"]),
            ts=int(t.replace(".", "")) * (1 if "." in t else 1000),
            src=addr(row["srcip"]), dst=addr(row["dstip"]),
            sport=int(row["srcport"]), dport=int(row["dstport"]),
            tos=int(row["tos"]), ttl=int(row["ttl"]), ip_id=int(row["id"]),
            frag=int(row["flag"]) << 13 | int(row["off"]), tcp_flags=0,
            vlan=None))
    return out


def need_programs(*names):
    import shutil
    for n in names:
        if not shutil.which(n):
            dputil.skip(f"{n} is not installed")


def shared_pcaps():
    d = os.path.join(os.environ.get("NS_SHARED_DATA", ""), "pcap")
    if not os.path.isdir(d):
        return None
    return sorted(os.path.join(d, f) for f in os.listdir(d)
                  if f.endswith((".pcap", ".pcapng")))
