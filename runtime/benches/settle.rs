//! Settlement throughput on the Dezhou employee policy, in claims per second on one thread:
//! the interpreter (its closures, and the reference tree walker as the baseline), the JIT
//! through the engine, the compiled code alone on prepared claims, and
//! a hand-written plain-Rust implementation of the same policy (the ceiling), all on the same
//! in-memory claims in the same run; the JIT's compile time; the latency of one claim
//! through the embedding API with a saved member state; and a CSV file of claims read, settled
//! and written whole, by the general path (the baseline) and by the batch fast path.

#![allow(clippy::panic, clippy::indexing_slicing, reason = "a benchmark stops on a wrong result")]

#[path = "dezhou_rust.rs"]
mod dezhou_rust;

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rust_decimal::Decimal;
use settle_lang::date::Date;
use settle_runtime::{Claim, Engine, MemberState, Value, batch, io, load_str};

fn engine() -> Engine {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policies/dezhou/employee_inpatient.settle"
    ));
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match load_str("employee_inpatient.settle", &text) {
        Ok(policy) => Engine::new(policy),
        Err(problems) => panic!("{}", problems.render_plain()),
    }
}

/// `n` claims of 20,000 members over two years, amounts with a long tail (a fixed sequence).
fn claims(n: usize) -> Vec<Claim> {
    let start = Date::parse("2021-01-01").map_or(0, |d| d.0);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            let r = next();
            let total: i64 = match r % 10 {
                0 => (r >> 8) as i64 % 30_000_000,
                1..=3 => (r >> 8) as i64 % 5_000_000,
                _ => (r >> 8) as i64 % 1_000_000,
            };
            let money = |fen: i64| Value::Money(Decimal::new(fen, 2));
            let special = if next() % 8 == 0 { total / 5 } else { 0 };
            Claim {
                line: i + 2,
                fields: vec![
                    Value::Text(format!("c{i}").into()),
                    Value::Text(format!("m{}", next() % 20_000).into()),
                    Value::Date(Date(start + (next() % 730) as i32)),
                    Value::Enum((next() % 3) as u32),
                    money(total),
                    money(total / 10),
                    money(total / 20),
                    money(special),
                    money(if next() % 3 == 0 { special / 2 } else { 0 }),
                    money(if next() % 4 == 0 { total / 10 } else { 0 }),
                ],
            }
        })
        .collect()
}

/// The claims in engine order (member, date, id), scaled for the compiled code and the
/// hand-written implementation, with where each member's medical year starts again.
struct Prepared {
    frames: Vec<(bool, Vec<i64>)>,
    plain: Vec<(bool, dezhou_rust::Claim)>,
}

fn prepare(engine: &Engine, batch: &[Claim]) -> Prepared {
    let mut order: Vec<&Claim> = batch.iter().collect();
    order.sort_by_key(|c| (engine.member_of(c), engine.date_of(c), engine.id_of(c)));
    let mut frames = Vec::new();
    let mut plain = Vec::new();
    let mut last: Option<(std::sync::Arc<str>, Date)> = None;
    for c in order {
        let member = engine.member_of(c);
        let year = engine.date_of(c).year_start((1, 1));
        let fresh = last.as_ref() != Some(&(member.clone(), year));
        last = Some((member, year));
        let f: Vec<i64> = c.fields.iter().map(|v| v.to_scaled().unwrap_or(0)).collect();
        let get = |i: usize| f.get(i).copied().unwrap_or(0);
        plain.push((
            fresh,
            dezhou_rust::Claim {
                date: get(2),
                level: get(3) as usize,
                total: get(4),
                self_paid: get(5),
                prepay: get(6),
                special_drugs: get(7),
                rare_disease_drugs: get(8),
                tcm: get(9),
            },
        ));
        frames.push((fresh, f));
    }
    Prepared { frames, plain }
}

/// Settle every prepared claim with the compiled code; returns the total of value `total_of`.
fn run_compiled(
    compiled: &settle_compiler::Compiled,
    prepared: &Prepared,
    frame: &mut settle_compiler::Frame,
    total_of: usize,
) -> i64 {
    let mut paid = 0;
    for (fresh, fields) in &prepared.frames {
        if *fresh {
            frame.accs.iter_mut().for_each(|a| *a = 0);
            frame.seen.iter_mut().for_each(|a| *a = 0);
        }
        if compiled.settle_fields(fields, frame, &settle_compiler::NoFallback).is_ok() {
            std::mem::swap(&mut frame.accs, &mut frame.next_accs);
            std::mem::swap(&mut frame.seen, &mut frame.next_seen);
            paid += frame.values.get(total_of).copied().unwrap_or(0);
        }
    }
    paid
}

