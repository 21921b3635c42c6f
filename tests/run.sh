#!/bin/sh
# Runs every criterion test binary in DIR; exits non-zero if any fails.
# Usage: tests/run.sh DIR [criterion args...]
# TP_VALGRIND=1 runs each binary under valgrind memcheck.
dir=$1; shift
fail=0; total=0
for t in "$dir"/test_*; do
    case "$t" in *.o|*.d) continue ;; esac
    [ -x "$t" ] || continue
    total=$((total + 1))
    if [ -n "$TP_VALGRIND" ]; then
        valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
            --error-exitcode=99 --trace-children=yes "$t" "$@" || fail=$((fail + 1))
    else
        "$t" "$@" || fail=$((fail + 1))
    fi
done
echo "tests/run.sh: $total test programs, $fail failed"
[ "$fail" -eq 0 ]
