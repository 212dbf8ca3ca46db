#!/usr/bin/python3
"""netshare-convert --summary agrees with tshark on every real pcap.

Usage: test_tshark_counts.py NETSHARE_CONVERT

For each file in $NS_SHARED_DATA/pcap/ the frame count, the sum of the
original frame lengths, the IP packet count and IP bytes, and the distinct
unidirectional 5-tuples (src, dst, sport, dport, proto, IP version) must
EQUAL what tshark reports. The 5-tuples are compared as sets (through the
flow CSV with all timeouts off, where one flow is one 5-tuple, which also
checks the per-tuple packet and byte counts), not only as counts.

How tshark's view maps onto ours (nstrace.tshark_frames):
  * no reassembly (-o ip.defragment:FALSE, ipv6.defragment:FALSE), so
    later fragments carry no ports, as in our parser;
  * first occurrence of each field = the outermost header. The IP
    version is the first of "ip"/"ipv6" in frame.protocols; for IPv6 the
    protocol is the Next Header of the last extension header;
  * ICMP/ICMPv6 take their own type/code as ports: the first tcp.srcport
    of an ICMP error is the quoted packet's;
  * frames tshark cannot decode as IP (ARP, the caplen-4 frame of
    ndpi-gnutella) count in packets and bytes but have no 5-tuple, like
    ours (skipped as not_ip / truncated);
  * header-only captures (caida-small: caplen 20-64) keep the IP total
    length as IP bytes; a frame cut before its ports has ports 0 on both
    sides.
No frame of these files needs an exception: the test demands equality.
"""
import sys
import tempfile
from collections import Counter

sys.dont_write_bytecode = True
import nstrace  # noqa: E402


def tshark_view(frames):
    """Counts and per-tuple (packets, IP bytes) from tshark's frames."""
    per_key = {}
    for f in frames:
        if f.key:
            p, b = per_key.get(f.key, (0, 0))
            per_key[f.key] = (p + 1, b + f.ip_len)
    return {
        "packets": len(frames),
        "bytes": sum(f.len for f in frames),
        "ip_packets": sum(p for p, _ in per_key.values()),
        "ip_bytes": sum(b for _, b in per_key.values()),
        "five_tuples": len(per_key),
    }, per_key


def check_file(exe, path, tmp):
    ours = nstrace.summary(exe, path)
    frames = nstrace.tshark_frames(path)
    theirs, t_keys = tshark_view(frames)
    name = path.rsplit("/", 1)[-1]
    for k in ("packets", "bytes", "ip_packets", "ip_bytes", "five_tuples"):
        assert ours[k] == theirs[k], \
            f"{name}: {k} ours {ours[k]} != tshark {theirs[k]}"

    # the same 5-tuples with the same packets and bytes each
    rows = nstrace.meter(exe, path, f"{tmp}/{name}.csv", "-q",
                         "--active-timeout", "0", "--inactive-timeout", "0",
                         "--tcp-end", "off")
    dup = [k for k, n in Counter(k for k, _, _ in rows).items() if n > 1]
    assert not dup, f"{name}: 5-tuples split without timeouts: {dup[:3]}"
    o_keys = {k: (p, b) for k, p, b in rows}
    only_ours = sorted(set(o_keys) - set(t_keys))
    only_tshark = sorted(set(t_keys) - set(o_keys))
    assert not only_ours and not only_tshark, \
        f"{name}: 5-tuples only in ours {only_ours[:3]}, only in tshark " \
        f"{only_tshark[:3]}"
    bad = [k for k in o_keys if o_keys[k] != t_keys[k]]
    assert not bad, f"{name}: per-tuple (packets, bytes) differ for " \
        f"{len(bad)} tuples, e.g. {bad[0]}: ours {o_keys[bad[0]]} tshark " \
        f"{t_keys[bad[0]]}"
    return [name] + [f"{ours[k]}/{theirs[k]}" for k in
                     ("packets", "bytes", "ip_packets", "ip_bytes",
                      "five_tuples")]


def main():
    exe = sys.argv[1]
    folder = nstrace.shared_dir("pcap")
    nstrace.need_tools("tshark")
    paths = nstrace.files_in(folder)
    assert paths, f"no pcap files in {folder}"
    rows = []
    with tempfile.TemporaryDirectory(prefix="ns-tshark-") as tmp:
        for p in paths:
            rows.append(check_file(exe, p, tmp))
    print("ours/tshark per file (all equal):")
    nstrace.print_table(["file", "packets", "bytes", "ip_packets",
                         "ip_bytes", "five_tuples"], rows)
    print(f"OK: {len(rows)} files agree with tshark")


if __name__ == "__main__":
    main()
