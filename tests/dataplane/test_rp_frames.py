#!/usr/bin/python3
"""netshare-replay's frames, as DPDK's net_pcap writes them (tx_pcap),
equal the records they were built from, field by field.

Usage: test_rp_frames.py NETSHARE_REPLAY NETSHARE_CONVERT

1. A record set written byte by byte here (rputil.record_set: IPv4 and
   IPv6, TCP/UDP/ICMP/ICMPv6/IGMP/GRE, first and later fragments, odd
   TOS/TTL/id, lengths below the headers', VLAN tags), given to the
   replay as a pcap of header-only frames and as a netshare-pkt CSV, sent
   on a net_pcap port. Every frame is parsed here (rputil.check_frame:
   each header field, each checksum over its pseudo-header, the fill)
   and read back with netshare-convert into the same packet CSV row;
   the "raised" counter equals the records this test expects raised.
   The --write-pcap mode (no DPDK) gives byte-identical frames, with
   the records' own timestamps.
2. Every pcap of $NS_SHARED_DATA/pcap (a clear SKIP line when there are
   none) converted to records with netshare-convert, replayed from that
   CSV at top speed: every frame checked the same way, and netshare-
   convert reads the output back into the input's rows (IHL 5 where
   the original had options; lengths raised where the rule says).
"""
import json
import os
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dputil  # noqa: E402
import rputil  # noqa: E402

COLUMNS = ("srcip", "dstip", "srcport", "dstport", "proto", "pkt_len",
           "version", "ihl", "tos", "id", "flag", "off", "ttl", "chksum")


def run_to_pcap(prog, tag, inp, out, pace, problems, what):
    rc, so, se = rputil.replay(
        prog, dputil.prefix(tag),
        ["--input", inp, "--port", f"net_pcap_{tag},tx_pcap={out}",
         "--json", "-q"] + pace)
    if rc != 0 or dputil.sanitizer_trouble(se):
        problems.append(f"{what}: exit {rc}: {se[-3000:]}")
        return None
    return json.loads(so)


def compare_rows(convert, pcap, expect_rows, tmp, what, problems):
    """netshare-convert's rows of pcap against the expected rows."""
    back = os.path.join(tmp, "back.pkt.csv")
    r = dputil.subprocess.run([convert, "-q", pcap, back],
                              capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"{what}: netshare-convert: {r.stderr}")
        return
    got = rputil.csv_rows(back)
    if len(got) != len(expect_rows):
        problems.append(f"{what}: {len(got)} rows read back, "
                        f"{len(expect_rows)} expected")
        return
    bad = 0
    for i, (g, e) in enumerate(zip(got, expect_rows)):
        for c in COLUMNS:
            if c in ("srcip", "dstip"):
                same = rputil.addr_bytes(g[c]) == rputil.addr_bytes(e[c])
            elif c == "proto":
                same = rputil.proto_num(g[c]) == rputil.proto_num(e[c])
            else:
                same = g[c] == e[c]
            if not same:
                bad += 1
                if bad <= 5:
                    problems.append(f"{what} row {i + 1}: {c} {g[c]}, "
                                    f"expected {e[c]}")
                break
    if bad:
        problems.append(f"{what}: {bad} rows differ")


def expected_row(row, rec):
    """The CSV row of a record's frame: the input row with IHL 5, the
    length raised where the rule says, the checksum of those fields."""
    e = dict(row)
    e["ihl"] = "5" if rec["ver"] == 4 else "0"  # the writer's IPv6 0
    e["pkt_len"] = str(rputil.expected_ip_len(rec))
    if rec["ver"] == 4:
        import struct
        h = struct.pack(">BBHHHBBH4s4s", 0x45, rec["tos"],
                        int(e["pkt_len"]) & 0xFFFF, rec["ip_id"],
                        rec["frag"], rec["ttl"], rec["proto"], 0,
                        rec["src"][:4], rec["dst"][:4])
        e["chksum"] = str(rputil.csum(h))
    else:
        e["chksum"] = "0"
    return e


