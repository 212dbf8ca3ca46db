#!/bin/bash
# The XDP front filter (ns_xdp_filter.bpf.o) and netshare-xdp on a veth
# pair inside a private network namespace, in generic and in native mode.
#
# Usage: xdp_veth.sh NETSHARE_XDP BPF_OBJECT      (meson passes both)
#
# Frames built here byte by byte (Python writes the pcaps) are replayed
# with tcpreplay from the peer end; the program's per-CPU counters,
# read through netshare-xdp --stats --json, must then equal exactly what
# was sent, kind by kind:
#   * 1 in 1: drop_non_ip == non-IP frames (ARP, tagged ARP, LLDP, 802.3
#     LLC, IPX, three VLAN tags), drop_malformed == frames cut inside the
#     Ethernet/VLAN/IP header or with the wrong IP version, passed == IP
#     frames (IPv4, IPv6, 802.1Q, 802.1ad, QinQ: no AF_XDP socket is bound,
#     so kept frames go to the stack), redirected == drop_sampled == 0;
#   * 1 in 4 over 6000 IP frames: drop_sampled within 5 binomial sigmas of
#     3/4 of them, passed == the rest, non-IP drops still exact;
#   * loaded by DPDK's net_af_xdp (dpdk-testpmd, xdp_prog=, force_copy=1,
#     no hugepages): the same with redirected in place of passed, and
#     testpmd's RX-packets == redirected (skipped when dpdk-testpmd is
#     not installed).
# Also: the command line's errors (interface missing, no program, a
# program without the filter's maps, an object without xsks_map, a
# second attach), and detaching.
#
# Needs root, ip(8) with netns, tcpreplay, clang and /usr/bin/python3;
# exits 77 (skipped) with the reason when the namespace, the veth pair or
# a generic XDP attach cannot be had. Every run uses its own namespace and
# interface names, removed on exit whatever happens.
set -euo pipefail

CLI=${1:?usage: xdp_veth.sh NETSHARE_XDP BPF_OBJECT}
OBJ=${2:?usage: xdp_veth.sh NETSHARE_XDP BPF_OBJECT}
OBJ=$(realpath "$OBJ") # the PMD opens it from its own working directory
PY=/usr/bin/python3

skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
step() { echo "== $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, XDP)"
for t in ip tcpreplay clang "$PY"; do
	command -v "$t" >/dev/null 2>&1 || skip "$t not found"
done
[ -x "$CLI" ] || fail "netshare-xdp not executable: $CLI"
[ -r "$OBJ" ] || fail "BPF object not readable: $OBJ"

# Unique per run: tests may run in parallel.
tag=$(printf '%x%04x' $$ $((RANDOM)))
NS=nsxdp-$tag
A=nxa$tag # carries the XDP program
B=nxb$tag # tcpreplay sends here
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nsxdp.XXXXXX")

TP_PID=
DPDK_PREFIX=
cleanup() {
	if [ -n "$TP_PID" ]; then
		kill "$TP_PID" 2>/dev/null || true
		wait "$TP_PID" 2>/dev/null || true
	fi
	ip netns del "$NS" 2>/dev/null || true
	[ -n "$DPDK_PREFIX" ] && rm -rf "/var/run/dpdk/$DPDK_PREFIX"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsx() { ip netns exec "$NS" "$@"; }

ip netns add "$NS" 2>"$WORK/err" ||
	skip "cannot create a network namespace: $(cat "$WORK/err")"
# No IPv6 autoconfiguration (DAD, MLD, RS): the counters must see only
# the replayed frames. Must be set before the links exist.
nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
ip -n "$NS" link add "$A" type veth peer name "$B" 2>"$WORK/err" ||
	skip "cannot create a veth pair: $(cat "$WORK/err")"
ip -n "$NS" link set "$A" up
ip -n "$NS" link set "$B" up

# ---------------------------------------------------------------- frames
cat >"$WORK/tool.py" <<'EOF'
import json
import random
import struct
import sys


def pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i // 1000,
                                (i % 1000) * 1000, len(fr), len(fr)))
            f.write(fr)


