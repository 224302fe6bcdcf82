//! In-file tests: each test's claims settled as the engine would, then its expectations checked.

use serde::Serialize;
use settle_lang::ir::{BinOp, Expr, ExprKind, Test};

use crate::engine::{Claim, Engine};
use crate::interp::{Cx, Prepared, TestClaimValues};
use crate::trace::{Explanation, explain};
use crate::value::Value;

/// The outcome of one test.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TestReport {
    /// The test's name.
    pub name: String,
    /// The line the test starts on.
    pub line: usize,
    /// Every expectation that did not hold.
    pub failures: Vec<Failure>,
}

impl TestReport {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// An expectation that did not hold.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    /// The expectation as written.
    pub expect: String,
    /// The line it is on.
    pub line: usize,
    /// What was found instead.
    pub detail: String,
    /// The claim the expectation reads first, explained.
    #[serde(skip)]
    pub explanation: Option<Explanation>,
}

/// Run every test of the engine's policy; `source` is the policy's text, for line numbers.
pub fn run_tests(engine: &Engine, source: &str) -> Vec<TestReport> {
    engine.policy().tests.iter().map(|t| run_test(engine, t, source)).collect()
}

fn line_of(source: &str, offset: u32) -> usize {
    settle_lang::diagnostic::line_col(source, offset as usize).0
}

fn run_test(engine: &Engine, test: &Test, source: &str) -> TestReport {
    let policy = engine.policy();
    let claims = claims_of(test);
    let outcomes = engine.settle_batch(&claims);
    let settled: Vec<Option<TestClaimValues>> = claims
        .iter()
        .zip(&outcomes)
        .map(|(c, o)| {
            o.as_ref().ok().map(|s| (c.fields.clone(), s.values(policy), s.accumulators(policy)))
        })
        .collect();
    let prepared = Prepared::new(policy);
    let mut failures = Vec::new();
    for expect in &test.expects {
        let mut cx = Cx {
            policy,
            prepared: &prepared,
            fields: &[],
            accs: &[],
            versions: &[],
            date: settle_lang::date::Date(0),
            values: Vec::new(),
            locals: Vec::new(),
            trace: None,
            claims: &settled,
            period: None,
        };
        let claim = first_claim(&expect.expr);
        let detail = match cx.truth(&expect.expr) {
            Ok(true) => continue,
            Ok(false) => describe(&mut cx, &expect.expr, engine),
            Err(_) => {
                let label = claim
                    .and_then(|c| test.claims.get(c))
                    .map(|c| c.label.clone())
                    .unwrap_or_default();
                let why = claim
                    .and_then(|c| outcomes.get(c))
                    .and_then(|o| o.as_ref().err())
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                format!("claim `{label}` was not settled: {why}")
            }
        };
        let explanation = claim.and_then(|c| {
            let id = claims.get(c).map(|cl| engine.id_of(cl).to_string())?;
            explain(engine, &claims, &id).ok()
        });
        failures.push(Failure {
            expect: expect.text.clone(),
            line: line_of(source, expect.span.start),
            detail,
            explanation,
        });
    }
    TestReport { name: test.name.clone(), line: line_of(source, test.span.start), failures }
}

/// A test's claims as the engine settles them, numbered from 1 in the order written.
pub(crate) fn claims_of(test: &Test) -> Vec<Claim> {
    test.claims
        .iter()
        .enumerate()
        .map(|(i, c)| Claim {
            line: i + 1,
            fields: c.fields.iter().map(Value::from_const).collect(),
        })
        .collect()
}

/// The first test claim an expression reads.
fn first_claim(e: &Expr) -> Option<usize> {
    let mut found = None;
    e.walk(&mut |x| {
        if let (None, ExprKind::ClaimValue(c, _)) = (found, &x.kind) {
            found = Some(*c);
        }
    });
    found
}

/// Say what a failed comparison found on each side.
fn describe(cx: &mut Cx<'_>, e: &Expr, engine: &Engine) -> String {
    let policy = engine.policy();
    match &e.kind {
        ExprKind::Binary(
            op @ (BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge),
            l,
            r,
        ) => {
            let left = cx.eval(l).map(|v| crate::field::format_value(policy, l.ty, &v));
            let right = cx.eval(r).map(|v| crate::field::format_value(policy, r.ty, &v));
            match (left, right, op) {
                (Ok(a), Ok(b), BinOp::Eq) => format!("found {a}, expected {b}"),
                (Ok(a), Ok(b), _) => format!("found {a}, compared with {b}"),
                _ => "the expectation could not be computed".to_string(),
            }
        }
        _ => "the condition is false".to_string(),
    }
}
