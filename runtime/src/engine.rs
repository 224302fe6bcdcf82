//! The settlement engine: members in parallel, each member's claims in date order, year-to-date
//! accumulators, and the balance check on every claim.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use rayon::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use settle_compiler::{CompileError, Compiled, Frame};
use settle_lang::date::Date;
use settle_lang::ir::{Accumulator, FoldKind, Policy, Type, Window};
use settle_lang::limits::{MONEY_LIMIT_TEXT, RATE_LIMIT_TEXT};

use crate::closures::Closures;
use crate::interp::{Cx, EvalError, Fault, Prepared, Trace, fold, versions_in_force, zero};
use crate::keys::{Grouping, Linked, key};
use crate::value::{self as arith, ArithError, Value};

mod carry;
mod groups;
pub(crate) use carry::{Carried, Kept, States};
use groups::Holds;

pub use crate::keys::CLAIMS_PER_TASK;

/// The order in which a member's claims are settled: by date, then by claim id (compared as
/// bytes), then by position in the input. Every path that settles claims (the engine, the batch
/// fast path, coverage, the service) orders a member's claims with this; `ids` is called only
/// when the dates are equal.
#[inline]
pub fn settling_order<D: Ord, I: Ord, P: Ord>(
    dates: (D, D),
    ids: impl FnOnce() -> (I, I),
    positions: (P, P),
) -> std::cmp::Ordering {
    dates.0.cmp(&dates.1).then_with(|| {
        let (a, b) = ids();
        a.cmp(&b).then_with(|| positions.0.cmp(&positions.1))
    })
}

/// What an input field must be for the scaled backends.
#[derive(Debug, Clone, Copy)]
enum FieldRule {
    /// Text, a record or a list: not scaled (the fallback reads the claim's own value).
    Unscaled,
    /// A number, a truth value or a day, exact in 64 bits, within the bound if it has one.
    Number(Option<i64>),
    /// A variant of an enum of this many variants.
    Variant(usize),
}

/// A claim settled in a batch task: its cells' start in the task's block, or its outcome.
enum Pending {
    Slab(usize),
    Done(Outcome),
}

/// How many claims one parallel task scales into the block of fields.
const SCALE_CHUNK: usize = 4096;

/// One claim to settle: its input fields, and the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Where the claim was read (1-based line of its file), or its position in a batch.
    pub line: usize,
    /// A value for every field of the policy's input record, in declaration order.
    pub fields: Vec<Value>,
}

/// A settled claim: every computed value and the accumulators before it. Read them with the
/// policy at hand ([`Settlement::value`], [`Settlement::accumulator`]): a settlement made by the
/// closures or the compiled code keeps them as the scaled integers it computed (fen,
/// millionths, days, indices), in a block shared with the claims settled beside it, and makes a
/// [`Value`] only when asked.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// Every value by value id, then every accumulator by accumulator id.
    cells: Cells,
}

#[derive(Debug, Clone)]
enum Cells {
    /// As the closures and the compiled code hold them: `len` cells from `start` of a block
    /// shared by the claims settled together.
    Scaled { block: Arc<[i64]>, start: usize, len: usize },
    /// As the reference interpreter computes them.
    Values(Box<[Value]>),
}

impl Cells {
    fn slice(&self) -> Option<&[i64]> {
        match self {
            Cells::Scaled { block, start, len } => block.get(*start..*start + *len),
            Cells::Values(_) => None,
        }
    }
}

impl Settlement {
    fn scaled(block: Arc<[i64]>, start: usize, len: usize) -> Self {
        Settlement { cells: Cells::Scaled { block, start, len } }
    }

    fn cell(&self, i: usize, ty: Type) -> Option<Value> {
        match &self.cells {
            Cells::Scaled { .. } => Value::from_scaled(ty, *self.cells.slice()?.get(i)?),
            Cells::Values(v) => v.get(i).cloned(),
        }
    }

    /// Value `v` (an index into the policy's values).
    pub fn value(&self, policy: &Policy, v: usize) -> Option<Value> {
        self.cell(v, policy.values.get(v)?.ty)
    }

    /// Accumulator `a`'s value before this claim.
    pub fn accumulator(&self, policy: &Policy, a: usize) -> Option<Value> {
        self.cell(policy.values.len() + a, policy.accumulators.get(a)?.ty)
    }

    /// Every value, by value id.
    pub fn values(&self, policy: &Policy) -> Vec<Value> {
        (0..policy.values.len()).filter_map(|v| self.value(policy, v)).collect()
    }

    /// Every accumulator's value before this claim.
    pub fn accumulators(&self, policy: &Policy) -> Vec<Value> {
        (0..policy.accumulators.len()).filter_map(|a| self.accumulator(policy, a)).collect()
    }

    /// Money value `v` in fen, without making a [`Value`].
    pub fn fen(&self, v: usize) -> Option<i64> {
        match &self.cells {
            Cells::Scaled { .. } => self.cells.slice()?.get(v).copied(),
            Cells::Values(values) => match values.get(v) {
                Some(Value::Money(d)) => settle_compiler::money_fen(*d),
                _ => None,
            },
        }
    }

    /// Write cell `i` (a value id, or the number of values plus an accumulator id) of type `ty`
    /// as output shows it.
    pub(crate) fn write_cell(&self, out: &mut String, policy: &Policy, i: usize, ty: Type) {
        match &self.cells {
            Cells::Scaled { .. } => {
                if let Some(x) = self.cells.slice().and_then(|c| c.get(i)) {
                    crate::field::write_scaled(out, policy, ty, *x);
                }
            }
            Cells::Values(v) => crate::field::write_value(out, policy, ty, v.get(i)),
        }
    }
}

