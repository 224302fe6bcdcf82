#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 60), one after the other, on one core.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets it take the -Z flags cargo-fuzz passes,
# and `--sanitizer none` skips the address sanitizer (safe Rust; what is looked for is panics,
# stack overflows, hangs and memory blow-ups, which libFuzzer catches by itself). `-a` keeps
# debug assertions and overflow checks on, as the release profile of the product does.
# The corpora are seeded from the repository's policies and sample claims into fuzz/corpus/
# (ignored by git); crashes land in fuzz/artifacts/<target>/.
set -euo pipefail

seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(check fmt claims batch differential)
fi

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/fuzz"
export RUSTC_BOOTSTRAP=1

seed() {
    local target=$1 dir="$fuzz/corpus/$1"
    mkdir -p "$dir"
    case $target in
        check | fmt)
            find "$root/policies" "$root/examples" "$root/tests" "$root/runtime/tests" \
                -name '*.settle' -print0 |
                while IFS= read -r -d '' f; do
                    cp "$f" "$dir/seed-$(basename "$(dirname "$f")")-$(basename "$f")"
                done
            ;;
        claims | batch)
            cp "$fuzz/seeds/claims/"* "$dir/"
            cp "$root/examples/claims/dezhou_employee.csv" "$dir/seed-dezhou_employee.csv"
            ;;
        differential) ;;
    esac
}

for target in "${targets[@]}"; do
    seed "$target"
    dict=()
    case $target in check | fmt) dict=(-dict="$fuzz/settle.dict") ;; esac
    (cd "$fuzz" && cargo fuzz run --sanitizer none -a "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -jobs=1 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict[@]}")
done
