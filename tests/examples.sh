#!/bin/sh
# Runs every example once as a smoke test (each checks its own results
# and exits non-zero on failure). web_workers runs with a small job.
dir=$1
fail=0; total=0
for e in "$dir"/*; do
    [ -x "$e" ] && [ -f "$e" ] || continue
    case "$e" in *.d|*.o) continue ;; esac
    total=$((total + 1))
    args=""
    [ "$(basename "$e")" = web_workers ] && args=300000
    if ! timeout 120 "$e" $args > /dev/null 2>&1; then
        echo "tests/examples.sh: $(basename "$e") FAILED"
        fail=$((fail + 1))
    fi
done
echo "tests/examples.sh: $total examples, $fail failed"
[ "$fail" -eq 0 ]
