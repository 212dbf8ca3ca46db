#!/usr/bin/env bash
# The appliance's supervisor. It starts netshare-dataplane (capture),
# netshare-learner live (training blocks as they close) and
# netshare-control (export), in that order, each only once the one before
# is healthy; watches them; exports every block the learner publishes as
# synthetic NetFlow to the collector (a local nfcapd it starts when the
# config asks for one); stops them cleanly; and, at the end of a run,
# scores the exported flows, read back from nfcapd, against the captured
# ones beside the independent-marginals baseline.
#
#   netshare-appliance.sh run      [options]  in the foreground; Ctrl-C stops
#   netshare-appliance.sh start    [options]  the same in the background
#   netshare-appliance.sh stop     [options]
#   netshare-appliance.sh status   [options]
#   netshare-appliance.sh evaluate [options]  the fidelity of a finished run
#
# Options:
#   --config FILE    the appliance config (default configs/appliance-demo.json)
#   --build DIR      the build whose binaries run (default $NS_BUILD_ROOT,
#                    else build/ beside this script, else $PATH)
#   --run-dir DIR    overrides the config's run_dir
#   --capture MODE   overrides the config's capture: dataplane or offline
#   --fresh          run/start: remove the run directory first
#   --no-evaluate    run: skip the fidelity report at the end
#   -q, --quiet      no progress lines
#   -h, --help       this text
#
# Exit status: 0 done (or stopped on request), 1 a failure (the message
# names the program and its log), 2 usage, 3 status: not running.
set -euo pipefail

PROG=netshare-appliance
NS_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)

say() { printf '%s\n' "$*"; }
err() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
	err "$*"
	exit 1
}
usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

# ---------------------------------------------------------------- config

CONFIG=$NS_ROOT/configs/appliance-demo.json
BUILD=${NS_BUILD_ROOT:-}
RUN_OVERRIDE="" CAPTURE_OVERRIDE="" FRESH=0 NO_EVAL=0 QUIET=0