def record_set_part(prog, convert, tmp, problems):
    recs = rputil.record_set()
    pin = os.path.join(tmp, "recs.pcap")
    cin = os.path.join(tmp, "recs.pkt.csv")
    rputil.write_record_pcap(pin, recs)
    rputil.write_record_csv(cin, recs)
    raised = sum(rputil.expected_ip_len(r) != r["ip_len"] for r in recs)
    print(f"record set: {len(recs)} records, {raised} to be raised")
    # a header-only frame whose IP length ends inside the L4 header
    # loses what lies beyond (the reader marks it truncated)
    pcap_recs = [rputil.as_read_from_pcap(r) for r in recs]
    raised_pcap = sum(rputil.expected_ip_len(r) != r["ip_len"]
                      for r in pcap_recs)

    # pcap input, the trace's own timing
    out_a = os.path.join(tmp, "a.pcap")
    st = run_to_pcap(prog, "rpa", pin, out_a, ["--speed", "1"], problems,
                     "record set (pcap input)")
    if st:
        print(f"  pcap input: sent {st['sent']}, raised "
              f"{st['records']['raised']}, timing p99 "
              f"{st['timing_error_us']['p99']:.1f} us")
        if st["sent"] != len(recs) or st["dropped"]:
            problems.append(f"record set: sent {st['sent']}, dropped "
                            f"{st['dropped']}")
        if st["records"]["raised"] != raised_pcap:
            problems.append(f"record set: {st['records']['raised']} "
                            f"raised, expected {raised_pcap}")
        try:
            rputil.check_pcap(out_a, pcap_recs, "record set (pcap input)")
        except AssertionError as e:
            problems.append(str(e))

    # CSV input (no TCP flags, no VLAN in that format), a fixed rate
    csv_recs = []
    for r in recs:
        c = dict(r)
        c["tcp_flags"] = 0
        c["vlan"] = None
        csv_recs.append(c)
    out_b = os.path.join(tmp, "b.pcap")
    st = run_to_pcap(prog, "rpb", cin, out_b, ["--pps", "20000"],
                     problems, "record set (CSV input)")
    if st:
        try:
            rputil.check_pcap(out_b, csv_recs, "record set (CSV input)")
        except AssertionError as e:
            problems.append(str(e))
        rows = rputil.csv_rows(cin)
        compare_rows(convert, out_b,
                     [expected_row(rw, rc) for rw, rc in
                      zip(rows, csv_recs)], tmp,
                     "record set read back", problems)

    # --write-pcap: the same bytes as the DPDK path, the records' times
    out_c = os.path.join(tmp, "c.pcap")
    r = dputil.subprocess.run([prog, "--write-pcap", out_c, "--input", pin,
                               "-q"], capture_output=True, text=True)
    if r.returncode != 0 or dputil.sanitizer_trouble(r.stderr):
        problems.append(f"--write-pcap: exit {r.returncode}: {r.stderr}")
    elif os.path.exists(out_a):
        c = rputil.read_pcap(out_c)
        a = rputil.read_pcap(out_a)
        if [f[3] for f in c] != [f[3] for f in a]:
            problems.append("--write-pcap frames differ from the DPDK "
                            "path's")
        if [f[0] for f in c] != [x["ts"] for x in recs]:
            problems.append("--write-pcap timestamps are not the "
                            "records'")


def real_traces_part(prog, convert, tmp, problems):
    pcaps = rputil.shared_pcaps()
    if not pcaps:
        print("SKIP (real traces): $NS_SHARED_DATA/pcap is absent; only "
              "the record set was checked")
        return
    for i, pcap in enumerate(pcaps):
        name = os.path.basename(pcap)
        rows_csv = os.path.join(tmp, f"real{i}.pkt.csv")
        r = dputil.subprocess.run([convert, "-q", pcap, rows_csv],
                                  capture_output=True, text=True)
        if r.returncode != 0:
            problems.append(f"{name}: netshare-convert: {r.stderr}")
            continue
        rows = rputil.csv_rows(rows_csv)
        recs = rputil.rows_to_records(rows)
        order = sorted(range(len(recs)), key=lambda k: recs[k]["ts"])
        recs = [recs[k] for k in order]
        rows = [rows[k] for k in order]
        out = os.path.join(tmp, f"real{i}.out.pcap")
        st = run_to_pcap(prog, f"rpr{i}", rows_csv, out, ["--topspeed"],
                         problems, name)
        if not st:
            continue
        raised = sum(rputil.expected_ip_len(x) != x["ip_len"]
                     for x in recs)
        print(f"{name}: {len(recs)} records, sent {st['sent']}, "
              f"{st['records']['raised']} raised (expected {raised}), "
              f"longest frame {st['records']['longest_frame']}")
        if st["sent"] != len(recs) or st["records"]["raised"] != raised:
            problems.append(f"{name}: sent {st['sent']} of {len(recs)}, "
                            f"raised {st['records']['raised']} of "
                            f"{raised}")
        try:
            rputil.check_pcap(out, recs, name)
        except AssertionError as e:
            problems.append(str(e))
        compare_rows(convert, out,
                     [expected_row(rw, rc) for rw, rc in zip(rows, recs)],
                     tmp, f"{name} read back", problems)
        os.unlink(out)


def main():
    prog, convert = sys.argv[1:3]
    dputil.need_hugepages()
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        record_set_part(prog, convert, tmp, problems)
        real_traces_part(prog, convert, tmp, problems)
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("ok: every frame equals its record")


if __name__ == "__main__":
    main()
