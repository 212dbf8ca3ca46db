#!/usr/bin/env bash
# The main job: the appliance end to end on the embedded default input
# (Debian pathspider's real.pcap, a one-hour enterprise LAN capture).
# tools/netshare-appliance.sh (configs/appliance-demo.json) replays the
# capture through the DPDK dataplane (net_pcap, as fast as it reads),
# netshare-learner live trains each 5-minute block as it closes (the
# first as the seed, the rest fine-tuned from it), netshare-control
# exports every published block as IPFIX to a local nfcapd, and the run
# ends with the fidelity of the exported flows, read back from nfcapd,
# against the captured ones beside the marginals baseline. Then: the
# captured flows must equal the offline ingest's, and the second half of
# the hour is scored against the first (the floor). Installs and builds
# what is missing.
#
#   tools/netshare-demo.sh [PCAP]    NS_OUT (default out/), NS_BUILD_DIR
#                                    (default build, under the checkout)
set -euo pipefail
NS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/setup-deps.sh
. "$NS_ROOT/tools/setup-deps.sh"

input=$(readlink -f "${1:-$NS_ROOT/tests/data/real.pcap}")
out=${NS_OUT:-$NS_ROOT/out}
bdir=${NS_BUILD_DIR:-build}
build=$NS_ROOT/$bdir
bin=$build/tools
appliance=$NS_ROOT/configs/appliance-demo.json

ns_install_packages
[ $# -ge 1 ] || ns_fetch_default_input
ns_reserve_hugepages
ns_build "$bdir"
mkdir -p "$out"
out=$(readlink -f "$out")

step() { printf '\n== %s\n' "$*"; }

step "1. ingest: $input"
"$bin/netshare-convert" --summary --quiet "$input" | tee "$out/summary.json"
# the offline meter's flows (active 1800 s, inactive 15 s, TCP FIN/RST
# end): what the dataplane must capture
"$bin/netshare-convert" --quiet "$input" "$out/offline-flows.csv"

if [ $# -ge 1 ]; then
	# another capture: the demo's configs pointed at it
	linktype=$(jq -r .linktype "$out/summary.json")
	jq --arg f "$input" --argjson lt "$linktype" \
		'.ports = [{name: "net_pcap0", devargs: "rx_pcap=\($f)",
			    linktype: $lt}]' \
		"$NS_ROOT/configs/dataplane-pcap.json" >"$out/dataplane.json"
	jq --arg dp "$out/dataplane.json" --arg f "$input" \
		'.dataplane.config = $dp | .offline_input = $f' \
		"$appliance" >"$out/appliance.json"
	appliance=$out/appliance.json
fi
capture=dataplane
if [ "$(id -u)" != 0 ] ||
	[ "$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)" -lt 64 ]; then
	echo "DPDK cannot run here (root and hugepages needed): the learner" \
		"reads the capture itself (netshare-learner run), the rest is" \
		"the same"
	capture=offline
fi

step "2. the appliance: dataplane -> learner -> control -> nfcapd"
"$NS_ROOT/tools/netshare-appliance.sh" run --config "$appliance" \
	--build "$build" --run-dir "$out/appliance" --capture "$capture" --fresh
app=$out/appliance

step "3. the captured flows against the offline ingest"
if cmp -s <(sort "$app/eval/captured.csv") <(sort "$out/offline-flows.csv")
then
	echo "the flows the learner captured from the dataplane's rings" \
		"equal the offline meter's ($(($(wc -l <"$out/offline-flows.csv") \
		- 1)) flows)"
else
	echo "WARNING: the captured flows differ from the offline ingest's" \
		"($app/eval/captured.csv, $out/offline-flows.csv)"
fi

step "4. the floor: the second half of the hour against the first"
ns_split_halves "$out/offline-flows.csv" "$out/flows-first-half.csv" \
	"$out/flows-second-half.csv" >/dev/null
"$bin/netshare-eval" -q --plots "$out/plots-halves" \
	--out-json "$out/fidelity-halves.json" \
	"$out/flows-first-half.csv" "$out/flows-second-half.csv" |
	sed '/^plots:/,$d'

step "done"
cat <<MSG
What ran: the supervisor started nfcapd, the DPDK dataplane (a net_pcap
port replaying the capture as fast as it reads), netshare-learner live (a
DPDK secondary cutting the flows from the dataplane's rings into blocks of
five minutes of trace time and training each as it closed: the first as
the seed, the others fine-tuned from it) and netshare-control, each once
the one before was healthy. Every published block was exported through
the control daemon as IPFIX to nfcapd, as many synthetic flows as the
block captured, and the run ended with the exported flows (read back with
nfdump) scored against the captured ones beside the independent-marginals
baseline (step 2's table), then stopped everything in order. The
captured flows equal the offline meter's (step 3); step 4 is the floor a
synthetic trace is judged against.
Outputs in $out: summary.json, offline-flows.csv, fidelity-halves.json,
plots-halves/, and appliance/: logs/ (every program's log), state/ (the
learner's blocks, checkpoints, reports), nfcapd/ (what the collector
received), eval/ (captured, exported and marginals flows),
fidelity.json, plots/ (PNG), summary.json, progress.log.
MSG
