#!/usr/bin/env bash
# The fidelity table under differential privacy: for each private trace,
# plain training (epsilon = inf) and DP-SGD at epsilon 10, 2 and 1, naive
# (the public trace's encoder only, fresh weights) and public-pretrained
# (the public model's weights too), one block over the whole trace. The
# noise multiplier for each target epsilon is found with the accountant
# (netshare-learner privacy) for the run's sample rate and steps. Fidelity
# is NetShare's mean JSD (avg_jsd) of the block's generated flows against
# the flows held back from training, from the learner's own report.
#
# usage: tools/privacy-table.sh [--iterations N] [--out DIR]
set -euo pipefail
NS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${NS_BUILD_DIR:-$NS_ROOT/build}
DATA=${NS_SHARED_DATA:-$NS_ROOT/../shared/data}
ITER=600
OUT=$NS_ROOT/out/privacy-table
while [ $# -gt 0 ]; do
	case $1 in
	--iterations) ITER=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "privacy-table: unknown option $1" >&2; exit 2 ;;
	esac
done
LEARNER=$BIN/learner/daemon/netshare-learner
TRAIN=$BIN/tools/netshare-train
CONVERT=$BIN/tools/netshare-convert
for b in "$LEARNER" "$TRAIN" "$CONVERT"; do
	[ -x "$b" ] || { echo "privacy-table: $b missing (build first)" >&2; exit 1; }
done
mkdir -p "$OUT"

# private trace | public trace (same kind of network)
PAIRS=(
	"$NS_ROOT/tests/data/real.pcap|$DATA/pcap/iot23-honeypot4-hue.pcap"
	"$DATA/netflow/iot23-honeypot5-echo.conn.log.labeled|$DATA/netflow/iot23-honeypot4-hue.conn.log.labeled"
)
DELTA=1e-5
BATCH=100
D_ROUNDS=3
COUNT_NOISE=10

config() { # $1 file, $2 dp (0/1), $3 noise
	cat >"$1" <<JSON
{"encoding": {"max_flow_len": 50},
 "model": {"iterations": $ITER, "batch": $BATCH, "d_rounds": $D_ROUNDS},
 "privacy": {"enabled": $2, "noise_multiplier": $3, "clip": 1,
             "delta": $DELTA, "count_noise": $COUNT_NOISE},
 "continuous": {"block_seconds": 10000000, "fine_tune_fraction": 1,
                "workers": 1, "blas_threads": 2, "holdout": 0.2}}
JSON
}

# the noise multiplier whose epsilon (steps on q, one count release) is $3
sigma_for() { # $1 q, $2 steps, $3 epsilon
	/usr/bin/python3 - "$LEARNER" "$1" "$2" "$3" "$DELTA" "$COUNT_NOISE" <<'PY'
import json, subprocess, sys
learner, q, steps, target, delta, cn = sys.argv[1:]
def eps(s):
    r = subprocess.run([learner, "privacy", "--noise", repr(s),
                        "--sample-rate", q, "--steps", steps, "--delta",
                        delta, "--count-releases", "1", "--count-noise", cn,
                        "--json"], capture_output=True, text=True, check=True)
    e = json.loads(r.stdout)["epsilon"]
    return float("inf") if e is None else e
lo, hi = 0.05, 1000.0
for _ in range(60):
    mid = (lo * hi) ** 0.5
    if eps(mid) > float(target):
        lo = mid
    else:
        hi = mid
print(f"{hi:.6g}")
PY
}

report() { # $1 state dir: "avg_jsd epsilon"
	/usr/bin/python3 - "$1" <<'PY'
import glob, json, sys
r = json.load(open(sorted(glob.glob(sys.argv[1] + "/reports/*.json"))[-1]))
e = r.get("epsilon_block")
print(f"{r['metrics']['avg_jsd']:.4f} {'inf' if e is None else f'{e:.2f}'}")
PY
}

table=$OUT/table.md
{
	echo "| private (public) | flows | ε | σ | naive DP avg_jsd (ε) | public-pretrained avg_jsd (ε) |"
	echo "|---|---|---|---|---|---|"
} >"$table"
for pair in "${PAIRS[@]}"; do
	priv=${pair%%|*} pub=${pair##*|}
	name=$(basename "$priv")
	[ -r "$priv" ] && [ -r "$pub" ] || { echo "skip $name: missing input" >&2; continue; }
	dir=$OUT/$name
	rm -rf "$dir" && mkdir -p "$dir"
	config "$dir/plain.json" 0 1
	echo "== $name: public model from $(basename "$pub")" >&2
	pubin=$pub
	case $pub in *.pcap | *.pcapng) # the learner learns flows: meter it
		pubin=$dir/public-flows.csv
		"$CONVERT" -q "$pub" "$pubin" ;;
	esac
	"$TRAIN" --input "$pubin" --out "$dir/public.bin" --config "$dir/plain.json" -q
	echo "== $name: plain (epsilon inf)" >&2
	"$LEARNER" run --state "$dir/inf" --input "$priv" --config "$dir/plain.json" \
		--public "$dir/public.bin" -q
	flows=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["blocks"][0]["flows"])' "$dir/inf/state.json")
	"$LEARNER" run --state "$dir/naive-inf" --input "$priv" \
		--config "$dir/plain.json" --public "$dir/public.bin" \
		--public-init encoder -q
	read -r jsd_inf _ <<<"$(report "$dir/inf")"
	read -r jsd_ninf _ <<<"$(report "$dir/naive-inf")"
	echo "| $name ($(basename "$pub")) | $flows | ∞ | 0 | $jsd_ninf | $jsd_inf |" >>"$table"
	q=$(/usr/bin/python3 -c "print(min(1.0, $BATCH / $flows))")
	steps=$((ITER * D_ROUNDS * 2))
	for e in 10 2 1; do
		sigma=$(sigma_for "$q" "$steps" "$e")
		config "$dir/dp$e.json" 1 "$sigma"
		echo "== $name: epsilon $e (sigma $sigma, q $q, $steps steps)" >&2
		"$LEARNER" run --state "$dir/naive$e" --input "$priv" \
			--config "$dir/dp$e.json" --public "$dir/public.bin" \
			--public-init encoder -q
		"$LEARNER" run --state "$dir/pre$e" --input "$priv" \
			--config "$dir/dp$e.json" --public "$dir/public.bin" -q
		read -r jn en <<<"$(report "$dir/naive$e")"
		read -r jp ep <<<"$(report "$dir/pre$e")"
		echo "| $name | $flows | $e | $sigma | $jn ($en) | $jp ($ep) |" >>"$table"
	done
done
cat "$table"