DST = bytes.fromhex("02000000aa01")
SRC = bytes.fromhex("02000000bb02")


def eth(etype, payload, tags=()):
    """Ethernet with VLAN tags given as (TPID, VID), outermost first."""
    h = DST + SRC
    for tpid, vid in tags:
        h += struct.pack("!HH", tpid, vid)
    return h + struct.pack("!H", etype) + payload


def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(i, vihl=0x45, plen=18):
    udp = struct.pack("!HHHH", 1024 + i % 5000, 53, 8 + plen, 0)
    udp += bytes(plen)
    h = struct.pack("!BBHHHBBH4s4s", vihl, 0, 20 + len(udp), i & 0xFFFF,
                    0, 64, 17, 0, bytes([198, 18, i >> 8 & 255, i & 255]),
                    bytes([198, 19, 0, 1]))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + udp


def ipv6(i, vtc=0x60, plen=18):
    udp = struct.pack("!HHHH", 1024 + i % 5000, 53, 8 + plen, 0)
    udp += bytes(plen)
    src = bytes.fromhex("20010db8000000000000000000000000")[:14] + \
        struct.pack("!H", i & 0xFFFF)
    dst = bytes.fromhex("20010db8000000010000000000000001")
    return struct.pack("!BBHHBB", vtc, 0, 0, len(udp), 17, 64) + src + \
        dst + udp


def arp(i):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, SRC,
                       bytes([198, 18, 0, i & 255]), bytes(6),
                       bytes([198, 18, 0, 1]))


Q, AD = 0x8100, 0x88A8
# kind -> (class, builder)
KINDS = {
    "ipv4": ("ip", lambda i: eth(0x0800, ipv4(i))),
    "ipv6": ("ip", lambda i: eth(0x86DD, ipv6(i))),
    "vlan_ipv4": ("ip", lambda i: eth(0x0800, ipv4(i), [(Q, 10)])),
    "vlan_ipv6": ("ip", lambda i: eth(0x86DD, ipv6(i), [(Q, 11)])),
    "ad_ipv4": ("ip", lambda i: eth(0x0800, ipv4(i), [(AD, 12)])),
    "qinq_ipv6": ("ip", lambda i: eth(0x86DD, ipv6(i), [(AD, 100), (Q, 13)])),
    "qq_ipv4": ("ip", lambda i: eth(0x0800, ipv4(i), [(Q, 100), (Q, 14)])),
    "arp": ("non_ip", lambda i: eth(0x0806, arp(i))),
    "vlan_arp": ("non_ip", lambda i: eth(0x0806, arp(i), [(Q, 10)])),
    "lldp": ("non_ip", lambda i: eth(0x88CC, bytes.fromhex(
        "0207040200000000bb0204030200010602007800000000"))),
    "llc_stp": ("non_ip", lambda i: DST + SRC + struct.pack("!H", 38) +
                bytes.fromhex("424203") + bytes(35)),
    "ipx": ("non_ip", lambda i: eth(0x8137, bytes(30))),
    "three_tags_ipv4": ("non_ip", lambda i: eth(0x0800, ipv4(i),
                                               [(AD, 1), (Q, 2), (Q, 3)])),
    "cut_ipv4": ("malformed", lambda i: eth(0x0800, ipv4(i)[:12])),
    "cut_ipv6": ("malformed", lambda i: eth(0x86DD, ipv6(i)[:30])),
    "cut_tag": ("malformed", lambda i: DST + SRC + struct.pack("!HH", Q, 5)),
    "cut_ipv4_in_tag": ("malformed", lambda i: eth(0x0800, ipv4(i)[:19],
                                                   [(Q, 10)])),
    "ipv4_version6": ("malformed", lambda i: eth(0x0800, ipv4(i, 0x65))),
    "ipv4_ihl4": ("malformed", lambda i: eth(0x0800, ipv4(i, 0x44))),
    "ipv6_version4": ("malformed", lambda i: eth(0x86DD, ipv6(i, 0x40))),
}


