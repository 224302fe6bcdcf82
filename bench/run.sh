#!/usr/bin/env bash
# End-to-end batch speed of `settle run` on generated claims for the Dezhou employee policy:
# for each size and backend, wall time, claims per second and peak memory (GNU time), the
# speed-up from 1 to 2 threads, and the floors measured in the same run: reading the file
# (`cat FILE > /dev/null`), reading and checking the claims without settling
# (`settle run --read-only`, 2 threads), and writing as many bytes as the settlements take
# (`dd` from /dev/zero to a new file, then `sync`).
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

printf '%-10s %-8s %-7s %9s %14s %12s %10s\n' claims backend threads seconds claims/s peak_MiB file_MiB
for n in "${sizes[@]}"; do
    claims="$dir/claims-$n.csv"
    [ -s "$claims" ] || "$settle" gen "$policy" --count "$n" --seed 1 --out "$claims"
    file_mib=$(( $(stat -c %s "$claims") / 1048576 ))
    read -r secs kib < <(measure cat "$claims")
    printf '%-10s %-8s %-7s %9s %14s %12s %10s\n' "$n" cat - "$secs" - $((kib / 1024)) "$file_mib"
    read -r secs kib < <(measure "$settle" run "$policy" --claims "$claims" --read-only --threads 2)
    rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / (s > 0 ? s : 0.001) }')
    printf '%-10s %-8s %-7s %9s %14s %12s %10s\n' "$n" read-only 2 "$secs" "$rate" $((kib / 1024)) "$file_mib"
    for backend in jit interp; do
        for threads in 1 2; do
            read -r secs kib < <(measure "$settle" run "$policy" --claims "$claims" --out "$dir/out.csv" \
                --backend "$backend" --threads "$threads")
            rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / (s > 0 ? s : 0.001) }')
            printf '%-10s %-8s %-7s %9s %14s %12s %10s\n' "$n" "$backend" "$threads" "$secs" "$rate" $((kib / 1024)) "$file_mib"
        done
    done
    # The write floor: as many bytes as the settlements, written to a new file and synced.
    out_mib=$(( $(stat -c %s "$dir/out.csv") / 1048576 ))
    rm -f "$dir/floor.bin"
    read -r secs kib < <(measure sh -c "dd if=/dev/zero of=$dir/floor.bin bs=1M count=$out_mib status=none && sync")
    printf '%-10s %-8s %-7s %9s %14s %12s %10s\n' "$n" write - "$secs" - - "${out_mib} out"
    rm -f "$dir/floor.bin"
done
