#!/bin/sh
# Runs every test program in DIR; exits non-zero if any fails.
# Usage: tests/run.sh DIR [test-runner args...]
# TP_VALGRIND=1 runs each program under valgrind memcheck. Criterion does
# not pass its children's exit status on, so valgrind writes one log per
# process and any log with errors fails the run.
dir=$1; shift
fail=0; total=0
vglogs=$(mktemp -d "${TMPDIR:-/tmp}/tp-vg.XXXXXX")
trap 'rm -rf "$vglogs"' EXIT
for t in "$dir"/test_*; do
    case "$t" in *.o|*.d) continue ;; esac
    [ -x "$t" ] || continue
    total=$((total + 1))
    if [ -n "$TP_VALGRIND" ]; then
        name=$(basename "$t")
        # test_process's troupe-node children die of SIGSEGV and abort on
        # purpose: valgrind would call that an error; they run untraced
        skip='/usr/*,/bin/*,/sbin/*'
        [ "$name" = test_process ] && skip="$skip,*/troupe-node"
        valgrind --leak-check=full --errors-for-leak-kinds=definite \
            --show-leak-kinds=definite --trace-children=yes \
            --suppressions="$(dirname "$0")/valgrind.supp" \
            --trace-children-skip="$skip" \
            --log-file="$vglogs/$name.%p" "$t" "$@" || fail=$((fail + 1))
        bad=$(grep -l -E "ERROR SUMMARY: [1-9]|definitely lost: [1-9]" "$vglogs/$name".* 2>/dev/null)
        if [ -n "$bad" ]; then
            cat $bad
            echo "tests/run.sh: valgrind found errors in $name"
            fail=$((fail + 1))
        fi
    else
        "$t" "$@" || fail=$((fail + 1))
    fi
done
echo "tests/run.sh: $total test programs, $fail failed"
[ "$fail" -eq 0 ]
