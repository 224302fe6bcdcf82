//! Random well-typed settle programs and claims for them, from a seed: shared by the
//! differential test and the `differential` fuzz target.
//!
//! Each program has an input record of its own: besides the claim id, member, date and total,
//! a random choice of money, rate, int, bool, date, text and list fields in a random order, and
//! an enum of 1 to 300 variants (sizes around 64 and 128 drawn often). Claims draw values near
//! every bound (money at ±10^15 yuan, rates at ±10^9, counts at the ends of 64 bits, the
//! smallest fen and millionth, one step beyond each) and the bytes users paste (tabs, vertical
//! tabs, non-breaking spaces, byte order marks, full-width digits, quoted cells) in every field,
//! ids and members too, and [`compare`] settles them under the reference interpreter, the
//! closures and the JIT and compares the outcomes exactly, then writes the rows of the general
//! path and of the batch fast path for the closures and the JIT and compares them byte for byte.

use std::fmt::Write;

use settle_runtime::generate::Rng;
use settle_runtime::{Engine, Outcome, batch, io};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum T {
    Money,
    Rate,
    Int,
    Bool,
    Level,
    Date,
}

/// What the generated program has declared so far, by type.
#[derive(Default)]
struct Scope {
    names: Vec<(String, T)>,
    tables: Vec<String>,
    scales: Vec<String>,
}

/// The kinds of input fields a program may declare.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Id,
    Member,
    Date,
    Money,
    Rate,
    Int,
    Bool,
    Since,
    Text,
    Level,
    Items,
}

/// The input record of the program being written: its fields in order, and the size of its
/// enum.
#[derive(Clone, Debug)]
struct Shape {
    fields: Vec<(&'static str, Kind)>,
    levels: u64,
}

impl Default for Shape {
    fn default() -> Self {
        Shape { fields: Vec::new(), levels: 3 }
    }
}

impl Shape {
    fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| *n == name)
    }
}

/// Writes random programs and claims.
pub struct Gen {
    /// The random sequence.
    pub rng: Rng,
    shape: Shape,
    /// Whether conditions are to leave the claim's variant alone (beside a rule's own test of
    /// it, where they would contradict it).
    plain: bool,
}

/// What [`compare`] compared.
#[derive(Debug, Clone, Copy, Default)]
pub struct Compared {
    /// Claims settled under every backend.
    pub claims: usize,
    /// Of those, claims that were error rows.
    pub faults: usize,
    /// Whether the program's enum has more than 64 variants.
    pub wide_enum: bool,
    /// Rows (claims and error rows) the general path and the fast path wrote alike, over the
    /// closures and the JIT.
    pub fast_rows: usize,
    /// Whether the program computes a proportion `x * a / b` rounded once.
    pub proportion: bool,
    /// Whether the program has group totals.
    pub groups: bool,
}

/// Settle the claims `csv` for the program `text` under the reference interpreter, the
/// closures and the JIT, and, where the policy takes the batch fast path, by that path too;
/// `Ok(None)` when the program does not check, `Err` describing the first claim whose outcomes
/// differ (values, accumulators and errors compared exactly) or the first row the two data
/// paths write differently.
pub fn compare(text: &str, csv: &str) -> Result<Option<Compared>, String> {
    let Ok(policy) = settle_runtime::load_str("random.settle", text) else { return Ok(None) };
    let wide_enum = policy.enums.first().is_some_and(|e| e.variants.len() > 64);
    let mut proportion = false;
    for v in &policy.values {
        v.body.walk(&mut |e| {
            proportion |= matches!(e.kind, settle_lang::ir::ExprKind::Proportion(..));
        });
    }
    let reference = Engine::reference(policy.clone());
    let closures = Engine::new(policy.clone());
    if !closures.uses_closures() {
        return Err(format!("not turned into closures:\n{text}"));
    }
    let jit = Engine::compiled(policy).map_err(|e| format!("{e}\n{text}"))?;
    let rows = io::read_csv_bytes(reference.policy(), csv.as_bytes(), "claims.csv")
        .map_err(|e| format!("{e}\n{text}"))?;
    let batch = io::claims_of(&rows);
    let a = reference.settle_batch(&batch);
    let mut fast_rows = 0;
    for (other, name) in [(&closures, "closures"), (&jit, "JIT")] {
        let b = other.settle_batch(&batch);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            if x != y {
                return Err(format!(
                    "{name} differ from the reference on claim {:?}:\n  {x:?}\n  {y:?}\nof program\n{text}",
                    batch.get(i)
                ));
            }
        }
        fast_rows += same_rows(other, &rows, b, csv).map_err(|e| format!("{name}: {e}\n{text}"))?;
    }
    // An internal error is a defect of the settling code, never a claim's fault.
    if let Some(e) =
        a.iter().find_map(|x| x.as_ref().err().filter(|e| e.to_string().contains("internal error")))
    {
        return Err(format!("{e}\nof program\n{text}"));
    }
    let faults = a.iter().filter(|x| x.is_err()).count();
    let groups = reference.policy().group_field().is_some();
    Ok(Some(Compared { claims: batch.len(), faults, wide_enum, fast_rows, proportion, groups }))
}

