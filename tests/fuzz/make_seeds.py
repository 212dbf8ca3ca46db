#!/usr/bin/python3
"""Write the hand-built seed inputs of the parse_packet, read_pcap and
read_privacy fuzz targets: frames and capture files assembled byte by
byte here, so the corpus holds nothing copied from any capture, and
privacy accountants in their JSON form, valid and broken.

Usage: make_seeds.py OUT_DIR
       (writes OUT_DIR/parse_packet, read_pcap, read_privacy)

The seeds were then grown with libFuzzer and minimised with -merge=1 into
tests/fuzz/corpus/ (see tests/fuzz/meson.build).
"""
import os
import struct
import sys

# index of each link type in parse_packet.c's table (first input byte)
LT_INDEX = {"eth": 0, "raw": 1, "null": 2, "loop": 3, "sll": 4, "sll2": 5,
            "ipv4": 6, "ipv6": 7, "ppp": 8, "chdlc": 9, "raw101": 10,
            "unsupported": 11}
DLT = {"eth": 1, "raw": 12, "null": 0, "loop": 108, "sll": 113, "sll2": 276,
       "ipv4": 228, "ipv6": 229, "ppp": 9, "chdlc": 104, "raw101": 101}

V4A, V4B = bytes([10, 0, 0, 1]), bytes([192, 168, 7, 9])
V6A = bytes.fromhex("20010db8000000000000000000000001")
V6B = bytes.fromhex("fe800000000000000000000000000002")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp(sp=40000, dp=443, flags=0x18, payload=b"hi"):
    return struct.pack("!HHIIBBHHH", sp, dp, 1, 2, 5 << 4, flags, 512, 0,
                       0) + payload


def udp(sp=5353, dp=53, payload=b"\1\2\3\4"):
    return struct.pack("!HHHH", sp, dp, 8 + len(payload), 0) + payload


def icmp(t=8, c=0):
    return struct.pack("!BBHHH", t, c, 0, 1, 1) + b"ping"


def sctp():
    return struct.pack("!HHII", 2905, 2905, 7, 0) + b"\0" * 4


def ipv4(proto, l4, frag=0x4000, opts=b"", ident=77, total=None):
    ihl = 5 + len(opts) // 4
    length = total if total is not None else ihl * 4 + len(l4)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, length, ident, frag, 64,
                    proto, 0, V4A, V4B) + opts
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + l4


def ipv6(nh, payload, plen=None):
    n = len(payload) if plen is None else plen
    return struct.pack("!IHBB", 6 << 28, n, nh, 64) + V6A + V6B + payload


def ext(nh, body_len8=0, fill=b""):
    """A generic extension header of (body_len8 + 1) * 8 bytes."""
    body = (fill + b"\1\0" * 8 * (body_len8 + 1))[:6 + 8 * body_len8]
    return bytes([nh, body_len8]) + body


def frag6(nh, offset, more, ident=0x1234):
    return struct.pack("!BBHI", nh, 0, offset << 3 | more, ident)


def jumbo_hbh(nh, length):
    # Pad1? no: option 0xC2 len 4, then PadN to 8 bytes
    return bytes([nh, 0, 0xC2, 4]) + struct.pack("!I", length)


def eth(ethertype, payload, tags=()):
    h = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb"
    for tpid, vid in tags:
        h += struct.pack("!HH", tpid, vid)
    return h + struct.pack("!H", ethertype) + payload


def mpls(labels, payload):
    out = b""
    for i, lab in enumerate(labels):
        bos = 1 if i == len(labels) - 1 else 0
        out += struct.pack("!I", lab << 12 | bos << 8 | 64)
    return out + payload


def pppoe(proto, payload):
    return struct.pack("!BBHHH", 0x11, 0, 0x0042, len(payload) + 2,
                       proto) + payload


