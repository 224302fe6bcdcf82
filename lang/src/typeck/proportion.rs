//! The proportion `x * a / b`: an amount times the ratio of two values of one unit, computed
//! exactly and rounded once, to the fen.
//!
//! A product divided (in parentheses or not) is one operation when the product is an amount
//! times a value of the divisor's unit: `money * money / money`, which has no other meaning
//! (yuan times yuan is no unit), and `money * rate / rate` and `money * int / int`, in either
//! order of the factors. Every other shape keeps the unit rules of its two operators, each
//! rounding once. The ratio written apart, `x * (a / b)` with `a` and `b` amounts, is rounded to
//! a millionth before it multiplies: a warning says so and offers the proportion.

use crate::ast::{self, BinaryOp, ExprKind};
use crate::diagnostic::{Code, FileId, Problem};
use crate::ir::{self, Type};
use crate::span::Span;

use super::expr::{Scope, TExpr};
use crate::check::Checker;

/// The factors of `e` and the product's own span, when `e` is a product, in parentheses or
/// not.
pub(super) fn product(e: &ast::Expr) -> Option<(&ast::Expr, &ast::Expr, Span)> {
    match &e.kind {
        ExprKind::Paren(inner) => product(inner),
        ExprKind::Binary(BinaryOp::Mul, x, y) => Some((x, y, e.span)),
        _ => None,
    }
}

impl Checker<'_> {
    /// `l / r` where `l` is the product `p * q`: a proportion when the units say so, else the
    /// product and the quotient by the unit rules.
    pub(super) fn proportion(
        &mut self,
        scope: &Scope,
        l: &ast::Expr,
        (p, q, product_span): (&ast::Expr, &ast::Expr, Span),
        r: &ast::Expr,
        span: Span,
    ) -> TExpr {
        let file = scope.file;
        let (x, a) = self.operands(scope, BinaryOp::Mul, p, q, None);
        if let (TExpr::Typed(x), TExpr::Typed(a)) = (&x, &a)
            && x.ty == Type::Money
            && a.ty == Type::Money
        {
            let b = self.infer(scope, r, None);
            return match b {
                TExpr::Error(_) => TExpr::error(span),
                TExpr::Typed(ref d) if d.ty != Type::Money => {
                    self.divisor_unit(file, a, d);
                    TExpr::error(span)
                }
                b => match self.operand(file, b, Type::Money) {
                    Some(b) => proportion(x.clone(), a.clone(), b, span),
                    None => TExpr::error(span),
                },
            };
        }
        let product = self
            .combine(file, BinaryOp::Mul, ir::BinOp::Mul, (x, a), product_span)
            .with_span(l.span);
        let b = self.infer(scope, r, None);
        match fused(&product, &b) {
            Some((x, a, b)) => proportion(x, a, b, span),
            None => self.combine(file, BinaryOp::Div, ir::BinOp::Div, (product, b), span),
        }
    }

    /// Report a divisor whose unit is not the multiplier's in `x * a / b` with `a` an amount.
    fn divisor_unit(&mut self, file: FileId, a: &ir::Expr, b: &ir::Expr) {
        let found = self.type_name(b.ty);
        self.report(
            Problem::error(
                Code::TypeProportionDivisor,
                file,
                b.span,
                format!("a proportion of an amount must divide by an amount, found `{found}`"),
            )
            .label(format!("`{found}`"))
            .with(a.span, "`money`")
            .help(
                "in `x * a / b` the ratio `a / b` needs one unit above and below: divide by an \
                 amount, as in `eligible * room / wanted`",
            ),
        );
    }

    /// Warn about `x * (a / b)` with `x`, `a` and `b` amounts: the ratio is rounded to a
    /// millionth before it multiplies, so a large `x` moves by fen.
    pub(super) fn warn_rounded_ratio(&mut self, file: FileId, e: &ir::Expr) {
        let ir::ExprKind::Binary(ir::BinOp::Mul, l, r) = &e.kind else { return };
        if e.ty != Type::Money {
            return;
        }
        let (x, ratio) = match (&l.kind, &r.kind) {
            (_, ir::ExprKind::Binary(ir::BinOp::Div, ..)) => (l, r),
            (ir::ExprKind::Binary(ir::BinOp::Div, ..), _) => (r, l),
            _ => return,
        };
        let ir::ExprKind::Binary(ir::BinOp::Div, a, b) = &ratio.kind else { return };
        if (x.ty, a.ty, b.ty) != (Type::Money, Type::Money, Type::Money) {
            return;
        }
        let text = |span: Span| self.file_text(file).get(span.range()).map(str::to_string);
        // A whole number above the line would be a count once the parentheses go: no edit then.
        let rewrite = match (&a.kind, text(x.span), text(a.span), text(b.span)) {
            (ir::ExprKind::Const(_), ..) => None,
            (_, Some(x), Some(a), Some(b)) => Some(format!("{x} * {a} / {b}")),
            _ => None,
        };
        let problem = Problem::warning(
            Code::ArithRoundedRatio,
            file,
            ratio.span,
            "this ratio of amounts is rounded to six decimals before it multiplies",
        )
        .label("rounded to a millionth")
        .with(x.span, "then this amount times it, rounded to the fen")
        .help(
            "this rounds the ratio to six decimals before multiplying; write `x * a / b` for one \
             rounding, to the fen",
        );
        self.report(match rewrite {
            Some(t) => problem.fix(format!("write `{t}`"), e.span, t),
            None => problem,
        });
    }
}