def build(counts, seed):
    rng = random.Random(seed)
    frames, expect = [], {"total": 0, "ip": 0, "non_ip": 0, "malformed": 0}
    i = 0
    for kind, n in counts.items():
        cls, make = KINDS[kind]
        for _ in range(n):
            frames.append(make(i))
            i += 1
        expect[cls] += n
        expect["total"] += n
    rng.shuffle(frames)
    return frames, expect


def gen(outdir):
    mixed = {"ipv4": 40, "ipv6": 30, "vlan_ipv4": 20, "vlan_ipv6": 10,
             "ad_ipv4": 10, "qinq_ipv6": 10, "qq_ipv4": 7,
             "arp": 15, "vlan_arp": 5, "lldp": 5, "llc_stp": 5, "ipx": 5,
             "three_tags_ipv4": 4,
             "cut_ipv4": 3, "cut_ipv6": 2, "cut_tag": 2,
             "cut_ipv4_in_tag": 2, "ipv4_version6": 2, "ipv4_ihl4": 2,
             "ipv6_version4": 2}
    sample = {"ipv4": 3000, "ipv6": 2000, "vlan_ipv4": 1000, "arp": 150,
              "lldp": 50}
    out = {}
    for name, counts, seed in (("mixed", mixed, 1), ("sample", sample, 2)):
        frames, expect = build(counts, seed)
        pcap("%s/%s.pcap" % (outdir, name), frames)
        out[name] = expect
    with open(outdir + "/expect.json", "w") as f:
        json.dump(out, f)


def stats(path):
    with open(path) as f:
        return json.load(f)


def field(path, key):
    d = stats(path)
    for k in key.split("."):
        d = d[k]
    print(d)


def delta(before, after):
    b, a = stats(before)["counters"], stats(after)["counters"]
    return {k: a[k] - b[k] for k in a}


def check(before, after, expect_path, name, n, sink):
    """sink: where kept frames go, "passed" (no AF_XDP socket) or
    "redirected"; the other of the two must stay 0."""
    e = stats(expect_path)[name]
    other = "passed" if sink == "redirected" else "redirected"
    d = delta(before, after)
    print("  sent:   ", e)
    print("  counted:", d)
    bad = []

    def eq(what, got, want):
        if got != want:
            bad.append("%s = %d, expected %d" % (what, got, want))

    eq("seen", d["seen"], e["total"])
    eq("drop_non_ip", d["drop_non_ip"], e["non_ip"])
    eq("drop_malformed", d["drop_malformed"], e["malformed"])
    eq(other, d[other], 0)
    parts = sum(d[k] for k in ("drop_non_ip", "drop_malformed",
                               "drop_sampled", "redirected", "passed"))
    eq("sum of the outcomes", parts, d["seen"])
    if n == 1:
        eq("drop_sampled", d["drop_sampled"], 0)
        eq(sink, d[sink], e["ip"])
    else:
        ip = e["ip"]
        mean = ip * (n - 1) / n
        sigma = (ip * (1 / n) * (1 - 1 / n)) ** 0.5
        got = d["drop_sampled"]
        print("  1 in %d: %d of %d IP frames sampled out, expected "
              "%.0f +- %.1f (5 sigma %.0f)" % (n, got, ip, mean, sigma,
                                              5 * sigma))
        if abs(got - mean) > 5 * sigma:
            bad.append("drop_sampled = %d, outside %.0f +- 5 x %.1f"
                       % (got, mean, sigma))
        eq(sink, d[sink], ip - got)
    for b in bad:
        print("  MISMATCH:", b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2])
    elif cmd == "field":
        field(sys.argv[2], sys.argv[3])
    elif cmd == "seen":
        print(delta(sys.argv[2], sys.argv[3])["seen"])
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5],
              int(sys.argv[6]), sys.argv[7])
    else:
        sys.exit("unknown command " + cmd)
