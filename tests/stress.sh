#!/usr/bin/env bash
# Run the whole suite N times in a row while a CPU hog keeps every core busy.
#
#   tests/stress.sh [N] [pytest args...]     (N defaults to 5)
#
# The hog is one busy-looping process per core (nproc), started here at a normal priority and
# stopped when the script ends, however it ends. Each run's outcome and wall time are printed, then
# a summary; the exit status is 1 if any run failed. Run it from the repo root in the test venv.
set -uo pipefail
cd "$(dirname "$0")/.."

runs="${1:-5}"
shift || true
cores="$(nproc)"
hogs=()

stop_hogs() {
    for pid in "${hogs[@]}"; do
        kill "$pid" 2>/dev/null
    done
    wait 2>/dev/null
}
trap stop_hogs EXIT INT TERM

for _ in $(seq "$cores"); do
    python3 -c 'while True: pass' &
    hogs+=("$!")
done
echo "stress: $cores CPU hog(s) running (pids ${hogs[*]}); $runs run(s) of the suite"

failed=0
summary=()
for i in $(seq "$runs"); do
    log="$(mktemp -t slmdeck-stress-XXXX.log)"
    start="$(date +%s.%N)"
    pytest -q "$@" >"$log" 2>&1
    rc=$?
    wall="$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$start" "$(date +%s.%N)")"
    result="$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed).* =+$' "$log" | tail -1)"
    if [ "$rc" -ne 0 ]; then
        failed=$((failed + 1))
        echo "run $i: FAILED (exit $rc) in ${wall} s: $result   log: $log"
        grep -E '^(FAILED|ERROR) ' "$log" | sed 's/^/    /'
    else
        echo "run $i: ok in ${wall} s: $result"
        rm -f "$log"
    fi
    summary+=("$wall")
done
echo "stress: $runs run(s), $failed failed, wall times (s): ${summary[*]}"
[ "$failed" -eq 0 ]
