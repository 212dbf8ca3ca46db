#!/usr/bin/python3
"""netshare-convert survives every odd capture in $NS_SHARED_DATA/robustness.

Usage: test_robustness.py NETSHARE_CONVERT

Every file under robustness/ (recursively: pcapng-suite/le and be too)
goes through `netshare-convert --summary FILE` and `netshare-convert FILE
out.csv`, 10 s each, with ASan/UBSan set to abort and report leaks (the
options are harmless in a build without sanitizers; meson runs this test
from the ASan build as well). Each run must exit 0 or 1 -- never a
signal, a timeout or a sanitizer report -- and either print a summary
that parses as JSON or name the file in a message on stderr.

Facts the data README states are asserted as such: the two cut-short
files report cut_short with the packets before the cut; the empty pcapng
has 0 packets; pcapng-suite test901 fails after 1 record.

Packet counts must equal `capinfos -c` wherever capinfos reads the whole
file. Two classes of files differ, both limits of libpcap 1.10 (which we
read through), not of the files, and both are counted exactly:
  * IDB_LIMIT: pcapng files whose interfaces have different link types
    or snapshot lengths. libpcap stops at the second interface with "an
    interface has a type/snapshot length ... different from ... the first
    interface"; we keep the packets before it, so fewer than capinfos;
  * NO_IDB: pcapng files without an Interface Description Block, which
    libpcap refuses ("has no Interface Description Blocks"): exit 1 with
    that message; capinfos counts 0 packets in them.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True
import nstrace  # noqa: E402

TIMEOUT = 10
# The largest file here has 1811 packets. A 64 Ki-flow table instead of
# the default 1 Mi keeps each run short (the default table is ~100 MB
# that the meter initialises, slow under ASan); evictions would still be
# correct, and none happen.
FLOWS = ["--max-flows", "65536"]
SANITIZER_MARKS = ("runtime error", "AddressSanitizer", "LeakSanitizer",
                   "UndefinedBehaviorSanitizer")
# class: (stderr pattern, number of files in the shared data)
CLASSES = {
    "IDB_LIMIT": (r"different from the .* of the first interface", 22),
    "NO_IDB": (r"has no Interface Description Blocks", 4),
}
CUT_SHORT = {"ndpi-fuzz-2021-10-13-cutshort-nsec.pcap": 1,
             "dpkt-truncated_dns_2-cutshort.pcap": 1}


def sanitizer_env():
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=1"
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    return env


def run_checked(cmd, path):
    """Run one netshare-convert command; return (rc, stdout, stderr)."""
    try:
        r = nstrace.run(cmd, timeout=TIMEOUT, env=sanitizer_env())
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{path}: {' '.join(cmd)} ran over {TIMEOUT} s")
    assert r.returncode in (0, 1), \
        f"{path}: {' '.join(cmd[1:])} exited {r.returncode} (a signal " \
        f"or a crash?)\n{r.stderr[-2000:]}"
    marks = [m for m in SANITIZER_MARKS if m in r.stderr]
    assert not marks, f"{path}: sanitizer report {marks}\n{r.stderr[-3000:]}"
    if r.returncode == 1:
        assert path in r.stderr, \
            f"{path}: exit 1 without a message naming the file: {r.stderr!r}"
    return r.returncode, r.stdout, r.stderr


def capinfos(path):
    """(exit status, packet count or None): 0 whole file, 1 cut short,
    2 unsupported record."""
    r = nstrace.run(["capinfos", "-c", "-M", path], timeout=30)
    m = re.search(r"Number of packets:\s*(\d+)", r.stdout)
    return r.returncode, int(m.group(1)) if m else None


def check_file(exe, path, tmp):
    name = os.path.relpath(path, nstrace.shared_dir("robustness"))
    base = os.path.basename(path)
    rc, out, err = run_checked([exe, *FLOWS, "--summary", path], path)
    s = json.loads(out) if rc == 0 else None
    out_csv = os.path.join(tmp, name.replace("/", "_") + ".csv")
    rc2, _, _ = run_checked([exe, *FLOWS, "-q", path, out_csv], path)
    assert rc2 == rc, f"{name}: convert exited {rc2}, --summary {rc}"
    if rc2 == 0:
        rows = nstrace.read_flow_csv(out_csv)
        os.unlink(out_csv)
        assert sum(p for _, p, _ in rows) == s["ip_packets"], \
            f"{name}: the flow CSV holds {sum(p for _, p, _ in rows)} " \
            f"packets, the summary {s['ip_packets']} IP packets"

    klass = next((k for k, (pat, _) in CLASSES.items()
                  if re.search(pat, err)), "")
    crc, ccount = capinfos(path)
    packets = s["packets"] if s else None
    cut = s["cut_short"] if s else None
    if base in CUT_SHORT:
        assert cut is True and packets == CUT_SHORT[base], \
            f"{name}: want cut_short with {CUT_SHORT[base]} packets, got " \
            f"cut_short {cut} with {packets}"
    if base == "tcpdump-empty.pcapng":
        assert rc == 0 and packets == 0 and cut is False, \
            f"{name}: the empty pcapng gave rc {rc}, {packets} packets"
    if base == "test901.pcapng":
        # a second section of an unknown version: a read error after the
        # first record, not a file cut short
        assert cut is False and packets == 1 and \
            s["skipped"].get("read_error") == 1, \
            f"{name}: test901 fails after 1 record, got {packets}, " \
            f"cut {cut}, skipped {s['skipped'] if s else None}"

    if klass == "NO_IDB":
        assert rc == 1 and ccount == 0, \
            f"{name}: no IDB: rc {rc}, capinfos counts {ccount}"
    elif klass == "IDB_LIMIT":
        assert rc == 0 and packets <= ccount, \
            f"{name}: libpcap stopped at a second IDB yet we report " \
            f"{packets} > capinfos {ccount}"
    elif crc == 0:
        assert rc == 0 and packets == ccount and cut is False, \
            f"{name}: capinfos reads {ccount} packets, we report " \
            f"{packets} (rc {rc}, cut_short {cut})"
    elif crc == 1:
        assert cut is True and packets == ccount, \
            f"{name}: capinfos finds a cut after {ccount} packets, we " \
            f"report {packets} (cut_short {cut})"
    else:
        assert base == "test901.pcapng", \
            f"{name}: capinfos cannot read it (exit {crc}); what is it?"
    return klass, [name, rc, packets if s else "-",
                   ccount if ccount is not None else f"exit {crc}",
                   s["ip_packets"] if s else "-",
                   {True: "yes", False: "no"}.get(cut, "-"), klass]


def main():
    exe = sys.argv[1]
    folder = nstrace.shared_dir("robustness")
    nstrace.need_tools("capinfos")
    paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder)
                   for f in fs)
    assert paths, f"no files under {folder}"
    rows, seen = [], {k: 0 for k in CLASSES}
    with tempfile.TemporaryDirectory(prefix="ns-robust-") as tmp, \
            ThreadPoolExecutor(max_workers=4) as pool:
        for klass, row in pool.map(lambda p: check_file(exe, p, tmp),
                                   paths):
            if klass:
                seen[klass] += 1
            rows.append(row)
    nstrace.print_table(["file", "rc", "packets", "capinfos", "ip_packets",
                         "cut_short", "class"], rows)
    for k, (_, want) in CLASSES.items():
        assert seen[k] == want, f"{want} files of class {k} expected, " \
            f"found {seen[k]}"
    print(f"OK: {len(paths)} files, no crash, sanitizer report or timeout")


if __name__ == "__main__":
    main()
