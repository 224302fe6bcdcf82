//! Expressions: name resolution and types with units, producing typed IR expressions.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::ast::{self, BinaryOp, ExprKind, Ident, Literal, UnaryOp};
use crate::diagnostic::{Code, FileId, Problem, did_you_mean};
use crate::ir::{self, ClaimPart, Const, FoldKind, ParamKind, Type};
use crate::span::Span;

use super::proportion::product;
use super::types::{Outcome, Ty};
use crate::check::{Checker, Global};
use crate::resolve::symbols::{Kind, Symbol, SymbolId};

/// The functions a policy may call.
pub(crate) const FUNCTIONS: &[&str] = &[
    "min",
    "max",
    "abs",
    "round",
    "segmented",
    "rate_at",
    "sum",
    "count",
    "any",
    "all",
    "year",
    "month",
    "day",
    "years_between",
];

/// The units `round` takes by name, in fen.
const ROUND_UNITS: [(&str, i64); 3] = [("fen", 1), ("jiao", 10), ("yuan", 100)];
/// The largest whole number of yuan `round` takes as a unit: the bound of money, 10^15 yuan.
const ROUND_UNIT_LIMIT_YUAN: i64 = 1_000_000_000_000_000;

/// What names mean where an expression stands.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    pub file: FileId,
    /// Inside a stage: its id and the index of the statement being checked.
    pub stage: Option<(ir::StageId, usize)>,
    /// The stage's locals and outputs by name, with the statement index that sets them
    /// (`usize::MAX` for outputs not set yet).
    pub stage_names: HashMap<String, (ir::ValueId, usize)>,
    /// Variables bound by folds, outermost first, with their record type and their symbol.
    pub vars: Vec<(String, ir::RecordId, SymbolId)>,
    /// In a test: the labels of its claims, with their symbols.
    pub claims: Vec<(String, SymbolId)>,
    /// In period settlement: what the expression may read (`None` for a claim's values).
    pub period: Option<super::period::Phase>,
    /// In a base stage an override replaces: its own outputs and `let`s by name, which the
    /// names read denote (they are looked up through the derived stage's slots).
    pub replaced: HashMap<String, SymbolId>,
}

/// An expression once checked.
#[derive(Debug, Clone)]
pub(crate) enum TExpr {
    /// Typed IR.
    Typed(ir::Expr),
    /// Whole numbers and arithmetic on them, whose unit is decided by where they stand: their
    /// IR is built once it is ([`Number::typed`]).
    Number(Number),
    /// An expression whose error has been reported: it has no IR.
    Error(Span),
}

impl TExpr {
    pub(super) fn new(kind: ir::ExprKind, ty: Type, span: Span) -> Self {
        TExpr::Typed(ir::Expr { kind, ty, span })
    }

    pub(super) fn error(span: Span) -> Self {
        TExpr::Error(span)
    }

    /// Its type while checking.
    pub(crate) fn ty(&self) -> Ty {
        match self {
            TExpr::Typed(e) => Ty::Known(e.ty),
            TExpr::Number(_) => Ty::Number,
            TExpr::Error(_) => Ty::Error,
        }
    }

    /// Where it is written.
    pub(crate) fn span(&self) -> Span {
        match self {
            TExpr::Typed(e) => e.span,
            TExpr::Number(n) => n.span,
            TExpr::Error(span) => *span,
        }
    }

    pub(super) fn with_span(mut self, span: Span) -> Self {
        match &mut self {
            TExpr::Typed(e) => e.span = span,
            TExpr::Number(n) => n.span = span,
            TExpr::Error(at) => *at = span,
        }
        self
    }
}

/// A number without a unit yet: `450`, `-1`, `2 * 3`, `min(1, 2)`.
#[derive(Debug, Clone)]
pub(crate) struct Number {
    kind: NumberKind,
    span: Span,
}

#[derive(Debug, Clone)]
enum NumberKind {
    Lit(i64),
    Neg(Box<Number>),
    Abs(Box<Number>),
    /// Addition, subtraction or multiplication.
    Binary(ir::BinOp, Box<Number>, Box<Number>),
    Min(Vec<Number>),
    Max(Vec<Number>),
    If(Box<ir::Expr>, Box<Number>, Box<Number>),
}

impl Number {
    fn new(kind: NumberKind, span: Span) -> Self {
        Number { kind, span }
    }

    /// The IR of the number in the unit of `target`: money, a count, or (for zero) a rate.
    pub(super) fn typed(self, target: Type) -> ir::Expr {
        let typed = |n: Box<Number>, t: Type| Box::new(n.typed(t));
        let kind = match self.kind {
            NumberKind::Lit(n) => ir::ExprKind::Const(match target {
                Type::Int => Const::Int(n),
                Type::Rate => Const::Rate(Decimal::from(n)),
                _ => Const::Money(Decimal::from(n)),
            }),
            NumberKind::Neg(x) => ir::ExprKind::Neg(typed(x, target)),
            NumberKind::Abs(x) => ir::ExprKind::Abs(typed(x, target)),
            // An amount times a number is an amount times a count, never yuan times yuan.
            NumberKind::Binary(ir::BinOp::Mul, a, b) if target == Type::Money => {
                ir::ExprKind::Binary(ir::BinOp::Mul, typed(a, target), typed(b, Type::Int))
            }
            NumberKind::Binary(op, a, b) => {
                ir::ExprKind::Binary(op, typed(a, target), typed(b, target))
            }
            NumberKind::Min(xs) => {
                ir::ExprKind::Min(xs.into_iter().map(|x| x.typed(target)).collect())
            }
            NumberKind::Max(xs) => {
                ir::ExprKind::Max(xs.into_iter().map(|x| x.typed(target)).collect())
            }
            NumberKind::If(c, a, b) => ir::ExprKind::If(c, typed(a, target), typed(b, target)),
        };
        ir::Expr { kind, ty: target, span: self.span }
    }

    fn is_zero(&self) -> bool {
        matches!(self.kind, NumberKind::Lit(0))
    }

    fn is_literal(&self) -> bool {
        match &self.kind {
            NumberKind::Lit(_) => true,
            NumberKind::Neg(x) => x.is_literal(),
            _ => false,
        }
    }
}

/// Several checked expressions made one type.
enum Unified {
    Typed(Type, Vec<ir::Expr>),
    Numbers(Vec<Number>),
}

