#!/usr/bin/env bash
# End-to-end batch speed of `settle run` on generated claims for the Dezhou employee policy:
# for each size and backend, wall time, claims per second and peak memory (GNU time), the
# speed-up from 1 to 2 threads, and the floors measured in the same run: reading the file
# (`cat FILE > /dev/null`), reading and checking the claims without settling
# (`settle run --read-only`, 2 threads), and writing as many bytes as the settlements take
# (`dd` from /dev/zero to a new file, then `sync`). Each run writes a new file: the previous
# run's output is removed and the removal synced first, so that freeing 1 GB of the last run
# is not timed in the next (replacing an output of that size costs 0.5 to 1.5 s more on the
# machine of docs/performance.md).
#
# Usage: bench/run.sh [SIZE...]    (default: 1000000 2000000 5000000 10000000)
# Generated files go to target/bench/ (about 70 bytes a claim in, 115 out).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-1000000 2000000 5000000 10000000}")
read -r -a sizes <<<"${sizes[*]}"
policy=policies/dezhou/employee_inpatient.settle
dir=target/bench
mkdir -p "$dir"
cargo build --quiet --release
settle=target/release/settle
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 2; }

# One measured command: prints "wall_seconds peak_kib".
measure() {
    /usr/bin/time -f "%e %M" -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/stderr.txt" || {
        cat "$dir/stderr.txt" >&2
        return 1
    }
    cat "$dir/time.txt"
}

# One row of the table: claims, what, threads, seconds, claims/s, peak MiB, file MiB.
row() { printf '%-10s %-9s %-7s %9s %14s %12s %10s\n' "$@"; }
# Claims per second for $1 claims in $2 seconds.
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / (s > 0 ? s : 0.001) }'; }

row claims what threads seconds claims/s peak_MiB file_MiB
for n in "${sizes[@]}"; do
    claims="$dir/claims-$n.csv"
    [ -s "$claims" ] || "$settle" gen "$policy" --count "$n" --seed 1 --out "$claims"
    file_mib=$(( $(stat -c %s "$claims") / 1048576 ))
    read -r secs kib < <(measure cat "$claims")
    row "$n" cat - "$secs" - $((kib / 1024)) "$file_mib"
    read -r secs kib < <(measure "$settle" run "$policy" --claims "$claims" --read-only --threads 2)
    row "$n" read-only 2 "$secs" "$(rate "$n" "$secs")" $((kib / 1024)) "$file_mib"
    for backend in jit interp; do
        one=
        for threads in 1 2; do
            rm -f "$dir/out.csv" && sync
            read -r secs kib < <(measure "$settle" run "$policy" --claims "$claims" --out "$dir/out.csv" \
                --backend "$backend" --threads "$threads")
            row "$n" "$backend" "$threads" "$secs" "$(rate "$n" "$secs")" $((kib / 1024)) "$file_mib"
            [ -n "$one" ] || one=$secs
        done
        awk -v a="$one" -v b="$secs" -v n="$n" -v k="$backend" \
            'BEGIN { printf "%-10s %-9s speed-up from 1 to 2 threads: %.2f\n", n, k, a / (b > 0 ? b : 0.001) }'
    done
    # The write floor: as many bytes as the settlements, written to a new file and synced.
    out_mib=$(( $(stat -c %s "$dir/out.csv") / 1048576 ))
    rm -f "$dir/floor.bin"
    read -r secs kib < <(measure sh -c "dd if=/dev/zero of=$dir/floor.bin bs=1M count=$out_mib status=none && sync")
    row "$n" write - "$secs" - - "${out_mib} out"
    rm -f "$dir/floor.bin"
done