/// A typed proportion.
fn proportion(x: ir::Expr, a: ir::Expr, b: ir::Expr, span: Span) -> TExpr {
    TExpr::new(ir::ExprKind::Proportion(Box::new(x), Box::new(a), Box::new(b)), Type::Money, span)
}

/// The amount, multiplier and divisor of `product / b` when it is a proportion: the product
/// of an amount and a rate or count, divided by a value of that unit (a whole number is a
/// count).
fn fused(product: &TExpr, b: &TExpr) -> Option<(ir::Expr, ir::Expr, ir::Expr)> {
    let TExpr::Typed(e) = product else { return None };
    let ir::ExprKind::Binary(ir::BinOp::Mul, l, r) = &e.kind else { return None };
    let (x, a) = if l.ty == Type::Money { (l, r) } else { (r, l) };
    if e.ty != Type::Money || x.ty != Type::Money || !matches!(a.ty, Type::Rate | Type::Int) {
        return None;
    }
    let divisor = match b {
        TExpr::Typed(d) if d.ty == a.ty => d.clone(),
        TExpr::Number(n) if a.ty == Type::Int => n.clone().typed(Type::Int),
        _ => return None,
    };
    Some(((**x).clone(), (**a).clone(), divisor))
}

#[cfg(test)]
mod tests {
    use crate::diagnostic::Severity;
    use crate::ir::{Body, ExprKind, Type};

    /// The kind and type of `let v = <expr>` in a small policy, or the codes of its problems.
    fn checked(expr: &str) -> Result<(String, Type), Vec<&'static str>> {
        let text = format!(
            "policy t\ninput claim {{\n id: text\n member: text\n date: date\n a: money\n \
             b: money\n c: money\n r: rate\n s: rate\n n: int\n m: int\n}}\nlet v = {expr}\n"
        );
        let checked = crate::check("t.settle", &text);
        let Some(policy) = checked.policy.as_ref() else {
            let errors = checked.problems.list.iter().filter(|p| p.severity == Severity::Error);
            return Err(errors.map(|p| p.code.as_str()).collect());
        };
        let v = policy.values.iter().find(|v| v.name == "v").ok_or_else(Vec::new)?;
        let Body::Expr(e) = &v.body else { return Err(Vec::new()) };
        let kind = match &e.kind {
            ExprKind::Proportion(..) => "proportion",
            ExprKind::Binary(..) => "binary",
            _ => "other",
        };
        Ok((kind.to_string(), e.ty))
    }

    fn fused(expr: &str) -> bool {
        checked(expr) == Ok(("proportion".to_string(), Type::Money))
    }

    #[test]
    fn products_divided_by_their_multipliers_unit_are_proportions() {
        for expr in [
            "claim.a * claim.b / claim.c",
            "(claim.a * claim.b) / claim.c",
            "claim.a * claim.b / 1_000",
            "claim.a * claim.r / claim.s",
            "claim.r * claim.a / claim.s",
            "claim.a * claim.n / claim.m",
            "claim.n * claim.a / 30",
            "claim.a * 3 / 2",
        ] {
            assert!(fused(expr), "`{expr}` is not a proportion: {:?}", checked(expr));
        }
    }

    #[test]
    fn other_shapes_keep_one_rounding_per_operation() {
        for (expr, ty) in [
            ("claim.a * claim.r / claim.c", Type::Rate),
            ("claim.a * claim.r / claim.n", Type::Money),
            ("claim.a * claim.r / 2", Type::Money),
            ("claim.a * claim.n / claim.r", Type::Money),
            ("claim.a * 3 / claim.b", Type::Rate),
            ("claim.r * claim.s / claim.s", Type::Rate),
            ("claim.a * (claim.b / claim.c)", Type::Money),
            ("2 * 3 / 2", Type::Rate),
        ] {
            assert_eq!(checked(expr), Ok(("binary".to_string(), ty)), "`{expr}`");
        }
    }

    #[test]
    fn an_amount_times_an_amount_needs_an_amount_below() {
        assert_eq!(checked("claim.a * claim.b"), Err(vec!["settle::type::units"]));
        for expr in ["claim.a * claim.b / claim.r", "claim.a * claim.b / claim.n"] {
            assert_eq!(checked(expr), Err(vec!["settle::type::proportion_divisor"]), "`{expr}`");
        }
    }
}