# Relative paths in the config are relative to the repository root (the
# directory above tools/), where the children also run.
abspath() {
	case $1 in
	"" | /*) printf '%s' "$1" ;;
	*) printf '%s' "$NS_ROOT/$1" ;;
	esac
}

# cfg FILTER DEFAULT TYPE: one field of the config, type-checked.
cfg() {
	local v
	v=$(jq -r --arg d "$2" --arg t "$3" \
		"($1) as \$v | if \$v == null then \$d
		 elif (\$v | type) == \$t then \$v else error(\"type\") end" \
		"$CONFIG" 2>/dev/null) ||
		die "config $CONFIG: ${1#.} must be a $3"
	printf '%s' "$v"
}

load_config() {
	command -v jq >/dev/null || die "jq is not installed (Debian package jq)"
	[ -f "$CONFIG" ] || die "config $CONFIG: no such file"
	local e
	e=$(jq -e 'type == "object"' "$CONFIG" 2>&1 >/dev/null) ||
		die "config $CONFIG: not a JSON object${e:+: $e}"
	# every name known, so a misspelt one is refused, not ignored
	local unknown
	unknown=$(jq -r '
	  {"": ["run_dir", "state_dir", "file_prefix", "capture",
		"offline_input", "dataplane", "learner", "control",
		"collector", "export_blocks", "evaluate", "progress_s"],
	   "dataplane": ["config", "lcores", "eal"],
	   "learner": ["config", "kind", "grace", "workers", "iterations",
		       "public", "block_time_budget", "lcores"],
	   "control": ["config", "export_rate", "wall_clock"],
	   "collector": ["host", "port", "version", "nfcapd"]} as $a
	  | (keys[] | select(startswith("_") | not)
	     | select(. as $k | $a[""] | index($k) | not)),
	    (to_entries[] | select(.key | startswith("_") | not)
	     | select(.value | type == "object") | .key as $s
	     | .value | keys[] | select(startswith("_") | not)
	     | select(. as $k | ($a[$s] // []) | index($k) | not)
	     | "\($s).\(.)")' "$CONFIG" | tr '\n' ' ')
	[ -z "$unknown" ] || die "config $CONFIG: unknown field(s): $unknown"

	RUN=$(abspath "${RUN_OVERRIDE:-$(cfg .run_dir out/appliance string)}")
	STATE=$(abspath "$(cfg .state_dir "" string)")
	STATE=${STATE:-$RUN/state}
	PREFIX=$(cfg .file_prefix nsapp string)
	CAPTURE=${CAPTURE_OVERRIDE:-$(cfg .capture dataplane string)}
	case $CAPTURE in
	dataplane | offline) ;;
	*) die "config $CONFIG: capture must be \"dataplane\" or \"offline\"" ;;
	esac
	OFFLINE_INPUT=$(abspath "$(cfg .offline_input "" string)")
	DP_CONFIG=$(abspath "$(cfg .dataplane.config "" string)")
	DP_LCORES=$(cfg .dataplane.lcores 0-1 string)
	local eal
	eal=$(jq -r '.dataplane.eal // ["--no-pci",
		"--base-virtaddr=0x200000000000", "--log-level=lib.eal:error"]
		| if type == "array" and all(type == "string") then .[]
		  else error("type") end' "$CONFIG" 2>/dev/null) ||
		die "config $CONFIG: dataplane.eal must be an array of strings"
	mapfile -t DP_EAL <<<"$eal"
	LRN_CONFIG=$(abspath "$(cfg .learner.config "" string)")
	LRN_KIND=$(cfg .learner.kind flows string)
	LRN_GRACE=$(cfg .learner.grace 60 number)
	LRN_WORKERS=$(cfg .learner.workers 0 number)
	LRN_ITERATIONS=$(cfg .learner.iterations 0 number)
	LRN_PUBLIC=$(abspath "$(cfg .learner.public "" string)")
	LRN_BUDGET=$(cfg .learner.block_time_budget 0 number)
	# EAL pins a process's main thread to its lcore, and the training
	# threads inherit that: give the learner's lcore every CPU
	LRN_LCORES=$(cfg .learner.lcores "0@(0-$(($(nproc) - 1)))" string)
	CTL_BASE=$(abspath "$(cfg .control.config configs/control-default.json string)")
	EXPORT_RATE=$(cfg .control.export_rate 20000 number)
	WALL_CLOCK=$(cfg .control.wall_clock false boolean)
	COL_HOST=$(cfg .collector.host 127.0.0.1 string)
	COL_PORT=$(cfg .collector.port 9995 number)
	COL_VERSION=$(cfg .collector.version 10 number)
	COL_NFCAPD=$(cfg .collector.nfcapd true boolean)
	EXPORT_BLOCKS=$(cfg .export_blocks true boolean)
	EVALUATE=$(cfg .evaluate true boolean)
	PROGRESS_S=$(cfg .progress_s 2 number)
	[ "$NO_EVAL" = 0 ] || EVALUATE=false
	[[ $PROGRESS_S =~ ^[1-9][0-9]*$ ]] ||
		die "config $CONFIG: progress_s must be a whole number of seconds"
	[ "$COL_NFCAPD" = true ] || EVALUATE=false
	case $LRN_KIND in
	flows) ;;
	packets) EXPORT_BLOCKS=false EVALUATE=false ;; # export needs flows
	*) die "config $CONFIG: learner.kind must be \"flows\" or \"packets\"" ;;
	esac
	case $COL_VERSION in 5 | 9 | 10) ;; *)
		die "config $CONFIG: collector.version must be 5, 9 or 10" ;;
	esac
	[[ $PREFIX =~ ^[A-Za-z0-9_-]+$ ]] ||
		die "config $CONFIG: file_prefix must be letters, digits, - or _"
	if [ "$CAPTURE" = dataplane ]; then
		[ -n "$DP_CONFIG" ] ||
			die "config $CONFIG: dataplane.config is required"
		[ -f "$DP_CONFIG" ] ||
			die "config $CONFIG: dataplane.config $DP_CONFIG: no such file"
	else
		[ -n "$OFFLINE_INPUT" ] ||
			die "config $CONFIG: capture offline needs offline_input"
		[ -f "$OFFLINE_INPUT" ] ||
			die "config $CONFIG: offline_input $OFFLINE_INPUT: no such file"
	fi
	for f in "$LRN_CONFIG" "$LRN_PUBLIC" "$CTL_BASE"; do
		[ -z "$f" ] || [ -f "$f" ] ||
			die "config $CONFIG: $f: no such file"
	done
	LOGS=$RUN/logs PIDS=$RUN/pids
	SOCK=ipc://$RUN/control.sock
	LSTATUS=$RUN/learner-status.json
}

# The build's binaries, else those on $PATH (an installed appliance).
find_bins() {
	local b=${BUILD:-$NS_ROOT/build}
	pick() {
		if [ -x "$b/$2/$1" ]; then
			printf '%s' "$b/$2/$1"
		elif command -v "$1" >/dev/null; then
			command -v "$1"
		else
			die "$1 not found in $b/$2 nor on PATH (build: meson setup" \
				"build && ninja -C build)"
		fi
	}
	DP=$(pick netshare-dataplane dataplane)
	LRN=$(pick netshare-learner learner/daemon)
	CTLD=$(pick netshare-control control/daemon)
	CTL=$(pick netsharectl control/daemon)
	GEN=$(pick netshare-generate tools)
	EVAL=$(pick netshare-eval tools)
	CONVERT=$(pick netshare-convert tools)
	if [ "$COL_NFCAPD" = true ]; then
		if ! command -v nfcapd >/dev/null ||
			! command -v nfdump >/dev/null; then
			die "nfcapd/nfdump are not installed (Debian package nfdump)"
		fi
	fi
	if [ "$CAPTURE" = dataplane ] &&
		! "$LRN" live --help >/dev/null 2>&1; then
		die "$LRN has no 'live' command: use --capture offline"
	fi
}

ctl() { "$CTL" --socket "$SOCK" --timeout 5000 "$@"; }

# ---------------------------------------------------------------- children

NAMES=(nfcapd dataplane learner control)
declare -A PID=() GONE=()

# start_child NAME CMD...: in the repository root, in a session of its own
# (a terminal's Ctrl-C reaches the supervisor only, which stops the
# children in order), output into logs/NAME.log.
start_child() {
	local name=$1
	shift
	(cd "$NS_ROOT" && exec setsid "$@") >"$LOGS/$name.log" 2>&1 </dev/null &
	PID[$name]=$!
	echo "${PID[$name]}" >"$PIDS/$name.pid"
}

alive() {
	local p=${PID[$1]:-}
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null
}

# Exit status of a child that is gone (ours: from wait; else unknown).
exit_status() {
	local rc=0
	wait "${PID[$1]}" 2>/dev/null || rc=$?
	echo "$rc"
}

log_tail() {
	[ -s "$LOGS/$1.log" ] || return 0
	grep -v '^TELEMETRY' "$LOGS/$1.log" | tail -n "${2:-8}" |
		sed 's/^/    | /' >&2
}

# fail [--log NAME] WHAT: the message names the program and its log (and
# shows the log's last lines); everything stops.
fail() {
	local log=""
	if [ "$1" = --log ]; then
		log=$2
		shift 2
	fi
	err "FAILED: $*${log:+; log $LOGS/$log.log}"
	[ -z "$log" ] || log_tail "$log"
	FAILED=1
	stop_all
	exit 1
}

# A stop requested (Ctrl-C, SIGTERM, `stop`) while starting up.
check_signal() {
	[ "${SIGNALS:-0}" = 0 ] && return 0
	say "== stopping on request"
	stop_all
	exit 0
}

# stop_child NAME SECONDS: SIGTERM, then SIGKILL after SECONDS.
stop_child() {
	local name=$1 limit=$2
	alive "$name" || return 0
	kill -TERM "${PID[$name]}" 2>/dev/null || true
	wait_gone "$name" "$limit" && return 0
	err "$name (pid ${PID[$name]}) did not stop in $limit s: killed"
	kill -KILL "${PID[$name]}" 2>/dev/null || true
	wait_gone "$name" 10 || true
}

wait_gone() {
	local name=$1 limit=$2 t=0
	while alive "$name"; do
		[ "$t" -lt $((limit * 10)) ] || return 1
		nap 0.1
		t=$((t + 1))
	done
}

# A sleep without a fork: a read that times out on our own fifo.
nap() { read -r -t "$1" -u "$TICK" _ 2>/dev/null || true; }

dp_stats() {
	"$DP" -l 0 --file-prefix "$PREFIX" "${DP_EAL[@]}" -- --stats --json \
		2>/dev/null
}

# ---------------------------------------------------------------- start

phase() { echo "$1" >"$RUN/phase"; }

prepare_run_dir() {
	if [ -f "$RUN/supervisor.pid" ] &&
		kill -0 "$(cat "$RUN/supervisor.pid")" 2>/dev/null &&
		[ "$(cat "$RUN/supervisor.pid")" != $$ ]; then
		die "a supervisor already runs in $RUN (pid" \
			"$(cat "$RUN/supervisor.pid")): $0 stop first"
	fi
	if [ "$FRESH" = 1 ]; then
		# only what a run made: a run directory, a learner state
		if [ -e "$RUN" ]; then
			[ -d "$RUN/logs" ] || [ -z "$(ls -A "$RUN")" ] ||
				die "--fresh: $RUN is not a run directory; not removed"
			rm -rf "$RUN"
		fi
		case $STATE in "$RUN"/*) ;; *)
			if [ -e "$STATE" ]; then
				[ -f "$STATE/state.json" ] ||
					[ -z "$(ls -A "$STATE")" ] ||
					die "--fresh: $STATE is not a learner state;" \
						"not removed"
				rm -rf "$STATE"
			fi
			;;
		esac
	fi
	mkdir -p "$RUN" "$LOGS" "$PIDS" "$RUN/captured" "$STATE"
	rm -f "$PIDS"/*.pid "$RUN/.tick" "$LSTATUS" "$RUN/exported-blocks.txt"
	echo $$ >"$RUN/supervisor.pid"
	mkfifo "$RUN/.tick"
	exec {TICK}<>"$RUN/.tick"
}

need_hugepages() {
	local have
	have=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
	if [ "$have" -lt 64 ] && [ "$(id -u)" = 0 ]; then
		echo 512 >/proc/sys/vm/nr_hugepages 2>/dev/null || true
		have=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
	fi
	[ "$have" -ge 64 ] || die "the dataplane needs hugepages: echo 512 >" \
		"/proc/sys/vm/nr_hugepages (as root), or --capture offline"
	grep -qs ' /dev/hugepages hugetlbfs' /proc/mounts ||
		{ mkdir -p /dev/hugepages &&
			mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null; } ||
		die "hugetlbfs is not mounted on /dev/hugepages"
	[ "$(id -u)" = 0 ] || die "the dataplane needs root here (DPDK)"
}

port_bound() { [ -n "$(ss -Hlun "sport = :$1" 2>/dev/null)" ]; }

start_nfcapd() {
	! port_bound "$COL_PORT" ||
		die "collector port $COL_PORT is in use (collector.port)"
	mkdir -p "$RUN/nfcapd"
	start_child nfcapd nfcapd -b "$COL_HOST" -p "$COL_PORT" \
		-w "$RUN/nfcapd" -t 3600 -B 16777216
	local t=0
	until port_bound "$COL_PORT"; do
		check_signal
		alive nfcapd || fail --log nfcapd "nfcapd exited at start" \
			"(status $(exit_status nfcapd))"
		[ $t -lt 100 ] || fail --log nfcapd "nfcapd did not bind" \
			"$COL_HOST:$COL_PORT in 10 s"
		nap 0.1
		t=$((t + 1))
	done
	say "collector: nfcapd on $COL_HOST:$COL_PORT (pid ${PID[nfcapd]}," \
		"files in $RUN/nfcapd)"
}

# How fast net_pcap reads a capture: the file offset of the dataplane's
# descriptor on it (/proc/PID/fdinfo), sampled every millisecond without
# forking. Writes "last-unmoved-time first-moved-time end-time" (seconds)
# into capture-read.txt; nothing when the file was read before the
# sampler found the descriptor.
read_meter() {
	local pid=$1 file=$2 fd="" f pos p0="" t_still="" t_moved="" now size
	size=$(stat -L -c %s "$file")
	while kill -0 "$pid" 2>/dev/null; do
		if [ -z "$fd" ]; then
			for f in "/proc/$pid/fd/"*; do
				if [ "$f" -ef "$file" ]; then
					fd=${f##*/}
					break
				fi
			done
			[ -n "$fd" ] || { nap 0.001 && continue; }
		fi
		{ read -r _ pos <"/proc/$pid/fdinfo/$fd"; } 2>/dev/null || return 0
		now=$EPOCHREALTIME
		p0=${p0:-$pos}
		if [ "$pos" = "$p0" ]; then
			t_still=$now
		elif [ -z "$t_moved" ]; then
			t_moved=$now
		fi
		if [ "$pos" -ge "$size" ]; then
			[ -z "$t_still" ] || [ -z "$t_moved" ] ||
				echo "$t_still $t_moved $now" >"$RUN/capture-read.txt"
			return 0
		fi
		nap 0.001
	done
}