/// The rows the general path writes for `rows` settled into `settled` against those the batch
/// fast path writes for the same file, byte for byte; how many rows were compared (none when
/// the policy does not take the fast path).
fn same_rows(
    engine: &Engine,
    rows: &[io::Row],
    settled: Vec<Outcome>,
    csv: &str,
) -> Result<usize, String> {
    if !batch::supported(engine) {
        return Ok(0);
    }
    let policy = engine.policy();
    let mut general = Vec::new();
    io::write_csv(policy, rows, &io::by_row(rows, settled), &mut general)
        .map_err(|e| e.to_string())?;
    let table =
        batch::read_table(policy, csv.as_bytes(), "claims.csv").map_err(|e| e.to_string())?;
    let Some(table) = table else { return Err("the fast path refuses the file".into()) };
    let settled =
        batch::settle_table(engine, table, &|_| {}).ok_or("the fast path refuses the policy")?;
    let mut fast = Vec::new();
    batch::write_table_csv(engine, &settled, &mut fast).map_err(|e| e.to_string())?;
    let lines = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes).lines().map(str::to_owned).collect::<Vec<_>>()
    };
    let (general, fast) = (lines(&general), lines(&fast));
    if let Some(n) = (0..general.len().max(fast.len())).find(|&n| general.get(n) != fast.get(n)) {
        let record = csv.lines().nth(n).unwrap_or("");
        return Err(format!(
            "the data paths write line {} differently for the record {record:?}:\n  general {:?}\n  fast    {:?}",
            n + 1,
            general.get(n),
            fast.get(n)
        ));
    }
    Ok(general.len().saturating_sub(1))
}