/// The same values, whichever way each settlement holds them.
impl PartialEq for Settlement {
    fn eq(&self, other: &Self) -> bool {
        match (&self.cells, &other.cells) {
            (Cells::Values(a), Cells::Values(b)) => a == b,
            (a @ Cells::Scaled { .. }, b @ Cells::Scaled { .. }) => a.slice() == b.slice(),
            (s @ Cells::Scaled { .. }, Cells::Values(v))
            | (Cells::Values(v), s @ Cells::Scaled { .. }) => {
                let s = s.slice().unwrap_or(&[]);
                // Exactly: a value with no exact scaled form equals no scaled cell.
                s.len() == v.len() && s.iter().zip(v.iter()).all(|(x, v)| v.to_scaled() == Some(*x))
            }
        }
    }
}

impl Eq for Settlement {}

/// Why a claim has no settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimError {
    /// A value could not be computed.
    Eval(EvalError),
    /// The shares do not add up to the total, or one is negative.
    Balance(String),
    /// The claim's input was wrong (reported by the reader).
    Input(String),
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimError::Eval(e) => write!(f, "{e}"),
            ClaimError::Balance(m) | ClaimError::Input(m) => f.write_str(m),
        }
    }
}

/// The outcome of one claim.
pub type Outcome = Result<Settlement, ClaimError>;

/// One accumulator's state for a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccState {
    /// The value so far, as written in settlement output.
    pub value: String,
    /// Whether any claim contributed (for `min` and `max`).
    pub seen: bool,
}

/// A member's year-to-date state: what an engine at a hospital counter keeps per member between
/// claims, so that one claim can be settled without replaying the year.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemberState {
    /// The first day (`YYYY-MM-DD`) of the medical year the state belongs to; `None` before any
    /// claim.
    pub year_start: Option<String>,
    /// The date (`YYYY-MM-DD`) of the member's last claim, which decides whether `monthly` and
    /// `quarterly` totals carry on; `None` before any claim.
    #[serde(default)]
    pub last_claim: Option<String>,
    /// Each accumulator by name.
    pub accumulators: Vec<(String, AccState)>,
    /// The kept claims of each `rolling` or `episode` accumulator, by name (absent in older
    /// saved states and for policies without such windows: nothing kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<(String, crate::windows::WindowState)>,
}

/// A member's state while settling: with closures or compiled code, the accumulators live in
/// the frame's `accs` and `seen`; walking the IR, in `values` and `seen`.
#[derive(Debug, Clone)]
pub(crate) struct Running {
    year_start: Option<Date>,
    /// The first day after the medical year that starts on `year_start`.
    year_end: Date,
    /// The date of the member's last claim: a claim in another calendar month or quarter starts
    /// the `monthly` or `quarterly` totals again.
    last: Option<Date>,
    values: Vec<Value>,
    seen: Vec<bool>,
    /// Scratch: the parameter versions in force for the claim being settled.
    versions: Vec<Option<usize>>,
    /// The closures' or compiled code's buffers.
    frame: Option<Frame>,
    /// Which accumulators it keeps (with group totals, a member's or a group's).
    holds: Holds,
    /// The claims kept for `rolling` and `episode` accumulators (`None`: the policy has none).
    windows: Option<Box<crate::windows::Windows>>,
}

/// How an engine computes a claim's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The interpreter over exact decimals.
    Interpreter,
    /// Native code compiled by Cranelift.
    Jit,
}

/// A policy prepared to settle claims held as 64-bit scaled integers (see [`Frame`]).
#[derive(Debug)]
enum Code {
    /// Native code.
    Jit(Box<Compiled>),
    /// The interpreter's closures.
    Closures(Closures),
}

impl Code {
    fn frame(&self) -> Frame {
        match self {
            Code::Jit(c) => c.frame(),
            Code::Closures(c) => c.frame(),
        }
    }

    fn fallbacks(&self) -> &[settle_lang::ir::Expr] {
        match self {
            Code::Jit(c) => c.fallbacks(),
            Code::Closures(c) => c.fallbacks(),
        }
    }

    fn settle(
        &self,
        frame: &mut Frame,
        fallback: &dyn settle_compiler::Fallback,
    ) -> Result<(), settle_compiler::Fault> {
        frame.with_own_fields(|fields, frame| self.settle_fields(fields, frame, fallback))
    }

    fn settle_fields(
        &self,
        fields: &[i64],
        frame: &mut Frame,
        fallback: &dyn settle_compiler::Fallback,
    ) -> Result<(), settle_compiler::Fault> {
        match self {
            Code::Jit(c) => c.settle_fields(fields, frame, fallback),
            Code::Closures(c) => c.settle_fields(fields, frame, fallback),
        }
    }
}

/// A checked policy ready to settle claims.
#[derive(Debug, Clone)]
pub struct Engine {
    policy: Arc<Policy>,
    prepared: Arc<Prepared>,
    code: Option<Arc<Code>>,
    /// Whether some accumulator folds a calendar month or quarter, so that each claim must ask
    /// whether it starts a new one (read on every claim; most policies have none).
    calendar: bool,
    /// The `rolling` and `episode` accumulators' empty windows, copied for each running state
    /// (`None`: the policy has none).
    windows: Option<crate::windows::Windows>,
}

impl Engine {
    /// An engine that settles with the interpreter: the policy turned into closures over scaled
    /// integers ([`crate::closures`]) when it can be, else walking the IR for every claim.
    pub fn new(policy: Policy) -> Self {
        let code = Closures::new(&policy).ok().map(|c| Arc::new(Code::Closures(c)));
        let mut engine = Engine::reference(policy);
        engine.code = code;
        engine
    }

    /// An engine that walks the IR for every claim ([`crate::interp`]): the reference the
    /// closures and the JIT are tested against, and what traces are made with.
    pub fn reference(policy: Policy) -> Self {
        let prepared = Prepared::new(&policy);
        let calendar =
            policy.accumulators.iter().any(|a| matches!(a.window, Window::Month | Window::Quarter));
        let windows = crate::windows::Windows::new(&policy);
        Engine {
            policy: Arc::new(policy),
            prepared: Arc::new(prepared),
            code: None,
            calendar,
            windows,
        }
    }