impl Checker<'_> {
    /// Check `e` and convert it to `target`, reporting a mismatch.
    pub(crate) fn expr_of(
        &mut self,
        scope: &Scope,
        e: &ast::Expr,
        target: Type,
        what: &str,
    ) -> Option<ir::Expr> {
        let t = self.infer(scope, e, Some(target));
        self.convert(scope.file, t, target, what)
    }

    /// Convert a checked expression to `target`: integer literals take the unit, anything else
    /// must already have the type.
    pub(crate) fn convert(
        &mut self,
        file: FileId,
        t: TExpr,
        target: Type,
        what: &str,
    ) -> Option<ir::Expr> {
        match t {
            TExpr::Error(_) => None,
            TExpr::Number(n) => self.number_to(file, n, target),
            TExpr::Typed(e) if e.ty == target => Some(e),
            TExpr::Typed(e) => {
                let found = e.ty;
                let help = self.mismatch_help(&e, found, target);
                let expected = self.type_name(target);
                let found_name = self.type_name(found);
                self.report(
                    Problem::error(
                        Code::TypeMismatch,
                        file,
                        e.span,
                        format!("{what} must be `{expected}`, found `{found_name}`"),
                    )
                    .label(format!("this is `{found_name}`"))
                    .help(help),
                );
                None
            }
        }
    }

    fn mismatch_help(&self, e: &ir::Expr, found: Type, target: Type) -> String {
        match (found, target) {
            (Type::Rate, Type::Money) => {
                if matches!(&e.kind, ir::ExprKind::Binary(ir::BinOp::Mul, _, _)) {
                    "a rate times a rate is still a rate; multiply by an amount to get money \
                     (`amount * 90% * 50%`)"
                        .into()
                } else {
                    "a rate is a share; multiply it by an amount to get money".into()
                }
            }
            (Type::Money, Type::Rate) => {
                "a rate is written with `%` (`85%`), or is an amount divided by an amount".into()
            }
            (Type::Int, Type::Money) => "a count is not an amount of yuan".into(),
            (Type::Bool, _) => "this is a condition; use `if condition then a else b`".into(),
            (_, Type::Bool) => "a condition compares values, as in `claim.total > 0`".into(),
            _ => format!("give a value of type `{}`", self.type_name(target)),
        }
    }

    /// Give a number a unit; report `85` where `85%` was meant.
    fn number_to(&mut self, file: FileId, n: Number, target: Type) -> Option<ir::Expr> {
        match target {
            Type::Money | Type::Int => Some(n.typed(target)),
            Type::Rate if n.is_zero() => Some(n.typed(target)),
            Type::Rate => {
                let shown = self.file_text(file).get(n.span.range()).unwrap_or("").to_string();
                let problem = Problem::error(
                    Code::TypeRateLiteral,
                    file,
                    n.span,
                    format!("`{shown}` is not a rate"),
                );
                self.report(if n.is_literal() {
                    problem
                        .label("a number without `%`")
                        .help(format!("write rates with `%`: `{shown}%`"))
                        .fix(format!("write `{shown}%`"), n.span, format!("{shown}%"))
                } else {
                    problem
                        .label("numbers without `%`")
                        .help("write each number of a rate with `%`, as in `85%`")
                });
                None
            }
            _ => {
                let expected = self.type_name(target);
                self.report(
                    Problem::error(
                        Code::TypeMismatch,
                        file,
                        n.span,
                        format!("expected `{expected}`, found a number"),
                    )
                    .label("a number")
                    .help(format!("give a value of type `{expected}`")),
                );
                None
            }
        }
    }

    /// Infer the type of `e`; `expect` helps resolve bare enum variants and literals.
    pub(crate) fn infer(&mut self, scope: &Scope, e: &ast::Expr, expect: Option<Type>) -> TExpr {
        let span = e.span;
        if let Some(read) = self.test_period_read(scope, e) {
            return read;
        }
        match &e.kind {
            ExprKind::Lit(lit) => literal(lit, span),
            ExprKind::Paren(inner) => self.infer(scope, inner, expect).with_span(span),
            ExprKind::Name(id) => self.name(scope, id, expect),
            ExprKind::Member(base, field) => self.member(scope, base, field, span),
            ExprKind::Index(base, keys) => self.index(scope, base, keys, span),
            ExprKind::Call(func, args) => self.call(scope, func, args, expect, span),
            ExprKind::Fold { func, body, var, list, filter } => {
                self.fold(scope, func, body, var, list, filter.as_deref(), expect, span)
            }
            ExprKind::If(c, a, b) => {
                let cond = self.condition(scope, c);
                let a = self.infer(scope, a, expect);
                let b = self.infer(scope, b, expect.or(known(a.ty())));
                let unified = self.unify(scope.file, vec![a, b], "the two branches of `if`");
                match (cond, unified) {
                    (Some(c), Some(Unified::Typed(ty, parts))) => match <[_; 2]>::try_from(parts) {
                        Ok([a, b]) => TExpr::new(
                            ir::ExprKind::If(Box::new(c), Box::new(a), Box::new(b)),
                            ty,
                            span,
                        ),
                        Err(_) => TExpr::error(span),
                    },
                    (Some(c), Some(Unified::Numbers(parts))) => match <[_; 2]>::try_from(parts) {
                        Ok([a, b]) => TExpr::Number(Number::new(
                            NumberKind::If(Box::new(c), Box::new(a), Box::new(b)),
                            span,
                        )),
                        Err(_) => TExpr::error(span),
                    },
                    _ => TExpr::error(span),
                }
            }
            ExprKind::Unary(UnaryOp::Not, x) => match self.condition(scope, x) {
                Some(c) => TExpr::new(ir::ExprKind::Not(Box::new(c)), Type::Bool, span),
                None => TExpr::error(span),
            },
            ExprKind::Unary(UnaryOp::Neg, x) => match self.infer(scope, x, expect) {
                TExpr::Error(_) => TExpr::error(span),
                TExpr::Number(n) => TExpr::Number(Number::new(NumberKind::Neg(Box::new(n)), span)),
                TExpr::Typed(e) if matches!(e.ty, Type::Money | Type::Rate | Type::Int) => {
                    let ty = e.ty;
                    TExpr::new(ir::ExprKind::Neg(Box::new(e)), ty, span)
                }
                TExpr::Typed(e) => {
                    let name = self.type_name(e.ty);
                    self.report(
                        Problem::error(
                            Code::TypeUnits,
                            scope.file,
                            span,
                            format!("cannot negate `{name}`"),
                        )
                        .label(format!("this is `{name}`"))
                        .help("only amounts, rates and counts have a sign"),
                    );
                    TExpr::error(span)
                }
            },
            ExprKind::Binary(op, l, r) => self.binary(scope, *op, l, r, expect, span),
            ExprKind::Duration(amount, _) => {
                // Checked for its names all the same; a length of time alone has no value.
                let _ = self.infer(scope, amount, Some(Type::Int));
                self.report(
                    Problem::error(
                        Code::TypeDuration,
                        scope.file,
                        span,
                        "a length of time stands only after `date +` or `date -`",
                    )
                    .label("not a value")
                    .help(
                        "move a date by it, as in `claim.date + 30 days`; the days between two \
                         dates are `later - earlier`",
                    ),
                );
                TExpr::error(span)
            }
            ExprKind::Set(_) => {
                self.report(
                    Problem::error(
                        Code::TypeNotAValue,
                        scope.file,
                        span,
                        "a set of variants stands only after `in`",
                    )
                    .label("not a value")
                    .help("write `claim.group in {minimum_allowance, extreme_poverty}`"),
                );
                TExpr::error(span)
            }
        }
    }

    /// Check a condition.
    pub(crate) fn condition(&mut self, scope: &Scope, e: &ast::Expr) -> Option<ir::Expr> {
        match self.infer(scope, e, Some(Type::Bool)) {
            TExpr::Typed(e) if e.ty == Type::Bool => Some(e),
            TExpr::Error(_) => None,
            other => {
                let name = self.ty_name(other.ty());
                self.report(
                    Problem::error(
                        Code::TypeCondition,
                        scope.file,
                        e.span,
                        format!("expected a condition, found `{name}`"),
                    )
                    .label("not true or false")
                    .help("compare it with something, as in `admissions >= 2`"),
                );
                None
            }
        }
    }

    /// Make several expressions one type (numbers take the others' unit).
    fn unify(&mut self, file: FileId, parts: Vec<TExpr>, what: &str) -> Option<Unified> {
        if parts.iter().any(|p| p.ty() == Ty::Error) {
            return None;
        }
        let target = parts.iter().find_map(|p| known(p.ty()));
        let Some(target) = target else {
            let numbers = parts
                .into_iter()
                .filter_map(|p| match p {
                    TExpr::Number(n) => Some(n),
                    _ => None,
                })
                .collect();
            return Some(Unified::Numbers(numbers));
        };
        let mut out = Vec::new();
        for p in parts {
            if let Ty::Known(t) = p.ty() {
                if t != target {
                    let a = self.type_name(target);
                    let b = self.type_name(t);
                    self.report(
                        Problem::error(
                            Code::TypeMismatch,
                            file,
                            p.span(),
                            format!("{what} must have one type: `{a}` and `{b}`"),
                        )
                        .label(format!("this is `{b}`"))
                        .help(format!("make every one `{a}`")),
                    );
                    return None;
                }
            }
            out.push(self.convert(file, p, target, what)?);
        }
        Some(Unified::Typed(target, out))
    }

    fn binary(
        &mut self,
        scope: &Scope,
        op: BinaryOp,
        l: &ast::Expr,
        r: &ast::Expr,
        expect: Option<Type>,
        span: Span,
    ) -> TExpr {
        let Some(ir_op) = ir_op(op) else { return self.in_set(scope, l, r, span) };
        if matches!(op, BinaryOp::Add | BinaryOp::Sub)
            && let Some((amount, unit, negated)) = duration(r)
        {
            // `d - n days` and `d + -n days` move back; `d - -n days` forward.
            let back = (op == BinaryOp::Sub) != negated;
            return self.shift(scope, back, op, l, amount, unit, span);
        }
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let a = self.condition(scope, l);
            let b = self.condition(scope, r);
            return match (a, b) {
                (Some(a), Some(b)) => TExpr::new(
                    ir::ExprKind::Binary(ir_op, Box::new(a), Box::new(b)),
                    Type::Bool,
                    span,
                ),
                _ => TExpr::error(span),
            };
        }
        if op == BinaryOp::Div
            && let Some(factors) = product(l)
        {
            return self.proportion(scope, l, factors, r, span);
        }
        let (a, b) = self.operands(scope, op, l, r, expect);
        self.combine(scope.file, op, ir_op, (a, b), span)
    }

    /// The checked operands of `l op r`: a bare variant takes its unit from the other side.
    pub(super) fn operands(
        &mut self,
        scope: &Scope,
        op: BinaryOp,
        l: &ast::Expr,
        r: &ast::Expr,
        expect: Option<Type>,
    ) -> (TExpr, TExpr) {
        let pass = matches!(op, BinaryOp::Add | BinaryOp::Sub).then_some(expect).flatten();
        if self.is_unbound(scope, l) && !self.is_unbound(scope, r) {
            let b = self.infer(scope, r, pass);
            let a = self.infer(scope, l, known(b.ty()).or(pass));
            (a, b)
        } else {
            let a = self.infer(scope, l, pass);
            let b = self.infer(scope, r, known(a.ty()).filter(|_| op.is_comparison()).or(pass));
            (a, b)
        }
    }

    /// `a op b` for checked operands of an arithmetic or comparison operator, by the unit
    /// rules; a mismatch is reported.
    pub(super) fn combine(
        &mut self,
        file: FileId,
        op: BinaryOp,
        ir_op: ir::BinOp,
        (a, b): (TExpr, TExpr),
        span: Span,
    ) -> TExpr {
        if let (BinaryOp::Add | BinaryOp::Sub, TExpr::Typed(x), TExpr::Number(n)) = (op, &a, &b)
            && x.ty == Type::Date
        {
            return self.bare_days(file, op, n, span);
        }
        let (lt, rt) = match (&a, &b) {
            (TExpr::Error(_), _) | (_, TExpr::Error(_)) => return TExpr::error(span),
            (TExpr::Number(_), TExpr::Number(_)) => match op {
                BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul => {
                    let (TExpr::Number(x), TExpr::Number(y)) = (a, b) else {
                        return TExpr::error(span);
                    };
                    return TExpr::Number(Number::new(
                        NumberKind::Binary(ir_op, Box::new(x), Box::new(y)),
                        span,
                    ));
                }
                BinaryOp::Div => (Type::Money, Type::Money),
                _ => (Type::Int, Type::Int),
            },
            (TExpr::Number(_), TExpr::Typed(y)) => (number_side(op, y.ty, true), y.ty),
            (TExpr::Typed(x), TExpr::Number(_)) => (x.ty, number_side(op, x.ty, false)),
            (TExpr::Typed(x), TExpr::Typed(y)) => (x.ty, y.ty),
        };
        let (a_span, b_span) = (a.span(), b.span());
        let (Some(a), Some(b)) = (self.operand(file, a, lt), self.operand(file, b, rt)) else {
            return TExpr::error(span);
        };
        match self.binary_outcome(op, lt, rt) {
            Outcome::Ok { result, .. } => {
                let e = ir::Expr {
                    kind: ir::ExprKind::Binary(ir_op, Box::new(a), Box::new(b)),
                    ty: result,
                    span,
                };
                self.warn_rounded_ratio(file, &e);
                TExpr::Typed(e)
            }
            Outcome::Err(code, message, help) => {
                let (ln, rn) = (self.type_name(lt), self.type_name(rt));
                let at = self.operator_span(file, a_span, b_span, op.symbol()).unwrap_or(span);
                self.report(
                    Problem::error(code, file, at, message)
                        .label("here")
                        .with(a_span, format!("`{ln}`"))
                        .with(b_span, format!("`{rn}`"))
                        .help(help),
                );
                TExpr::error(span)
            }
        }
    }

    /// `date + n days`, `date - n months`: the date moved by a length of time.
    #[expect(clippy::too_many_arguments, reason = "a date, a length of time and its sign")]
    fn shift(
        &mut self,
        scope: &Scope,
        back: bool,
        op: BinaryOp,
        date: &ast::Expr,
        amount: &ast::Expr,
        unit: ir::DateUnit,
        span: Span,
    ) -> TExpr {
        let d = self.infer(scope, date, Some(Type::Date));
        let what = match unit {
            ir::DateUnit::Days => "the number of days",
            ir::DateUnit::Months => "the number of months",
        };
        let n = self.expr_of(scope, amount, Type::Int, what);
        match (d, n) {
            (TExpr::Typed(d), Some(n)) if d.ty == Type::Date => {
                let n = if back {
                    ir::Expr { span: n.span, ty: Type::Int, kind: ir::ExprKind::Neg(Box::new(n)) }
                } else {
                    n
                };
                TExpr::new(ir::ExprKind::Shift(Box::new(d), Box::new(n), unit), Type::Date, span)
            }
            (TExpr::Error(_), _) | (_, None) => TExpr::error(span),
            (other, Some(_)) => {
                let name = self.ty_name(other.ty());
                let verb = if op == BinaryOp::Add { "add" } else { "subtract" };
                self.report(
                    Problem::error(
                        Code::TypeDuration,
                        scope.file,
                        other.span(),
                        format!("cannot {verb} a length of time and `{name}`"),
                    )
                    .label(format!("this is `{name}`, not a date"))
                    .help("days and months move a date, as in `claim.date + 30 days`"),
                );
                TExpr::error(span)
            }
        }
    }

    /// `date + 3`: a number beside a date, whose unit (days or months) is not written.
    fn bare_days(&mut self, file: FileId, op: BinaryOp, n: &Number, span: Span) -> TExpr {
        let shown = self.file_text(file).get(n.span.range()).unwrap_or("").to_string();
        let verb = if op == BinaryOp::Add { "add" } else { "subtract" };
        let problem = Problem::error(
            Code::TypeUnits,
            file,
            n.span,
            format!("cannot {verb} a number and a date"),
        )
        .label("days or months?");
        let problem = if n.is_literal() {
            problem.help(format!("write `{shown} days` or `{shown} months`")).fix(
                format!("write `{shown} days`"),
                n.span,
                format!("{shown} days"),
            )
        } else {
            problem.help("write the unit after the number: `n days` or `n months`")
        };
        self.report(problem);
        TExpr::error(span)
    }

    /// An operand of an operator: a number takes the unit `ty`; typed IR stays as it is (the
    /// operator's unit rules judge it).
    pub(super) fn operand(&mut self, file: FileId, t: TExpr, ty: Type) -> Option<ir::Expr> {
        match t {
            TExpr::Typed(e) => Some(e),
            TExpr::Number(n) => self.number_to(file, n, ty),
            TExpr::Error(_) => None,
        }
    }

    fn in_set(&mut self, scope: &Scope, l: &ast::Expr, r: &ast::Expr, span: Span) -> TExpr {
        let a = self.infer(scope, l, None);
        let ExprKind::Set(items) = &r.kind else {
            self.report(
                Problem::error(Code::TypeMismatch, scope.file, r.span, "`in` needs a set of variants")
                    .label("not a set")
                    .help("write the variants in braces: `claim.group in {minimum_allowance, extreme_poverty}`"),
            );
            return TExpr::error(span);
        };
        let (a, enum_id) = match a {
            TExpr::Typed(e) => match e.ty {
                Type::Enum(id) => (e, id),
                other => return self.not_an_enum(scope, l, Ty::Known(other), span),
            },
            TExpr::Error(_) => return TExpr::error(span),
            other => return self.not_an_enum(scope, l, other.ty(), span),
        };
        let mut variants = Vec::new();
        for item in items {
            match self.infer(scope, item, Some(Type::Enum(enum_id))) {
                TExpr::Typed(ir::Expr {
                    kind: ir::ExprKind::Const(Const::Enum(v)),
                    ty: Type::Enum(e),
                    ..
                }) if e == enum_id => variants.push(v),
                TExpr::Error(_) => return TExpr::error(span),
                _ => {
                    let name = self.type_name(Type::Enum(enum_id));
                    self.report(
                        Problem::error(
                            Code::TypeMismatch,
                            scope.file,
                            item.span,
                            format!("expected a variant of `{name}`"),
                        )
                        .label("not a variant")
                        .help("list variants of the enum on the left of `in`"),
                    );
                    return TExpr::error(span);
                }
            }
        }
        TExpr::new(ir::ExprKind::In(Box::new(a), variants), Type::Bool, span)
    }

    fn not_an_enum(&mut self, scope: &Scope, l: &ast::Expr, ty: Ty, span: Span) -> TExpr {
        let name = self.ty_name(ty);
        self.report(
            Problem::error(
                Code::TypeMismatch,
                scope.file,
                l.span,
                format!("`in` tests an enum, found `{name}`"),
            )
            .label(format!("this is `{name}`"))
            .help("to test a range of amounts, compare: `x >= 100 and x < 200`"),
        );
        TExpr::error(span)
    }

    /// Where the operator between two operands is written.
    fn operator_span(&self, file: FileId, left: Span, right: Span, symbol: &str) -> Option<Span> {
        let between = self.file_text(file).get(left.end as usize..right.start as usize)?;
        let at = between.find(symbol)? + left.end as usize;
        Some(Span::new(at, at + symbol.len()))
    }

    /// Whether `e` is a bare name that no scope binds (most likely an enum variant).
    fn is_unbound(&self, scope: &Scope, e: &ast::Expr) -> bool {
        match &e.kind {
            ExprKind::Name(id) => {
                !scope.vars.iter().any(|(n, ..)| *n == id.name)
                    && !scope.stage_names.contains_key(&id.name)
                    && !self.globals.contains_key(&id.name)
            }
            ExprKind::Paren(inner) => self.is_unbound(scope, inner),
            _ => false,
        }
    }

    fn name(&mut self, scope: &Scope, id: &Ident, expect: Option<Type>) -> TExpr {
        let span = id.span;
        let bound = scope.vars.iter().enumerate().rev().find(|(_, (n, ..))| *n == id.name);
        if let Some((depth, (_, record, symbol))) = bound {
            self.refer(scope.file, span, *symbol);
            return TExpr::new(ir::ExprKind::Local(depth), Type::Record(*record), span);
        }
        if let Some(&(value, set_at)) = scope.stage_names.get(&id.name) {
            let own = scope.replaced.get(&id.name).copied();
            if let Some(symbol) = own.or_else(|| self.stage_symbol(value)) {
                self.refer(scope.file, span, symbol);
            }
            return self.stage_value(scope, value, set_at, span, &id.name);
        }
        if let Some(read) = self.period_name(scope, id) {
            return read;
        }
        if let Some(&(global, decl)) = self.globals.get(&id.name) {
            self.refer(scope.file, span, decl.symbol);
            if !scope.claims.is_empty() {
                return self.outside_claim(scope, &id.name, span);
            }
            if self.mistyped_read(&id.name) {
                return TExpr::error(span);
            }
            return self.global(scope, global, &id.name, span);
        }
        if let Some((_, symbol)) = scope.claims.iter().find(|(c, _)| *c == id.name) {
            self.refer(scope.file, span, *symbol);
            self.report(
                Problem::error(
                    Code::TypeNotAValue,
                    scope.file,
                    span,
                    format!("`{}` is a claim of this test, not a value", id.name),
                )
                .label("a whole claim")
                .help(format!("read one of its values, as in `{}.basic.pay`", id.name)),
            );
            return TExpr::error(span);
        }
        self.variant(scope, id, expect)
    }

    /// Whether `name` is an override declared with another type than its base's (reported
    /// there); a read of it counts as a use.
    fn mistyped_read(&mut self, name: &str) -> bool {
        if !self.mistyped.contains(name) {
            return false;
        }
        match self.globals.get(name).map(|(g, _)| *g) {
            Some(Global::Param(p)) => {
                if let Some(slot) = self.params.get_mut(p) {
                    slot.used = true;
                }
            }
            Some(Global::Value(v)) => {
                if let Some(slot) = self.slots.get_mut(v) {
                    slot.used = true;
                }
            }
            _ => {}
        }
        true
    }

    /// The symbol of a stage's output or `let`, for the index.
    pub(crate) fn stage_symbol(&self, value: ir::ValueId) -> Option<SymbolId> {
        let slot = self.slots.get(value)?;
        match slot.kind {
            ir::ValueKind::Output(_) | ir::ValueKind::StageLocal(_) => Some(slot.decl.symbol),
            ir::ValueKind::Let | ir::ValueKind::Rule => None,
        }
    }

    /// The symbol a top-level value's name denotes.
    fn global_symbol(&self, name: &str) -> Option<SymbolId> {
        self.globals.get(name).map(|(_, d)| d.symbol)
    }

    /// A test expectation reading a value without saying of which claim.
    fn outside_claim(&mut self, scope: &Scope, name: &str, span: Span) -> TExpr {
        let first = scope.claims.first().map(|(c, _)| c.clone()).unwrap_or_default();
        self.report(
            Problem::error(
                Code::TestUnknownValue,
                scope.file,
                span,
                format!("`{name}` is read without naming a claim of the test"),
            )
            .label("which claim's value?")
            .help(format!("name the claim first, as in `{first}.{name}`")),
        );
        TExpr::error(span)
    }

    fn stage_value(
        &mut self,
        scope: &Scope,
        value: ir::ValueId,
        set_at: usize,
        span: Span,
        name: &str,
    ) -> TExpr {
        let now = scope.stage.map_or(usize::MAX, |(_, i)| i);
        if set_at >= now {
            let decl = self.slots.get(value).map(|s| s.decl);
            let mut p = Problem::error(
                Code::StageReadBeforeSet,
                scope.file,
                span,
                format!("`{name}` is read before it is set"),
            )
            .label("read here");
            if let Some(d) = decl {
                p = p.also(d.file, d.span, "declared here");
            }
            self.report(p.help("set a value before the statements that read it"));
            return TExpr::error(span);
        }
        self.use_value(value, span)
    }

    fn use_value(&mut self, value: ir::ValueId, span: Span) -> TExpr {
        match self.slots.get_mut(value) {
            Some(slot) => {
                slot.used = true;
                match slot.ty {
                    Some(t) => TExpr::new(ir::ExprKind::Value(value), t, span),
                    None => TExpr::error(span),
                }
            }
            None => TExpr::error(span),
        }
    }

    fn global(&mut self, scope: &Scope, global: Global, name: &str, span: Span) -> TExpr {
        match global {
            Global::Value(v) => self.use_value(v, span),
            Global::Acc(a) => match self.accs.get(a).and_then(|x| x.ty) {
                Some(t) => TExpr::new(ir::ExprKind::Acc(a), t, span),
                None => TExpr::error(span),
            },
            Global::Param(p) => {
                if let Some(slot) = self.params.get_mut(p) {
                    slot.used = true;
                }
                match self.params.get(p).and_then(|p| p.def.as_ref()).map(|p| p.kind.clone()) {
                    Some(ParamKind::Scalar(t)) => TExpr::new(ir::ExprKind::Param(p), t, span),
                    Some(ParamKind::Table { keys, .. }) => {
                        let keys: Vec<String> = keys
                            .iter()
                            .map(|k| format!("`{}`", self.type_name(Type::Enum(*k))))
                            .collect();
                        self.report(
                            Problem::error(
                                Code::TypeNotAValue,
                                scope.file,
                                span,
                                format!("`{name}` is a table, not a value"),
                            )
                            .label("a table")
                            .help(format!(
                                "look up one cell by {}, as in `{name}[claim.level]`",
                                keys.join(" and ")
                            )),
                        );
                        TExpr::error(span)
                    }
                    Some(ParamKind::Scale) => {
                        self.report(
                            Problem::error(
                                Code::TypeNotAValue,
                                scope.file,
                                span,
                                format!("`{name}` is a scale, not a value"),
                            )
                            .label("a segmented scale")
                            .help(format!(
                                "apply it to an amount: `segmented({name}, amount)` pays each \
                                 bracket at its rate; `rate_at({name}, amount)` is one bracket's rate"
                            )),
                        );
                        TExpr::error(span)
                    }
                    Some(ParamKind::ScaleBy { key, .. }) => {
                        let key = self.type_name(Type::Enum(key));
                        self.report(
                            Problem::error(
                                Code::TypeNotAValue,
                                scope.file,
                                span,
                                format!("`{name}` is a scale per `{key}`, not a value"),
                            )
                            .label("a segmented scale for each variant")
                            .help(format!(
                                "choose one by a `{key}` and apply it to an amount: \
                                 `segmented({name}[claim.field], amount)` or `rate_at({name}[claim.field], amount)`"
                            )),
                        );
                        TExpr::error(span)
                    }
                    None => TExpr::error(span),
                }
            }
            Global::Stage(_) => {
                self.report(
                    Problem::error(
                        Code::TypeNotAValue,
                        scope.file,
                        span,
                        format!("`{name}` is a stage, not a value"),
                    )
                    .label("a stage")
                    .help(format!("read one of its outputs, as in `{name}.pay`")),
                );
                TExpr::error(span)
            }
            Global::Input => {
                self.report(
                    Problem::error(
                        Code::TypeNotAValue,
                        scope.file,
                        span,
                        format!("`{name}` is the whole claim, not a value"),
                    )
                    .label("the input record")
                    .help(format!("read one of its fields, as in `{name}.total`")),
                );
                TExpr::error(span)
            }
        }
    }

    /// A bare name that is no value: an enum variant, or a mistake.
    fn variant(&mut self, scope: &Scope, id: &Ident, expect: Option<Type>) -> TExpr {
        let span = id.span;
        if let Some(Type::Enum(e)) = expect {
            if let Some(v) = self.variant_index(e, &id.name) {
                self.refer_variant(scope.file, e, id);
                return TExpr::new(ir::ExprKind::Const(Const::Enum(v)), Type::Enum(e), span);
            }
            let (enum_name, variants) =
                self.enums.get(e).map(|d| (d.name.clone(), d.variants.clone())).unwrap_or_default();
            let suggestion = did_you_mean(&id.name, variants.iter().map(String::as_str));
            let help = match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "the variants of `{enum_name}` are {}",
                    variants.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                ),
            };
            let problem = Problem::error(
                Code::NameUnknownVariant,
                scope.file,
                span,
                format!("`{}` is not a `{enum_name}`", id.name),
            )
            .label(format!("not a variant of `{enum_name}`"))
            .help(help)
            .suggest(span, suggestion);
            let problem = self.add_variant_fix(problem, &enum_name, &id.name);
            self.report(problem);
            return TExpr::error(span);
        }
        let found: Vec<(usize, u32)> = (0..self.enums.len())
            .filter_map(|e| Some((e, self.variant_index(e, &id.name)?)))
            .collect();
        let owners: Vec<usize> = found.iter().map(|(e, _)| *e).collect();
        match found.as_slice() {
            [(e, v)] => {
                self.refer_variant(scope.file, *e, id);
                TExpr::new(ir::ExprKind::Const(Const::Enum(*v)), Type::Enum(*e), span)
            }
            [(first, _), ..] => {
                let names: Vec<String> = owners
                    .iter()
                    .map(|e| format!("`{}`", self.type_name(Type::Enum(*e))))
                    .collect();
                let first_name = self.type_name(Type::Enum(*first));
                self.report(
                    Problem::error(
                        Code::NameAmbiguousVariant,
                        scope.file,
                        span,
                        format!("`{}` is a variant of {}", id.name, names.join(" and ")),
                    )
                    .label("which enum?")
                    .help(format!("name the enum: `{first_name}.{}`", id.name)),
                );
                TExpr::error(span)
            }
            [] => {
                self.unknown_name(scope, id);
                TExpr::error(span)
            }
        }
    }

    /// Offer to add `variant` to the enum `enum_name`, where the enum is declared.
    fn add_variant_fix(&self, problem: Problem, enum_name: &str, variant: &str) -> Problem {
        let declared = self.items.iter().find_map(|m| match m.item {
            ast::Item::Enum(d) if d.name.name == enum_name => Some((m.file, d)),
            _ => None,
        });
        let Some((file, d)) = declared else { return problem };
        let close = d.span.end.saturating_sub(1) as usize;
        let text = self.file_text(file);
        if text.get(close..close + 1) != Some("}") {
            return problem;
        }
        let before = text.get(..close).unwrap_or("");
        let (at, insert) = match d.variants.last() {
            None => (close, format!(" {variant} ")),
            Some((last, label)) => {
                let end = label.as_ref().map_or(last.span.end, |l| l.span.end) as usize;
                let between = before.get(end..).unwrap_or("");
                if between.contains('\n') {
                    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                    let last_start = last.span.start as usize;
                    let last_line = before.get(..last_start).and_then(|l| l.rfind('\n'));
                    let indent = last_start - last_line.map_or(0, |i| i + 1);
                    (line_start, format!("{}{variant}\n", " ".repeat(indent)))
                } else {
                    (end, format!(", {variant}"))
                }
            }
        };
        problem.fix_in(file, format!("add `{variant}` to `{enum_name}`"), Span::new(at, at), insert)
    }

    fn refer_variant(&mut self, file: FileId, e: ir::EnumId, id: &Ident) {
        let at = self.enums.get(e).and_then(|def| def.variants.iter().position(|v| *v == id.name));
        if let Some(symbol) = at.and_then(|i| self.symbols.variant(e, i)) {
            self.refer(file, id.span, symbol);
        }
    }

    fn variant_index(&self, e: ir::EnumId, name: &str) -> Option<u32> {
        let pos = self.enums.get(e)?.variants.iter().position(|v| v == name)?;
        u32::try_from(pos).ok()
    }

    fn unknown_name(&mut self, scope: &Scope, id: &Ident) {
        if self.is_broken(&id.name) {
            return;
        }
        if !scope.claims.is_empty() {
            let help = match did_you_mean(&id.name, scope.claims.iter().map(|(c, _)| c.as_str())) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "the claims of this test are {}",
                    scope
                        .claims
                        .iter()
                        .map(|(c, _)| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            self.report(
                Problem::error(
                    Code::TestUnknownClaim,
                    scope.file,
                    id.span,
                    format!("this test has no claim `{}`", id.name),
                )
                .label("no claim of this name")
                .help(help),
            );
            return;
        }
        let mut candidates: Vec<String> = self.globals.keys().cloned().collect();
        candidates.extend(scope.stage_names.keys().cloned());
        candidates.extend(scope.vars.iter().map(|(n, ..)| n.clone()));
        candidates.extend(self.enums.iter().flat_map(|e| e.variants.iter().cloned()));
        let suggestion = did_you_mean(&id.name, candidates.iter().map(String::as_str));
        let help = match suggestion {
            Some(s) => format!("did you mean `{s}`?"),
            None if FUNCTIONS.contains(&id.name.as_str()) => {
                format!("`{}` is a function: call it with arguments", id.name)
            }
            None => "declare it with `let`, `param`, `rule` or `yearly`, or check the spelling"
                .to_string(),
        };
        self.report(
            Problem::error(
                Code::NameUnknown,
                scope.file,
                id.span,
                format!("unknown name `{}`", id.name),
            )
            .label("not declared")
            .help(help)
            .suggest(id.span, suggestion),
        );
    }

    fn member(&mut self, scope: &Scope, base: &ast::Expr, field: &Ident, span: Span) -> TExpr {
        if let Some(t) = self.test_path(scope, base, field, span) {
            return t;
        }
        if let ExprKind::Name(b) = &base.kind {
            let shadowed = scope.vars.iter().any(|(n, ..)| *n == b.name)
                || scope.stage_names.contains_key(&b.name);
            if !shadowed && !scope.claims.is_empty() && self.globals.contains_key(&b.name) {
                return self.outside_claim(scope, &format!("{}.{}", b.name, field.name), span);
            }
            if !shadowed && self.mistyped_read(&b.name) {
                return TExpr::error(span);
            }
            if !shadowed {
                match self.globals.get(&b.name).copied() {
                    Some((Global::Input, decl)) => {
                        self.refer(scope.file, b.span, decl.symbol);
                        return self.input_field(scope, field, span);
                    }
                    Some((Global::Stage(s), decl)) => {
                        self.refer(scope.file, b.span, decl.symbol);
                        return self.stage_output(scope, s, field, span);
                    }
                    _ => {}
                }
                if let Some((e, decl)) = self.enum_names.get(&b.name).copied() {
                    self.refer(scope.file, b.span, decl.symbol);
                    return self.variant(scope, field, Some(Type::Enum(e)));
                }
            }
        }
        match self.infer(scope, base, None) {
            TExpr::Error(_) => TExpr::error(span),
            TExpr::Typed(e) if matches!(e.ty, Type::Record(_)) => {
                let Type::Record(r) = e.ty else { return TExpr::error(span) };
                let fields = self.records.get(r).map(|r| r.fields.clone()).unwrap_or_default();
                match fields.iter().enumerate().find(|(_, f)| f.name == field.name) {
                    Some((i, f)) => {
                        if let Some(symbol) = self.symbols.field(r, i) {
                            self.refer(scope.file, field.span, symbol);
                        }
                        TExpr::new(ir::ExprKind::RecordField(Box::new(e), i), f.ty, span)
                    }
                    None => {
                        let record = self.type_name(Type::Record(r));
                        self.unknown_field(
                            scope.file,
                            &record,
                            field,
                            fields.iter().map(|f| f.name.as_str()),
                        );
                        TExpr::error(span)
                    }
                }
            }
            other => {
                let name = self.ty_name(other.ty());
                self.report(
                    Problem::error(
                        Code::NameUnknownField,
                        scope.file,
                        field.span,
                        format!("a `{name}` has no field `{}`", field.name),
                    )
                    .label("no such field")
                    .help("only records, stages and the input have fields"),
                );
                TExpr::error(span)
            }
        }
    }

    pub(super) fn unknown_field<'n>(
        &mut self,
        file: FileId,
        owner: &str,
        field: &Ident,
        names: impl Iterator<Item = &'n str> + Clone,
    ) {
        let suggestion = did_you_mean(&field.name, names.clone()).map(str::to_string);
        let help = match &suggestion {
            Some(s) => format!("did you mean `{s}`?"),
            None => {
                let all: Vec<String> = names.map(|n| format!("`{n}`")).collect();
                if all.is_empty() {
                    format!("`{owner}` has no fields")
                } else {
                    format!("the fields of `{owner}` are {}", all.join(", "))
                }
            }
        };
        self.report(
            Problem::error(
                Code::NameUnknownField,
                file,
                field.span,
                format!("`{owner}` has no field `{}`", field.name),
            )
            .label("no such field")
            .help(help)
            .suggest(field.span, suggestion.as_deref()),
        );
    }

    fn input_field(&mut self, scope: &Scope, field: &Ident, span: Span) -> TExpr {
        let Some((input, name)) = self.input.clone() else { return TExpr::error(span) };
        let fields = self.records.get(input).map(|r| r.fields.clone()).unwrap_or_default();
        match fields.iter().enumerate().find(|(_, f)| f.name == field.name) {
            Some((i, f)) => {
                if let Some(symbol) = self.symbols.field(input, i) {
                    self.refer(scope.file, field.span, symbol);
                }
                TExpr::new(ir::ExprKind::Field(i), f.ty, span)
            }
            None => {
                self.unknown_field(
                    scope.file,
                    &name,
                    field,
                    fields.iter().map(|f| f.name.as_str()),
                );
                TExpr::error(span)
            }
        }
    }

    fn stage_output(
        &mut self,
        scope: &Scope,
        stage: ir::StageId,
        field: &Ident,
        span: Span,
    ) -> TExpr {
        let Some(info) = self.stages.get(stage).cloned() else { return TExpr::error(span) };
        let Some(&(_, value)) = info.outputs.iter().find(|(n, _)| *n == field.name) else {
            let owner = format!("stage {}", info.name);
            let names: Vec<&str> = info.outputs.iter().map(|(n, _)| n.as_str()).collect();
            let help = match did_you_mean(&field.name, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "the outputs of `{}` are {}",
                    info.name,
                    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                ),
            };
            self.report(
                Problem::error(
                    Code::NameUnknownField,
                    scope.file,
                    field.span,
                    format!("`{}` has no output `{}`", info.name, field.name),
                )
                .label(format!("not an output of {owner}"))
                .help(help),
            );
            return TExpr::error(span);
        };
        let within = scope.stage.is_some_and(|(current, _)| current == stage);
        let own = scope.replaced.get(&field.name).copied().filter(|_| within);
        if let Some(symbol) = own.or_else(|| self.stage_symbol(value)) {
            self.refer(scope.file, field.span, symbol);
        }
        if let Some((current, _)) = scope.stage {
            if current == stage {
                let set_at = scope.stage_names.get(&field.name).map_or(usize::MAX, |(_, at)| *at);
                return self.stage_value(
                    scope,
                    value,
                    set_at,
                    span,
                    &format!("{}.{}", info.name, field.name),
                );
            }
            if stage > current {
                let here = self.stages.get(current).map(|s| s.name.clone()).unwrap_or_default();
                self.report(
                    Problem::error(
                        Code::OrderLaterStage,
                        scope.file,
                        span,
                        format!("stage `{here}` reads `{}.{}`, which is settled after it", info.name, field.name),
                    )
                    .label(format!("`{}` comes later in the payer chain", info.name))
                    .also(info.decl.file, info.decl.span, "the later stage")
                    .help(format!(
                        "a stage sees only the stages before it; move this into `{}` or a later stage, or reorder the stages",
                        info.name
                    )),
                );
                return TExpr::error(span);
            }
        }
        self.use_value(value, span)
    }

    /// In a test: `a.field`, `a.rule`, `a.accumulator`, `a.stage.output`.
    fn test_path(
        &mut self,
        scope: &Scope,
        base: &ast::Expr,
        field: &Ident,
        span: Span,
    ) -> Option<TExpr> {
        if scope.claims.is_empty() {
            return None;
        }
        let (label, stage) = match &base.kind {
            ExprKind::Name(l) => (l, None),
            ExprKind::Member(inner, s) => match &inner.kind {
                ExprKind::Name(l) if scope.claims.iter().any(|(c, _)| *c == l.name) => (l, Some(s)),
                _ => return None,
            },
            _ => return None,
        };
        let claim = scope.claims.iter().position(|(c, _)| *c == label.name)?;
        if let Some((_, symbol)) = scope.claims.get(claim) {
            self.refer(scope.file, label.span, *symbol);
        }
        let part = match stage {
            Some(s) => match self.globals.get(&s.name).copied() {
                Some((Global::Stage(st), decl)) => {
                    self.refer(scope.file, s.span, decl.symbol);
                    let t = self.stage_output(
                        &Scope { file: scope.file, ..Scope::default() },
                        st,
                        field,
                        span,
                    );
                    match t {
                        TExpr::Typed(ir::Expr { kind: ir::ExprKind::Value(v), ty, .. }) => {
                            Some((ClaimPart::Value(v), Ty::Known(ty)))
                        }
                        _ => return Some(TExpr::error(span)),
                    }
                }
                _ => {
                    self.report(
                        Problem::error(
                            Code::TestUnknownValue,
                            scope.file,
                            s.span,
                            format!("`{}` is not a stage", s.name),
                        )
                        .label("no stage of this name")
                        .help(self.stage_help(&s.name)),
                    );
                    return Some(TExpr::error(span));
                }
            },
            None => {
                let part = self.claim_part(&field.name);
                let symbol = match (&part, &self.input) {
                    (Some((ClaimPart::Field(i), _)), Some((r, _))) => self.symbols.field(*r, *i),
                    (Some(_), _) => self.global_symbol(&field.name),
                    (None, _) => None,
                };
                if let Some(symbol) = symbol {
                    self.refer(scope.file, field.span, symbol);
                }
                part
            }
        };
        match part {
            Some((part, Ty::Known(ty))) => {
                Some(TExpr::new(ir::ExprKind::ClaimValue(claim, part), ty, span))
            }
            Some(_) => Some(TExpr::error(span)),
            None => {
                let mut names: Vec<String> = self.globals.keys().cloned().collect();
                if let Some((input, _)) = &self.input {
                    names.extend(
                        self.records
                            .get(*input)
                            .into_iter()
                            .flat_map(|r| r.fields.iter().map(|f| f.name.clone())),
                    );
                }
                let help = match did_you_mean(&field.name, names.iter().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => {
                        "name an input field, a `let`, a rule, a `yearly` value, or `stage.output`"
                            .to_string()
                    }
                };
                self.report(
                    Problem::error(
                        Code::TestUnknownValue,
                        scope.file,
                        field.span,
                        format!("claim `{}` has no value `{}`", label.name, field.name),
                    )
                    .label("unknown value")
                    .help(help),
                );
                Some(TExpr::error(span))
            }
        }
    }

    fn stage_help(&self, name: &str) -> String {
        let names: Vec<&str> = self.stages.iter().map(|s| s.name.as_str()).collect();
        match did_you_mean(name, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "the stages are {}",
                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    fn claim_part(&mut self, name: &str) -> Option<(ClaimPart, Ty)> {
        if let Some((input, _)) = &self.input {
            if let Some(fields) = self.records.get(*input).map(|r| &r.fields) {
                if let Some(i) = fields.iter().position(|f| f.name == name) {
                    return Some((ClaimPart::Field(i), Ty::Known(fields.get(i)?.ty)));
                }
            }
        }
        match self.globals.get(name).map(|(g, _)| *g)? {
            Global::Value(v) => {
                let slot = self.slots.get_mut(v)?;
                slot.used = true;
                Some((ClaimPart::Value(v), slot.ty.map_or(Ty::Error, Ty::Known)))
            }
            Global::Acc(a) => Some((
                ClaimPart::Acc(a),
                self.accs.get(a).and_then(|x| x.ty).map_or(Ty::Error, Ty::Known),
            )),
            _ => None,
        }
    }

    fn index(&mut self, scope: &Scope, base: &ast::Expr, keys: &[ast::Expr], span: Span) -> TExpr {
        if let Some(read) = self.period_index(scope, base, keys, span) {
            return read;
        }
        if let ExprKind::Name(id) = &base.kind {
            if let Some(symbol) = self.global_symbol(&id.name) {
                self.refer(scope.file, id.span, symbol);
            }
        }
        if matches!(&base.kind, ExprKind::Name(id) if self.mistyped_read(&id.name)) {
            for key in keys {
                let _ = self.infer(scope, key, None);
            }
            return TExpr::error(span);
        }
        let param = match &base.kind {
            ExprKind::Name(id) => match self.globals.get(&id.name).map(|(g, _)| *g) {
                Some(Global::Param(p)) => Some((p, id.name.clone())),
                _ => None,
            },
            _ => None,
        };
        let table = param.as_ref().and_then(|(p, _)| {
            match self.params.get(*p).and_then(|x| x.def.as_ref()).map(|x| x.kind.clone()) {
                Some(ParamKind::Table { keys, value }) => Some((keys, value)),
                _ => None,
            }
        });
        let Some(((p, name), (key_enums, value))) = param.clone().zip(table) else {
            if let Some((p, _)) = param {
                if self.params.get(p).is_some_and(|x| x.def.is_none()) {
                    // The table itself is wrong and reported; still check the keys.
                    for key in keys {
                        let _ = self.infer(scope, key, None);
                    }
                    return TExpr::error(span);
                }
            }
            let base_t = self.infer(scope, base, None);
            if base_t.ty() != Ty::Error {
                self.report(
                    Problem::error(Code::TypeNotATable, scope.file, base.span, "only a table can be indexed")
                        .label("not a table parameter")
                        .help("declare a table with `param name: money by Level` and index it as `name[claim.level]`"),
                );
            }
            return TExpr::error(span);
        };
        if let Some(slot) = self.params.get_mut(p) {
            slot.used = true;
        }
        if keys.len() != key_enums.len() {
            let names: Vec<String> =
                key_enums.iter().map(|k| format!("`{}`", self.type_name(Type::Enum(*k)))).collect();
            self.report(
                Problem::error(
                    Code::TypeKeyCount,
                    scope.file,
                    span,
                    format!(
                        "`{name}` takes {} key{}, found {}",
                        key_enums.len(),
                        plural(key_enums.len()),
                        keys.len()
                    ),
                )
                .label("wrong number of keys")
                .help(format!("index it by {}", names.join(" then "))),
            );
            return TExpr::error(span);
        }
        let mut out = Vec::new();
        for (key, enum_id) in keys.iter().zip(&key_enums) {
            match self.infer(scope, key, Some(Type::Enum(*enum_id))) {
                TExpr::Typed(e) if e.ty == Type::Enum(*enum_id) => out.push(e),
                TExpr::Error(_) => return TExpr::error(span),
                other => {
                    let other = other.ty();
                    let expected = self.type_name(Type::Enum(*enum_id));
                    let found = self.ty_name(other);
                    self.report(
                        Problem::error(
                            Code::TypeMismatch,
                            scope.file,
                            key.span,
                            format!("`{name}` is keyed by `{expected}`, found `{found}`"),
                        )
                        .label(format!("this is `{found}`"))
                        .help(format!(
                            "index it by a `{expected}` value, such as a field of that type"
                        )),
                    );
                    return TExpr::error(span);
                }
            }
        }
        TExpr::new(ir::ExprKind::Table(p, out), value, span)
    }

    fn call(
        &mut self,
        scope: &Scope,
        func: &Ident,
        args: &[ast::Expr],
        expect: Option<Type>,
        span: Span,
    ) -> TExpr {
        match func.name.as_str() {
            "min" | "max" => {
                if args.len() < 2 {
                    self.arity(scope.file, func, span, "at least two values", "min(a, b)");
                    return TExpr::error(span);
                }
                let parts: Vec<TExpr> = args.iter().map(|a| self.infer(scope, a, expect)).collect();
                let min = func.name == "min";
                match self.unify(scope.file, parts, &format!("the values of `{}`", func.name)) {
                    None => TExpr::error(span),
                    Some(Unified::Numbers(parts)) => TExpr::Number(Number::new(
                        if min { NumberKind::Min(parts) } else { NumberKind::Max(parts) },
                        span,
                    )),
                    Some(Unified::Typed(t, parts)) => {
                        if !matches!(t, Type::Money | Type::Rate | Type::Int | Type::Date) {
                            let name = self.type_name(t);
                            self.report(
                                Problem::error(
                                    Code::TypeMismatch,
                                    scope.file,
                                    span,
                                    format!("`{}` of `{name}` values", func.name),
                                )
                                .label("these have no order")
                                .help("compare amounts, rates, counts or dates"),
                            );
                            return TExpr::error(span);
                        }
                        let kind =
                            if min { ir::ExprKind::Min(parts) } else { ir::ExprKind::Max(parts) };
                        TExpr::new(kind, t, span)
                    }
                }
            }
            "abs" => {
                let [arg] = args else {
                    self.arity(scope.file, func, span, "one value", "abs(x)");
                    return TExpr::error(span);
                };
                match self.infer(scope, arg, expect) {
                    TExpr::Number(n) => {
                        TExpr::Number(Number::new(NumberKind::Abs(Box::new(n)), span))
                    }
                    TExpr::Typed(e) if matches!(e.ty, Type::Money | Type::Rate | Type::Int) => {
                        let ty = e.ty;
                        TExpr::new(ir::ExprKind::Abs(Box::new(e)), ty, span)
                    }
                    TExpr::Error(_) => TExpr::error(span),
                    TExpr::Typed(e) => {
                        let name = self.type_name(e.ty);
                        self.report(
                            Problem::error(
                                Code::TypeMismatch,
                                scope.file,
                                arg.span,
                                format!("`abs` of `{name}`"),
                            )
                            .label(format!("this is `{name}`"))
                            .help("`abs` takes an amount, a rate or a count"),
                        );
                        TExpr::error(span)
                    }
                }
            }
            "year" | "month" | "day" => {
                let [arg] = args else {
                    self.arity(
                        scope.file,
                        func,
                        span,
                        "one date",
                        &format!("{}(claim.date)", func.name),
                    );
                    return TExpr::error(span);
                };
                let part = match func.name.as_str() {
                    "year" => ir::DatePart::Year,
                    "month" => ir::DatePart::Month,
                    _ => ir::DatePart::Day,
                };
                match self.expr_of(scope, arg, Type::Date, &format!("the date of `{}`", func.name))
                {
                    Some(d) => {
                        TExpr::new(ir::ExprKind::DatePart(part, Box::new(d)), Type::Int, span)
                    }
                    None => TExpr::error(span),
                }
            }
            "years_between" => {
                let [from, to] = args else {
                    self.arity(
                        scope.file,
                        func,
                        span,
                        "two dates",
                        "years_between(claim.birth, claim.date)",
                    );
                    return TExpr::error(span);
                };
                let from = self.expr_of(scope, from, Type::Date, "the first date");
                let to = self.expr_of(scope, to, Type::Date, "the second date");
                match (from, to) {
                    (Some(a), Some(b)) => TExpr::new(
                        ir::ExprKind::YearsBetween(Box::new(a), Box::new(b)),
                        Type::Int,
                        span,
                    ),
                    _ => TExpr::error(span),
                }
            }
            "round" => self.round(scope, func, args, span),
            "segmented" | "rate_at" => {
                let [scale, amount] = args else {
                    self.arity(
                        scope.file,
                        func,
                        span,
                        "a scale and an amount",
                        &format!("{}(scale, amount)", func.name),
                    );
                    return TExpr::error(span);
                };
                if let ExprKind::Name(id) = &scale.kind {
                    if let Some(symbol) = self.global_symbol(&id.name) {
                        self.refer(scope.file, id.span, symbol);
                    }
                }
                if let Some(keyed) = self.keyed_scale(scope, func, scale, amount, span) {
                    return keyed;
                }
                if matches!(&scale.kind, ExprKind::Name(id) if self.mistyped_read(&id.name)) {
                    let _ = self.infer(scope, amount, Some(Type::Money));
                    return TExpr::error(span);
                }
                let scale_param = match &scale.kind {
                    ExprKind::Name(id) => match self.globals.get(&id.name).map(|(g, _)| *g) {
                        Some(Global::Param(p))
                            if matches!(
                                self.params.get(p).and_then(|x| x.def.as_ref()).map(|x| &x.kind),
                                Some(ParamKind::Scale)
                            ) =>
                        {
                            Some(p)
                        }
                        _ => None,
                    },
                    _ => None,
                };
                let Some(p) = scale_param else {
                    self.report(
                        Problem::error(
                            Code::TypeNotAScale,
                            scope.file,
                            scale.span,
                            format!("`{}` needs a scale parameter first", func.name),
                        )
                        .label("not a scale")
                        .help("declare one with `param name: scale = { 0 .. 100_000: 60%, 100_000 ..: 70% }`"),
                    );
                    return TExpr::error(span);
                };
                if let Some(slot) = self.params.get_mut(p) {
                    slot.used = true;
                }
                let Some(amount) = self.expr_of(scope, amount, Type::Money, "the amount") else {
                    return TExpr::error(span);
                };
                if func.name == "segmented" {
                    TExpr::new(ir::ExprKind::Segmented(p, Box::new(amount)), Type::Money, span)
                } else {
                    TExpr::new(ir::ExprKind::RateAt(p, Box::new(amount)), Type::Rate, span)
                }
            }
            "sum" | "count" | "any" | "all" => {
                self.report(
                    Problem::error(
                        Code::TypeNotAFold,
                        scope.file,
                        span,
                        format!("`{}` folds over a list", func.name),
                    )
                    .label("no list to fold")
                    .help(format!(
                        "write `{}(item.amount for item in claim.items where ...)`; over earlier claims of the year, declare `yearly name = {}(...)`",
                        func.name, func.name
                    )),
                );
                TExpr::error(span)
            }
            _ => {
                let suggestion = did_you_mean(&func.name, FUNCTIONS.iter().copied());
                let help = match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "the functions are {}",
                        FUNCTIONS.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
                    ),
                };
                self.report(
                    Problem::error(
                        Code::NameUnknownFunction,
                        scope.file,
                        func.span,
                        format!("unknown function `{}`", func.name),
                    )
                    .label("no function of this name")
                    .help(help)
                    .suggest(func.span, suggestion),
                );
                TExpr::error(span)
            }
        }
    }

    /// `round(x, unit)` and `round(x, unit, mode)`: money rounded to a unit by the policy's
    /// rounding mode or the one written.
    fn round(&mut self, scope: &Scope, func: &Ident, args: &[ast::Expr], span: Span) -> TExpr {
        let (value, unit, mode) = match args {
            [value, unit] => (value, unit, None),
            [value, unit, mode] => (value, unit, Some(mode)),
            _ => {
                self.arity(
                    scope.file,
                    func,
                    span,
                    "an amount, a unit and optionally a rounding mode",
                    "round(x, yuan)` or `round(x, 10, down)",
                );
                return TExpr::error(span);
            }
        };
        let value = self.expr_of(scope, value, Type::Money, "the amount to round");
        let unit = self.round_unit(scope.file, unit);
        let mode = match mode {
            None => Some(self.rounding),
            Some(m) => self.round_mode(scope.file, m),
        };
        match (value, unit, mode) {
            (Some(value), Some(unit), Some(mode)) => TExpr::new(
                ir::ExprKind::Round { value: Box::new(value), unit, mode },
                Type::Money,
                span,
            ),
            _ => TExpr::error(span),
        }
    }

    /// The unit of `round` in fen: `fen`, `jiao`, `yuan`, or a whole number of yuan.
    fn round_unit(&mut self, file: FileId, unit: &ast::Expr) -> Option<i64> {
        let fen = match &unit.kind {
            ExprKind::Name(id) => ROUND_UNITS.iter().find(|(n, _)| *n == id.name).map(|(_, f)| *f),
            ExprKind::Lit(Literal::Number { value, decimals: false }) => {
                to_int(*value).filter(|n| (1..=ROUND_UNIT_LIMIT_YUAN).contains(n)).map(|n| n * 100)
            }
            _ => None,
        };
        if fen.is_none() {
            let shown = self.file_text(file).get(unit.span.range()).unwrap_or("").to_string();
            let help = match &unit.kind {
                ExprKind::Name(id) if matches!(id.name.as_str(), "yen" | "dollar" | "euro" | "won") => {
                    "money counts the policy's currency: round to a whole unit with `yuan`, to ten \
                     with `10`, to a hundredth with `fen`"
                        .to_string()
                }
                ExprKind::Name(id) => match did_you_mean(&id.name, ROUND_UNITS.iter().map(|(n, _)| *n)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "round to `fen`, `jiao`, `yuan`, or a whole number of yuan such as `10` or `100`".to_string(),
                },
                _ => "round to `fen`, `jiao`, `yuan`, or a whole number of yuan such as `10` or `100`".to_string(),
            };
            self.report(
                Problem::error(
                    Code::TypeRound,
                    file,
                    unit.span,
                    format!("`{shown}` is not a unit to round to"),
                )
                .label("not a unit")
                .help(help),
            );
        }
        fen
    }

    /// The rounding mode written as `round`'s third argument.
    fn round_mode(&mut self, file: FileId, mode: &ast::Expr) -> Option<ir::Rounding> {
        if let ExprKind::Name(id) = &mode.kind
            && let Some(m) = ir::Rounding::ALL.into_iter().find(|m| m.name() == id.name)
        {
            return Some(m);
        }
        let shown = self.file_text(file).get(mode.span.range()).unwrap_or("").to_string();
        let names = ir::Rounding::ALL.map(|m| format!("`{}`", m.name())).join(", ");
        let help = match &mode.kind {
            ExprKind::Name(id) => {
                match did_you_mean(&id.name, ir::Rounding::ALL.map(|m| m.name())) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("the rounding modes are {names}"),
                }
            }
            _ => format!("the rounding modes are {names}"),
        };
        self.report(
            Problem::error(
                Code::TypeRound,
                file,
                mode.span,
                format!("`{shown}` is not a rounding mode"),
            )
            .label("not a rounding mode")
            .help(help),
        );
        None
    }

    /// `segmented(copay[claim.scheme], amount)` and `rate_at(...)` on a scale keyed by an enum:
    /// the scale of the key's variant, lowered to a choice among the variants' scales, so that
    /// every backend runs it as the plain scale it selects. `None` when `scale` does not name a
    /// keyed scale; a keyed scale written without its key is reported.
    fn keyed_scale(
        &mut self,
        scope: &Scope,
        func: &Ident,
        scale: &ast::Expr,
        amount: &ast::Expr,
        span: Span,
    ) -> Option<TExpr> {
        let (name, keys) = match &scale.kind {
            ExprKind::Name(id) => (id, None),
            ExprKind::Index(base, keys) => match &base.kind {
                ExprKind::Name(id) => (id, Some(keys)),
                _ => return None,
            },
            _ => return None,
        };
        let Some(Global::Param(p)) = self.globals.get(&name.name).map(|(g, _)| *g) else {
            return None;
        };
        let Some(ParamKind::ScaleBy { key, scales }) =
            self.params.get(p).and_then(|x| x.def.as_ref()).map(|x| x.kind.clone())
        else {
            return None;
        };
        if let Some(slot) = self.params.get_mut(p) {
            slot.used = true;
        }
        if let Some(symbol) = self.global_symbol(&name.name).filter(|_| keys.is_some()) {
            self.refer(scope.file, name.span, symbol);
        }
        let enum_name = self.type_name(Type::Enum(key));
        let key_expr = match keys.map(Vec::as_slice) {
            Some([k]) => match self.infer(scope, k, Some(Type::Enum(key))) {
                TExpr::Typed(e) if e.ty == Type::Enum(key) => Some(e),
                TExpr::Error(_) => {
                    let _ = self.infer(scope, amount, Some(Type::Money));
                    return Some(TExpr::error(span));
                }
                other => {
                    let found = self.ty_name(other.ty());
                    self.report(
                        Problem::error(
                            Code::ScaleKey,
                            scope.file,
                            k.span,
                            format!("`{}` is keyed by `{enum_name}`, found `{found}`", name.name),
                        )
                        .label(format!("this is `{found}`"))
                        .help(format!("choose the scale by a `{enum_name}` value, such as a field of that type")),
                    );
                    None
                }
            },
            _ => {
                self.report(
                    Problem::error(
                        Code::ScaleKey,
                        scope.file,
                        scale.span,
                        format!("`{}` is a scale per `{enum_name}`: it needs one key", name.name),
                    )
                    .label(format!("which `{enum_name}`?"))
                    .help(format!(
                        "choose the variant's scale: `{}({}[claim.field], amount)` with a `{enum_name}` field",
                        func.name, name.name
                    )),
                );
                None
            }
        };
        let amount = self.expr_of(scope, amount, Type::Money, "the amount");
        let (Some(key_expr), Some(amount)) = (key_expr, amount) else {
            return Some(TExpr::error(span));
        };
        let ty = if func.name == "segmented" { Type::Money } else { Type::Rate };
        let apply = |p: ir::ParamId| {
            let kind = if func.name == "segmented" {
                ir::ExprKind::Segmented(p, Box::new(amount.clone()))
            } else {
                ir::ExprKind::RateAt(p, Box::new(amount.clone()))
            };
            ir::Expr { kind, ty, span }
        };
        // The last variant's scale when no earlier variant matches: `if key == v0 then ... else
        // if key == v1 then ... else <last>`.
        let mut arms = scales.iter().enumerate().rev();
        let (_, last) = arms.next()?;
        let mut chosen = apply(*last);
        for (k, p) in arms {
            let variant = ir::Const::Enum(u32::try_from(k).ok()?);
            let test = ir::Expr {
                kind: ir::ExprKind::Binary(
                    ir::BinOp::Eq,
                    Box::new(key_expr.clone()),
                    Box::new(ir::Expr {
                        kind: ir::ExprKind::Const(variant),
                        ty: Type::Enum(key),
                        span,
                    }),
                ),
                ty: Type::Bool,
                span,
            };
            chosen = ir::Expr {
                kind: ir::ExprKind::If(Box::new(test), Box::new(apply(*p)), Box::new(chosen)),
                ty,
                span,
            };
        }
        Some(TExpr::Typed(chosen))
    }

    fn arity(&mut self, file: FileId, func: &Ident, span: Span, wants: &str, example: &str) {
        self.report(
            Problem::error(Code::TypeArity, file, span, format!("`{}` takes {wants}", func.name))
                .label("wrong number of arguments")
                .help(format!("write `{example}`")),
        );
    }

    #[expect(clippy::too_many_arguments, reason = "a fold has this many parts")]
    fn fold(
        &mut self,
        scope: &Scope,
        func: &Ident,
        body: &ast::Expr,
        var: &Ident,
        list: &ast::Expr,
        filter: Option<&ast::Expr>,
        expect: Option<Type>,
        span: Span,
    ) -> TExpr {
        let kind = match func.name.as_str() {
            "sum" => Some(FoldKind::Sum),
            "count" => Some(FoldKind::Count),
            "min" => Some(FoldKind::Min),
            "max" => Some(FoldKind::Max),
            "any" | "all" => None,
            _ => {
                self.report(
                    Problem::error(
                        Code::NameUnknownFunction,
                        scope.file,
                        func.span,
                        format!("`{}` cannot fold a list", func.name),
                    )
                    .label("not a fold")
                    .help("fold a list with `sum`, `count`, `min`, `max`, `any` or `all`"),
                );
                return TExpr::error(span);
            }
        };
        let (list_e, record) = match self.infer(scope, list, None) {
            TExpr::Typed(e) if matches!(e.ty, Type::List(_)) => {
                let Type::List(r) = e.ty else { return TExpr::error(span) };
                (e, r)
            }
            TExpr::Error(_) => return TExpr::error(span),
            other => {
                let other = other.ty();
                let name = self.ty_name(other);
                self.report(
                    Problem::error(
                        Code::TypeMismatch,
                        scope.file,
                        list.span,
                        format!("expected a list, found `{name}`"),
                    )
                    .label("not a list")
                    .help(
                        "fold over a `list of` field of the claim, as in `for item in claim.items`",
                    ),
                );
                return TExpr::error(span);
            }
        };
        // The variable is a symbol of its own, bound here: its reads are recorded with this id.
        let binding = self.symbols.add(Symbol::Binding(scope.file, var.span, var.name.clone()));
        self.symbols.declare(binding, Kind::Binding, scope.file, var.span, span, false);
        let mut inner = scope.clone();
        inner.vars.push((var.name.clone(), record, binding));
        self.record_scope(scope.file, span, vec![binding]);
        let fields = self.symbols.fields(record).to_vec();
        self.symbols.scopes.members.push((binding, fields));
        if let Some(r) = self.records.get(record) {
            self.symbols.binding_records.push((binding, r.name.clone()));
        }
        let filter = match filter {
            Some(f) => match self.condition(&inner, f) {
                Some(c) => Some(Box::new(c)),
                None => return TExpr::error(span),
            },
            None => None,
        };
        match kind {
            None => {
                let Some(cond) = self.condition(&inner, body) else { return TExpr::error(span) };
                let body = match filter {
                    // `any(c for x in l where f)` is `any(f and c ...)`; `all` is `all(not f or c)`.
                    Some(f) if func.name == "any" => ir::Expr {
                        span: cond.span,
                        ty: Type::Bool,
                        kind: ir::ExprKind::Binary(ir::BinOp::And, f, Box::new(cond)),
                    },
                    Some(f) => ir::Expr {
                        span: cond.span,
                        ty: Type::Bool,
                        kind: ir::ExprKind::Binary(
                            ir::BinOp::Or,
                            Box::new(ir::Expr {
                                span: f.span,
                                ty: Type::Bool,
                                kind: ir::ExprKind::Not(f),
                            }),
                            Box::new(cond),
                        ),
                    },
                    None => cond,
                };
                TExpr::new(
                    ir::ExprKind::Quantifier {
                        all: func.name == "all",
                        list: Box::new(list_e),
                        body: Box::new(body),
                    },
                    Type::Bool,
                    span,
                )
            }
            Some(FoldKind::Count) => {
                // The body only names the variable; check it for unknown names all the same.
                let _ = self.infer(&inner, body, None);
                let one =
                    ir::Expr { kind: ir::ExprKind::Const(Const::Int(1)), ty: Type::Int, span };
                TExpr::new(
                    ir::ExprKind::Fold {
                        kind: FoldKind::Count,
                        list: Box::new(list_e),
                        body: Box::new(one),
                        filter,
                    },
                    Type::Int,
                    span,
                )
            }
            Some(kind) => {
                let t = self.infer(&inner, body, expect);
                let target = match t.ty() {
                    Ty::Known(t @ (Type::Money | Type::Rate | Type::Int)) => t,
                    Ty::Number => expect
                        .filter(|t| matches!(t, Type::Money | Type::Int))
                        .unwrap_or(Type::Money),
                    Ty::Error => return TExpr::error(span),
                    Ty::Known(other) => {
                        let name = self.type_name(other);
                        self.report(
                            Problem::error(
                                Code::TypeMismatch,
                                scope.file,
                                body.span,
                                format!("cannot `{}` `{name}` values", func.name),
                            )
                            .label(format!("this is `{name}`"))
                            .help("fold amounts, rates or counts"),
                        );
                        return TExpr::error(span);
                    }
                };
                let Some(body) = self.convert(scope.file, t, target, "the folded value") else {
                    return TExpr::error(span);
                };
                TExpr::new(
                    ir::ExprKind::Fold {
                        kind,
                        list: Box::new(list_e),
                        body: Box::new(body),
                        filter,
                    },
                    target,
                    span,
                )
            }
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn known(ty: Ty) -> Option<Type> {
    match ty {
        Ty::Known(t) => Some(t),
        _ => None,
    }
}

/// A length of time, `n days`, or `-n days` (the flag set): its amount and unit.
fn duration(e: &ast::Expr) -> Option<(&ast::Expr, ir::DateUnit, bool)> {
    match &e.kind {
        ExprKind::Duration(amount, unit) => Some((amount, *unit, false)),
        ExprKind::Unary(UnaryOp::Neg, inner) => match &inner.kind {
            ExprKind::Duration(amount, unit) => Some((amount, *unit, true)),
            _ => None,
        },
        ExprKind::Paren(inner) => duration(inner),
        _ => None,
    }
}

/// The unit an integer literal takes beside an operand of type `other`.
fn number_side(op: BinaryOp, other: Type, literal_on_left: bool) -> Type {
    match op {
        BinaryOp::Mul => Type::Int,
        BinaryOp::Div if !literal_on_left => Type::Int,
        _ => other,
    }
}

/// The IR operator of a binary operator; `in` has none (it becomes [`ir::ExprKind::In`]).
fn ir_op(op: BinaryOp) -> Option<ir::BinOp> {
    Some(match op {
        BinaryOp::Add => ir::BinOp::Add,
        BinaryOp::Sub => ir::BinOp::Sub,
        BinaryOp::Mul => ir::BinOp::Mul,
        BinaryOp::Div => ir::BinOp::Div,
        BinaryOp::Eq => ir::BinOp::Eq,
        BinaryOp::Ne => ir::BinOp::Ne,
        BinaryOp::Lt => ir::BinOp::Lt,
        BinaryOp::Le => ir::BinOp::Le,
        BinaryOp::Gt => ir::BinOp::Gt,
        BinaryOp::Ge => ir::BinOp::Ge,
        BinaryOp::And => ir::BinOp::And,
        BinaryOp::Or => ir::BinOp::Or,
        BinaryOp::In => return None,
    })
}

/// The checked expression of a literal. A whole number without decimals is a [`Number`]
/// whose unit the context decides; one too large for a count (the parser bounds literals well
/// below that) can only be an amount.
pub(crate) fn literal(lit: &Literal, span: Span) -> TExpr {
    let (c, ty) = match lit {
        Literal::Number { value, decimals: false } => match to_int(*value) {
            Some(n) => return TExpr::Number(Number::new(NumberKind::Lit(n), span)),
            None => (Const::Money(*value), Type::Money),
        },
        Literal::Number { value, decimals: true } => (Const::Money(*value), Type::Money),
        Literal::Percent(v) => (Const::Rate(*v), Type::Rate),
        Literal::Date(d) => (Const::Date(*d), Type::Date),
        Literal::Text(s) => (Const::Text(s.as_str().into()), Type::Text),
        Literal::Bool(b) => (Const::Bool(*b), Type::Bool),
    };
    TExpr::new(ir::ExprKind::Const(c), ty, span)
}

/// The integer value of a decimal, if it has no fraction and fits.
pub(crate) fn to_int(d: Decimal) -> Option<i64> {
    use rust_decimal::prelude::ToPrimitive;
    if d.fract().is_zero() { d.to_i64() } else { None }
}