start_dataplane() {
	need_hugepages
	rm -f "/dev/hugepages/${PREFIX}map_"* 2>/dev/null || true
	rm -rf "/var/run/dpdk/$PREFIX"
	start_child dataplane "$DP" -l "$DP_LCORES" --file-prefix "$PREFIX" \
		"${DP_EAL[@]}" -- --config "$DP_CONFIG"
	# a pcap port: measure how fast it is read (the time compression)
	local pcap
	pcap=$(jq -r '[.ports[]?.devargs // "" | capture("rx_pcap=(?<f>[^,]+)")
		.f] | first // ""' "$DP_CONFIG" 2>/dev/null || true)
	if [ -n "$pcap" ]; then
		pcap=$(cd "$NS_ROOT" && readlink -f "$pcap") || pcap=""
		[ -z "$pcap" ] || read_meter "${PID[dataplane]}" "$pcap" &
		METER=$!
	fi
	local t=0 st state=""
	while :; do
		check_signal
		alive dataplane || fail --log dataplane "the dataplane exited" \
			"at start (status $(exit_status dataplane))"
		if st=$(dp_stats); then
			state=$(jq -r .state <<<"$st")
			[ "$state" = starting ] || break
		fi
		[ $t -lt 600 ] || fail --log dataplane "the dataplane did not" \
			"come up in 60 s (state ${state:-unknown})"
		nap 0.1
		t=$((t + 1))
	done
	say "dataplane: $state (pid ${PID[dataplane]}, --file-prefix $PREFIX," \
		"config $DP_CONFIG)"
}