EOF
tool() { "$PY" "$WORK/tool.py" "$@"; }
tool gen "$WORK"

# A foreign XDP program (an XSKMAP, none of the filter's maps) and one
# without even the XSKMAP, for the error paths.
cat >"$WORK/foreign.bpf.c" <<'EOF'
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#ifdef WITH_XSKS
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");
#endif
SEC("xdp")
int foreign(struct xdp_md *ctx)
{
#ifdef WITH_XSKS
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
#else
	(void)ctx;
	return XDP_PASS;
#endif
}
char LICENSE[] SEC("license") = "Dual BSD/GPL";
EOF
march=$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")
for v in xsks bare; do
	def=""
	[ "$v" = xsks ] && def=-DWITH_XSKS
	clang -O2 -g -target bpf $def -idirafter "/usr/include/$march" \
		-c "$WORK/foreign.bpf.c" -o "$WORK/foreign_$v.o" ||
		fail "cannot compile the foreign test program"
done

# ------------------------------------------------------------- helpers
# expect_fail RC PATTERN CMD...: CMD must exit RC with PATTERN on stderr.
expect_fail() {
	local want=$1 pat=$2 rc=0
	shift 2
	"$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
	[ "$rc" = "$want" ] ||
		fail "'$*' exited $rc, expected $want: $(cat "$WORK/err")"
	grep -q -- "$pat" "$WORK/err" ||
		fail "'$*': stderr lacks '$pat': $(cat "$WORK/err")"
	echo "   ok: $* -> $rc: $(head -n 1 "$WORK/err")"
}

snap() { nsx "$CLI" --iface "$A" --stats --json >"$1"; }

# replay PCAP FRAMES SNAP_BEFORE SNAP_AFTER
replay() {
	local pcap=$1 frames=$2 before=$3 after=$4 seen
	snap "$before"
	# A steady rate: a burst could overflow the veth's queues before
	# XDP sees the frames, and every frame must be counted.
	nsx tcpreplay --intf1="$B" --pps=20000 --no-flow-stats \
		"$pcap" >"$WORK/replay" 2>&1 ||
		fail "tcpreplay: $(cat "$WORK/replay")"
	grep -Eq "Successful packets: +$frames\b" "$WORK/replay" ||
		fail "tcpreplay did not send $frames frames: $(cat "$WORK/replay")"
	# XDP runs in softirq context; wait until the counters stop moving.
	for _ in $(seq 1 50); do
		snap "$after"
		seen=$(tool seen "$before" "$after")
		[ "$seen" -ge "$frames" ] && break
		sleep 0.1
	done
	sleep 0.2
	snap "$after"
}

expect() { tool field "$WORK/expect.json" "$1"; }

# ------------------------------------------------------------ the runs
step "command line: help and usage errors"
"$CLI" --help | grep -q "usage: netshare-xdp" || fail "--help"
expect_fail 2 "required" "$CLI" --stats
expect_fail 2 "sample" "$CLI" --iface "$A" --sample 0
expect_fail 2 "sample" "$CLI" --iface "$A" --sample 4x
expect_fail 2 "mode" "$CLI" --iface "$A" --attach "$OBJ" --mode turbo
expect_fail 2 "nothing to do" "$CLI" --iface "$A"
expect_fail 1 "does not exist" nsx "$CLI" --iface "nxnone$tag" --stats
expect_fail 1 "no XDP program attached" nsx "$CLI" --iface "$A" --stats
expect_fail 1 "no XDP program attached" nsx "$CLI" --iface "$A" --detach