impl Gen {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Gen { rng: Rng::new(seed), shape: Shape::default(), plain: false }
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.rng.below(items.len() as u64) as usize]
    }

    fn money_literal(&mut self) -> String {
        match self.rng.below(8) {
            0 => "0".into(),
            1 => format!("{}", self.rng.below(1_000)),
            2 => format!("{}.{:02}", self.rng.below(100_000), self.rng.below(100)),
            3 => format!("{}_000", self.rng.below(1_000)),
            4 => "999_999_999_999_999".into(),
            5 => self.pick(&["1_000_000_000_000_000", "0.01", "999_999_999_999_999.99"]).into(),
            _ => format!("{}.5", self.rng.below(10)),
        }
    }

    fn rate_literal(&mut self) -> String {
        match self.rng.below(6) {
            0 => "0%".into(),
            1 => "100%".into(),
            2 => format!("{}.5%", self.rng.below(100)),
            3 => format!("{}%", self.rng.below(1_000)),
            4 => self.pick(&["0.0001%", "100_000_000_000%", "99_999_999_999.9999%"]).into(),
            _ => format!("{}%", self.rng.below(101)),
        }
    }

    /// A variant of the program's enum, often one beside a multiple of 64.
    fn level(&mut self) -> u64 {
        let n = self.shape.levels;
        let near = [1, 2, 63, 64, 65, 66, 127, 128, 129, n - 1, n];
        let v = if self.rng.chance(60) {
            near[self.rng.below(near.len() as u64) as usize]
        } else {
            1 + self.rng.below(n)
        };
        v.clamp(1, n)
    }

    /// A set of the enum's variants, written as `in` takes it.
    fn level_set(&mut self) -> String {
        let mut set: Vec<u64> = (0..1 + self.rng.below(5)).map(|_| self.level()).collect();
        set.sort_unstable();
        set.dedup();
        let names: Vec<String> = set.iter().map(|v| format!("level{v}")).collect();
        names.join(", ")
    }

    fn expr(&mut self, ty: T, scope: &Scope, depth: u32) -> String {
        let names: Vec<&String> =
            scope.names.iter().filter(|(_, t)| *t == ty).map(|(n, _)| n).collect();
        let leaf = depth == 0 || self.rng.chance(30);
        if leaf || ty == T::Level {
            if !names.is_empty() && self.rng.chance(75) {
                return names[self.rng.below(names.len() as u64) as usize].clone();
            }
            return match ty {
                T::Money => self.money_literal(),
                T::Rate => self.rate_literal(),
                T::Int => match self.rng.below(12) {
                    0 => "999_999_999_999_999".into(),
                    1 => "1_000_000_000".into(),
                    _ => format!("{}", self.rng.below(5)),
                },
                T::Bool => self.pick(&["true", "false"]).into(),
                T::Level => format!("level{}", self.level()),
                T::Date => self
                    .pick(&[
                        "2021-03-01",
                        "2021-07-01",
                        "2022-01-01",
                        "2021-01-31",
                        "2024-02-29",
                        "2020-12-31",
                        "2023-03-31",
                        "0001-01-01",
                        "9999-12-31",
                    ])
                    .into(),
            };
        }
        let d = depth - 1;
        match ty {
            T::Money => match self.rng.below(17) {
                15..=16 => self.proportion(scope, d),
                13 if self.shape.has("items") => format!(
                    "sum(i.amount for i in claim.items where i.kind == {})",
                    self.pick(&["drug", "exam"])
                ),
                14 if self.shape.has("items") => {
                    format!("max(i.amount * {} for i in claim.items)", self.expr(T::Rate, scope, 0))
                }
                0 => format!(
                    "({} + {})",
                    self.expr(T::Money, scope, d),
                    self.expr(T::Money, scope, d)
                ),
                1 => format!(
                    "({} - {})",
                    self.expr(T::Money, scope, d),
                    self.expr(T::Money, scope, d)
                ),
                2 => {
                    format!("{} * {}", self.expr(T::Money, scope, d), self.expr(T::Rate, scope, d))
                }
                3 => format!("{} * {}", self.expr(T::Money, scope, d), self.expr(T::Int, scope, d)),
                4 => format!("{} / {}", self.expr(T::Money, scope, d), self.expr(T::Int, scope, d)),
                5 => {
                    format!("{} / {}", self.expr(T::Money, scope, d), self.expr(T::Rate, scope, d))
                }
                6 => format!(
                    "min({}, {})",
                    self.expr(T::Money, scope, d),
                    self.expr(T::Money, scope, d)
                ),
                7 => format!(
                    "max({}, {}, 0)",
                    self.expr(T::Money, scope, d),
                    self.expr(T::Money, scope, d)
                ),
                8 => format!(
                    "(if {} then {} else {})",
                    self.expr(T::Bool, scope, d),
                    self.expr(T::Money, scope, d),
                    self.expr(T::Money, scope, d)
                ),
                9 if !scope.tables.is_empty() => {
                    let t = &scope.tables[self.rng.below(scope.tables.len() as u64) as usize];
                    format!("{t}[{}]", self.expr(T::Level, scope, d))
                }
                10 if !scope.scales.is_empty() => {
                    let s = &scope.scales[self.rng.below(scope.scales.len() as u64) as usize];
                    format!("segmented({s}, {})", self.expr(T::Money, scope, d))
                }
                11 => format!("abs({})", self.expr(T::Money, scope, d)),
                12 => self.round(scope, d),
                _ => format!("-{}", self.expr(T::Money, scope, d)),
            },
            T::Rate => match self.rng.below(8) {
                0 => {
                    format!("({} + {})", self.expr(T::Rate, scope, d), self.expr(T::Rate, scope, d))
                }
                1 => {
                    format!("({} - {})", self.expr(T::Rate, scope, d), self.expr(T::Rate, scope, d))
                }
                2 => {
                    format!("{} / {}", self.expr(T::Money, scope, d), self.expr(T::Money, scope, d))
                }
                3 => format!("{} * {}", self.expr(T::Rate, scope, d), self.expr(T::Rate, scope, d)),
                4 => format!("{} / {}", self.expr(T::Rate, scope, d), self.expr(T::Int, scope, d)),
                5 if !scope.scales.is_empty() => {
                    let s = &scope.scales[self.rng.below(scope.scales.len() as u64) as usize];
                    format!("rate_at({s}, {})", self.expr(T::Money, scope, d))
                }
                6 => format!("{} / {}", self.expr(T::Int, scope, d), self.expr(T::Int, scope, d)),
                _ => format!(
                    "max({}, {})",
                    self.expr(T::Rate, scope, d),
                    self.expr(T::Rate, scope, d)
                ),
            },
            T::Int => match self.rng.below(9) {
                5 => {
                    format!("({} - {})", self.expr(T::Date, scope, d), self.expr(T::Date, scope, d))
                }
                6 => format!(
                    "{}({})",
                    self.pick(&["year", "month", "day"]),
                    self.expr(T::Date, scope, d)
                ),
                7 => format!(
                    "years_between({}, {})",
                    self.expr(T::Date, scope, d),
                    self.expr(T::Date, scope, d)
                ),
                4 if self.shape.has("items") => {
                    "count(i for i in claim.items where i.amount > 100)".to_string()
                }
                0 => format!("({} + {})", self.expr(T::Int, scope, d), self.expr(T::Int, scope, d)),
                1 => format!("({} - {})", self.expr(T::Int, scope, d), self.expr(T::Int, scope, d)),
                2 => format!("{} * {}", self.expr(T::Int, scope, d), self.expr(T::Int, scope, d)),
                _ => {
                    format!("min({}, {})", self.expr(T::Int, scope, d), self.expr(T::Int, scope, d))
                }
            },
            T::Bool => match self.rng.below(10) {
                8 if self.shape.has("hospital") => {
                    format!("claim.hospital == \"{}\"", self.pick(&["h1", "h2"]))
                }
                9 if self.shape.has("items") => format!(
                    "any(i.kind == exam and i.amount > {} for i in claim.items)",
                    self.money_literal()
                ),
                0 => {
                    format!("{} > {}", self.expr(T::Money, scope, d), self.expr(T::Money, scope, d))
                }
                1 => {
                    format!("{} <= {}", self.expr(T::Rate, scope, d), self.expr(T::Rate, scope, d))
                }
                2 => format!("{} == {}", self.expr(T::Int, scope, d), self.expr(T::Int, scope, d)),
                3 if !self.plain => format!("claim.level == level{}", self.level()),
                4 if !self.plain => format!("claim.level in {{{}}}", self.level_set()),
                7 if !self.plain => format!("not (claim.level in {{{}}})", self.level_set()),
                5 => format!(
                    "({} and {})",
                    self.expr(T::Bool, scope, d),
                    self.expr(T::Bool, scope, d)
                ),
                6 => format!(
                    "({} or not {})",
                    self.expr(T::Bool, scope, d),
                    self.expr(T::Bool, scope, d)
                ),
                _ => format!("claim.date >= {}", self.expr(T::Date, scope, d)),
            },
            T::Date => match self.rng.below(3) {
                0 => self.expr(T::Date, scope, 0),
                _ => {
                    let amount = match self.rng.below(4) {
                        0 => self.expr(T::Int, scope, d),
                        _ => self
                            .pick(&[
                                "1", "11", "12", "13", "28", "29", "30", "31", "365", "366", "-1",
                                "-12",
                            ])
                            .to_string(),
                    };
                    format!(
                        "({} {} {amount} {})",
                        self.expr(T::Date, scope, d),
                        self.pick(&["+", "-"]),
                        self.pick(&["days", "months", "day", "month"])
                    )
                }
            },
            T::Level => self.expr(ty, scope, 0),
        }
    }

    /// `round` of an amount, often one at a half of the unit, to a unit by the policy's mode
    /// or one written.
    fn round(&mut self, scope: &Scope, d: u32) -> String {
        let value = match self.rng.below(3) {
            0 => format!(
                "{}{}",
                self.rng.below(1_000),
                self.pick(&["5.00", ".50", ".05", "5.01", "4.99", ".45", ".55"])
            ),
            1 => format!("-{}5.00", self.rng.below(100)),
            _ => self.expr(T::Money, scope, d),
        };
        let unit = self.pick(&["fen", "jiao", "yuan", "10", "100", "1_000_000_000_000_000"]);
        if self.rng.chance(50) {
            format!("round({value}, {unit})")
        } else {
            let mode = self.pick(&["half_up", "half_even", "down", "up"]);
            format!("round({value}, {unit}, {mode})")
        }
    }

    /// A proportion `x * a / b`, rounded once: of amounts, rates or counts (either order of the
    /// factors, the product in parentheses or not), at half-fen ties and near the money bound.
    fn proportion(&mut self, scope: &Scope, d: u32) -> String {
        // An amount; a whole number written with decimals, as a bare one would be a count.
        let m = |g: &mut Self| {
            let e = g.expr(T::Money, scope, d);
            if e.chars().all(|c| c.is_ascii_digit() || c == '_') { format!("{e}.00") } else { e }
        };
        match self.rng.below(10) {
            0 => format!("{} * ({}) / ({})", m(self), m(self), m(self)),
            1 => format!("({} * {}) / ({})", m(self), m(self), m(self)),
            2 => {
                let (x, a, b) =
                    (m(self), self.expr(T::Rate, scope, d), self.expr(T::Rate, scope, d));
                format!("{x} * ({a}) / ({b})")
            }
            3 => {
                let (a, x, b) = (self.expr(T::Int, scope, d), m(self), self.expr(T::Int, scope, d));
                format!("({a}) * {x} / ({b})")
            }
            // Half a fen: an odd number of fen halved, by every unit.
            4 | 5 => {
                let x = m(self);
                self.pick(&["0.01 / 0.02", "50% / 100%", "1 / 2", "3 / -6", "0.05 / -0.10"])
                    .split_once(" / ")
                    .map_or(String::new(), |(a, b)| format!("{x} * {a} / ({b})"))
            }
            // Products far beyond 64 bits, results at and beyond the bound.
            6 => {
                let (big, near) = (
                    self.pick(&[
                        "999_999_999_999_999.99",
                        "1_000_000_000_000_000",
                        "-999_999_999_999_999.99",
                    ]),
                    self.pick(&[
                        "999_999_999_999_999.98",
                        "1_000_000_000_000_000",
                        "0.03",
                        "-0.01",
                    ]),
                );
                format!("{} * {big} / {near}", m(self))
            }
            7 => format!("{} * 99_999_999_999_999.99 / 100_000_000_000_000", m(self)),
            _ => {
                let (x, a) = (m(self), self.expr(T::Int, scope, d));
                format!("{x} * ({a}) / {}", self.pick(&["3", "7", "0", "-2"]))
            }
        }
    }

    /// A random program: header, enums, input, accumulators, parameters, `let`s, rules, stages.
    pub fn program(&mut self) -> String {
        self.shape = self.shape();
        let mut s = String::from("policy random.program\nrounding ");
        s.push_str(self.pick(&["half_up", "half_even", "down", "up"]));
        let levels: Vec<String> = (1..=self.shape.levels).map(|v| format!("level{v}")).collect();
        let fields: Vec<String> = self
            .shape
            .fields
            .iter()
            .map(|&(name, kind)| {
                let ty = match kind {
                    Kind::Id | Kind::Member | Kind::Text => "text",
                    Kind::Date | Kind::Since => "date",
                    Kind::Money => "money",
                    Kind::Rate => "rate",
                    Kind::Int => "int",
                    Kind::Bool => "bool",
                    Kind::Level => "Level",
                    Kind::Items => "list of Item",
                };
                format!("{name}: {ty}")
            })
            .collect();
        let _ = write!(
            s,
            "\nenum Level {{ {} }}\nenum Kind {{ drug, exam }}\nrecord Item {{ kind: Kind, amount: money }}\n\
             input claim {{ {} }}\n",
            levels.join(", "),
            fields.join(", ")
        );
        let mut scope = Scope::default();
        for &(name, kind) in &self.shape.fields {
            let ty = match kind {
                Kind::Money => T::Money,
                Kind::Rate => T::Rate,
                Kind::Int => T::Int,
                Kind::Bool => T::Bool,
                Kind::Level => T::Level,
                Kind::Date | Kind::Since => T::Date,
                Kind::Id | Kind::Member | Kind::Text | Kind::Items => continue,
            };
            scope.names.push((format!("claim.{name}"), ty));
        }
        // Accumulators read values of earlier claims; their types are declared.
        // Where the record has a text field, some totals are a group's (keyed by it), beside
        // the member's own.
        let grouped = self.shape.has("hospital") && self.rng.chance(50);
        let accs = self.rng.below(3);
        // Every window, rolling look-backs and episodes too (one ending on a date field).
        let mut windows = vec![
            "yearly",
            "lifetime",
            "monthly",
            "quarterly",
            "rolling 30 days",
            "rolling 2 months",
            "episode 20 days",
        ];
        if self.shape.has("onset") {
            windows.push("episode 15 days after claim.onset");
        }
        for i in 0..accs {
            let by = self.group_key(grouped);
            // A rolling or episode total is a member's: group totals take the calendar windows.
            let window = if by.is_empty() { self.pick(&windows) } else { self.pick(&windows[..4]) };
            let _ = writeln!(
                s,
                "{window}{by} seen_{i}: int = count() where claim.total > {}",
                self.money_literal()
            );
            scope.names.push((format!("seen_{i}"), T::Int));
        }
        let by = self.group_key(grouped);
        let window = if by.is_empty() { self.pick(&windows) } else { self.pick(&windows[..4]) };
        let _ = writeln!(s, "{window}{by} paid: money = sum(s0.pay)");
        scope.names.push(("paid".into(), T::Money));
        if self.rng.chance(40) {
            let fold = self.pick(&["min", "max"]);
            let _ = writeln!(
                s,
                "{} {fold}_pay: money = {fold}(s0.pay) where claim.total > {}",
                self.pick(&windows),
                self.money_literal()
            );
            scope.names.push((format!("{fold}_pay"), T::Money));
        }
        // Parameters.
        for i in 0..self.rng.below(3) + 1 {
            let dated = self.rng.chance(60);
            let (ty, lit) = if self.rng.chance(50) {
                ("money", self.money_literal())
            } else {
                ("rate", self.rate_literal())
            };
            if dated {
                let second = if ty == "money" { self.money_literal() } else { self.rate_literal() };
                let _ = writeln!(
                    s,
                    "param p{i}: {ty}\n    from 2021-01-01 {lit}\n    from 2021-07-01 {second}"
                );
            } else {
                let _ = writeln!(s, "param p{i}: {ty} = {lit}");
            }
            scope.names.push((format!("p{i}"), if ty == "money" { T::Money } else { T::Rate }));
        }
        if self.rng.chance(70) {
            // Every variant when there are few, else a few and a default for the rest.
            let cells = |g: &mut Self| {
                let n = g.shape.levels;
                let named: Vec<u64> = if n <= 3 {
                    (1..=n).collect()
                } else {
                    let mut v: Vec<u64> = (0..3).map(|_| g.level()).collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                };
                let mut out: Vec<String> =
                    named.iter().map(|v| format!("level{v}: {}", g.money_literal())).collect();
                if (named.len() as u64) < n {
                    out.push(format!("_: {}", g.money_literal()));
                }
                out.join(", ")
            };
            let (first, second) = (cells(self), cells(self));
            let _ = writeln!(
                s,
                "param t0: money by Level\n    from 2021-01-01 {{ {first} }}\n    from 2022-01-01 {{ {second} }}"
            );
            scope.tables.push("t0".into());
        }
        if self.rng.chance(70) {
            let cut = 1 + self.rng.below(100_000);
            let (r1, r2) = (self.rate_literal(), self.rate_literal());
            let _ = writeln!(
                s,
                "param k0: scale\n    from 2021-01-01 {{ 0 .. {cut}: {r1}, {cut} ..: {r2} }}\n    from 2021-07-01 {{ 0 ..: {r2} }}"
            );
            scope.scales.push("k0".into());
        }
        // `let`s and rules.
        for i in 0..self.rng.below(4) {
            let ty = [T::Money, T::Rate, T::Int, T::Bool][self.rng.below(4) as usize];
            let e = self.expr(ty, &scope, 3);
            let annotation = match ty {
                T::Money => "money",
                T::Rate => "rate",
                T::Int => "int",
                _ => "bool",
            };
            let _ = writeln!(s, "let v{i}: {annotation} = {e}");
            scope.names.push((format!("v{i}"), ty));
        }
        for i in 0..self.rng.below(3) {
            let default = self.expr(T::Money, &scope, 2);
            let _ = writeln!(s, "rule r{i}: money\n    default {default}");
            // Exclusive conditions on the level, so that the checker accepts the rule; a
            // condition on computed values may still conflict at run time.
            let _ =
                writeln!(s, "    when claim.level == level1 -> {}", self.expr(T::Money, &scope, 2));
            if self.shape.levels > 1 && self.rng.chance(50) {
                self.plain = true;
                let _ = writeln!(
                    s,
                    "    when claim.level == level2 and {} -> {}",
                    self.expr(T::Bool, &scope, 1),
                    self.expr(T::Money, &scope, 2)
                );
                self.plain = false;
                self.plain = true;
                let _ = writeln!(
                    s,
                    "    when claim.level == level2 and {} -> {}",
                    self.expr(T::Bool, &scope, 1),
                    self.expr(T::Money, &scope, 2)
                );
                self.plain = false;
            }
            scope.names.push((format!("r{i}"), T::Money));
        }
        // Stages: payers, then the patient's remainder.
        let stages = 1 + self.rng.below(3);
        // Mostly each payer takes at most what the earlier ones left; now and then it may
        // take the whole total, so that the balance check fails too.
        let mut left = String::from("claim.total");
        for i in 0..stages {
            let e = self.expr(T::Money, &scope, 3);
            let cap = if self.rng.chance(85) { left.clone() } else { "claim.total".to_string() };
            let _ =
                writeln!(s, "stage s{i} (pay: money) {{\n    pay = max(min({e}, {cap}), 0)\n}}");
            scope.names.push((format!("s{i}.pay"), T::Money));
            let _ = write!(left, " - s{i}.pay");
        }
        let pays: Vec<String> = (0..stages).map(|i| format!("s{i}.pay")).collect();
        let _ = writeln!(
            s,
            "stage patient (out: money) {{\n    out = claim.total - {}\n}}",
            pays.join(" - ")
        );
        let _ = writeln!(s, "balance claim.total = {} + patient.out", pays.join(" + "));
        s
    }

    /// ` by claim.hospital` for a group total, now and then, when the program has groups.
    fn group_key(&mut self, grouped: bool) -> &'static str {
        if grouped && self.rng.chance(60) { " by claim.hospital" } else { "" }
    }

    /// A random input record: id, member, date, total and the enum always; the other kinds
    /// each with even odds; in a random order; an enum of 1 to 300 variants.
    fn shape(&mut self) -> Shape {
        let mut fields: Vec<(&'static str, Kind)> = vec![
            ("id", Kind::Id),
            ("member", Kind::Member),
            ("date", Kind::Date),
            ("total", Kind::Money),
            ("level", Kind::Level),
        ];
        for field in [
            ("part", Kind::Money),
            ("ratio", Kind::Rate),
            ("days", Kind::Int),
            ("flag", Kind::Bool),
            ("onset", Kind::Since),
            ("hospital", Kind::Text),
            ("items", Kind::Items),
        ] {
            if self.rng.chance(55) {
                fields.push(field);
            }
        }
        for i in (1..fields.len()).rev() {
            fields.swap(i, self.rng.below(i as u64 + 1) as usize);
        }
        let sizes = [1, 2, 3, 5, 63, 64, 65, 66, 127, 128, 129, 200, 300];
        let levels = if self.rng.chance(30) {
            1 + self.rng.below(300)
        } else {
            sizes[self.rng.below(sizes.len() as u64) as usize]
        };
        Shape { fields, levels }
    }

    /// A cell pasted the way users paste: around a tab, a vertical tab, a non-breaking space,
    /// a byte order mark, in full-width digits, or quoted (and within the quotes, spaces).
    fn pasted(&mut self, cell: String) -> String {
        match self.rng.below(120) {
            0 => format!("\t{cell}"),
            1 => format!("{cell}\u{b}"),
            2 => format!("\u{a0}{cell}"),
            3 => format!("\u{feff}{cell}"),
            4 => cell
                .chars()
                .map(|c| match c.to_digit(10) {
                    Some(d) => char::from_u32(0xFF10 + d).unwrap_or(c),
                    None => c,
                })
                .collect(),
            5 => format!(" {cell} "),
            6 => format!("\"{cell}\""),
            7 => format!("\"\u{a0}{cell}\t\""),
            _ => cell,
        }
    }

    /// An amount: often at a bound, now and then one step beyond it.
    fn money_cell(&mut self) -> String {
        match self.rng.below(40) {
            0 => "1000000000000000.01".to_string(),
            1 => "-0.01".to_string(),
            2 => "0.001".to_string(),
            3..=5 => "0".to_string(),
            6..=7 => "1000000000000000".to_string(),
            8 => "999999999999999.99".to_string(),
            9..=11 => "0.01".to_string(),
            12..=14 => format!("{}.{:02}", self.rng.below(1_000_000_000_000), self.rng.below(100)),
            _ => format!("{}.{:02}", self.rng.below(100_000), self.rng.below(100)),
        }
    }

    /// A rate: often at a bound, now and then one step beyond it (in precision too).
    fn rate_cell(&mut self) -> String {
        match self.rng.below(45) {
            0 => "0".to_string(),
            1 => "1000000000".to_string(),
            2 => "-1000000000".to_string(),
            3 => "1000000000.000001".to_string(),
            4 => "-999999999.999999".to_string(),
            5 => "0.000001".to_string(),
            6 => "0.0000001".to_string(),
            7 => "-10000000000000".to_string(),
            8 => format!("{}%", self.rng.below(1_000)),
            9 => "79000000000000000000000".to_string(),
            _ => format!("0.{:06}", self.rng.below(1_000_000)),
        }
    }

    fn int_cell(&mut self) -> String {
        ["0", "1", "2", "7", "-3", "1000000000000", "9223372036854775807", "-9223372036854775808"]
            [self.rng.below(8) as usize]
            .to_string()
    }

    /// `count` random claims for the last program written, as CSV.
    pub fn claims(&mut self, count: usize) -> String {
        let shape = self.shape.clone();
        let names: Vec<&str> = shape.fields.iter().map(|(n, _)| *n).collect();
        // Some files start with a byte order mark, as spreadsheets save them.
        let mut csv = if self.rng.chance(10) { "\u{feff}".to_string() } else { String::new() };
        csv.push_str(&names.join(","));
        csv.push('\n');
        for i in 0..count {
            let mut cells = Vec::with_capacity(shape.fields.len());
            for &(_, kind) in &shape.fields {
                let cell = match kind {
                    Kind::Id => format!("c{i}"),
                    Kind::Member => format!("m{}", self.rng.below(5)),
                    Kind::Date => [
                        "2020-12-31",
                        "2021-01-01",
                        "2021-06-30",
                        "2021-07-01",
                        "2021-12-31",
                        "2022-01-01",
                        "2022-05-05",
                        "2021-01-31",
                        "2024-02-29",
                        "2023-12-31",
                    ][self.rng.below(10) as usize]
                        .to_string(),
                    Kind::Money => self.money_cell(),
                    Kind::Rate => self.rate_cell(),
                    Kind::Int => self.int_cell(),
                    Kind::Bool => self.pick(&["true", "false", "1", "0", "yes"]).to_string(),
                    Kind::Since => {
                        self.pick(&["1970-01-01", "2021-07-01", "2024-02-29", "2023-02-29"]).into()
                    }
                    Kind::Text => format!("h{}", 1 + self.rng.below(2)),
                    Kind::Level => {
                        if self.rng.chance(2) {
                            format!("level{}", shape.levels + 1)
                        } else {
                            format!("level{}", self.level())
                        }
                    }
                    Kind::Items => {
                        let items: Vec<String> = (0..self.rng.below(4))
                            .map(|_| {
                                let kind = if self.rng.chance(50) { "drug" } else { "exam" };
                                let amount = if self.rng.chance(10) {
                                    self.money_cell()
                                } else {
                                    format!("{}.{:02}", self.rng.below(5_000), self.rng.below(100))
                                };
                                format!(
                                    "{{\"\"kind\"\":\"\"{kind}\"\",\"\"amount\"\":\"\"{amount}\"\"}}"
                                )
                            })
                            .collect();
                        format!("\"[{}]\"", items.join(","))
                    }
                };
                let cell = match kind {
                    Kind::Items => cell,
                    _ => self.pasted(cell),
                };
                cells.push(cell);
            }
            csv.push_str(&cells.join(","));
            csv.push('\n');
        }
        csv
    }
}