learner_opts() {
	LOPTS=(--state "$STATE" --kind "$LRN_KIND" --status "$LSTATUS")
	[ -z "$LRN_CONFIG" ] || LOPTS+=(--config "$LRN_CONFIG")
	[ -z "$LRN_PUBLIC" ] || LOPTS+=(--public "$LRN_PUBLIC")
	[ "$LRN_WORKERS" = 0 ] || LOPTS+=(--workers "$LRN_WORKERS")
	[ "$LRN_ITERATIONS" = 0 ] || LOPTS+=(--iterations "$LRN_ITERATIONS")
	[ "$LRN_BUDGET" = 0 ] || LOPTS+=(--block-time-budget "$LRN_BUDGET")
}

start_learner() {
	learner_opts
	if [ "$CAPTURE" = dataplane ]; then
		start_child learner "$LRN" live --lcores "$LRN_LCORES" \
			--file-prefix "$PREFIX" "${DP_EAL[@]}" -- "${LOPTS[@]}" \
			--grace "$LRN_GRACE"
	else
		start_child learner "$LRN" run --input "$OFFLINE_INPUT" \
			"${LOPTS[@]}"
	fi
	# its status file appears once it has attached (and every 2 s after)
	local t=0
	until [ -s "$LSTATUS" ]; do
		check_signal
		if ! alive learner; then
			GONE[learner]=$(exit_status learner)
			[ "${GONE[learner]}" = 0 ] && [ -s "$STATE/state.json" ] &&
				break
			fail --log learner "the learner exited at start (status" \
				"${GONE[learner]})"
		fi
		[ $t -lt 1200 ] || fail --log learner "the learner wrote no" \
			"status in 120 s"
		nap 0.1
		t=$((t + 1))
	done
	say "learner: ${CAPTURE/dataplane/live} (pid ${PID[learner]}, state" \
		"$STATE, status $LSTATUS)"
}

start_control() {
	local conf=$RUN/control.json
	jq --arg sock "$SOCK" --arg models "$STATE/models" \
		--arg status "$LSTATUS" --arg pfx "$PREFIX" --arg dp "$DP" \
		--arg col "$COL_HOST:$COL_PORT" --argjson ver "$COL_VERSION" \
		--argjson rate "$EXPORT_RATE" --argjson wall "$WALL_CLOCK" \
		'. + {socket: $sock, models_dir: $models, learner_status: $status,
		      dataplane_prefix: $pfx, dataplane_bin: $dp,
		      exporters: [{collector: $col, version: $ver}],
		      export_rate: $rate, wall_clock: $wall,
		      export_model: "latest", export_flows: "", export_limit: 0,
		      export_loop: false, ipfix_seq_flows: ($ver == 10)}' \
		"$CTL_BASE" >"$conf" ||
		die "control.config $CTL_BASE: not a JSON object"
	"$CTLD" --config "$conf" --check >"$LOGS/control-check.log" 2>&1 ||
		fail --log control-check "the control config $conf is refused"
	start_child control "$CTLD" --config "$conf"
	local t=0
	until ctl status >/dev/null 2>&1; do
		check_signal
		alive control || fail --log control "the control daemon exited" \
			"at start (status $(exit_status control))"
		[ $t -lt 150 ] || fail --log control "the control daemon did" \
			"not answer on $SOCK in 15 s"
		nap 0.1
		t=$((t + 1))
	done
	say "control: netshare-control (pid ${PID[control]}, socket $SOCK," \
		"exporting to $COL_HOST:$COL_PORT as v$COL_VERSION)"
}