    /// An engine that settles with native code compiled once, now.
    pub fn compiled(policy: Policy) -> Result<Self, CompileError> {
        let jit = settle_compiler::compile(&policy)?;
        let mut engine = Engine::reference(policy);
        engine.code = Some(Arc::new(Code::Jit(Box::new(jit))));
        Ok(engine)
    }

    /// The backend this engine settles with.
    pub fn backend(&self) -> Backend {
        match self.code.as_deref() {
            Some(Code::Jit(_)) => Backend::Jit,
            _ => Backend::Interpreter,
        }
    }

    /// Whether the engine settles with closures or compiled code that never ask the reference
    /// interpreter for anything (no folds over lists, no comparisons of text).
    pub fn settles_without_fallback(&self) -> bool {
        self.code.as_ref().is_some_and(|c| c.fallbacks().is_empty())
    }

    /// Settle members' claims (with group totals, linked members' and groups'), each member's
    /// already in order (by date, id, position), with the closures or compiled code and one
    /// running state for all. Claims are numbered in the order settled, from 0: `row(k)` is
    /// claim `k`'s fields scaled; `member_of(k)` its member id and group key (read only with
    /// group totals); `sink(k, …)` gets its frame after it settled, or its error. With
    /// `carried`, members and groups start from their saved states and their states are kept
    /// after their claims ([`Carried`]).
    pub(crate) fn settle_members<'t>(
        &self,
        members: &[&mut [(Date, u32)]],
        row: &dyn Fn(usize) -> Option<&'t [i64]>,
        member_of: &dyn Fn(usize) -> (&'t [u8], &'t [u8]),
        sink: &mut dyn FnMut(usize, Result<&Frame, ClaimError>),
        progress: &(dyn Fn(u64) + Sync),
        mut carried: Option<&mut Carried<'_>>,
    ) {
        let Some(code) = &self.code else { return };
        let mut state = self.fresh();
        let mut k = 0;
        // A member's claims, or with group totals, linked members' and groups'.
        for member in members {
            // A new member starts from nothing; the medical year's bounds stay.
            self.new_member(&mut state);
            let mut ledger = self.ledger();
            let first = k;
            if let Some(c) = carried.as_deref() {
                self.carry_in(c, (first, member.len()), member_of, &mut state, &mut ledger);
            }
            for &(date, _) in member.iter() {
                self.in_ledger(
                    &mut ledger,
                    &mut state,
                    || member_of(k),
                    date,
                    |state| match row(k) {
                        Some(fields) => {
                            self.enter_year(date, state);
                            let settled = self
                                .enter_windows(date, &|f| scaled_date(fields, f), state)
                                .and_then(|()| {
                                    self.evaluate_compiled(
                                        code,
                                        None,
                                        Some(fields),
                                        date,
                                        state,
                                        |frame| sink(k, Ok(frame)),
                                    )
                                });
                            if let Err(e) = settled {
                                sink(k, Err(e));
                            }
                        }
                        None => sink(k, Err(ClaimError::Input("claim was not settled".into()))),
                    },
                );
                k += 1;
            }
            if let Some(c) = carried.as_deref_mut() {
                self.carry_out(c, first, member_of, &mut state, ledger);
            }
            progress(member.len() as u64);
        }
    }

    /// Whether the interpreter runs as closures over scaled integers (`false`: it walks the IR,
    /// for policies with values of text, list or record type).
    pub fn uses_closures(&self) -> bool {
        matches!(self.code.as_deref(), Some(Code::Closures(_)))
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn fresh(&self) -> Running {
        let code = self.code.is_some();
        let accs = if code { 0 } else { self.policy.accumulators.len() };
        Running {
            year_start: None,
            year_end: Date(0),
            last: None,
            values: self.policy.accumulators.iter().take(accs).map(|a| zero(a.ty)).collect(),
            seen: vec![false; accs],
            versions: Vec::new(),
            frame: self.code.as_ref().map(|c| c.frame()),
            holds: Holds::All,
            windows: self.windows.clone().map(Box::new),
        }
    }

    /// A new member: every accumulator back to zero, unseen, and no last claim.
    fn new_member(&self, running: &mut Running) {
        self.reset(running, |_| true);
        running.last = None;
        if let Some(windows) = &mut running.windows {
            windows.clear();
        }
    }

    /// The accumulators `which` picks back to zero, unseen.
    fn reset(&self, running: &mut Running, which: impl Fn(&Accumulator) -> bool) {
        let holds = running.holds;
        let windows = self.policy.accumulators.iter().map(|a| which(a) && holds.holds(a));
        if let Some(frame) = &mut running.frame {
            for ((acc, seen), reset) in frame.accs.iter_mut().zip(&mut frame.seen).zip(windows) {
                if reset {
                    (*acc, *seen) = (0, 0);
                }
            }
        } else {
            let accs = self.policy.accumulators.iter();
            let slots = running.values.iter_mut().zip(&mut running.seen);
            for ((acc, (value, seen)), reset) in accs.zip(slots).zip(windows) {
                if reset {
                    (*value, *seen) = (zero(acc.ty), false);
                }
            }
        }
    }

    /// The accumulators of a running state and whether each has seen a claim; an internal
    /// error when the frame holds a number no value of an accumulator's type has.
    fn running_accs(&self, running: &Running) -> Result<Vec<(Value, bool)>, ClaimError> {
        match &running.frame {
            Some(frame) => self
                .policy
                .accumulators
                .iter()
                .zip(frame.accs.iter().zip(&frame.seen))
                .map(|(a, (x, s))| match Value::from_scaled(a.ty, *x) {
                    Some(v) => Ok((v, *s != 0)),
                    None => Err(eval_error(&self.policy, &a.name, Fault::Internal)),
                })
                .collect(),
            None => Ok(running.values.iter().cloned().zip(running.seen.iter().copied()).collect()),
        }
    }

    /// The date deciding a claim's medical year and parameters.
    pub fn date_of(&self, claim: &Claim) -> Date {
        match claim.fields.get(self.policy.dated_field) {
            Some(Value::Date(d)) => *d,
            _ => Date(0),
        }
    }

    fn text_field(&self, claim: &Claim, field: usize) -> Arc<str> {
        match claim.fields.get(field) {
            Some(Value::Text(t)) => t.clone(),
            _ => Arc::from(""),
        }
    }

    fn text<'c>(&self, claim: &'c Claim, field: usize) -> &'c str {
        match claim.fields.get(field) {
            Some(Value::Text(t)) => t,
            _ => "",
        }
    }

    /// The claims of `member` among `claims`, with their positions, in the order the engine
    /// settles them ([`settling_order`]).
    pub fn member_history<'c>(&self, claims: &'c [Claim], member: &str) -> Vec<(usize, &'c Claim)> {
        let mut history: Vec<(usize, &Claim)> =
            claims.iter().enumerate().filter(|(_, c)| &*self.member_of(c) == member).collect();
        history.sort_by(|(i, a), (j, b)| {
            settling_order(
                (self.date_of(a), self.date_of(b)),
                || (self.id_of(a), self.id_of(b)),
                (i, j),
            )
        });
        history
    }

    /// The member's id of a claim.
    pub fn member_of(&self, claim: &Claim) -> Arc<str> {
        self.text_field(claim, self.policy.member_field)
    }

    /// The claim's id.
    pub fn id_of(&self, claim: &Claim) -> Arc<str> {
        self.text_field(claim, self.policy.id_field)
    }

    /// Settle a batch: members in parallel, each member's claims by date then id. Results are in
    /// input order and the same for any number of threads.
    pub fn settle_batch<C: Borrow<Claim> + Sync>(&self, claims: &[C]) -> Vec<Outcome> {
        self.settle_batch_with(claims, &|_| {})
    }

    /// [`Engine::settle_batch`], calling `progress` with the number of claims settled as each
    /// member is done.
    pub fn settle_batch_with<C: Borrow<Claim> + Sync>(
        &self,
        claims: &[C],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Vec<Outcome> {
        let n = claims.len();
        let claim = |i: u32| claims.get(i as usize).map(Borrow::borrow);
        let keyed = |field: usize| -> Vec<u64> {
            claims
                .par_iter()
                .enumerate()
                .map(|(i, c)| {
                    let text = self.text(c.borrow(), field);
                    key(text.as_bytes(), u32::try_from(i).unwrap_or(u32::MAX))
                })
                .collect()
        };
        // Claims grouped by member, or with group totals, linked by member and group.
        let keys = keyed(self.policy.member_field);
        let (keys, linked) = match self.policy.group_field() {
            Some(g) => {
                let mut linked = Linked::new(keys, keyed(g));
                (std::mem::take(&mut linked.keys), Some(linked))
            }
            None => (keys, None),
        };
        let grouping = Grouping::new(keys);
        // With closures or compiled code, every claim's fields scaled once, in input order, into
        // one block: settling then reads members' claims from it instead of chasing each
        // claim's values across the heap.
        let width = self.policy.input_record().map_or(0, |r| r.fields.len());
        // A claim with a field beyond its type's bounds is not scaled: it is an error row.
        let rows: Option<(Vec<i64>, Vec<bool>)> =
            self.code.as_ref().filter(|_| width > 0).map(|_| {
                let mut rows = vec![0i64; n * width];
                let mut fits = vec![true; n];
                let rules = self.field_rules();
                rows.par_chunks_mut(width * SCALE_CHUNK)
                    .zip(fits.par_chunks_mut(SCALE_CHUNK))
                    .zip(claims.par_chunks(SCALE_CHUNK))
                    .for_each(|((out, fits), chunk)| {
                        for ((row, fit), c) in out.chunks_mut(width).zip(fits).zip(chunk) {
                            *fit = self.scale_with(&rules, c.borrow(), row).is_ok();
                        }
                    });
                (rows, fits)
            });
        let row = |i: u32| {
            let start = i as usize * width;
            let (rows, fits) = rows.as_ref()?;
            fits.get(i as usize).copied().filter(|&f| f)?;
            rows.get(start..start + width)
        };
        // Members settle in parallel, a few dozen to a task, each task with one running state.
        // Tasks of whole members settle in parallel, each task with one running state.
        let settled: Vec<Vec<(u32, Outcome)>> = grouping
            .tasks()
            .map(|task| {
                let mut state = self.fresh();
                let records: Vec<u32> = task.claims().collect();
                let at = |p: u32| records.get(p as usize).copied().unwrap_or(u32::MAX);
                let text = |p: u32, field| {
                    claim(at(p)).map_or(&b""[..], |c| self.text(c, field).as_bytes())
                };
                let mut order = Vec::new();
                let members = task.members(
                    &mut order,
                    |p| claim(at(p)).map_or(Date(0), |c| self.date_of(c)),
                    |p| match &linked {
                        Some(linked) => (linked.root(at(p)), &b""[..]),
                        None => (0, text(p, self.policy.member_field)),
                    },
                    |p| text(p, self.policy.id_field),
                );
                let mut done: Vec<(u32, Pending)> = Vec::with_capacity(task.len());
                let mut slab: Vec<i64> = Vec::with_capacity(task.len() * self.cells());
                // A member's claims, or with group totals, linked members' and groups'.
                let group_field = self.policy.group_field().unwrap_or(self.policy.member_field);
                for member in &members {
                    state.year_start = None;
                    self.new_member(&mut state);
                    let mut ledger = self.ledger();
                    for &(date, p) in member.iter() {
                        let i = at(p);
                        let who = || (text(p, self.policy.member_field), text(p, group_field));
                        let pending = self.in_ledger(&mut ledger, &mut state, who, date, |state| {
                            match (claim(i), &self.code, row(i)) {
                                (Some(c), Some(code), Some(fields)) => {
                                    self.enter_year(date, state);
                                    let start = slab.len();
                                    let keep = |frame: &Frame| {
                                        slab.extend_from_slice(&frame.values);
                                        slab.extend_from_slice(&frame.accs);
                                    };
                                    let entered = self.enter_windows(
                                        date,
                                        &|f| scaled_date(fields, f),
                                        state,
                                    );
                                    match entered.and_then(|()| {
                                        self.evaluate_compiled(
                                            code,
                                            Some(c),
                                            Some(fields),
                                            date,
                                            state,
                                            keep,
                                        )
                                    }) {
                                        Ok(()) => Pending::Slab(start),
                                        Err(e) => Pending::Done(Err(e)),
                                    }
                                }
                                (Some(c), ..) => Pending::Done(self.settle_in(c, state, None)),
                                (None, ..) => Pending::Done(Err(ClaimError::Input(
                                    "claim was not settled".into(),
                                ))),
                            }
                        });
                        done.push((i, pending));
                    }
                    progress(member.len() as u64);
                }
                // One block for the task's settlements, shared by them.
                let block: Arc<[i64]> = slab.into();
                let len = self.cells();
                done.into_iter()
                    .map(|(i, p)| match p {
                        Pending::Slab(start) => {
                            (i, Ok(Settlement::scaled(block.clone(), start, len)))
                        }
                        Pending::Done(outcome) => (i, outcome),
                    })
                    .collect()
            })
            .collect();
        let mut out: Vec<Option<Outcome>> = Vec::with_capacity(n);
        out.resize_with(n, || None);
        for (i, outcome) in settled.into_iter().flatten() {
            if let Some(slot) = out.get_mut(i as usize) {
                *slot = Some(outcome);
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err(ClaimError::Input("claim was not settled".into()))))
            .collect()
    }

    /// Settle one claim against a member's saved state, updating the state. A policy with
    /// group totals needs the group's state too: [`Engine::settle_one_in_group`].
    pub fn settle_one(&self, claim: &Claim, state: &mut MemberState) -> Outcome {
        if let Some(a) = self.policy.accumulators.iter().find(|a| a.group.is_some()) {
            return Err(ClaimError::Input(format!(
                "the group total `{}` needs the group's saved state beside the member's",
                a.name
            )));
        }
        let mut running = self.load(state, Holds::All);
        let outcome = self.settle_in(claim, &mut running, None);
        self.flush_windows(&mut running);
        *state = self.save(&running)?;
        outcome
    }

    /// Settle a member's claims in order (with group totals, a group's: [`Engine::history`]),
    /// tracing the one at `traced` (an index into `claims`).
    pub fn settle_traced(&self, claims: &[&Claim], traced: usize) -> (Vec<Outcome>, Option<Trace>) {
        let mut state = self.fresh();
        let mut ledger = self.ledger();
        let mut trace = None;
        let outcomes = claims
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (who, date) = (|| (self.member_bytes(c), self.group_bytes(c)), self.date_of(c));
                self.in_ledger(&mut ledger, &mut state, who, date, |state| {
                    if i == traced {
                        let mut t = Trace::default();
                        let o = self.settle_in(c, state, Some(&mut t));
                        if let Some(windows) = &state.windows {
                            t.windows = (0..self.policy.accumulators.len())
                                .filter_map(|a| Some((a, windows.span(a, date)?)))
                                .collect();
                        }
                        trace = Some(t);
                        o
                    } else {
                        self.settle_in(c, state, None)
                    }
                })
            })
            .collect();
        (outcomes, trace)
    }

    fn load(&self, state: &MemberState, holds: Holds) -> Running {
        let mut running = self.fresh();
        running.holds = holds;
        // A saved start that is no medical year's first day starts nothing: the next claim
        // starts its own year.
        let first_day = self.policy.year_start;
        running.year_start = state
            .year_start
            .as_deref()
            .and_then(Date::parse)
            .filter(|d| d.year_start(first_day) == *d);
        if let Some(start) = running.year_start {
            running.year_end = Date(start.0.saturating_add(366)).year_start(self.policy.year_start);
        }
        running.last = state.last_claim.as_deref().and_then(Date::parse);
        if let Some(windows) = &mut running.windows {
            for (i, acc) in self.policy.accumulators.iter().enumerate() {
                if let Some((_, saved)) = state.windows.iter().find(|(n, _)| *n == acc.name) {
                    windows.load(&self.policy, i, saved);
                }
            }
        }
        for (i, acc) in self.policy.accumulators.iter().enumerate() {
            if !holds.holds(acc) {
                continue;
            }
            let Some((_, saved)) = state.accumulators.iter().find(|(n, _)| *n == acc.name) else {
                continue;
            };
            let parsed = crate::field::parse_value(&self.policy, acc.ty, &saved.value).ok();
            if let Some(frame) = &mut running.frame {
                if let (Some(x), Some(slot)) =
                    (parsed.and_then(|v| v.to_scaled()), frame.accs.get_mut(i))
                {
                    *slot = x;
                }
                if let Some(seen) = frame.seen.get_mut(i) {
                    *seen = i64::from(saved.seen);
                }
                continue;
            }
            if let (Some(v), Some(slot)) = (parsed, running.values.get_mut(i)) {
                *slot = v;
            }
            if let Some(seen) = running.seen.get_mut(i) {
                *seen = saved.seen;
            }
        }
        running
    }

    fn save(&self, running: &Running) -> Result<MemberState, ClaimError> {
        Ok(MemberState {
            year_start: running.year_start.map(|d| d.to_string()),
            last_claim: running.last.map(|d| d.to_string()),
            accumulators: self
                .policy
                .accumulators
                .iter()
                .zip(self.running_accs(running)?)
                .filter(|(a, _)| running.holds.holds(a))
                .map(|(a, (v, seen))| {
                    (
                        a.name.clone(),
                        AccState {
                            value: crate::field::format_value(&self.policy, a.ty, &v),
                            seen,
                        },
                    )
                })
                .collect(),
            windows: running
                .windows
                .as_ref()
                .map(|w| w.save(&self.policy))
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(i, w)| Some((self.policy.accumulators.get(i)?.name.clone(), w)))
                .collect(),
        })
    }

    /// Write each `rolling` and `episode` accumulator's value for a claim dated `date` into
    /// the running state, after taking the previous claim's contribution ([`crate::windows`]);
    /// `end(field)` reads a date field of the claim. Nothing to do for a policy without them.
    fn enter_windows(
        &self,
        date: Date,
        end: &dyn Fn(usize) -> Option<Date>,
        state: &mut Running,
    ) -> Result<(), ClaimError> {
        let Running { windows: Some(windows), frame, values, seen, .. } = state else {
            return Ok(());
        };
        let entered = match frame {
            Some(frame) => windows.enter(date, end, frame),
            None => {
                let policy = &*self.policy;
                windows.enter(date, end, &mut crate::windows::Values { policy, values, seen })
            }
        };
        entered.map_err(|o| {
            let name = self.policy.accumulators.get(o.index).map_or("", |a| a.name.as_str());
            eval_error(&self.policy, name, Fault::Arith(ArithError::Overflow))
        })
    }

    /// Take the last claim's contribution into the windows, before the state is saved.
    fn flush_windows(&self, state: &mut Running) {
        let Running { windows: Some(windows), frame, values, seen, .. } = state else { return };
        match frame {
            Some(frame) => windows.flush(frame),
            None => {
                let policy = &*self.policy;
                windows.flush(&crate::windows::Values { policy, values, seen });
            }
        }
    }

    /// How many cells a settlement holds: every value, then every accumulator.
    fn cells(&self) -> usize {
        self.policy.values.len() + self.policy.accumulators.len()
    }

    /// Start the medical year of `date` unless the state is in it already, and the calendar
    /// month and quarter of `date` for `monthly` and `quarterly` totals unless the last claim
    /// was in them; `lifetime` totals carry on.
    fn enter_year(&self, date: Date, state: &mut Running) {
        if self.calendar {
            let last = state.last;
            self.reset(state, |a| {
                a.window.period_start(date).is_some()
                    && last.and_then(|l| a.window.period_start(l)) != a.window.period_start(date)
            });
        }
        state.last = Some(date);
        let inside = state.year_start.is_some_and(|s| s <= date && date < state.year_end);
        if !inside {
            let start = self.policy.year_start;
            let year = date.year_start(start);
            self.reset(state, |a| a.window == Window::Year);
            state.year_start = Some(year);
            // A medical year has at most 366 days: 366 days on is in the next one.
            state.year_end = Date(year.0.saturating_add(366)).year_start(start);
        }
    }

    /// What each input field must be for the scaled backends, by the field's type.
    fn field_rules(&self) -> Vec<FieldRule> {
        let policy = &*self.policy;
        let fields = policy.input_record().map_or(&[][..], |r| r.fields.as_slice());
        fields
            .iter()
            .map(|f| match f.ty {
                Type::Text | Type::Record(_) | Type::List(_) => FieldRule::Unscaled,
                Type::Enum(e) => {
                    FieldRule::Variant(policy.enums.get(e).map_or(0, |d| d.variants.len()))
                }
                ty => FieldRule::Number(settle_compiler::kernel::limit(ty)),
            })
            .collect()
    }

    /// Check that each of a claim's fields is a value of its declared type within its bounds
    /// (money within ±10^15 yuan exact to the fen, a rate within ±10^9 exact to the millionth, a
    /// variant of its enum), writing each field's scaled form to `row` (as long as the record,
    /// or empty). Every backend settles only claims that pass, so that a claim built by hand is
    /// refused alike by all of them.
    fn scale_fields(&self, claim: &Claim, row: &mut [i64]) -> Result<(), ClaimError> {
        self.scale_with(&self.field_rules(), claim, row)
    }

    /// [`Engine::scale_fields`] with the rules of [`Engine::field_rules`].
    fn scale_with(
        &self,
        rules: &[FieldRule],
        claim: &Claim,
        row: &mut [i64],
    ) -> Result<(), ClaimError> {
        let mut row = row.iter_mut();
        for (i, (rule, v)) in rules.iter().zip(&claim.fields).enumerate() {
            let scaled = match *rule {
                FieldRule::Unscaled => Some(0),
                FieldRule::Number(limit) => {
                    v.to_scaled().filter(|x| limit.is_none_or(|l| x.abs() <= l))
                }
                FieldRule::Variant(size) => {
                    v.to_scaled().filter(|x| usize::try_from(*x).is_ok_and(|x| x < size))
                }
            };
            match (scaled, row.next()) {
                (Some(x), Some(slot)) => *slot = x,
                (Some(_), None) => {}
                (None, _) => return Err(self.unscalable(i, v)),
            }
        }
        Ok(())
    }

    /// The error for field `i` holding `v`, which no backend can hold.
    #[cold]
    fn unscalable(&self, i: usize, v: &Value) -> ClaimError {
        let policy = &*self.policy;
        let field = policy.input_record().and_then(|r| r.fields.get(i));
        ClaimError::Input(format!(
            "field `{}`: `{v}` is no `{}` (money is within ±{MONEY_LIMIT_TEXT} to the fen, a rate \
             within ±{RATE_LIMIT_TEXT} to the millionth, an enum one of its variants)",
            field.map_or("", |f| f.name.as_str()),
            field.map_or(String::new(), |f| f.ty.name(&policy.enums, &policy.records))
        ))
    }

    fn settle_in(&self, claim: &Claim, state: &mut Running, trace: Option<&mut Trace>) -> Outcome {
        let policy = &*self.policy;
        let date = self.date_of(claim);
        self.scale_fields(claim, &mut [])?;
        self.enter_year(date, state);
        let end = |f: usize| match claim.fields.get(f) {
            Some(Value::Date(d)) => Some(*d),
            _ => None,
        };
        self.enter_windows(date, &end, state)?;
        if let (Some(code), None) = (&self.code, &trace) {
            let mut cells = Vec::with_capacity(self.cells());
            self.evaluate_compiled(code, Some(claim), None, date, state, |frame| {
                cells.extend_from_slice(&frame.values);
                cells.extend_from_slice(&frame.accs);
            })?;
            let len = cells.len();
            return Ok(Settlement::scaled(cells.into(), 0, len));
        }
        let mut versions = std::mem::take(&mut state.versions);
        versions_in_force(policy, date, &mut versions);
        // Tracing with closures or compiled code: the IR is walked on the frame's accumulators.
        let in_frame = state.frame.is_some();
        if in_frame {
            let (values, seen) = self.running_accs(state)?.into_iter().unzip();
            (state.values, state.seen) = (values, seen);
        }
        let before = state.values.clone();
        let outcome = self.evaluate(claim, date, &before, &versions, state, trace);
        state.versions = versions;
        if let (true, Some(frame)) = (in_frame, &mut state.frame) {
            for ((slot, seen), (v, s)) in frame
                .accs
                .iter_mut()
                .zip(frame.seen.iter_mut())
                .zip(state.values.drain(..).zip(state.seen.drain(..)))
            {
                if let Some(x) = v.to_scaled() {
                    *slot = x;
                }
                *seen = i64::from(s);
            }
        }
        outcome.map(|mut values| {
            values.extend(before);
            Settlement { cells: Cells::Values(values.into_boxed_slice()) }
        })
    }

    /// Compute a claim's values, check the balance, and fold the claim into the member's
    /// accumulators; on an error the accumulators are left as they were.
    fn evaluate(
        &self,
        claim: &Claim,
        date: Date,
        before: &[Value],
        versions: &[Option<usize>],
        state: &mut Running,
        trace: Option<&mut Trace>,
    ) -> Result<Vec<Value>, ClaimError> {
        let policy = &*self.policy;
        let mut cx = Cx {
            policy,
            prepared: &self.prepared,
            fields: &claim.fields,
            accs: before,
            versions,
            date,
            values: Vec::new(),
            locals: Vec::new(),
            trace: trace.as_ref().map(|_| Trace::default()),
            claims: &[],
            period: None,
        };
        let result = cx.run().map_err(ClaimError::Eval).and_then(|()| self.balance(&mut cx));
        if let (Some(out), Some(t)) = (trace, cx.trace.take()) {
            *out = t;
        }
        result?;
        let seen_before = state.seen.clone();
        for (i, acc) in policy.accumulators.iter().enumerate() {
            let contribution = match &acc.filter {
                Some(f) => cx.truth(f),
                None => Ok(true),
            }
            .and_then(|keep| match (keep, &acc.value, acc.fold) {
                (false, ..) => Ok(None),
                (true, _, FoldKind::Count) | (true, None, _) => Ok(Some(Value::Int(1))),
                (true, Some(e), _) => cx.eval(e).map(Some),
            })
            .and_then(|v| match (v, state.values.get_mut(i), state.seen.get_mut(i)) {
                (Some(v), Some(slot), Some(seen)) => {
                    *slot = fold(acc.fold, slot.clone(), v, *seen)?;
                    *seen = true;
                    Ok(())
                }
                _ => Ok(()),
            });
            if let Err(fault) = contribution {
                state.values.clear();
                state.values.extend_from_slice(before);
                state.seen = seen_before;
                return Err(eval_error(policy, &acc.name, fault));
            }
        }
        Ok(cx.values)
    }

    /// [`Engine::evaluate`] with the closures or the compiled code: the same values, faults and
    /// messages. The accumulators are the frame's: on a fault they stay as they were.
    /// `fields` are the claim's fields already scaled; `None`: scale them from the claim.
    fn evaluate_compiled(
        &self,
        code: &Code,
        claim: Option<&Claim>,
        fields: Option<&[i64]>,
        date: Date,
        state: &mut Running,
        keep: impl FnOnce(&Frame),
    ) -> Result<(), ClaimError> {
        let frame = state.frame.get_or_insert_with(|| code.frame());
        if let (None, Some(claim)) = (fields, claim) {
            self.scale_fields(claim, &mut frame.fields)?;
        }
        let fallback =
            Interpreted { engine: self, code, claim, date, versions: std::cell::OnceCell::new() };
        let settled = match fields {
            Some(fields) => code.settle_fields(fields, frame, &fallback),
            None => code.settle(frame, &fallback),
        };
        match settled {
            Ok(()) => {
                keep(frame);
                std::mem::swap(&mut frame.accs, &mut frame.next_accs);
                std::mem::swap(&mut frame.seen, &mut frame.next_seen);
                Ok(())
            }
            Err(f) => Err(self.compiled_fault(f, frame)),
        }
    }

    /// The interpreter's error for a fault of the compiled code.
    fn compiled_fault(&self, f: settle_compiler::Fault, frame: &Frame) -> ClaimError {
        use settle_compiler::FaultKind;
        let policy = &*self.policy;
        let values = policy.values.len();
        let name = match f.at.checked_sub(values) {
            None => policy.values.get(f.at).map_or("", |v| v.name.as_str()),
            Some(a) => policy.accumulators.get(a).map_or("balance", |a| a.name.as_str()),
        };
        let fen = |x: i64| Decimal::new(x, 2);
        let index = |x: i64| usize::try_from(x).unwrap_or(usize::MAX);
        let fault = match f.kind {
            FaultKind::Overflow => Fault::Arith(ArithError::Overflow),
            FaultKind::DivisionByZero => Fault::Arith(ArithError::DivisionByZero),
            FaultKind::NotInForce => Fault::NotInForce {
                param: index(f.a),
                date: Date(i32::try_from(f.b).unwrap_or(i32::MIN)),
            },
            FaultKind::Conflict => {
                Fault::Conflict { rule: f.at, first: index(f.a), second: index(f.b) }
            }
            FaultKind::OutOfRange => Fault::OutOfRange { param: index(f.b), key: f.a },
            FaultKind::Internal => Fault::Internal,
            FaultKind::NegativeShare => {
                let share = policy.values.get(index(f.a)).map_or("", |v| v.name.as_str());
                return ClaimError::Balance(format!(
                    "the share `{share}` is negative ({:.2})",
                    fen(f.b)
                ));
            }
            FaultKind::Unbalanced => {
                let parts: Vec<String> = policy
                    .balance
                    .iter()
                    .flat_map(|b| b.parts.iter())
                    .map(|p| {
                        let name = policy.values.get(*p).map_or("", |v| v.name.as_str());
                        format!("{name} {:.2}", fen(frame.values.get(*p).copied().unwrap_or(0)))
                    })
                    .collect();
                return ClaimError::Balance(format!(
                    "the shares add up to {:.2}, not the total {:.2} ({})",
                    fen(f.b),
                    fen(f.a),
                    parts.join(" + ")
                ));
            }
        };
        eval_error(policy, name, fault)
    }

    fn balance(&self, cx: &mut Cx<'_>) -> Result<(), ClaimError> {
        let Some(balance) = &self.policy.balance else { return Ok(()) };
        let total =
            match cx.eval(&balance.total).map_err(|f| eval_error(&self.policy, "balance", f))? {
                Value::Money(d) => d,
                _ => Decimal::ZERO,
            };
        let mut sum = Decimal::ZERO;
        for &part in &balance.parts {
            let name = self.policy.values.get(part).map(|v| v.name.as_str()).unwrap_or("");
            let amount = cx.values.get(part).and_then(Value::decimal).unwrap_or_default();
            if amount.is_sign_negative() && !amount.is_zero() {
                return Err(ClaimError::Balance(format!(
                    "the share `{name}` is negative ({amount:.2})"
                )));
            }
            sum = arith::money_add(sum, amount, false)
                .map_err(|e| eval_error(&self.policy, "balance", Fault::Arith(e)))?;
        }
        if sum != total {
            let parts: Vec<String> = balance
                .parts
                .iter()
                .map(|p| {
                    let name = self.policy.values.get(*p).map(|v| v.name.as_str()).unwrap_or("");
                    let v = cx.values.get(*p).and_then(Value::decimal).unwrap_or_default();
                    format!("{name} {v:.2}")
                })
                .collect();
            return Err(ClaimError::Balance(format!(
                "the shares add up to {sum:.2}, not the total {total:.2} ({})",
                parts.join(" + ")
            )));
        }
        Ok(())
    }
}