def ip_packets():
    """(name, IP datagram) pairs over the header variants the parser
    knows."""
    return [
        ("v4_tcp", ipv4(6, tcp())),
        ("v4_tcp_fin", ipv4(6, tcp(flags=0x11))),
        ("v4_udp", ipv4(17, udp())),
        ("v4_icmp", ipv4(1, icmp())),
        ("v4_icmp_err", ipv4(1, icmp(3, 3)[:8] + ipv4(17, udp())[:28])),
        ("v4_sctp", ipv4(132, sctp())),
        ("v4_gre", ipv4(47, b"\0\0\x08\0" + ipv4(17, udp()))),
        ("v4_opts", ipv4(6, tcp(), opts=b"\x01\x01\x01\x00")),
        ("v4_frag_first", ipv4(17, udp(), frag=0x2000)),
        ("v4_frag_later", ipv4(17, b"\xde\xad" * 8, frag=0x0003)),
        ("v4_bad_ihl", b"\x43" + ipv4(6, tcp())[1:]),
        ("v4_short_len", ipv4(6, tcp(), total=24)),
        ("v4_bigtcp", ipv4(6, tcp(), total=0)),
        ("v4_tcp_cut", ipv4(6, tcp())[:30]),
        ("v6_tcp", ipv6(6, tcp())),
        ("v6_udp", ipv6(17, udp())),
        ("v6_icmp", ipv6(58, icmp(128))),
        ("v6_hbh_icmp", ipv6(0, ext(58) + icmp(143))),
        ("v6_routing", ipv6(43, ext(6, 2) + tcp())),
        ("v6_dstopts", ipv6(60, ext(17) + udp())),
        ("v6_ah", ipv6(51, bytes([6, 1]) + b"\0" * 6 + tcp())),
        ("v6_frag_first", ipv6(44, frag6(17, 0, 1) + udp())),
        ("v6_frag_later", ipv6(44, frag6(17, 185, 0) + b"\xab" * 16)),
        ("v6_chain", ipv6(0, ext(60) + ext(43) + frag6(6, 0, 0) + tcp())),
        ("v6_jumbo", ipv6(0, jumbo_hbh(6, 70000) + tcp(), plen=0)),
        ("v6_ext_cut", ipv6(0, ext(6, 4)[:12])),
        ("v6_in_v4", ipv4(41, ipv6(17, udp()))),
        ("v4_in_v6", ipv6(4, ipv4(6, tcp()))),
    ]


def frames():
    """(link name, frame name, frame) for every link type."""
    v4 = ipv4(6, tcp())
    v6 = ipv6(17, udp())
    out = []
    for name, ip in ip_packets():
        et = 0x0800 if ip[0] >> 4 == 4 else 0x86DD
        out.append(("eth", name, eth(et, ip)))
        out.append(("raw", name, ip))
    out += [
        ("eth", "vlan", eth(0x0800, v4, tags=[(0x8100, 42)])),
        ("eth", "qinq", eth(0x86DD, v6, tags=[(0x88A8, 100),
                                              (0x8100, 200)])),
        ("eth", "qinq_old", eth(0x0800, v4, tags=[(0x9100, 7)])),
        ("eth", "mpls1", eth(0x8847, mpls([16], v4))),
        ("eth", "mpls2_v6", eth(0x8847, mpls([16, 17], v6))),
        ("eth", "mpls_pw", eth(0x8848, mpls([99], b"\0\0\0\0" + v4))),
        ("eth", "vlan_mpls", eth(0x8847, mpls([5], v4),
                                 tags=[(0x8100, 3)])),
        ("eth", "pppoe_v4", eth(0x8864, pppoe(0x0021, v4))),
        ("eth", "pppoe_v6", eth(0x8864, pppoe(0x0057, v6))),
        ("eth", "pppoe_lcp", eth(0x8864, pppoe(0xC021, b"\1\1\0\4"))),
        ("eth", "arp", eth(0x0806, b"\0\1\x08\0\6\4\0\1" + b"\0" * 20)),
        ("eth", "v4_says_v6", eth(0x0800, v6)),
        ("eth", "padded", eth(0x0800, ipv4(6, tcp(payload=b"")) +
                              b"\0" * 6)),
        ("eth", "short", eth(0x0800, v4)[:13]),
        ("null", "v4_le", struct.pack("<I", 2) + v4),
        ("null", "v6_be", struct.pack(">I", 30) + v6),
        ("null", "v6_linux", struct.pack("<I", 10) + v6),
        ("null", "other", struct.pack("<I", 7) + v4),
        ("loop", "v4", struct.pack(">I", 2) + v4),
        ("loop", "v6", struct.pack(">I", 24) + v6),
        ("sll", "v4", struct.pack("!HHH8sH", 0, 1, 6, b"\0" * 8, 0x0800)
         + v4),
        ("sll", "vlan", struct.pack("!HHH8sH", 0, 1, 6, b"\0" * 8, 0x8100)
         + struct.pack("!HH", 5, 0x86DD) + v6),
        ("sll2", "v6", struct.pack("!HHIHBB8s", 0x86DD, 0, 2, 1, 0, 6,
                                   b"\0" * 8) + v6),
        ("ipv4", "v4", v4),
        ("ipv4", "wrong_version", v6),
        ("ipv6", "v6", v6),
        ("ipv6", "wrong_version", v4),
        ("ppp", "hdlc_v4", b"\xff\x03\x00\x21" + v4),
        ("ppp", "bare_v6", b"\x00\x57" + v6),
        ("ppp", "lcp", b"\xff\x03\xc0\x21\1\1\0\4"),
        ("chdlc", "v4", b"\x0f\x00\x08\x00" + v4),
        ("chdlc", "v6", b"\x8f\x00\x86\xdd" + v6),
        ("raw101", "v6", v6),
        ("unsupported", "v4", v4),
    ]
    return out