# The learner spools each captured block under state/blocks/ until it is
# trained (learner/daemon/lrn_state.h); a hard link keeps a copy of what
# was captured, for the fidelity report. Polled every 20 ms: a block
# lives there for its whole training.
watch_blocks() {
	local f b
	while [ ! -e "$RUN/.watch-stop" ]; do
		for f in "$STATE"/blocks/block-*.csv; do
			[ -e "$f" ] || continue
			b=${f##*/}
			[ -e "$RUN/captured/$b" ] ||
				ln "$f" "$RUN/captured/$b" 2>/dev/null ||
				cp "$f" "$RUN/captured/$b" 2>/dev/null || true
		done
		nap 0.02
	done
}

# ---------------------------------------------------------------- stop

# Reverse order, with one step moved forward so that nothing captured is
# lost: the control daemon first; then the dataplane stops capturing and
# flushes its open flows into the rings; the learner drains them, is
# stopped (it spools what it holds; a rerun with the same state trains
# it) and the dataplane exits once its rings are drained; nfcapd last
# (it writes its file on SIGTERM).
stop_all() {
	STOPPING=1
	phase stopping
	if alive control; then
		ctl export stop >/dev/null 2>&1 || true
		stop_child control 15
	fi
	if alive dataplane; then
		kill -TERM "${PID[dataplane]}" 2>/dev/null || true
		local t=0 st
		while alive learner && alive dataplane && [ $t -lt 30 ]; do
			st=$(dp_stats) || break
			[ "$(jq -r '.state' <<<"$st")" = stopped ] &&
				[ "$(jq -r '.total.flow_ring_used' <<<"$st")" = 0 ] &&
				break
			nap 0.5
			t=$((t + 1))
		done
	fi
	if alive learner; then
		say "stopping the learner (blocks not trained stay in $STATE)"
		stop_child learner 180
	fi
	stop_child dataplane 120
	stop_child nfcapd 30
	touch "$RUN/.watch-stop"
	[ -z "${WATCHER:-}" ] || wait "$WATCHER" 2>/dev/null || true
	[ -z "${METER:-}" ] || kill "$METER" 2>/dev/null || true
	if [ "$CAPTURE" = dataplane ]; then
		rm -f "/dev/hugepages/${PREFIX}map_"* 2>/dev/null || true
		rm -rf "/var/run/dpdk/$PREFIX"
	fi
	rm -f "$PIDS"/*.pid
}

on_signal() {
	SIGNALS=$((SIGNALS + 1))
	if [ "${STOPPING:-0}" = 1 ] && [ "$SIGNALS" -ge 2 ]; then
		err "second signal while stopping: killing every child"
		for n in "${NAMES[@]}"; do
			if alive "$n"; then
				kill -KILL "${PID[$n]}" 2>/dev/null || true
			fi
		done
	fi
}

on_exit() {
	local rc=$?
	# an unexpected exit (a bug, set -e) must not leave children behind
	if [ "${STOPPING:-0}" = 0 ]; then
		for n in "${NAMES[@]}"; do
			if alive "$n"; then
				err "exiting (status $rc) with children running:" \
					"stopping them"
				stop_all
				break
			fi
		done
	fi
	if [ "${FAILED:-0}" != 0 ] || [ "$rc" != 0 ]; then
		phase failed
	elif [ "${SIGNALS:-0}" != 0 ]; then
		phase stopped
	else
		phase "done"
	fi
	rm -f "$RUN/supervisor.pid" "$RUN/.tick" "$RUN/.watch-stop"
}

# ---------------------------------------------------------------- watch

EX_CUR="" EX_LEFT=0 EX_SENT=0 EX_TOTAL=0 EX_BLOCKS=0
# The daemon generates a model's flows 2000 at a time (MODEL_BATCH in
# control/daemon/ctl_export.c) and moves every batch after the first past
# the end of the one before; an export of at most one batch keeps the
# block's own times.
EX_BATCH=2000

# Each trained block, in publication order, exported once: as many
# synthetic flows from its checkpoint as the block captured, in exports of
# one model batch each.
export_step() {
	local stats=$1 state
	state=$(jq -r '.result.export.state' <<<"$stats")
	if [ -n "$EX_CUR" ]; then
		case $state in
		running) return 0 ;;
		finished)
			local n
			n=$(jq -r '.result.export.records_in' <<<"$stats")
			EX_TOTAL=$((EX_TOTAL + n))
			EX_SENT=$((EX_SENT + n))
			EX_LEFT=$((EX_LEFT - n))
			if [ "$EX_LEFT" -gt 0 ] && [ "$n" -gt 0 ]; then
				export_start "$EX_CUR"
				return 0
			fi
			EX_BLOCKS=$((EX_BLOCKS + 1))
			echo "$EX_CUR $EX_SENT" >>"$RUN/exported-blocks.txt"
			EX_CUR=""
			;;
		*)
			fail --log control "the export of block $EX_CUR ended" \
				"$state: $(jq -r '.result.export.last_error // ""' \
					<<<"$stats")"
			;;
		esac
	fi
	[ -s "$STATE/state.json" ] || return 0
	local line idx recs
	line=$(jq -r '[.blocks[] | select(.status == "trained")]
		| sort_by(.version) | .[] | "\(.index) \(.records)"' \
		"$STATE/state.json" 2>/dev/null |
		while read -r idx recs; do
			grep -qs "^$idx " "$RUN/exported-blocks.txt" ||
				{ echo "$idx $recs" && break; }
		done) || true
	[ -n "$line" ] || return 0
	read -r idx recs <<<"$line"
	if [ "$recs" -le 0 ]; then # nothing captured: nothing to export
		echo "$idx 0" >>"$RUN/exported-blocks.txt"
		EX_BLOCKS=$((EX_BLOCKS + 1))
		return 0
	fi
	EX_CUR=$idx EX_LEFT=$recs EX_SENT=0
	export_start "$idx"
}

export_start() {
	local model n=$((EX_LEFT < EX_BATCH ? EX_LEFT : EX_BATCH))
	model=$(printf 'block-%010d.ckpt' "$1")
	if ! ctl config set export_model "$model" >/dev/null ||
		! ctl config set export_limit "$n" >/dev/null ||
		! ctl export start >/dev/null 2>"$RUN/export-start.err"; then
		fail --log control "cannot start the export of $model:" \
			"$(cat "$RUN/export-start.err" 2>/dev/null)"
	fi
}

usec() { local t=${EPOCHREALTIME//[.,]/}; echo $((10#$t)); }
elapsed() { echo $((($(usec) - T0) / 1000000)); }

progress() {
	local stats=$1 dp lr ex
	dp=$(jq -r '.result.dataplane | if .counters then .counters.total as $t
		| "\(.counters.state), \($t.rx) frames, " +
		  "\($t.flows_expired + $t.flows_evicted + $t.flows_flushed) " +
		  "flows, \($t.pkt_ring_drops + $t.flow_ring_drops) ring drops"
		else .state end' <<<"$stats" 2>/dev/null || echo ?)
	if [ "$CAPTURE" = offline ]; then
		dp="offline ($OFFLINE_INPUT)"
	elif [ -n "${GONE[dataplane]:-}" ]; then
		dp="done (exit ${GONE[dataplane]})"
	fi
	lr=$(jq -r '.result.learner.progress // {}
		| ((.blocks_captured // 0) + (.blocks_trained // 0)
		   + (.blocks_skipped // 0)) as $seen
		| "\(.state // "-"), \(.records_in // "-") records in" +
		  (if (.late_records // 0) > 0 then " (\(.late_records) late)"
		   else "" end) + ", " +
		  "\($seen) blocks (\(.blocks_trained // 0) trained, " +
		  "\(.blocks_skipped // 0) skipped)" +
		  ([.workers[]? | select(.block != null)
		    | " [block \(.block) it \(.iteration)]"] | join("")) +
		  ", ε " + (if .epsilon == null then "- (no DP)"
			   else (.epsilon * 1000 | round / 1000 | tostring)
			   end)' <<<"$stats" 2>/dev/null || echo ?)
	ex="$EX_TOTAL records from $EX_BLOCKS blocks"
	[ -z "$EX_CUR" ] || ex+=", block $EX_CUR exporting"
	say "[$(printf '%4s' "$(elapsed)") s] capture: $dp | learner: $lr |" \
		"exported: $ex"
}

watch() {
	local next_progress=0 fails=0 stats
	while :; do
		[ "${SIGNALS:-0}" = 0 ] || return 0
		for n in nfcapd dataplane learner control; do
			if [ -z "${PID[$n]:-}" ] || [ -n "${GONE[$n]:-}" ]; then
				continue
			fi
			alive "$n" && continue
			GONE[$n]=$(exit_status "$n")
			case $n:${GONE[$n]} in
			dataplane:0) say "dataplane: capture ended (exit 0)" ;;
			learner:0) say "learner: every block trained (exit 0)" ;;
			*) fail --log "$n" "$n exited with status ${GONE[$n]}" ;;
			esac
		done
		if stats=$(ctl --json stats 2>/dev/null); then
			fails=0
			[ "$EXPORT_BLOCKS" = false ] || export_step "$stats"
			if [ "$QUIET" = 0 ] && [ "$(elapsed)" -ge $next_progress ]; then
				progress "$stats" | tee -a "$RUN/progress.log"
				next_progress=$(($(elapsed) + PROGRESS_S))
			fi
		else
			fails=$((fails + 1))
			[ $fails -lt 5 ] || fail --log control "the control daemon" \
				"stopped answering on $SOCK"
		fi
		# done: the learner has trained everything and every trained
		# block is exported
		if [ -n "${GONE[learner]:-}" ] && [ -z "$EX_CUR" ]; then
			if [ "$EXPORT_BLOCKS" = false ] || [ "$(jq '[.blocks[] |
				select(.status == "trained")] | length' \
				"$STATE/state.json")" -le "$EX_BLOCKS" ]; then
				return 0
			fi
		fi
		if [ -n "$EX_CUR" ]; then nap 0.2; else nap 1; fi
	done
}

# ---------------------------------------------------------------- evaluate

# nfdump's JSON (millisecond times; its CSV has whole seconds) as a
# NetShare flow CSV. ICMP type and code go into the ports, as our readers
# keep them.
nfdump_to_csv() {
	TZ=UTC nfdump -R "$1" -o json 2>/dev/null | jq -r '
	  def ms(t): (t[0:19] + "Z" | fromdateiso8601) * 1000
	    + (t[20:23] | if . == "" then 0 else tonumber end);
	  "srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type",
	  (.[]? | select(.type == "FLOW")
	   | (if (.proto == 1 or .proto == 58) then
		(if .icmp_type != null then [.icmp_type, .icmp_code]
		 else [(.dst_port / 256 | floor), (.dst_port % 256)] end)
	      else [.src_port, .dst_port] end) as $p
	   | [(.src4_addr // .src6_addr), (.dst4_addr // .dst6_addr),
	      $p[0], $p[1], .proto, (ms(.first) * 1000),
	      ((ms(.last) - ms(.first)) / 1000), .in_packets, .in_bytes, ""]
	   | map(tostring) | join(","))'
}

# Exported records equal to a captured one on every field NetFlow carries,
# at its precision: 5-tuple, start and end in milliseconds, packets,
# bytes. (exact_record_share compares microseconds, which an exported
# copy of a captured flow no longer has.) Both files in one form first.
ms_copies() {
	local ev=$1
	"$CONVERT" -q "$ev/exported.csv" "$ev/exported.canon.csv" ||
		die "evaluate: netshare-convert $ev/exported.csv failed"
	awk -F, 'FNR == 1 { next }
		{ first = $6 + 0; last = first + sprintf("%.0f", $7 * 1e6)
		  k = sprintf("%s,%s,%s,%s,%s,%.0f,%.0f,%s,%s", $1, $2, $3,
			$4, $5, (first - first % 1000) / 1000,
			(last - last % 1000) / 1000, $8, $9) }
		NR == FNR { real[k] = 1; next }
		k in real { n++ }
		END { print n + 0 }' "$ev/captured.csv" "$ev/exported.canon.csv"
}

# Captured blocks in one CSV (one header).
concat_csv() {
	local out=$1 first=1 f
	shift
	: >"$out"
	for f in "$@"; do
		if [ $first = 1 ]; then
			cat "$f" >>"$out"
			first=0
		else
			tail -n +2 "$f" >>"$out"
		fi
	done
}

evaluate() {
	local ev=$RUN/eval
	mkdir -p "$ev"
	shopt -s nullglob
	local blocks=("$RUN"/captured/block-*.csv)
	shopt -u nullglob
	[ ${#blocks[@]} -gt 0 ] ||
		die "evaluate: no captured blocks in $RUN/captured"
	[ -d "$RUN/nfcapd" ] || die "evaluate: no nfcapd files in $RUN/nfcapd"
	concat_csv "$ev/captured.csv" "${blocks[@]}"
	nfdump_to_csv "$RUN/nfcapd" >"$ev/exported.csv" ||
		die "evaluate: nfdump could not read $RUN/nfcapd"
	local ncap nexp
	ncap=$(($(wc -l <"$ev/captured.csv") - 1))
	nexp=$(($(wc -l <"$ev/exported.csv") - 1))
	[ "$nexp" -gt 0 ] || die "evaluate: nfcapd received no flows"
	"$GEN" --baseline marginals --input "$ev/captured.csv" --count "$nexp" \
		--out "$ev/marginals.csv" -q ||
		die "evaluate: netshare-generate --baseline marginals failed"
	say ""
	say "== fidelity: $nexp exported flows (read back from nfcapd) and" \
		"as many from the marginals baseline, against the $ncap captured"
	"$EVAL" -q --plots "$RUN/plots" --out-json "$RUN/fidelity.json" \
		"$ev/captured.csv" "$ev/exported.csv" "$ev/marginals.csv" ||
		die "evaluate: netshare-eval failed"
	say ""
	say "Joint flow metrics (lower is better; independent columns cannot" \
		"get these right):"
	jq -r --arg s "$ev/exported.csv" --arg m "$ev/marginals.csv" '
	  .metrics[$s] as $a | .metrics[$m] as $b
	  | ("bytes_per_packet", "interarrival_within_flow",
	     "proto_dstport_jsd")
	  | [., $a[.] // "nan", $b[.] // "nan"] | @tsv' "$RUN/fidelity.json" |
		awk -F'\t' '{ v = "baseline better"
			if ($2 == "nan" || $3 == "nan") v = "undefined"
			else if ($2 + 0 < $3 + 0) v = "model better"
			printf "  %-26s exported %-12.6g marginals %-12.6g %s\n",
			$1, $2, $3, v }'
	jq -r --arg s "$ev/exported.csv" '"Privacy: exact_record_share " +
	  (.metrics[$s].exact_record_share | tostring) +
	  " (exported records equal to a captured one), five_tuple_share " +
	  (.metrics[$s].five_tuple_share | tostring)' "$RUN/fidelity.json"
	say "  exported records equal to a captured one at NetFlow's" \
		"millisecond precision: $(ms_copies "$ev")"
	# how much trace time went through per wall second
	local span rd=""
	span=$(awk -F, 'NR > 1 { e = $6 + $7 * 1e6
		if (min == "" || $6 < min) min = $6; if (e > max) max = e }
		END { printf "%.1f", (max - min) / 1e6 }' "$ev/captured.csv")
	# measured only when the sampler saw the file before it moved
	[ ! -s "$RUN/capture-read.txt" ] || rd=$(awk '$1 < $2 && $3 > $1 {
		printf "%.4f", $3 - $1 }' "$RUN/capture-read.txt")
	if [ -n "$rd" ]; then
		say "Capture: net_pcap read ${span} s of trace in at most" \
			"${rd} s of wall time: $(awk -v a="$span" -v b="$rd" \
			'BEGIN { printf "%.0f", a / b }') s of trace per wall" \
			"second (as fast as it reads; $RUN/capture-read.txt)"
	fi
	[ -z "${WALL_S:-}" ] || say "Pipeline: ${span} s of trace captured," \
		"trained and exported in ${WALL_S} s of wall time"
	jq -n --arg span "$span" --arg read "$rd" --arg wall "${WALL_S:-}" \
		--argjson ncap "$ncap" --argjson nexp "$nexp" \
		'{trace_s: ($span | tonumber),
		  capture_read_s: (if $read == "" then null else ($read | tonumber) end),
		  wall_s: (if $wall == "" then null else ($wall | tonumber) end),
		  captured_flows: $ncap, exported_flows: $nexp}' \
		>"$RUN/summary.json"
	say "Plots (PNG, captured vs exported vs marginals): $RUN/plots/"
	say "Report: $RUN/fidelity.json; flows: $ev/{captured,exported,marginals}.csv"
}

# ---------------------------------------------------------------- commands

cmd_run() {
	load_config
	find_bins
	prepare_run_dir
	SIGNALS=0 STOPPING=0 FAILED=0
	trap on_signal INT TERM
	trap on_exit EXIT
	T0=$(usec)
	phase starting
	say "== $PROG: run directory $RUN"
	watch_blocks &
	WATCHER=$!
	[ "$COL_NFCAPD" = false ] || start_nfcapd
	[ "$CAPTURE" = offline ] || start_dataplane
	start_learner
	start_control
	phase running
	say "== all up; progress every ${PROGRESS_S} s (Ctrl-C stops cleanly)"
	watch
	local stopped=$SIGNALS
	[ "$stopped" = 0 ] || say "== stopping on request"
	stop_all
	WALL_S=$(elapsed)
	say "== stopped after ${WALL_S} s; logs in $LOGS"
	if [ "$stopped" = 0 ]; then
		# a block spooled and trained in under 20 ms would be missed
		local got want
		got=$(cat "$RUN"/captured/block-*.csv 2>/dev/null |
			grep -vc '^srcip' || true)
		want=$(jq '[.blocks[].records] | add // 0' "$STATE/state.json")
		[ "$got" = "$want" ] || err "warning: $got captured records" \
			"kept of $want; the fidelity report uses those kept"
		say "exported $EX_TOTAL synthetic flows from $EX_BLOCKS blocks to" \
			"$COL_HOST:$COL_PORT"
		[ "$EVALUATE" = false ] || evaluate
	fi
}

cmd_start() {
	load_config
	[ "$FRESH" = 0 ] || rm -rf "$RUN"
	mkdir -p "$RUN/logs"
	if [ -f "$RUN/supervisor.pid" ] &&
		kill -0 "$(cat "$RUN/supervisor.pid")" 2>/dev/null; then
		die "already running in $RUN (pid $(cat "$RUN/supervisor.pid"))"
	fi
	rm -f "$RUN/phase"
	local args=(run --config "$CONFIG" --run-dir "$RUN" --capture "$CAPTURE")
	[ -z "$BUILD" ] || args+=(--build "$BUILD")
	[ "$NO_EVAL" = 0 ] || args+=(--no-evaluate)
	setsid "${BASH_SOURCE[0]}" "${args[@]}" >"$RUN/logs/supervisor.log" \
		2>&1 </dev/null &
	local pid=$! t=0 ph
	while :; do
		ph=$(cat "$RUN/phase" 2>/dev/null || true)
		case $ph in
		running | done | stopped) break ;;
		failed)
			tail -n 20 "$RUN/logs/supervisor.log" >&2
			die "start failed; log $RUN/logs/supervisor.log"
			;;
		esac
		kill -0 $pid 2>/dev/null || {
			tail -n 20 "$RUN/logs/supervisor.log" >&2
			die "the supervisor exited; log $RUN/logs/supervisor.log"
		}
		[ $t -lt 1800 ] || die "not up in 180 s; log" \
			"$RUN/logs/supervisor.log"
		sleep 0.1
		t=$((t + 1))
	done
	say "started (supervisor pid $pid); progress in" \
		"$RUN/logs/supervisor.log; '$0 status' / '$0 stop'"
}

cmd_stop() {
	load_config
	local pid
	pid=$(cat "$RUN/supervisor.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		say "stopping (supervisor pid $pid) ..."
		local t=0
		while kill -0 "$pid" 2>/dev/null; do
			[ $t -lt 3600 ] || die "the supervisor did not stop in" \
				"360 s (pid $pid); log $RUN/logs/supervisor.log"
			sleep 0.1
			t=$((t + 1))
		done
		say "stopped: $(cat "$RUN/phase" 2>/dev/null || echo ?)"
		return 0
	fi
	# no supervisor (killed): stop what its pid files name, in order
	local any=0 n p
	for n in control learner dataplane nfcapd; do
		p=$(cat "$PIDS/$n.pid" 2>/dev/null || true)
		if [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; then
			continue
		fi
		any=1
		say "stopping $n (pid $p)"
		kill -TERM "$p"
		for _ in $(seq 1 1200); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	rm -f "$PIDS"/*.pid
	[ $any = 1 ] || say "not running ($RUN)"
}

cmd_status() {
	load_config
	find_bins
	local pid rc=0 n p
	pid=$(cat "$RUN/supervisor.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		say "supervisor  pid $pid, $(cat "$RUN/phase" 2>/dev/null)"
	else
		say "supervisor  not running (last phase:" \
			"$(cat "$RUN/phase" 2>/dev/null || echo none))"
		rc=3
	fi
	for n in dataplane learner control nfcapd; do
		p=$(cat "$PIDS/$n.pid" 2>/dev/null || true)
		if [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; then
			say "$(printf '%-11s' "$n") not running"
			continue
		fi
		case $n in
		dataplane)
			local st
			if st=$(dp_stats); then
				say "dataplane   pid $p, $(jq -r '"\(.state), " +
					"\(.total.rx) frames, " +
					"\(.total.flow_ring_used) flows waiting"' \
					<<<"$st")"
			else
				say "dataplane   pid $p, counters unreadable"
				rc=1
			fi
			;;
		learner)
			local age
			age=$(($(date +%s) - $(stat -c %Y "$LSTATUS" 2>/dev/null ||
				echo 0)))
			say "learner     pid $p, status $(jq -r '"\(.state), " +
				"\(.blocks_trained) blocks trained, " +
				"\(.records_in // "-") records in"' "$LSTATUS" \
				2>/dev/null), ${age} s ago"
			[ $age -le 30 ] || { say "            status file stale"; rc=1; }
			;;
		control)
			if ctl status >/dev/null 2>&1; then
				say "control     pid $p, answering on $SOCK"
			else
				say "control     pid $p, not answering on $SOCK"
				rc=1
			fi
			;;
		nfcapd) say "nfcapd      pid $p, $COL_HOST:$COL_PORT" ;;
		esac
	done
	return $rc
}

cmd_evaluate() {
	load_config
	find_bins
	[ ! -f "$RUN/supervisor.pid" ] ||
		! kill -0 "$(cat "$RUN/supervisor.pid")" 2>/dev/null ||
		die "the appliance still runs in $RUN: stop it first"
	evaluate
}

main() {
	[ $# -gt 0 ] || {
		usage >&2
		exit 2
	}
	local cmd=$1
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--config) CONFIG=$(readlink -f "${2:?--config needs a file}"); shift 2 ;;
		--build) BUILD=$(readlink -f "${2:?--build needs a dir}"); shift 2 ;;
		--run-dir) RUN_OVERRIDE=$(readlink -f "${2:?--run-dir needs a dir}"); shift 2 ;;
		--capture) CAPTURE_OVERRIDE=${2:?--capture needs a mode}; shift 2 ;;
		--fresh) FRESH=1; shift ;;
		--no-evaluate) NO_EVAL=1; shift ;;
		-q | --quiet) QUIET=1; shift ;;
		-h | --help) usage; exit 0 ;;
		*) err "unknown option $1"; usage >&2; exit 2 ;;
		esac
	done
	case $cmd in
	run) cmd_run ;;
	start) cmd_start ;;
	stop) cmd_stop ;;
	status) cmd_status ;;
	evaluate) cmd_evaluate ;;
	-h | --help | help) usage ;;
	*) err "unknown command $cmd"; usage >&2; exit 2 ;;
	esac
}

main "$@"
