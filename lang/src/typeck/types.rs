//! Types while checking, and the unit rules of arithmetic and comparison.

use crate::ast::{BinaryOp, TypeExpr};
use crate::diagnostic::{Code, Problem, did_you_mean};
use crate::ir::Type;

use crate::check::Checker;

/// A type while checking: a known type, an integer literal whose unit its context decides, or
/// the type of something already reported as wrong (which raises no further error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Known(Type),
    Number,
    Error,
}

/// The outcome of applying an operator to two operand types.
pub(crate) enum Outcome {
    /// The result type.
    Ok { result: Type },
    /// A unit or type error: code, message, help.
    Err(Code, String, String),
}

impl Checker<'_> {
    /// A type's name as users write it.
    pub(crate) fn type_name(&self, ty: Type) -> String {
        ty.name(&self.enums, &self.records)
    }

    /// A checking type's name as users write it.
    pub(crate) fn ty_name(&self, ty: Ty) -> String {
        match ty {
            Ty::Known(t) => self.type_name(t),
            Ty::Number => "number".into(),
            Ty::Error => "unknown".into(),
        }
    }

    /// Resolve a written type; report unknown names.
    pub(crate) fn resolve_type(&mut self, file: usize, ty: &TypeExpr) -> Option<Type> {
        match ty {
            TypeExpr::Named(id) => {
                let builtin = match id.name.as_str() {
                    "money" => Some(Type::Money),
                    "rate" => Some(Type::Rate),
                    "int" => Some(Type::Int),
                    "bool" => Some(Type::Bool),
                    "date" => Some(Type::Date),
                    "text" => Some(Type::Text),
                    _ => None,
                };
                if builtin.is_some() {
                    return builtin;
                }
                if let Some(&(e, decl)) = self.enum_names.get(&id.name) {
                    self.refer(file, id.span, decl.symbol);
                    return Some(Type::Enum(e));
                }
                if let Some(&(r, decl)) = self.record_names.get(&id.name) {
                    self.refer(file, id.span, decl.symbol);
                    return Some(Type::Record(r));
                }
                if self.is_broken(&id.name) {
                    return None;
                }
                let help = self.unknown_type_help(&id.name);
                let suggestion = self.type_suggestion(&id.name);
                self.report(
                    Problem::error(
                        Code::NameUnknownType,
                        file,
                        id.span,
                        format!("unknown type `{}`", id.name),
                    )
                    .label("no type of this name")
                    .help(help)
                    .suggest(id.span, suggestion.as_deref()),
                );
                None
            }
            TypeExpr::List(id, _) => match self.record_names.get(&id.name).copied() {
                Some((r, decl)) => {
                    self.refer(file, id.span, decl.symbol);
                    Some(Type::List(r))
                }
                None => {
                    let help = match did_you_mean(
                        &id.name,
                        self.record_names.keys().map(String::as_str),
                    ) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "a list holds records: declare one with `record Name { ... }`"
                            .to_string(),
                    };
                    self.report(
                        Problem::error(
                            Code::NameUnknownType,
                            file,
                            id.span,
                            format!("unknown record `{}`", id.name),
                        )
                        .label("no record of this name")
                        .help(help),
                    );
                    None
                }
            },
        }
    }

    /// The type a misspelt or borrowed type name most likely means.
    fn type_suggestion(&self, name: &str) -> Option<String> {
        match name {
            "decimal" | "yuan" | "amount" | "number" | "float" => Some("money".to_string()),
            "percent" | "ratio" | "percentage" => Some("rate".to_string()),
            "string" | "str" => Some("text".to_string()),
            _ => {
                let builtins = ["money", "rate", "int", "bool", "date", "text"];
                let candidates = builtins
                    .iter()
                    .copied()
                    .chain(self.enum_names.keys().map(String::as_str))
                    .chain(self.record_names.keys().map(String::as_str));
                did_you_mean(name, candidates).map(str::to_string)
            }
        }
    }

    fn unknown_type_help(&self, name: &str) -> String {
        let builtins = ["money", "rate", "int", "bool", "date", "text"];
        let candidates = builtins
            .iter()
            .copied()
            .chain(self.enum_names.keys().map(String::as_str))
            .chain(self.record_names.keys().map(String::as_str));
        match (name, did_you_mean(name, candidates)) {
            ("decimal" | "yuan" | "amount" | "number" | "float", _) => {
                "amounts of yuan have type `money`".to_string()
            }
            ("percent" | "ratio" | "percentage", _) => "ratios have type `rate`".to_string(),
            ("string" | "str", _) => "strings have type `text`".to_string(),
            (_, Some(s)) => format!("did you mean `{s}`?"),
            _ => "the types are `money`, `rate`, `int`, `bool`, `date`, `text`, enums and \
                  records"
                .to_string(),
        }
    }

    /// The unit rules: what `left op right` is, or why it is wrong.
    pub(crate) fn binary_outcome(&self, op: BinaryOp, left: Type, right: Type) -> Outcome {
        use Type::{Date, Int, Money, Rate};
        let ok = |result| Outcome::Ok { result };
        let l = self.type_name(left);
        let r = self.type_name(right);
        match op {
            BinaryOp::Add | BinaryOp::Sub => match (left, right) {
                (Money, Money) | (Rate, Rate) | (Int, Int) => ok(left),
                (Money, Rate) | (Rate, Money) => Outcome::Err(
                    Code::TypeUnits,
                    format!("cannot {} `{l}` and `{r}`", verb(op)),
                    "a rate is a share, not an amount: to take a share of an amount, multiply \
                     (`amount * 90%`)"
                        .into(),
                ),
                (Money, Int) | (Int, Money) => Outcome::Err(
                    Code::TypeUnits,
                    format!("cannot {} `{l}` and `{r}`", verb(op)),
                    "a count is not an amount of yuan: to scale an amount, multiply it; to write an \
                     amount, give it decimals (`100.00`)"
                        .into(),
                ),
                (Date, Date) if op == BinaryOp::Sub => ok(Int),
                (Date, Date) => Outcome::Err(
                    Code::TypeUnits,
                    "cannot add `date` and `date`".into(),
                    "subtract dates for the days between them (`claim.discharge - claim.admission`), \
                     or move a date by a length of time (`claim.date + 30 days`)"
                        .into(),
                ),
                (Date, Int) => Outcome::Err(
                    Code::TypeUnits,
                    format!("cannot {} `{l}` and `{r}`", verb(op)),
                    format!(
                        "a date moves by a length of time: write `claim.date {} n days` or `n months`",
                        op.symbol()
                    ),
                ),
                (Date, _) | (_, Date) => Outcome::Err(
                    Code::TypeUnits,
                    format!("cannot {} `{l}` and `{r}`", verb(op)),
                    "a date minus a date is a number of days; a date moves by `n days` or \
                     `n months` written after it (`claim.date + 30 days`)"
                        .into(),
                ),
                _ => Outcome::Err(
                    Code::TypeUnits,
                    format!("cannot {} `{l}` and `{r}`", verb(op)),
                    "both sides need the same unit: `money`, `rate` or `int`".into(),
                ),
            },
            BinaryOp::Mul => match (left, right) {
                (Money, Rate) | (Rate, Money) | (Money, Int) | (Int, Money) => ok(Money),
                (Rate, Rate) | (Rate, Int) | (Int, Rate) => ok(Rate),
                (Int, Int) => ok(Int),
                (Money, Money) => Outcome::Err(
                    Code::TypeUnits,
                    "cannot multiply `money` by `money`".into(),
                    "yuan times yuan has no meaning alone: a proportion is written `x * a / b` \
                     (divided by an amount, rounded once); a share is an amount times a rate \
                     such as `90%`"
                        .into(),
                ),
                _ => Outcome::Err(
                    Code::TypeUnits,
                    format!("cannot multiply `{l}` by `{r}`"),
                    "multiply amounts, rates and counts".into(),
                ),
            },
            BinaryOp::Div => match (left, right) {
                (Money, Money) | (Rate, Rate) | (Int, Int) | (Rate, Int) => ok(Rate),
                (Money, Int) | (Money, Rate) => ok(Money),
                _ => Outcome::Err(
                    Code::TypeUnits,
                    format!("cannot divide `{l}` by `{r}`"),
                    "divide an amount by an amount (a rate), by a count or by a rate".into(),
                ),
            },
            BinaryOp::Eq | BinaryOp::Ne => {
                if left == right && !matches!(left, Type::List(_) | Type::Record(_)) {
                    ok(Type::Bool)
                } else {
                    self.compare_error(left, right)
                }
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                if left == right && matches!(left, Money | Rate | Int | Date) {
                    ok(Type::Bool)
                } else if left == right {
                    Outcome::Err(
                        Code::TypeCompare,
                        format!("`{l}` values have no order"),
                        "only amounts, rates, counts and dates compare with `<` and `>`; use \
                         `==` or `in`"
                            .into(),
                    )
                } else {
                    self.compare_error(left, right)
                }
            }
            BinaryOp::And | BinaryOp::Or => {
                if left == Type::Bool && right == Type::Bool {
                    ok(Type::Bool)
                } else {
                    Outcome::Err(
                        Code::TypeCondition,
                        format!("`{}` needs conditions on both sides", op.symbol()),
                        format!("found `{l}` and `{r}`; compare values to make conditions"),
                    )
                }
            }
            BinaryOp::In => Outcome::Err(
                Code::TypeMismatch,
                "`in` needs a set of variants on its right".into(),
                "write `claim.group in {minimum_allowance, extreme_poverty}`".into(),
            ),
        }
    }

    fn compare_error(&self, left: Type, right: Type) -> Outcome {
        let l = self.type_name(left);
        let r = self.type_name(right);
        let help = match (left, right) {
            (Type::Money, Type::Rate) | (Type::Rate, Type::Money) => {
                "an amount is not a rate: compare an amount with an amount, or a rate with a rate"
            }
            (Type::Date, _) | (_, Type::Date) => "compare a date with a date, such as `2023-05-01`",
            (Type::Enum(_), _) | (_, Type::Enum(_)) => "compare an enum with one of its variants",
            _ => "both sides of a comparison need the same type",
        };
        Outcome::Err(Code::TypeCompare, format!("cannot compare `{l}` with `{r}`"), help.into())
    }
}

fn verb(op: BinaryOp) -> &'static str {
    if op == BinaryOp::Add { "add" } else { "subtract" }
}