def pcap(link, packets, magic=0xA1B2C3D4, endian="<", snaplen=65535):
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen,
                      DLT[link])
    for i, (caplen_cut, data) in enumerate(packets):
        cap = data[:caplen_cut] if caplen_cut is not None else data
        frac = 1000 * i if magic == 0xA1B2C3D4 else 1000000 * i
        out += struct.pack(endian + "IIII", 1700000000 + i, frac, len(cap),
                           len(data)) + cap
    return out


def block(btype, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def pcapng(interfaces, packets, simple=()):
    """interfaces: [(dlt, snaplen, tsresol or None)];
    packets: [(interface, data)]."""
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for dlt, snap, tsresol in interfaces:
        opts = b""
        if tsresol is not None:
            opts = struct.pack("<HHB3x", 9, 1, tsresol) + b"\0\0\0\0"
        out += block(1, struct.pack("<HHI", dlt, 0, snap) + opts)
    for i, (ifc, data) in enumerate(packets):
        ts = 1700000000000000 + i * 1000
        out += block(6, struct.pack("<IIIII", ifc, ts >> 32,
                                    ts & 0xFFFFFFFF, len(data), len(data))
                     + data)
    for data in simple:
        out += block(3, struct.pack("<I", len(data)) + data)
    return out


def pcap_files():
    eth_frames = [f for link, _, f in frames() if link == "eth"]
    raw_frames = [f for link, _, f in frames() if link == "raw"]
    v4 = eth(0x0800, ipv4(6, tcp()))
    v4b = eth(0x0800, ipv4(6, tcp(flags=0x04), ident=78))
    files = [
        ("eth_le_us", pcap("eth", [(None, f) for f in eth_frames[:12]])),
        ("eth_be_us", pcap("eth", [(None, v4), (None, v4b)], endian=">")),
        ("eth_le_ns", pcap("eth", [(None, v4), (None, v4b)],
                           magic=0xA1B23C4D)),
        ("raw_trunc", pcap("raw", [(40, f) for f in raw_frames[:10]])),
        ("raw101", pcap("raw101", [(None, f) for f in raw_frames[10:20]])),
        ("null", pcap("null", [(None, struct.pack("<I", 2) +
                                ipv4(17, udp()))])),
        ("sll2", pcap("sll2", [(None, struct.pack(
            "!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\0" * 8) +
            ipv4(1, icmp()))])),
        ("empty", pcap("eth", [])),
        ("cut_record", pcap("eth", [(None, v4), (None, v4b)])[:-20]),
        ("cut_header", pcap("eth", [(None, v4)])[:24 + 10]),
        ("bad_frac", pcap("eth", [(None, v4)], magic=0xA1B23C4D)[:24] +
         struct.pack("<IIII", 1, 1500000000, len(v4), len(v4)) + v4),
        ("caplen_gt_len", pcap("eth", [])[:24] +
         struct.pack("<IIII", 1, 0, len(v4), 10) + v4),
        ("unsupported", pcap("eth", [(None, v4)])[:20] +
         struct.pack("<I", 147) + pcap("eth", [(None, v4)])[24:]),
        ("ng_eth", pcapng([(1, 65535, None)],
                          [(0, f) for f in eth_frames[:8]])),
        ("ng_ns_simple", pcapng([(1, 65535, 9)], [(0, v4)],
                                simple=[v4b])),
        ("ng_raw", pcapng([(101, 256, None)],
                          [(0, f) for f in raw_frames[:6]])),
        ("ng_two_idb", pcapng([(1, 65535, None), (1, 65535, None)],
                              [(0, v4), (1, v4b)])),
        ("ng_empty", pcapng([(1, 65535, None)], [])),
        ("ng_no_idb", pcapng([], [])),
        ("ng_cut", pcapng([(1, 65535, None)], [(0, v4), (0, v4b)])[:-9]),
    ]
    return files


def privacy_docs():
    """(name, bytes): accountants as ns_privacy_acct_to_json writes them,
    and each way such a document can be wrong."""
    default = ([1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5] +
               list(range(5, 64)) + [128, 256, 512])

    def num(x):  # a str goes in as written
        if isinstance(x, str):
            return x
        return '"inf"' if x == float("inf") else repr(x)

    def doc(orders, rdp, version=1, extra=""):
        return ('{"version":%s,"orders":[%s],"rdp":[%s]%s}' % (
            version, ",".join(num(o) for o in orders),
            ",".join(num(r) for r in rdp), extra)).encode()

    grow = [0.0001 * o for o in default]
    docs = [
        ("default_zero", doc(default, [0.0] * len(default))),
        ("default_spent", doc(default, grow)),
        ("with_inf", doc([2, 5.5, 100], [0.5, float("inf"), 3.25])),
        ("one_order", doc([1.0000001], [1e-300])),
        ("max_order", doc([100000], [0])),
        ("full", doc(list(range(2, 258)), [1e-3] * 256)),
        ("too_many", doc(list(range(2, 259)), [1e-3] * 257)),
        ("spaces", b" \n\t" + doc([2, 3], [0, 1]).replace(b",", b" , ")
         + b"\r\n"),
        ("empty", b""),
        ("cut", doc(default, grow)[:200]),
        ("array", b"[1,2,3]"),
        ("no_version", b'{"orders":[2],"rdp":[0]}'),
        ("version2", doc([2], [0], version=2)),
        ("version_str", doc([2], [0], version='"1"')),
        ("unknown_key", doc([2], [0], extra=',"steps":3')),
        ("dup_key", doc([2], [0], extra=',"rdp":[1]')),
        ("orders_obj", b'{"version":1,"orders":{"a":2},"rdp":[0]}'),
        ("orders_empty", doc([], [])),
        ("order_one", doc([1], [0])),
        ("order_huge", doc([2, "1e999"], [0, 0])),
        ("descending", doc([3, 2], [0, 0])),
        ("repeated", doc([2, 2], [0, 0])),
        ("short_rdp", doc([2, 3], [0])),
        ("negative_rdp", doc([2], [-0.5])),
        ("nan_rdp", b'{"version":1,"orders":[2],"rdp":["nan"]}'),
        ("null_rdp", b'{"version":1,"orders":[2],"rdp":[null]}'),
        ("trailing", doc([2], [0]) + b" x"),
        ("two_docs", doc([2], [0]) + doc([3], [0])),
        ("nul_inside", doc([2], [0])[:10] + b"\0" + doc([2], [0])[10:]),
        ("nul_after", doc([2], [0]) + b"\0"),
        ("nested", b'{"version":1,"orders":' + b"[" * 200 + b"]" * 200 +
         b',"rdp":[]}'),
        ("bad_utf8", b'{"version":1,"orders":[2],"rdp":[0],"\xff\xfe":1}'),
    ]
    return docs


def main():
    out = sys.argv[1]
    pp = os.path.join(out, "parse_packet")
    rp = os.path.join(out, "read_pcap")
    os.makedirs(pp, exist_ok=True)
    os.makedirs(rp, exist_ok=True)
    for link, name, f in frames():
        with open(os.path.join(pp, f"{link}_{name}"), "wb") as fh:
            fh.write(bytes([LT_INDEX[link]]) + f)
    for name, data in pcap_files():
        with open(os.path.join(rp, name), "wb") as fh:
            fh.write(data)
    rv = os.path.join(out, "read_privacy")
    os.makedirs(rv, exist_ok=True)
    for name, data in privacy_docs():
        with open(os.path.join(rv, name + ".json"), "wb") as fh:
            fh.write(data)


if __name__ == "__main__":
    main()
