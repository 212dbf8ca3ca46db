#!/usr/bin/env bash
# The main job: run what the appliance has so far on the embedded default
# input (Debian pathspider's real.pcap, a one-hour enterprise LAN capture):
# a summary, capture through the DPDK dataplane into header and flow
# records, the fidelity report of the flows against themselves split in
# half, GAN training and generation, and the synthetic flows' fidelity.
# Installs and builds what is missing.
set -euo pipefail
NS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/setup-deps.sh
. "$NS_ROOT/tools/setup-deps.sh"

input=${1:-$NS_ROOT/tests/data/real.pcap}
out=${NS_OUT:-$NS_ROOT/out}
bin=$NS_ROOT/build/tools

ns_install_packages
[ $# -ge 1 ] || ns_fetch_default_input
ns_reserve_hugepages
ns_build build
mkdir -p "$out"

step() { printf '\n== %s\n' "$*"; }

step "1. ingest: $input"
"$bin/netshare-convert" --summary --quiet "$input" | tee "$out/summary.json"

step "2. capture: the DPDK dataplane replays the capture through net_pcap"
# header records and flow records (active 1800 s, inactive 15 s, TCP
# FIN/RST end) come out of the dataplane's rings through netshare-ringdump,
# a secondary process; the offline meter must give the same records
"$bin/netshare-convert" --quiet "$input" "$out/offline-flows.csv"
"$bin/netshare-convert" --quiet "$input" "$out/offline-packets.pkt.csv"
if ns_dataplane_capture "$input" "$out" "$out/packets.pkt.csv" "$out/flows.csv"; then
	if cmp -s "$out/packets.pkt.csv" "$out/offline-packets.pkt.csv" &&
		cmp -s <(sort "$out/flows.csv") <(sort "$out/offline-flows.csv"); then
		echo "dataplane records equal the offline ingest's"
	else
		echo "WARNING: dataplane records differ from the offline ingest's"
	fi
else
	echo "dataplane unavailable here (root and hugepages needed); using the offline meter"
	cp "$out/offline-flows.csv" "$out/flows.csv"
	cp "$out/offline-packets.pkt.csv" "$out/packets.pkt.csv"
fi
nflows=$(($(wc -l <"$out/flows.csv") - 1))
echo "flow records: $nflows -> $out/flows.csv"
echo "packet records: $(($(wc -l <"$out/packets.pkt.csv") - 1)) -> $out/packets.pkt.csv"

step "3. split the flows in time: first half vs second half"
ns_split_halves "$out/flows.csv" "$out/flows-first-half.csv" \
	"$out/flows-second-half.csv" >/dev/null
half=$(((nflows + 1) / 2))
echo "first half: $half flows; second half: $((nflows - half)) flows"

step "4. fidelity (NetShare metrics): first half as real, second as synthetic"
"$bin/netshare-eval" --plots "$out/plots" --out-json "$out/fidelity.json" \
	"$out/flows-first-half.csv" "$out/flows-second-half.csv"

secs=${NS_TRAIN_SECONDS:-60}
step "5. train NetShare's GAN on the flows for ${secs}s, generate $nflows flows"
"$bin/netshare-train" --input "$out/flows.csv" --out "$out/model.bin" \
	--time-budget "$secs"
"$bin/netshare-generate" --model "$out/model.bin" --count "$nflows" \
	--out "$out/synthetic.csv"
"$bin/netshare-generate" --baseline marginals --input "$out/flows.csv" \
	--count "$nflows" --out "$out/marginals.csv"

step "6. fidelity of the synthetic flows and of the marginals baseline"
"$bin/netshare-eval" --plots "$out/plots-synthetic" \
	--out-json "$out/fidelity-synthetic.json" \
	"$out/flows.csv" "$out/synthetic.csv" "$out/marginals.csv"

step "done"
cat <<MSG
What ran: the pcap was summarised (above), then replayed through the DPDK
dataplane (net_pcap port, one RX lcore): every frame parsed into a
header record and metered into unidirectional NetFlow-style records, both
drained from the shared rings by netshare-ringdump and checked against
the offline ingest. The flows were split in time and the second half
scored against the first with NetShare's metrics: the floor a synthetic
trace is judged against. Then the GAN learned the flows for ${secs}s and
generated as many synthetic ones, scored against the real flows beside
the independent-marginals baseline (step 6). The control daemon and the
exporters come with later issues.
Outputs in $out: summary.json, packets.pkt.csv, flows.csv (dataplane),
offline-*.csv, dataplane.log, fidelity.json, plots/, model.bin,
synthetic.csv, marginals.csv, fidelity-synthetic.json, plots-synthetic/
(PNG).
MSG
