//! How long `check` takes on a large policy: a generated file of about 2,000 lines, with
//! dated tables, rules with exceptions, accumulators and a long payer chain. The bench fails if
//! the median check takes 20 ms or more: an editor checks on every pause in typing.

use std::fmt::Write;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A policy of `blocks` stages, each with its parameters, rule and accumulator (18 lines each).
fn generated_policy(blocks: usize) -> String {
    let mut s = String::from(
        "policy bench.generated\nyear starts 01-01\n\nenum Level { level1, level2, level3 }\n\
         input claim {\n    id: text\n    member: text\n    date: date\n    level: Level\n    total: money\n}\n\n\
         yearly admissions = count()\n\n",
    );
    for i in 0..blocks {
        let _ = write!(
            s,
            "param deductible_{i}: money by Level
    from 2021-01-01 {{ level1: 450, level2: 550, level3: 900 }}
    from 2021-07-01 {{ level1: 200, level2: 500, level3: 900 }}
param cap_{i}: money
    from 2021-01-01 80_000
    from 2021-07-01 150_000
param ratio_{i}: rate by Level = {{ level1: 90%, level2: 85%, level3: 80% }}
rule due_{i}: money
    default deductible_{i}[claim.level]
    when admissions == 1 -> deductible_{i}[claim.level] * 50%
    when admissions >= 2 -> 0
let part_{i} = max(claim.total - due_{i}, 0) * ratio_{i}[claim.level] / {blocks}
yearly paid_{i} = sum(s{i}.pay)
stage s{i} (pay: money) {{
    let room = max(cap_{i} - paid_{i}, 0)
    pay = min(part_{i}, room)
}}

"
        );
    }
    let pays: Vec<String> = (0..blocks).map(|i| format!("s{i}.pay")).collect();
    let _ = writeln!(
        s,
        "stage patient (out_of_pocket: money) {{\n    out_of_pocket = claim.total - {}\n}}\n\nbalance claim.total = {} + patient.out_of_pocket",
        pays.join(" - "),
        pays.join(" + ")
    );
    s
}

fn bench_check(c: &mut Criterion) {
    let source = generated_policy(111);
    let lines = source.lines().count();
    let checked = settle_lang::check("bench.settle", &source);
    assert!(!checked.problems.has_errors(), "{}", checked.problems.render_plain());
    assert!(lines >= 2_000, "{lines} lines");
    let mut times: Vec<Duration> = (0..21)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(settle_lang::check("bench.settle", std::hint::black_box(&source)));
            started.elapsed()
        })
        .collect();
    times.sort();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    assert!(
        median < Duration::from_millis(20),
        "checking {lines} lines takes {median:?} (median of 21), not under 20 ms"
    );
    let mut group = c.benchmark_group("check");
    group.throughput(Throughput::Elements(lines as u64));
    group.bench_function(format!("generated_{lines}_lines"), |b| {
        b.iter(|| settle_lang::check("bench.settle", std::hint::black_box(&source)))
    });
    group.bench_function(format!("parse_{lines}_lines"), |b| {
        b.iter(|| {
            let mut problems = Vec::new();
            settle_lang::syntax::parse::parse(std::hint::black_box(&source), 0, &mut problems)
        })
    });
    group.bench_function(format!("format_{lines}_lines"), |b| {
        b.iter(|| settle_lang::format::format(std::hint::black_box(&source)))
    });
    group.finish();
}

criterion_group!(benches, bench_check);
criterion_main!(benches);
