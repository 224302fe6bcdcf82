//! Realistic claims for a policy's declared input, the same bytes for the same seed.
//!
//! Members have several claims a year, dates spread over two medical years from the policy's
//! earliest effective date, enums in plausible shares (the first variant most common, `none`
//! dominant where an enum has it), bills with a long tail, and the other amounts as parts of the
//! bill that never exceed it. With group totals, the group field names a household of two or
//! three members (the same for all of a member's claims). Only integer arithmetic is used, so the output does not depend on
//! the platform's floating point.

use std::fmt::Write as _;
use std::io::Write;

use settle_lang::date::Date;
use settle_lang::ir::{Policy, Type};

/// A deterministic random sequence (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A sequence from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Whether an event of `percent` % chance happens.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The first day claims are dated from: the policy's earliest effective date, or 2021-01-01.
fn first_day(policy: &Policy) -> Date {
    policy
        .params
        .iter()
        .flat_map(|p| p.versions.iter().filter_map(|v| v.from))
        .min()
        .unwrap_or_else(|| Date::parse("2021-01-01").unwrap_or(Date(18_628)))
}

/// A bill in fen: most under 10,000 yuan, some to 100,000, a few to 1,000,000.
fn bill(rng: &mut Rng) -> i64 {
    let yuan = match rng.below(100) {
        0..=59 => 100 + rng.below(9_900),
        60..=89 => 10_000 + rng.below(90_000),
        90..=98 => 100_000 + rng.below(400_000),
        _ => 500_000 + rng.below(500_000),
    };
    (yuan * 100 + rng.below(100)) as i64
}

/// A member of `0..members`, low-numbered ones more often (they claim more).
fn member(rng: &mut Rng, members: u64) -> u64 {
    rng.below(members).min(rng.below(members))
}

/// The household of member `m`: members side by side in households of three and two, in turn
/// (0, 1 and 2 in the first, 3 and 4 in the second, ...).
fn household(m: u64) -> u64 {
    m * 2 / 5
}

fn enum_index(rng: &mut Rng, variants: &[String]) -> usize {
    let n = variants.len().max(1);
    if let Some(none) = variants.iter().position(|v| v == "none") {
        if rng.chance(85) {
            return none;
        }
    }
    // Weights n, n-1, ..., 1: the first variant most common.
    let total = (n * (n + 1) / 2) as u64;
    let mut pick = rng.below(total);
    for i in 0..n {
        let w = (n - i) as u64;
        if pick < w {
            return i;
        }
        pick -= w;
    }
    0
}

