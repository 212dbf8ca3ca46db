#!/usr/bin/python3
"""Write the hand-built seeds of the export fuzz target (fuzz_export.c):
24 octets of settings, then struct ns_flow_record images (80 octets,
little-endian as on x86-64 and arm64).

Usage: make_export_seeds.py OUT_DIR

The seeds were then grown with libFuzzer and minimised with -merge=1
into tests/control/corpus/export/ (see control/README.md).
"""
import ipaddress
import os
import struct
import sys

T0 = 1700000000123000000  # ns


def settings(version, mtu=1400, tpl_packets=100, tpl_ms_sel=2,
             flows_only=0, sampling=1, domain=1, cut=0, now_ms=1700000005000,
             shift=0, step=0):
    vsel = {5: 0, 9: 1, 10: 2}[version]
    mtu_raw = mtu - 512
    return struct.pack(">BHBBBHIHQBB", vsel, mtu_raw, tpl_packets,
                       tpl_ms_sel, flows_only, sampling - 1, domain, cut,
                       now_ms, shift, step)


def record(src, dst, sp=1234, dp=80, proto=6, first=T0, dur=1500000000,
           pkts=10, byts=1000, flags=0x1b, tos=0, version=None, end=1):
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    ver = version if version is not None else a.version
    return struct.pack("<QQ16s16sQQHHBBBBHB5s", first, first + dur,
                       a.packed.ljust(16, b"\0"), b.packed.ljust(16, b"\0"),
                       pkts, byts, sp, dp, proto, flags, tos, ver, 0xFFFF,
                       end, b"\0" * 5)


def mixed(n):
    out = []
    for i in range(n):
        if i % 4 == 3:
            out.append(record(f"2001:db8::{i + 1:x}", "2001:db8::ff",
                              sp=i, dp=443, proto=17, first=T0 + i * 10**6))
        elif i % 7 == 5:
            out.append(record(f"10.0.{i // 256}.{i % 256}", "10.9.9.9",
                              sp=3, dp=1, proto=1, first=T0 + i * 10**6))
        else:
            out.append(record(f"10.0.{i // 256}.{i % 256}", "192.0.2.1",
                              sp=1024 + i, dp=80, first=T0 + i * 10**6,
                              pkts=i + 1, byts=(i + 1) * 60))
    return b"".join(out)


def main():
    out = os.path.join(sys.argv[1], "export")
    os.makedirs(out, exist_ok=True)
    seeds = {
        "v5-one": settings(5) + record("10.0.0.1", "192.168.1.2"),
        "v5-mixed-v6": settings(5, sampling=100) + mixed(40),
        "v5-big-counters": settings(5) + record(
            "10.0.0.1", "10.0.0.2", pkts=1 << 40, byts=1 << 50),
        "v9-mixed": settings(9) + mixed(80),
        "v9-small-mtu": settings(9, mtu=512, tpl_packets=2) + mixed(60),
        "v9-tiny-cap": settings(9, cut=1200) + mixed(3),
        "v9-time-jump": settings(9, step=255, shift=0) + record(
            "10.0.0.1", "10.0.0.2") + record(
            "10.0.0.1", "10.0.0.2", first=T0 + 60 * 86400 * 10**9) + record(
            "10.0.0.1", "10.0.0.2", dur=60 * 86400 * 10**9),
        "v9-bad-version": settings(9) + record(
            "10.0.0.1", "10.0.0.2", version=7) + mixed(2),
        "ipfix-mixed": settings(10, sampling=10, domain=77) + mixed(80),
        "ipfix-flows-only": settings(10, flows_only=1, tpl_packets=1)
        + mixed(50),
        "ipfix-jumbo": settings(10, mtu=9000) + mixed(300),
        "ipfix-timer": settings(10, tpl_packets=0, tpl_ms_sel=1, step=200)
        + mixed(100),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
