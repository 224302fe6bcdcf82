//! Interpreter throughput on the Dezhou employee policy (claims per second on one thread), and
//! the latency of one claim through the embedding API with a saved member state.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rust_decimal::Decimal;
use settle_lang::date::Date;
use settle_runtime::{Claim, Engine, MemberState, Value, load_str};

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
                    money(if next() % 8 == 0 { total / 5 } else { 0 }),
                    money(if next() % 4 == 0 { total / 10 } else { 0 }),
                ],
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let engine = engine();
    let batch = claims(100_000);
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
