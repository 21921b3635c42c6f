#!/bin/sh
# Runs every test program in DIR; exits non-zero if any fails.
# Usage: tests/run.sh DIR [test-runner args...]
# Each program's output is shown as it runs and kept; at the end the names
# of the programs that failed are listed and the last lines of each one's
# output repeated, so the tail of a long CI log says what failed and why.
# TP_VALGRIND=1 runs each program under valgrind memcheck. Criterion does
# not pass its children's exit status on, so valgrind writes one log per
# process and any log with errors fails the run.
dir=$1; shift
fail=0; total=0; failed=""
work=$(mktemp -d "${TMPDIR:-/tmp}/tp-run.XXXXXX")
vglogs=$work/vg; mkdir "$vglogs"
trap 'rm -rf "$work"' EXIT
for t in "$dir"/test_*; do
    case "$t" in *.o|*.d) continue ;; esac
    [ -x "$t" ] || continue
    total=$((total + 1))
    name=$(basename "$t")
    out=$work/$name.out
    ok=1
    start=$(date +%s)
    if [ -n "$TP_VALGRIND" ]; then
        # test_process's troupe-node children die of SIGSEGV and abort on
        # purpose: valgrind would call that an error; they run untraced
        skip='/usr/*,/bin/*,/sbin/*'
        [ "$name" = test_process ] && skip="$skip,*/troupe-node"
        { valgrind --leak-check=full --errors-for-leak-kinds=definite \
            --show-leak-kinds=definite --trace-children=yes \
            --suppressions="$(dirname "$0")/valgrind.supp" \
            --trace-children-skip="$skip" \
            --log-file="$vglogs/$name.%p" "$t" "$@" 2>&1 || echo "tests/run.sh: $name exited $?"; } | tee "$out"
        grep -q "^tests/run.sh: $name exited" "$out" && ok=0
        bad=$(grep -l -E "ERROR SUMMARY: [1-9]|definitely lost: [1-9]" "$vglogs/$name".* 2>/dev/null)
        if [ -n "$bad" ]; then
            cat $bad | tee -a "$out"
            echo "tests/run.sh: valgrind found errors in $name" | tee -a "$out"
            ok=0
        fi
    else
        { "$t" "$@" 2>&1 || echo "tests/run.sh: $name exited $?"; } | tee "$out"
        grep -q "^tests/run.sh: $name exited" "$out" && ok=0
    fi
    if [ $ok -eq 0 ]; then
        fail=$((fail + 1))
        failed="$failed $name"
        echo "tests/run.sh: $name FAILED after $(( $(date +%s) - start )) s" >> "$out"
    fi
done
# the summary is the last thing printed, most telling last: a CI log that
# keeps only its tail still names what failed and how
for name in $failed; do
    echo "=================== tests/run.sh: $name failed; the tail of its output:"
    tail -n 12 "$work/$name.out"
    echo "--- $name: criterion's failure lines and sanitizer reports:"
    grep -E "\[FAIL\]|\[----\].*(:[0-9]+:|Assertion|Timed out|Crash|signal)|ERROR: |runtime error|SUMMARY:|seed " "$work/$name.out" | head -12
done
echo "tests/run.sh: $total test programs, $fail failed${failed:+:$failed}"
[ "$fail" -eq 0 ]