step "a program without the filter's maps, an object without xsks_map"
expect_fail 1 "has no map 'xsks_map'" nsx "$CLI" --iface "$A" \
	--attach "$WORK/foreign_bare.o" --mode generic
expect_fail 1 "not a BPF object" nsx "$CLI" --iface "$A" \
	--attach "$WORK/mixed.pcap" --mode generic
if ! nsx "$CLI" --iface "$A" --attach "$WORK/foreign_xsks.o" \
	--mode generic >"$WORK/out" 2>"$WORK/err"; then
	skip "generic XDP attach is not supported here: $(cat "$WORK/err")"
fi
expect_fail 1 "has no map 'ns_config'" nsx "$CLI" --iface "$A" --stats
expect_fail 1 "has no map 'ns_config'" nsx "$CLI" --iface "$A" --sample 2
nsx "$CLI" --iface "$A" --detach >/dev/null || fail "detach foreign"

for mode in generic native; do
	step "$mode XDP: attach"
	nsx "$CLI" --iface "$A" --attach "$OBJ" --mode "$mode" \
		>"$WORK/out" 2>"$WORK/err" ||
		fail "attach in $mode mode: $(cat "$WORK/err")"
	grep -q ", $mode mode" "$WORK/out" ||
		fail "attach did not report $mode mode: $(cat "$WORK/out")"
	expect_fail 1 "already has an XDP program" nsx "$CLI" --iface "$A" \
		--attach "$OBJ" --mode "$mode"
	snap "$WORK/s0.json"
	[ "$(tool field "$WORK/s0.json" mode)" = "$mode" ] ||
		fail "stats report mode $(tool field "$WORK/s0.json" mode)"
	[ "$(tool field "$WORK/s0.json" prog_name)" = ns_xdp_filter ] ||
		fail "program name $(tool field "$WORK/s0.json" prog_name)"
	[ "$(tool field "$WORK/s0.json" sample_n)" = 1 ] ||
		fail "default sampling is not 1 in 1"
	nsx "$CLI" --iface "$A" --stats | grep -Eq "^passed +[0-9]+$" ||
		fail "text --stats lacks the passed counter"

	step "$mode XDP: mixed frames, keep all"
	replay "$WORK/mixed.pcap" "$(expect mixed.total)" \
		"$WORK/m0.json" "$WORK/m1.json"
	tool check "$WORK/m0.json" "$WORK/m1.json" "$WORK/expect.json" \
		mixed 1 passed || fail "$mode: counters differ from the frames sent"

	step "$mode XDP: 1 in 4"
	nsx "$CLI" --iface "$A" --sample 4 >/dev/null || fail "--sample 4"
	snap "$WORK/s1.json"
	[ "$(tool field "$WORK/s1.json" sample_n)" = 4 ] ||
		fail "sample_n after --sample 4: $(tool field "$WORK/s1.json" sample_n)"
	replay "$WORK/sample.pcap" "$(expect sample.total)" \
		"$WORK/p0.json" "$WORK/p1.json"
	tool check "$WORK/p0.json" "$WORK/p1.json" "$WORK/expect.json" \
		sample 4 passed || fail "$mode: sampling outside its band"

	step "$mode XDP: back to 1 in 1, detach"
	nsx "$CLI" --iface "$A" --sample 1 >/dev/null || fail "--sample 1"
	replay "$WORK/mixed.pcap" "$(expect mixed.total)" \
		"$WORK/m0.json" "$WORK/m1.json"
	tool check "$WORK/m0.json" "$WORK/m1.json" "$WORK/expect.json" \
		mixed 1 passed || fail "$mode: counters after --sample 1"
	nsx "$CLI" --iface "$A" --detach >/dev/null || fail "detach"
	expect_fail 1 "no XDP program attached" nsx "$CLI" --iface "$A" --stats
done

