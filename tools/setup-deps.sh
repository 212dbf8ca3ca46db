#!/usr/bin/env bash
# Install what the appliance needs on Debian 12 (idempotent), fetch the
# embedded default input, and build. Run as root. Sourced or executed.
set -euo pipefail

NS_ROOT=${NS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
NS_PACKAGES=(
	gcc meson ninja-build pkg-config
	libpcap-dev libdpdk-dev dpdk libopenblas-dev libcmocka-dev
	libnanomsg-dev libcjson-dev libbpf-dev libxdp-dev clang iproute2
	libopenmpi-dev openmpi-bin
	tshark tcpdump nfdump softflowd tcpreplay
	python3-numpy python3-scipy gnuplot-nox jq
)

say() { printf '[setup] %s\n' "$*" >&2; }

ns_install_packages() {
	local missing=()
	for p in "${NS_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		return 0
	fi
	say "installing: ${missing[*]}"
	if [ "$(id -u)" != 0 ]; then
		say "missing packages and not root: run as root or install them"
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Debian's pathspider package carries a real one-hour LAN capture.
ns_fetch_default_input() {
	local dst="$NS_ROOT/tests/data/real.pcap"
	[ -s "$dst" ] && return 0
	say "fetching the embedded default input (Debian package pathspider)"
	local tmp
	tmp=$(mktemp -d)
	(
		cd "$tmp"
		apt-get download pathspider >/dev/null 2>&1 ||
			{ apt-get update -qq && apt-get download pathspider >/dev/null; }
		dpkg-deb -x pathspider_*.deb x
	)
	local src
	src=$(find "$tmp/x" -path '*pathspider/tests/data/real.pcap' | head -n 1)
	if [ -z "$src" ]; then
		say "pathspider package has no tests/data/real.pcap"
		rm -rf "$tmp"
		exit 1
	fi
	mkdir -p "$(dirname "$dst")"
	cp "$src" "$dst.tmp" && mv "$dst.tmp" "$dst"
	rm -rf "$tmp"
	say "default input: $dst ($(stat -c %s "$dst") bytes)"
}

# DPDK wants hugepages; fresh machines have none (best effort).
ns_reserve_hugepages() {
	[ "$(id -u)" = 0 ] || return 0
	local want=${NS_HUGEPAGES:-512}
	local have
	have=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
	if [ "$have" -lt "$want" ]; then
		echo "$want" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
	fi
	if ! grep -qs ' /dev/hugepages hugetlbfs' /proc/mounts; then
		mkdir -p /dev/hugepages
		mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || true
	fi
}

# ns_dataplane_capture PCAP OUTDIR PKT_CSV FLOW_CSV: replay PCAP through
# netshare-dataplane (net_pcap, the file's timestamps) with
# netshare-ringdump draining its rings into the two CSVs. Returns non-zero
# where DPDK cannot run (not root, no hugepages).
ns_dataplane_capture() {
	local pcap=$1 dir=$2 pkts=$3 flows=$4 bin=${NS_BUILD_DIR:-$NS_ROOT/build}
	[ "$(id -u)" = 0 ] || return 1
	[ "$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)" -ge 64 ] || return 1
	local linktype prefix cfg eal
	linktype=$("$bin/tools/netshare-convert" --summary --quiet "$pcap" |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["linktype"])')
	prefix=nsdemo$$
	cfg=$dir/dataplane.json
	cat >"$cfg" <<JSON
{"ports": [{"name": "net_pcap_demo", "devargs": "rx_pcap=$pcap", "linktype": $linktype}],
 "timestamps": "port", "pkt_ring_size": 131072, "flow_ring_size": 32768,
 "mbufs": 8191, "rx_desc": 1024, "idle_sleep_us": 100,
 "stop_after_idle_s": 3, "drain_wait_s": 30, "flow_table_size": 262144}
JSON
	eal=(--no-pci --file-prefix "$prefix" --base-virtaddr=0x200000000000
		--log-level=lib.eal:error)
	"$bin/dataplane/netshare-dataplane" -l 0-1 "${eal[@]}" -- --config "$cfg" \
		2>"$dir/dataplane.log" &
	local dp=$! tries=0
	until "$bin/dataplane/netshare-dataplane" -l 0 "${eal[@]}" -- --stats \
		>/dev/null 2>&1; do
		tries=$((tries + 1))
		if [ $tries -gt 100 ] || ! kill -0 $dp 2>/dev/null; then
			wait $dp || true
			return 1
		fi
		sleep 0.1
	done
	"$bin/tools/netshare-ringdump" -l 0 "${eal[@]}" -- --packets "$pkts" \
		--flows "$flows" --quiet 2>>"$dir/dataplane.log" || { wait $dp; return 1; }
	wait $dp || return 1
	grep -h "netshare-" "$dir/dataplane.log" | grep -v TELEMETRY || true
	rm -rf "/var/run/dpdk/$prefix"
}

# ns_split_halves CSV FIRST SECOND: the header into both, the first half
# of the rows (in file order, i.e. time order) into FIRST, the rest into
# SECOND; prints the number of rows.
ns_split_halves() {
	local n
	n=$(($(wc -l <"$1") - 1))
	awk -v half="$(((n + 1) / 2))" -v a="$2" -v b="$3" \
		'NR == 1 { print > a; print > b; next }
		 { print > (NR - 1 <= half ? a : b) }' "$1"
	echo "$n"
}

# ns_build DIR [meson options...]
ns_build() {
	local dir=$1
	shift
	local log
	log=$(mktemp)
	if [ ! -f "$NS_ROOT/$dir/build.ninja" ]; then
		meson setup "$NS_ROOT/$dir" "$NS_ROOT" "$@" >"$log" 2>&1 ||
			{ cat "$log" >&2; rm -f "$log"; exit 1; }
	fi
	say "building $dir"
	ninja -C "$NS_ROOT/$dir" >"$log" 2>&1 ||
		{ cat "$log" >&2; rm -f "$log"; exit 1; }
	rm -f "$log"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	ns_install_packages
	ns_fetch_default_input
	ns_build build
	say "ready: binaries in $NS_ROOT/build/tools"
fi
