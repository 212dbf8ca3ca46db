#!/usr/bin/env bash
# The test command: install what is missing, build a normal and an
# ASan+UBSan configuration, run every suite (benchmarks excluded) in both,
# and close with "N passed, N failed".
set -euo pipefail
NS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/setup-deps.sh
. "$NS_ROOT/tools/setup-deps.sh"

ns_install_packages
ns_fetch_default_input
ns_reserve_hugepages
ns_build build
ns_build build-asan -Db_sanitize=address,undefined -Db_lundef=false

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

status=0
for dir in build build-asan; do
	say "running tests in $dir"
	meson test -C "$NS_ROOT/$dir" --no-rebuild --print-errorlogs \
		--num-processes 2 "$@" || status=1
done

# Count from meson's own logs: OK/EXPECTEDFAIL pass, SKIP is no pass.
/usr/bin/python3 - "$NS_ROOT/build" "$NS_ROOT/build-asan" <<'PY'
import json, sys
passed = failed = skipped = 0
for d in sys.argv[1:]:
    with open(d + "/meson-logs/testlog.json") as f:
        for line in f:
            r = json.loads(line)["result"]
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
