#!/usr/bin/python3
"""tshark and tcpdump parse every frame netshare-replay sends, with no
malformed mark and no bad checksum.

Usage: test_rp_dissect.py NETSHARE_REPLAY NETSHARE_CONVERT

The record set of rputil.record_set (given as a pcap of header-only
frames) and every pcap of $NS_SHARED_DATA/pcap (converted to records by
netshare-convert; a SKIP line when absent) are sent on a net_pcap port
(tx_pcap). Then:

- tshark with checksum validation on (ip, tcp, udp) dissects every
  frame; no frame may carry _ws.malformed or an expert message about a
  checksum or a malformed packet, every IPv4 header checksum must be
  "good" (status 1, proof that validation ran), and the TCP, UDP, ICMP,
  ICMPv6 and IGMP checksums tshark checks must be good. Dissection is
  limited to the layers the replay builds (Ethernet, 802.1Q, IPv4,
  IPv6, TCP, UDP, ICMP, ICMPv6, IGMP): above them lies the fill, which
  application dissectors (DNS on port 53, ...) would rightly call
  malformed.
- tcpdump -vv prints every frame, with no "bad cksum", "incorrect" or
  "wrong" mark.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dputil  # noqa: E402
import rputil  # noqa: E402

KEEP = {"frame", "eth", "ethertype", "vlan", "ip", "ipv6", "tcp", "udp",
        "udplite", "icmp", "icmpv6", "igmp", "data"}
STATUS = ("ip.checksum.status", "tcp.checksum.status",
          "udp.checksum.status", "icmp.checksum.status",
          "icmpv6.checksum.status", "igmp.checksum.status")
# a checksum or malformed mark; not a hex value such as 0x7bad
TCPDUMP_BAD = re.compile(r"(?<![0-9a-fA-Fx])bad\b|incorrect|wrong",
                         re.IGNORECASE)
TCPDUMP_PKT = re.compile(r"^\d\d:\d\d:\d\d\.\d+ ")


def tshark_config(tmp):
    """A configuration folder whose disabled_protos keeps only KEEP."""
    conf = os.path.join(tmp, "wireshark")
    os.makedirs(conf, exist_ok=True)
    r = subprocess.run(["tshark", "-G", "protocols"], capture_output=True,
                       text=True, check=True)
    names = [ln.split("\t")[2] for ln in r.stdout.splitlines()
             if ln.count("\t") >= 2]
    with open(os.path.join(conf, "disabled_protos"), "w") as f:
        for n in names:
            if n not in KEEP:
                f.write(n + "\n")
    return conf


def check_tshark(pcap, frames, conf, what, problems):
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=conf)
    cmd = ["tshark", "-n", "-r", pcap,
           "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
           "-o", "udp.check_checksum:TRUE",
           "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
           "-E", "aggregator=|", "-e", "frame.number",
           "-e", "frame.protocols", "-e", "_ws.malformed",
           "-e", "_ws.expert.message"] + \
        [a for s in STATUS for a in ("-e", s)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        problems.append(f"{what}: tshark exit {r.returncode}: "
                        f"{r.stderr[-1000:]}")
        return
    lines = r.stdout.splitlines()
    if len(lines) != frames:
        problems.append(f"{what}: tshark shows {len(lines)} frames of "
                        f"{frames}")
    good = dict.fromkeys(STATUS, 0)
    bad = 0
    for ln in lines:
        f = ln.split("\t")
        num, protos, malformed, expert = f[0], f[1], f[2], f[3]
        status = f[4:]
        why = []
        if malformed:
            why.append("malformed")
        if re.search(r"checksum|malformed", expert, re.IGNORECASE):
            why.append(expert)
        for name, val in zip(STATUS, status):
            vals = [v for v in val.split("|") if v]
            if "0" in vals:
                why.append(f"{name} bad")
            good[name] += vals.count("1")
        if ":ip:" in f":{protos}:" and "1" not in status[0].split("|"):
            why.append("IPv4 header checksum not verified")
        if why:
            bad += 1
            if bad <= 10:
                problems.append(f"{what} frame {num} ({protos}): "
                                f"{'; '.join(why)}")
    if bad:
        problems.append(f"{what}: {bad} frames marked by tshark")
    print(f"  tshark: {len(lines)} frames, good checksums: " +
          ", ".join(f"{k.split('.')[0]} {v}" for k, v in good.items()
                    if v))


def check_tcpdump(pcap, frames, what, problems):
    r = subprocess.run(["tcpdump", "-nn", "-vv", "-r", pcap],
                       capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"{what}: tcpdump exit {r.returncode}: "
                        f"{r.stderr[-1000:]}")
        return
    n = sum(1 for ln in r.stdout.splitlines() if TCPDUMP_PKT.match(ln))
    if n != frames:
        problems.append(f"{what}: tcpdump prints {n} frames of {frames}")
    marks = [ln for ln in r.stdout.splitlines() if TCPDUMP_BAD.search(ln)]
    for ln in marks[:10]:
        problems.append(f"{what}: tcpdump: {ln.strip()}")
    if marks:
        problems.append(f"{what}: {len(marks)} tcpdump lines marked")
    print(f"  tcpdump: {n} frames, {len(marks)} marked")


def send(prog, tag, inp, out, problems, what):
    rc, _so, se = rputil.replay(
        prog, dputil.prefix(tag),
        ["--input", inp, "--port", f"net_pcap_{tag},tx_pcap={out}",
         "--topspeed", "-q"])
    if rc != 0 or dputil.sanitizer_trouble(se):
        problems.append(f"{what}: exit {rc}: {se[-3000:]}")
        return None
    return len(rputil.read_pcap(out))


def main():
    prog, convert = sys.argv[1:3]
    dputil.need_hugepages()
    rputil.need_programs("tshark", "tcpdump")
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        conf = tshark_config(tmp)
        inputs = []
        recs = rputil.record_set()
        pin = os.path.join(tmp, "recs.pcap")
        rputil.write_record_pcap(pin, recs)
        inputs.append(("record set", pin, len(recs)))
        pcaps = rputil.shared_pcaps()
        if not pcaps:
            print("SKIP (real traces): $NS_SHARED_DATA/pcap is absent; "
                  "only the record set was checked")
        for i, p in enumerate(pcaps or []):
            csv = os.path.join(tmp, f"real{i}.pkt.csv")
            r = subprocess.run([convert, "-q", p, csv], capture_output=True,
                               text=True)
            if r.returncode != 0:
                problems.append(f"{p}: netshare-convert: {r.stderr}")
                continue
            inputs.append((os.path.basename(p), csv,
                           len(rputil.csv_rows(csv))))
        for i, (what, inp, n) in enumerate(inputs):
            out = os.path.join(tmp, f"out{i}.pcap")
            got = send(prog, f"rpd{i}", inp, out, problems, what)
            if got is None:
                continue
            print(f"{what}: {got} frames")
            if got != n:
                problems.append(f"{what}: {got} frames sent of {n}")
            check_tshark(out, got, conf, what, problems)
            check_tcpdump(out, got, what, problems)
            os.unlink(out)
    if problems:
        print("FAIL:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("ok: tshark and tcpdump accept every frame")


if __name__ == "__main__":
    main()
