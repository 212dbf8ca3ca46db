#!/usr/bin/env bash
# The learner's fidelity table: for each trace, NetShare's metrics and the
# extended ones for (a) our generator after a fixed training budget, (b) the
# independent-marginals baseline, (c) the real trace's second half against
# its first half. Prints a markdown table; keeps every file under OUT.
#
#   tools/fidelity-table.sh [--budget SEC] [--out DIR] [TRACE...]
#
# Default traces: the shared ones the learner issue names plus the embedded
# default input.
set -euo pipefail
NS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/setup-deps.sh
. "$NS_ROOT/tools/setup-deps.sh"
budget=300
out=$NS_ROOT/out/fidelity
while [ $# -gt 0 ]; do
	case $1 in
	--budget) budget=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
data=${NS_SHARED_DATA:-$NS_ROOT/../shared/data}
traces=("$@")
if [ ${#traces[@]} -eq 0 ]; then
	traces=("$data/netflow/ugr16-small.csv" "$data/pcap/caida-small.pcapng"
		"$data/pcap-csv/caida-10k.csv" "$data/pcap/iot23-honeypot4-hue.pcap"
		"$NS_ROOT/tests/data/real.pcap")
fi
bin=$NS_ROOT/build/tools
mkdir -p "$out"

# split FILE DIR: NetShare CSV of FILE (packets or flows) and its halves
split_halves() {
	local f=$1 dir=$2 kind csv
	kind=$("$bin/netshare-convert" --summary -q "$f" 2>/dev/null |
		/usr/bin/python3 -c 'import json,sys; print("pkt" if "ip_packets" in json.load(sys.stdin) else "flow")')
	if [ "$kind" = pkt ]; then csv=$dir/real.pkt.csv; else csv=$dir/real.csv; fi
	"$bin/netshare-convert" -q "$f" "$csv" 2>/dev/null
	local n
	n=$(ns_split_halves "$csv" "$dir/first-half.csv" \
		"$dir/second-half.csv")
	echo "$csv $n"
}

summary=$out/table.md
: >"$summary"
for f in "${traces[@]}"; do
	[ -r "$f" ] || { echo "skip $f: not readable" >&2; continue; }
	name=$(basename "$f")
	dir=$out/${name%.*}
	mkdir -p "$dir"
	read -r csv n < <(split_halves "$f" "$dir")
	echo "== $name: $n records; training for ${budget}s" >&2
	"$bin/netshare-train" --input "$csv" --out "$dir/model.bin" \
		--time-budget "$budget" -q 2>"$dir/train.log"
	"$bin/netshare-generate" --model "$dir/model.bin" --count "$n" \
		--out "$dir/netshare.csv" -q
	"$bin/netshare-generate" --baseline marginals --input "$csv" \
		--count "$n" --out "$dir/marginals.csv" -q
	"$bin/netshare-eval" --json --out-json "$dir/eval.json" \
		--plots "$dir/plots" \
		"$csv" "$dir/netshare.csv" "$dir/marginals.csv" >/dev/null
	"$bin/netshare-eval" --json --out-json "$dir/halves.json" \
		"$dir/first-half.csv" "$dir/second-half.csv" >/dev/null
	/usr/bin/python3 - "$name" "$dir" "$budget" >>"$summary" <<'PY'
import json, sys
name, d, budget = sys.argv[1], sys.argv[2], sys.argv[3]
ev = json.load(open(d + "/eval.json"))
hv = json.load(open(d + "/halves.json"))
syn = ev["synthetic"]
cols = [("NetShare (%ss)" % budget, ev["metrics"][syn[0]]),
        ("marginals", ev["metrics"][syn[1]]),
        ("real halves", list(hv["metrics"].values())[0])]
keys = [k for k in cols[0][1] if k not in ("avg_norm_emd",)]
def fmt(v):
    return "-" if v is None else ("%.4g" % v)
print("\n### %s (%s)\n" % (name, ev["mode"]))
print("| metric | " + " | ".join(c[0] for c in cols) + " |")
print("|---|" + "---|" * len(cols))
for k in keys:
    print("| %s | %s |" % (k, " | ".join(fmt(c[1].get(k)) for c in cols)))
PY
	echo "   done: $dir" >&2
done
cat "$summary"
