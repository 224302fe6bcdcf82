//! How the parser groups an expression: precedence and associativity of every operator, prefix
//! operators against infix ones, postfixes, and a name told from a call by what follows it.

#![allow(clippy::expect_used, reason = "a test fails by panicking")]

use settle_lang::ast::{Expr, ExprKind, Item, UnaryOp};

/// The value of `let v = <expr>`, written back with every group in parentheses.
fn grouped(expr: &str) -> String {
    let text = format!("policy t\nlet v = {expr}");
    let mut problems = Vec::new();
    let module = settle_lang::syntax::parse::parse(&text, 0, &mut problems);
    assert!(problems.is_empty(), "{expr}: {problems:?}");
    let value = module
        .items
        .iter()
        .find_map(|i| match i {
            Item::Let(l) => Some(&l.value),
            _ => None,
        })
        .expect("the let");
    show(value)
}

fn show(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Name(n) => n.name.clone(),
        ExprKind::Lit(_) => "lit".into(),
        ExprKind::Call(f, args) => {
            format!("{}({})", f.name, args.iter().map(show).collect::<Vec<_>>().join(", "))
        }
        ExprKind::Member(x, m) => format!("({}.{})", show(x), m.name),
        ExprKind::Index(x, keys) => {
            format!("({}[{}])", show(x), keys.iter().map(show).collect::<Vec<_>>().join(", "))
        }
        ExprKind::Unary(UnaryOp::Neg, x) => format!("(-{})", show(x)),
        ExprKind::Unary(UnaryOp::Not, x) => format!("(not {})", show(x)),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", show(a), op.symbol(), show(b)),
        ExprKind::Paren(x) => format!("[{}]", show(x)),
        ExprKind::Duration(x, _) => format!("({} days)", show(x)),
        other => format!("{other:?}"),
    }
}

#[test]
fn operators_group_by_precedence_then_from_the_left() {
    let cases = [
        ("a - b - c", "((a - b) - c)"),
        ("a / b * c", "((a / b) * c)"),
        ("a + b * c", "(a + (b * c))"),
        ("a * b + c", "((a * b) + c)"),
        ("a or b and c", "(a or (b and c))"),
        ("a and b or c", "((a and b) or c)"),
        ("a < b == c", "((a < b) == c)"),
        ("a + b < c * d", "((a + b) < (c * d))"),
        ("a in b and c", "((a in b) and c)"),
        ("not a == b and c", "((not (a == b)) and c)"),
        ("not a or b", "((not a) or b)"),
        ("not not a", "(not (not a))"),
        ("-a * b", "((-a) * b)"),
        ("- -a", "(-(-a))"),
        ("-a.b", "(-(a.b))"),
        ("-a[b] + c", "((-(a[b])) + c)"),
        ("a.b.c[d]", "(((a.b).c)[d])"),
        ("a - -b", "(a - (-b))"),
        ("a * (b + c)", "(a * [(b + c)])"),
        ("d + 3 days", "(d + (lit days))"),
        ("a <= b", "(a <= b)"),
        ("a >= b != c", "((a >= b) != c)"),
    ];
    for (expr, want) in cases {
        assert_eq!(grouped(expr), want, "{expr}");
    }
}

/// A name is a call only when arguments follow it: a comment after a name, even one holding
/// brackets, leaves it a name.
#[test]
fn a_name_is_a_call_only_when_arguments_follow() {
    let cases = [
        ("f", "f"),
        ("f()", "f()"),
        ("f ()", "f()"),
        ("f(a, b)", "f(a, b)"),
        ("f /* (a) */", "f"),
        ("f // (a)", "f"),
        ("f /* ) */ + g", "(f + g)"),
        ("max(a, f // )\n  )", "max(a, f)"),
        ("f(a) // (b)", "f(a)"),
    ];
    for (expr, want) in cases {
        assert_eq!(grouped(expr), want, "{expr:?}");
    }
}
