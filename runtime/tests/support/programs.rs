//! Random well-typed settle programs and claims for them, from a seed: shared by the
//! differential test and the `differential` fuzz target.

use std::fmt::Write;

use settle_runtime::generate::Rng;

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

/// Writes random programs and claims.
pub struct Gen {
    /// The random sequence.
    pub rng: Rng,
}

impl Gen {
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.rng.below(items.len() as u64) as usize]
    }

    fn money_literal(&mut self) -> String {
        match self.rng.below(6) {
            0 => "0".into(),
            1 => format!("{}", self.rng.below(1_000)),
            2 => format!("{}.{:02}", self.rng.below(100_000), self.rng.below(100)),
            3 => format!("{}_000", self.rng.below(1_000)),
            4 => "999_999_999_999_999".into(),
            _ => format!("{}.5", self.rng.below(10)),
        }
    }

    fn rate_literal(&mut self) -> String {
        match self.rng.below(5) {
            0 => "0%".into(),
            1 => "100%".into(),
            2 => format!("{}.5%", self.rng.below(100)),
            3 => format!("{}%", self.rng.below(1_000)),
            _ => format!("{}%", self.rng.below(101)),
        }
    }

    fn expr(&mut self, ty: T, scope: &Scope, depth: u32) -> String {
        let names: Vec<&String> =
            scope.names.iter().filter(|(_, t)| *t == ty).map(|(n, _)| n).collect();
        let leaf = depth == 0 || self.rng.chance(30);
        if leaf || (ty == T::Level || ty == T::Date) {
            if !names.is_empty() && self.rng.chance(75) {
                return names[self.rng.below(names.len() as u64) as usize].clone();
            }
            return match ty {
                T::Money => self.money_literal(),
                T::Rate => self.rate_literal(),
                T::Int => format!("{}", self.rng.below(5)),
                T::Bool => self.pick(&["true", "false"]).into(),
                T::Level => self.pick(&["level1", "level2", "level3"]).into(),
                T::Date => self.pick(&["2021-03-01", "2021-07-01", "2022-01-01"]).into(),
            };
        }
        let d = depth - 1;
        match ty {
            T::Money => match self.rng.below(15) {
                13 => format!(
                    "sum(i.amount for i in claim.items where i.kind == {})",
                    self.pick(&["drug", "exam"])
                ),
                14 => {
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
            T::Int => match self.rng.below(5) {
                4 => "count(i for i in claim.items where i.amount > 100)".to_string(),
                0 => format!("({} + {})", self.expr(T::Int, scope, d), self.expr(T::Int, scope, d)),
                1 => format!("({} - {})", self.expr(T::Int, scope, d), self.expr(T::Int, scope, d)),
                2 => format!("{} * {}", self.expr(T::Int, scope, d), self.expr(T::Int, scope, d)),
                _ => {
                    format!("min({}, {})", self.expr(T::Int, scope, d), self.expr(T::Int, scope, d))
                }
            },
            T::Bool => match self.rng.below(10) {
                8 => format!("claim.hospital == \"{}\"", self.pick(&["h1", "h2"])),
                9 => format!(
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
                3 => format!("claim.level == {}", self.pick(&["level1", "level2", "level3"])),
                4 => format!(
                    "claim.level in {{{}}}",
                    self.pick(&["level1", "level1, level3", "level2, level3"])
                ),
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
            T::Level | T::Date => self.expr(ty, scope, 0),
        }
    }

    /// A random program: header, enums, input, accumulators, parameters, `let`s, rules, stages.
    pub fn program(&mut self) -> String {
        let mut s = String::from("policy random.program\nrounding ");
        s.push_str(self.pick(&["half_up", "half_even", "down", "up"]));
        s.push_str(
            "\nenum Level { level1, level2, level3 }\nenum Kind { drug, exam }\nrecord Item { kind: Kind, amount: money }\n\
             input claim { id: text, member: text, date: date, level: Level, total: money, part: money, days: int, flag: bool, hospital: text, items: list of Item }\n",
        );
        let mut scope = Scope::default();
        for (n, t) in [
            ("claim.total", T::Money),
            ("claim.part", T::Money),
            ("claim.days", T::Int),
            ("claim.flag", T::Bool),
            ("claim.level", T::Level),
            ("claim.date", T::Date),
        ] {
            scope.names.push((n.into(), t));
        }
        // Accumulators read values of earlier claims; their types are declared.
        let accs = self.rng.below(3);
        for i in 0..accs {
            let _ = writeln!(
                s,
                "yearly seen_{i}: int = count() where claim.total > {}",
                self.money_literal()
            );
            scope.names.push((format!("seen_{i}"), T::Int));
        }
        let _ = writeln!(s, "yearly paid: money = sum(s0.pay)");
        scope.names.push(("paid".into(), T::Money));
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
            let (a, b, c) = (self.money_literal(), self.money_literal(), self.money_literal());
            let _ = writeln!(
                s,
                "param t0: money by Level\n    from 2021-01-01 {{ level1: {a}, level2: {b}, level3: {c} }}\n    from 2022-01-01 {{ level1: {b}, _: {a} }}"
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
            if self.rng.chance(50) {
                let _ = writeln!(
                    s,
                    "    when claim.level == level2 and {} -> {}",
                    self.expr(T::Bool, &scope, 1),
                    self.expr(T::Money, &scope, 2)
                );
                let _ = writeln!(
                    s,
                    "    when claim.level == level2 and {} -> {}",
                    self.expr(T::Bool, &scope, 1),
                    self.expr(T::Money, &scope, 2)
                );
            }
            scope.names.push((format!("r{i}"), T::Money));
        }
        // Stages: payers, then the patient's remainder.
        let stages = 1 + self.rng.below(3);
        for i in 0..stages {
            let e = self.expr(T::Money, &scope, 3);
            let _ = writeln!(
                s,
                "stage s{i} (pay: money) {{\n    pay = max(min({e}, claim.total), 0)\n}}"
            );
            scope.names.push((format!("s{i}.pay"), T::Money));
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

    /// `count` random claims for every program of this generator, as CSV.
    pub fn claims(&mut self, count: usize) -> String {
        let mut csv = String::from("id,member,date,level,total,part,days,flag,hospital,items\n");
        for i in 0..count {
            let date = [
                "2020-12-31",
                "2021-01-01",
                "2021-06-30",
                "2021-07-01",
                "2021-12-31",
                "2022-01-01",
                "2022-05-05",
            ][self.rng.below(7) as usize];
            let total = match self.rng.below(5) {
                0 => "0".to_string(),
                1 => "1000000000000000".to_string(),
                2 => format!("{}.{:02}", self.rng.below(1_000_000_000_000), self.rng.below(100)),
                _ => format!("{}.{:02}", self.rng.below(100_000), self.rng.below(100)),
            };
            let part = format!("{}", self.rng.below(50_000));
            let days = ["0", "1", "2", "7", "-3", "1000000000000"][self.rng.below(6) as usize];
            let items: Vec<String> = (0..self.rng.below(4))
                .map(|_| {
                    let kind = if self.rng.chance(50) { "drug" } else { "exam" };
                    format!(
                        "{{\"\"kind\"\":\"\"{kind}\"\",\"\"amount\"\":\"\"{}.{:02}\"\"}}",
                        self.rng.below(5_000),
                        self.rng.below(100)
                    )
                })
                .collect();
            let _ = writeln!(
                csv,
                "c{i},m{},{date},level{},{total},{part},{days},{},h{},\"[{}]\"",
                self.rng.below(5),
                1 + self.rng.below(3),
                self.rng.chance(50),
                1 + self.rng.below(2),
                items.join(",")
            );
        }
        csv
    }
}