fn money(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// How many distinct values a text field takes by default (`t0` to `t999`).
pub const TEXTS: u64 = 1_000;

/// Write `count` claims for `policy`, as CSV with a header or as JSON Lines.
pub fn write(
    policy: &Policy,
    count: usize,
    seed: u64,
    jsonl: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    write_with(policy, count, seed, jsonl, TEXTS, out)
}

/// Write `count` claims for `policy` as [`write`] does, each text field taking one of `texts`
/// values (`t0`, `t1`, ...: a region's hospital codes, say).
pub fn write_with(
    policy: &Policy,
    count: usize,
    seed: u64,
    jsonl: bool,
    texts: u64,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let Some(input) = policy.input_record() else { return Ok(()) };
    let mut rng = Rng::new(seed);
    let start = first_day(policy);
    let members = (count / 4).max(1) as u64;
    let header: Vec<&str> = input.fields.iter().map(|f| f.name.as_str()).collect();
    let mut sink = if jsonl {
        Sink::Json(out)
    } else {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(&header)?;
        Sink::Csv(Box::new(w))
    };
    let total_field = policy.balance.as_ref().and_then(|b| match b.total.kind {
        settle_lang::ir::ExprKind::Field(i) => Some(i),
        _ => None,
    });
    // The date fields an episode ends on (a discharge): a stay of up to 30 days from the claim's
    // own date, drawn after the other fields so that other policies' claims stay as they were.
    let ends: Vec<usize> = policy
        .accumulators
        .iter()
        .filter_map(|a| match a.window {
            settle_lang::ir::Window::Episode { end, .. } => end,
            _ => None,
        })
        .filter(|&i| i != policy.dated_field)
        .collect();
    let mut cells: Vec<String> = Vec::with_capacity(header.len());
    let mut json = String::new();
    let group = policy.group_field();
    for n in 0..count {
        cells.clear();
        // With group totals the member is drawn first, for its household's field.
        let drawn = group.map(|_| member(&mut rng, members));
        let total = bill(&mut rng);
        // The other amounts are parts of the bill, together at most 90 % of it.
        let mut left = total * 9 / 10;
        for (i, field) in input.fields.iter().enumerate() {
            let cell = match field.ty {
                _ if i == policy.id_field => format!("g{n:07}"),
                _ if i == policy.member_field => {
                    let m = drawn.unwrap_or_else(|| member(&mut rng, members));
                    format!("p{m:06}")
                }
                _ if Some(i) == group => {
                    drawn.map_or_else(String::new, |m| format!("h{:06}", household(m)))
                }
                Type::Date if i == policy.dated_field => {
                    Date(start.0 + rng.below(730) as i32).to_string()
                }
                Type::Date => Date(start.0 + rng.below(760) as i32).to_string(),
                Type::Money if Some(i) == total_field => money(total),
                Type::Money => {
                    let part = if rng.chance(60) { left * rng.below(40) as i64 / 100 } else { 0 };
                    left -= part;
                    money(part)
                }
                Type::Rate => format!("{}%", rng.below(101)),
                Type::Int => rng.below(10).to_string(),
                Type::Bool => (rng.chance(20)).to_string(),
                Type::Text => format!("t{}", rng.below(texts)),
                Type::Enum(e) => policy
                    .enums
                    .get(e)
                    .and_then(|d| d.variants.get(enum_index(&mut rng, &d.variants)))
                    .cloned()
                    .unwrap_or_default(),
                Type::List(_) | Type::Record(_) => "[]".to_string(),
            };
            cells.push(cell);
        }
        if !ends.is_empty() {
            let dated = cells.get(policy.dated_field).and_then(|d| Date::parse(d));
            for &i in &ends {
                if let (Some(dated), Some(cell)) = (dated, cells.get_mut(i)) {
                    *cell = Date(dated.0 + rng.below(31) as i32).to_string();
                }
            }
        }
        match &mut sink {
            Sink::Csv(w) => w.write_record(&cells)?,
            Sink::Json(w) => {
                json.clear();
                json.push('{');
                for (i, (name, cell)) in header.iter().zip(&cells).enumerate() {
                    if i > 0 {
                        json.push(',');
                    }
                    let _ = write!(
                        json,
                        "{}:{}",
                        serde_json::Value::from(*name),
                        serde_json::Value::from(cell.as_str())
                    );
                }
                json.push_str("}\n");
                w.write_all(json.as_bytes())?;
            }
        }
    }
    match sink {
        Sink::Csv(mut w) => w.flush(),
        Sink::Json(w) => w.flush(),
    }
}

/// Where generated claims go.
enum Sink<'a> {
    Csv(Box<csv::Writer<&'a mut dyn Write>>),
    Json(&'a mut dyn Write),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_fixed_by_the_seed() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(8).next_u64(), xs.first().copied().unwrap_or(0));
    }

    #[test]
    fn households_hold_three_and_two_members() {
        let sizes: Vec<usize> =
            (0..4u64).map(|h| (0..10u64).filter(|&m| household(m) == h).count()).collect();
        assert_eq!(sizes, vec![3, 2, 3, 2]);
    }

    #[test]
    fn money_is_written_with_two_decimals() {
        assert_eq!(money(123_456), "1234.56");
        assert_eq!(money(5), "0.05");
    }
}
