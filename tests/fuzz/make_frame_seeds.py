#!/usr/bin/python3
"""Seeds for the build_frame fuzz target: packet records (64 bytes, the
layout of struct ns_pkt_record on a little-endian host) plus a mode byte
and a two-byte shortfall. Run from the repository root; rewrites
tests/fuzz/corpus/build_frame/."""
import ipaddress
import os
import struct

OUT = os.path.join("tests", "fuzz", "corpus", "build_frame")
FMT = "<Q16s16sIHHIHHBBBBBBBB"
HAS_VLAN, FRAGMENT = 0x10, 0x04
DF, MF = 0x4000, 0x2000


def rec(ver, proto, ip_len, sport=1234, dport=80, tos=0, ttl=64, ip_id=0,
        frag=0, vlan=0, tcp_flags=0, flags=0, mode=0, short=0):
    if ver == 4:
        src = ipaddress.ip_address("10.1.2.3").packed + bytes(12)
        dst = ipaddress.ip_address("192.0.2.77").packed + bytes(12)
    else:
        src = ipaddress.ip_address("2001:db8::1").packed
        dst = ipaddress.ip_address("fe80::abcd:1").packed
    r = struct.pack(FMT, 1500000000123456789, src, dst, ip_len, sport,
                    dport, ip_id, frag, vlan, proto, tos, ttl, tcp_flags,
                    ver, flags, 0, 0)
    assert len(r) == 64
    return r + bytes([mode]) + struct.pack(">H", short)


SEEDS = {
    "v4_tcp_syn": rec(4, 6, 60, tcp_flags=0x02, frag=DF, ip_id=7),
    "v4_tcp_big": rec(4, 6, 9000, tcp_flags=0x18, tos=0xB8),
    "v4_udp_dns": rec(4, 17, 73, sport=5353, dport=53),
    "v4_udp_short": rec(4, 17, 3, mode=2),
    "v4_icmp_echo": rec(4, 1, 84, sport=8, dport=0),
    "v4_icmp_unreach": rec(4, 1, 56, sport=3, dport=3),
    "v4_igmp": rec(4, 2, 32),
    "v4_gre": rec(4, 47, 100),
    "v4_sctp": rec(4, 132, 200, sport=2905, dport=2905),
    "v4_frag_first": rec(4, 17, 1500, frag=MF, ip_id=99, flags=FRAGMENT),
    "v4_frag_later": rec(4, 17, 500, frag=185, ip_id=99, flags=FRAGMENT),
    "v4_vlan": rec(4, 6, 40, vlan=100, flags=HAS_VLAN),
    "v4_vlan_off": rec(4, 6, 40, vlan=100, flags=HAS_VLAN, mode=1),
    "v4_clamped": rec(4, 6, 100000),
    "v4_cap_short": rec(4, 6, 400, mode=4, short=10),
    "v6_tcp": rec(6, 6, 1280, tcp_flags=0x10, tos=0x28, ttl=255),
    "v6_udp_fast": rec(6, 17, 333, mode=2),
    "v6_icmp6_ns": rec(6, 58, 72, sport=135, dport=0),
    "v6_icmp6_unreach": rec(6, 58, 200, sport=1, dport=4),
    "v6_mld2_report": rec(6, 58, 76, sport=143, dport=0),
    "v6_frag_first": rec(6, 6, 1000, frag=MF, ip_id=0xDEADBEEF,
                         flags=FRAGMENT),
    "v6_frag_later": rec(6, 17, 800, frag=MF | 100, ip_id=5,
                         flags=FRAGMENT),
    "v6_hopbyhop": rec(6, 0, 100),
    "v6_ah": rec(6, 51, 120),
    "v6_udplite": rec(6, 136, 90),
    "bad_version": rec(5, 6, 60),
}

os.makedirs(OUT, exist_ok=True)
for name in os.listdir(OUT):
    os.unlink(os.path.join(OUT, name))
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"{len(SEEDS)} seeds in {OUT}")