# ------------------------------------------------- through net_af_xdp
# DPDK's AF_XDP PMD loads the object itself (xdp_prog=), as the dataplane
# does, binds a socket in copy mode (force_copy=1) to queue 0 and stores
# it in xsks_map: kept frames must now be redirected to it, and testpmd
# must receive exactly those.
step "DPDK net_af_xdp: xdp_prog=$(basename "$OBJ"), force_copy=1"
if ! command -v dpdk-testpmd >/dev/null 2>&1; then
	echo "   dpdk-testpmd not found (Debian package dpdk): PMD part not run"
	echo "PASS: XDP filter on veth (generic and native; no PMD part)"
	exit 0
fi
read -r cpu0 cpu1 < <("$PY" -c 'import os
c = sorted(os.sched_getaffinity(0))
print(c[0], c[1] if len(c) > 1 else c[0])')
DPDK_PREFIX=nsxdp$tag
mkfifo "$WORK/tp.in"
nsx stdbuf -oL -eL dpdk-testpmd --lcores "0@$cpu0,1@$cpu1" --no-pci --no-huge -m 256 \
	--file-prefix "$DPDK_PREFIX" --log-level=pmd.net.af_xdp:info \
	--vdev "net_af_xdp0,iface=$A,xdp_prog=$OBJ,force_copy=1" \
	-- --forward-mode=rxonly --auto-start --total-num-mbufs=8192 \
	<"$WORK/tp.in" >"$WORK/tp.log" 2>&1 &
TP_PID=$!
exec 3>"$WORK/tp.in" # testpmd quits on the newline written here
for _ in $(seq 1 300); do
	grep -q "Press enter to exit" "$WORK/tp.log" && break
	kill -0 "$TP_PID" 2>/dev/null ||
		fail "testpmd exited early: $(tail -n 30 "$WORK/tp.log")"
	sleep 0.1
done
grep -q "Press enter to exit" "$WORK/tp.log" ||
	fail "testpmd did not start forwarding: $(tail -n 30 "$WORK/tp.log")"
grep -q "Successfully loaded XDP program" "$WORK/tp.log" ||
	fail "the PMD did not load the custom program: $(cat "$WORK/tp.log")"
snap "$WORK/d0.json"
[ "$(tool field "$WORK/d0.json" prog_name)" = ns_xdp_filter ] ||
	fail "the program on $A is not the filter after the PMD loaded it"
echo "   the PMD attached it in $(tool field "$WORK/d0.json" mode) mode"

replay "$WORK/mixed.pcap" "$(expect mixed.total)" \
	"$WORK/m0.json" "$WORK/m1.json"
tool check "$WORK/m0.json" "$WORK/m1.json" "$WORK/expect.json" \
	mixed 1 redirected || fail "net_af_xdp: counters, keep all"
nsx "$CLI" --iface "$A" --sample 4 >/dev/null || fail "--sample 4 (PMD)"
replay "$WORK/sample.pcap" "$(expect sample.total)" \
	"$WORK/p0.json" "$WORK/p1.json"
tool check "$WORK/p0.json" "$WORK/p1.json" "$WORK/expect.json" \
	sample 4 redirected || fail "net_af_xdp: sampling"
redirected=$(tool field "$WORK/p1.json" counters.redirected)

echo >&3
exec 3>&-
for _ in $(seq 1 100); do
	kill -0 "$TP_PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$TP_PID" 2>/dev/null && fail "testpmd did not quit"
wait "$TP_PID" || fail "testpmd failed: $(tail -n 30 "$WORK/tp.log")"
TP_PID=
rx=$(awk '/Accumulated forward statistics/ { acc = 1 }
	acc && /RX-packets:/ { print $2; exit }' "$WORK/tp.log")
echo "   testpmd received $rx frames; the program redirected $redirected"
if [ -z "$rx" ] || [ "$rx" != "$redirected" ]; then
	fail "testpmd RX-packets ($rx) != redirected ($redirected)"
fi

echo "PASS: XDP filter on veth (generic, native, through net_af_xdp)"