fn run_plain(prepared: &Prepared) -> Vec<dezhou_rust::Shares> {
    let mut year = dezhou_rust::Year::default();
    prepared
        .plain
        .iter()
        .map(|(fresh, c)| {
            if *fresh {
                year = dezhou_rust::Year::default();
            }
            dezhou_rust::settle(c, &mut year)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let engine = engine();
    let batch = claims(100_000);
    let jit = Engine::compiled(engine.policy().clone()).unwrap_or_else(|e| panic!("{e}"));
    let compiled = settle_compiler::compile(engine.policy()).unwrap_or_else(|e| panic!("{e}"));
    let prepared = prepare(&engine, &batch);
    let mut frame = compiled.frame();
    // The hand-written policy and the compiled one agree before either is timed.
    let plain = run_plain(&prepared);
    let basic_pay = engine.policy().values.iter().position(|v| v.name == "basic.pay").unwrap_or(0);
    type Share = fn(&dezhou_rust::Shares) -> i64;
    let shares: [(&str, Share); 4] = [
        ("basic.pay", |s| s.basic),
        ("subsidy.pay", |s| s.subsidy),
        ("critical.pay", |s| s.critical),
        ("patient.out_of_pocket", |s| s.patient),
    ];
    for (name, share) in shares {
        let value = engine.policy().values.iter().position(|v| v.name == name);
        let value = value.unwrap_or_else(|| panic!("no value {name}"));
        assert_eq!(
            run_compiled(&compiled, &prepared, &mut frame, value),
            plain.iter().map(share).sum::<i64>(),
            "the two implementations differ on {name}"
        );
    }
    let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build();
    let mut group = c.benchmark_group("interpreter");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.sample_size(10);
    if let Ok(pool) = &one_thread {
        group.bench_function("dezhou_employee_100k_claims_1_thread", |b| {
            b.iter(|| pool.install(|| engine.settle_batch(black_box(&batch))))
        });
    }
    group.bench_function("dezhou_employee_100k_claims_all_threads", |b| {
        b.iter(|| engine.settle_batch(black_box(&batch)))
    });
    // The baseline: the reference interpreter walking the IR over decimals for every claim.
    let reference = Engine::reference(engine.policy().clone());
    if let Ok(pool) = &one_thread {
        group.bench_function("reference_tree_walker_100k_claims_1_thread", |b| {
            b.iter(|| pool.install(|| reference.settle_batch(black_box(&batch))))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("jit");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.sample_size(10);
    if let Ok(pool) = &one_thread {
        group.bench_function("engine_100k_claims_1_thread", |b| {
            b.iter(|| pool.install(|| jit.settle_batch(black_box(&batch))))
        });
    }
    group.bench_function("compiled_code_100k_claims", |b| {
        b.iter(|| run_compiled(&compiled, black_box(&prepared), &mut frame, basic_pay))
    });
    group.bench_function("hand_written_rust_100k_claims", |b| {
        b.iter(|| run_plain(black_box(&prepared)))
    });
    group.finish();

    // A file of claims in memory, to settlements in memory: the general path (every field a
    // value, every settlement kept) against the batch fast path, the JIT and two threads each.
    let mut csv = Vec::new();
    if let Err(e) = settle_runtime::generate::write(jit.policy(), 200_000, 1, false, &mut csv) {
        panic!("{e}");
    }
    let mut group = c.benchmark_group("file");
    group.throughput(Throughput::Elements(200_000));
    group.sample_size(10);
    group.bench_function("general_path_200k_claims", |b| {
        b.iter(|| {
            let rows = io::read_csv_bytes(jit.policy(), black_box(&csv), "claims.csv");
            let rows = rows.unwrap_or_default();
            let outcomes = io::by_row(&rows, jit.settle_batch(&io::claims_of(&rows)));
            let mut out = Vec::new();
            io::write_csv(jit.policy(), &rows, &outcomes, &mut out).map(|()| out.len())
        })
    });
    group.bench_function("fast_path_200k_claims", |b| {
        b.iter(|| {
            let table = batch::read_table(jit.policy(), black_box(&csv), "claims.csv");
            let settled = table.ok().flatten().and_then(|t| batch::settle_table(&jit, t, &|_| {}));
            let mut out = Vec::new();
            settled.map(|s| batch::write_table_csv(&jit, &s, &mut out).map(|()| out.len()))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("compile");
    group.sample_size(20);
    group.bench_function("dezhou_employee", |b| {
        b.iter(|| settle_compiler::compile(black_box(engine.policy())))
    });
    group.finish();

    let mut group = c.benchmark_group("embedding");
    group.throughput(Throughput::Elements(1));
    let claim = &batch[0];
    let mut state = MemberState::default();
    let _ = engine.settle_one(claim, &mut state);
    group.bench_function("settle_one_with_saved_state", |b| {
        b.iter(|| {
            let mut s = state.clone();
            engine.settle_one(black_box(claim), &mut s)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