/// The interpreter computing, for the compiled code, what it leaves to its fallback.
struct Interpreted<'a> {
    engine: &'a Engine,
    code: &'a Code,
    /// The claim, when the fallback may need it.
    claim: Option<&'a Claim>,
    date: Date,
    /// The parameter versions in force, found when first asked for.
    versions: std::cell::OnceCell<Vec<Option<usize>>>,
}

impl settle_compiler::Fallback for Interpreted<'_> {
    fn eval(
        &self,
        expr: usize,
        values: &[i64],
        accs: &[i64],
    ) -> Result<i64, settle_compiler::Fault> {
        use settle_compiler::FaultKind;
        let policy = &*self.engine.policy;
        let failure = |kind, a: i64, b: i64| settle_compiler::Fault { kind, at: 0, a, b };
        let (Some(e), Some(claim)) = (self.code.fallbacks().get(expr), self.claim) else {
            return Err(failure(FaultKind::Internal, 0, 0));
        };
        // The code holds only values of scalar types, each with a value form.
        let unscaled = |types: &mut dyn Iterator<Item = Type>, cells: &[i64]| {
            types
                .zip(cells)
                .map(|(ty, x)| Value::from_scaled(ty, *x))
                .collect::<Option<Vec<Value>>>()
                .ok_or_else(|| failure(FaultKind::Internal, 0, 0))
        };
        let accs = unscaled(&mut policy.accumulators.iter().map(|a| a.ty), accs)?;
        let values = unscaled(&mut policy.values.iter().map(|d| d.ty), values)?;
        let mut cx = Cx {
            policy,
            prepared: &self.engine.prepared,
            fields: &claim.fields,
            accs: &accs,
            versions: self.versions.get_or_init(|| {
                let mut versions = Vec::new();
                versions_in_force(policy, self.date, &mut versions);
                versions
            }),
            date: self.date,
            values,
            locals: Vec::new(),
            trace: None,
            claims: &[],
            period: None,
        };
        let id = |x: usize| i64::try_from(x).unwrap_or(i64::MAX);
        match cx.eval(e) {
            Ok(v) => v.to_scaled().ok_or_else(|| failure(FaultKind::Internal, 0, 0)),
            Err(Fault::Arith(ArithError::Overflow)) => Err(failure(FaultKind::Overflow, 0, 0)),
            Err(Fault::Arith(ArithError::DivisionByZero)) => {
                Err(failure(FaultKind::DivisionByZero, 0, 0))
            }
            Err(Fault::NotInForce { param, date }) => {
                Err(failure(FaultKind::NotInForce, id(param), i64::from(date.0)))
            }
            Err(Fault::Conflict { first, second, .. }) => {
                Err(failure(FaultKind::Conflict, id(first), id(second)))
            }
            Err(Fault::OutOfRange { param, key }) => {
                Err(failure(FaultKind::OutOfRange, key, id(param)))
            }
            Err(Fault::Unsettled(_) | Fault::NoRow { .. } | Fault::Internal) => {
                Err(failure(FaultKind::Internal, 0, 0))
            }
        }
    }
}

/// Date field `f` of a claim's scaled fields (days since 1970-01-01).
fn scaled_date(fields: &[i64], f: usize) -> Option<Date> {
    fields.get(f).and_then(|x| i32::try_from(*x).ok()).map(Date)
}

fn eval_error(policy: &Policy, value: &str, fault: Fault) -> ClaimError {
    ClaimError::Eval(EvalError::new(policy, value, fault))
}
