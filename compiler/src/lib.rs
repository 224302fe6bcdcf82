//! settle-compiler: compiles a checked policy's IR to native code with Cranelift.
//!
//! The IR is first lowered into an execution plan ([`plan`]) in which every decision is made
//! once (the operation for each operator, bounds, the rounding mode, set membership, table
//! strides and key ranges, the parameter version in force, accumulator folds, the balance);
//! the interpreter's closures run that plan, and this crate translates it to native code. The
//! compiled function settles one claim: it reads the claim's fields and the member's
//! accumulators as 64-bit integers (money in fen, rates in millionths, counts, truth values as
//! 0/1, dates as days since 1970-01-01, enum variants by index), computes every value in the
//! plan's order, checks the balance, and folds the claim into the accumulators. Products and
//! quotients are rounded once by the kernel's rule ([`kernel`]); bounds, division by zero and
//! keys outside their enum are faults returned through the error slots ([`FaultKind`]), never
//! a trap.
//!
//! ```text
//! let compiled = settle_compiler::compile(&policy)?;     // once per policy
//! compiled.settle(&mut frame)?;                          // once per claim
//! ```

mod helpers;
pub mod kernel;
pub mod plan;
mod translate;

use std::fmt;
use std::mem::ManuallyDrop;

use cranelift_jit::JITModule;
use settle_lang::ir::Policy;

pub use kernel::{money_fen, rate_millionths};

/// Why a policy cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The policy uses something the JIT does not lower yet.
    #[error("the JIT does not compile {0} yet")]
    Unsupported(String),
    /// Cranelift refused the generated code (a defect).
    #[error("code generation failed: {0}")]
    Codegen(String),
}

/// What went wrong while settling a claim with the closures or the compiled code: one list for
/// both, written by the code as [`FaultKind::code`] in `err[0]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// A result beyond the bounds of its type (±10^15 yuan, ±10^9 for a rate, 64 bits for a
    /// count).
    Overflow,
    /// A division by zero.
    DivisionByZero,
    /// No value of parameter `a` in force on day `b`.
    NotInForce,
    /// Exceptions `a` and `b` of the rule being computed both apply.
    Conflict,
    /// Share `a` (a value id) of the balance is negative (`b` fen).
    NegativeShare,
    /// The shares add up to `b` fen, not the total `a`.
    Unbalanced,
    /// Key `a` of a read of table parameter `b` is no variant of its enum.
    OutOfRange,
    /// A defect: buffers of the wrong size, a fallback that cannot answer. Never a claim's
    /// fault; tests hold it unreachable from the engine.
    Internal,
}

impl FaultKind {
    /// Every kind, in order of [`FaultKind::code`] from 1.
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Overflow,
        FaultKind::DivisionByZero,
        FaultKind::NotInForce,
        FaultKind::Conflict,
        FaultKind::NegativeShare,
        FaultKind::Unbalanced,
        FaultKind::OutOfRange,
        FaultKind::Internal,
    ];

    /// The kind as the compiled code writes it: 1 and up (0 is no fault).
    pub const fn code(self) -> i64 {
        match self {
            FaultKind::Overflow => 1,
            FaultKind::DivisionByZero => 2,
            FaultKind::NotInForce => 3,
            FaultKind::Conflict => 4,
            FaultKind::NegativeShare => 5,
            FaultKind::Unbalanced => 6,
            FaultKind::OutOfRange => 7,
            FaultKind::Internal => 8,
        }
    }

    /// The kind the code wrote; anything else is [`FaultKind::Internal`].
    pub fn from_code(code: i64) -> FaultKind {
        FaultKind::ALL.into_iter().find(|k| k.code() == code).unwrap_or(FaultKind::Internal)
    }
}

/// A fault of the compiled code or the closures: `kind`, the value being computed (a value id;
/// `values.len() + i` for accumulator `i`; `values.len() + accumulators.len()` for the balance),
/// and two details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What went wrong.
    pub kind: FaultKind,
    /// Where.
    pub at: usize,
    /// First detail.
    pub a: i64,
    /// Second detail.
    pub b: i64,
}

/// The buffers one claim's settlement reads and writes, sized by [`Compiled::frame`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frame {
    /// The claim's input fields. The code computes exactly on fields that are values of their
    /// types (money and rates within their bounds, variants of their enums, as the engine checks
    /// before settling); on others it still reads and writes only its own buffers, and faults
    /// or computes values of no meaning.
    pub fields: Vec<i64>,
    /// The accumulators before the claim.
    pub accs: Vec<i64>,
    /// Whether each accumulator has seen a claim (0 or 1).
    pub seen: Vec<i64>,
    /// Every value of the policy, written by the code.
    pub values: Vec<i64>,
    /// The accumulators after the claim, written by the code.
    pub next_accs: Vec<i64>,
    /// `seen` after the claim, written by the code.
    pub next_seen: Vec<i64>,
}

impl Frame {
    /// Buffers for `fields` input fields, `values` values and `accs` accumulators.
    pub fn sized(fields: usize, values: usize, accs: usize) -> Frame {
        Frame {
            fields: vec![0; fields],
            accs: vec![0; accs],
            seen: vec![0; accs],
            values: vec![0; values],
            next_accs: vec![0; accs],
            next_seen: vec![0; accs],
        }
    }

    /// Whether every buffer but `fields` has the size for `values` values and `accs`
    /// accumulators.
    pub fn fits(&self, values: usize, accs: usize) -> bool {
        self.values.len() == values
            && [&self.accs, &self.seen, &self.next_accs, &self.next_seen]
                .iter()
                .all(|b| b.len() == accs)
    }

    /// Run `settle` with the frame's own fields (taken out of the frame for the call).
    pub fn with_own_fields<R>(&mut self, settle: impl FnOnce(&[i64], &mut Frame) -> R) -> R {
        let fields = std::mem::take(&mut self.fields);
        let settled = settle(&fields, self);
        self.fields = fields;
        settled
    }
}

type Entry = unsafe extern "C" fn(
    fields: *const i64,
    accs: *const i64,
    seen: *const i64,
    values: *mut i64,
    next_accs: *mut i64,
    next_seen: *mut i64,
    err: *mut i64,
    fallback: *const Bridge<'_>,
) -> i64;

/// What the compiled code cannot compute itself (folds over a claim's lists, comparisons of
/// text), it asks of a `Fallback`: the engine answers with the interpreter.
pub trait Fallback {
    /// Compute expression `expr` (an index into [`Compiled::fallbacks`]) for the claim being
    /// settled, given the values computed so far and the accumulators before the claim, as the
    /// compiled code holds them; the result in the same representation.
    fn eval(&self, expr: usize, values: &[i64], accs: &[i64]) -> Result<i64, Fault>;
}

/// A fallback that computes nothing: for policies that need none.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFallback;

impl Fallback for NoFallback {
    fn eval(&self, _expr: usize, _values: &[i64], _accs: &[i64]) -> Result<i64, Fault> {
        Err(Fault { kind: FaultKind::Internal, at: 0, a: 0, b: 0 })
    }
}

/// What the compiled code passes back to [`helpers::fallback`]: the fallback and the sizes of
/// the buffers it reads.
pub(crate) struct Bridge<'a> {
    pub fallback: &'a dyn Fallback,
    pub values: usize,
    pub accs: usize,
}

/// A policy compiled to native code. Dropping it frees the code's memory.
pub struct Compiled {
    entry: Entry,
    fields: usize,
    values: usize,
    accs: usize,
    fallbacks: Vec<settle_lang::ir::Expr>,
    // INVARIANT: the code of `entry` lives in `module` and reads the plan's data block `data`;
    // both live as long as `self`, and the module's memory is freed only when `self` drops.
    _data: Box<[i64]>,
    module: ManuallyDrop<JITModule>,
}

impl Drop for Compiled {
    fn drop(&mut self) {
        // SAFETY: `self` is being dropped, so no call of `entry` is running (each borrows
        // `self`) and none can follow; the module is taken once, here, and never used again.
        unsafe { ManuallyDrop::take(&mut self.module).free_memory() };
    }
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compiled")
            .field("values", &self.values)
            .field("accs", &self.accs)
            .finish_non_exhaustive()
    }
}

// SAFETY: the compiled code and its data are immutable once finalized, and the code keeps no
// state between calls: every call works only on the buffers it is given.
unsafe impl Send for Compiled {}
// SAFETY: as for `Send`: concurrent calls share nothing but read-only code and data.
unsafe impl Sync for Compiled {}

impl Compiled {
    fn new(entry: Entry, plan: &plan::Plan, data: Box<[i64]>, module: JITModule) -> Compiled {
        Compiled {
            entry,
            fields: plan.fields,
            values: plan.values,
            accs: plan.accs,
            fallbacks: plan.fallbacks.clone(),
            _data: data,
            module: ManuallyDrop::new(module),
        }
    }

    /// Buffers of the right sizes for this policy.
    pub fn frame(&self) -> Frame {
        Frame::sized(self.fields, self.values, self.accs)
    }

    /// The expressions the code asks of its [`Fallback`], by index.
    pub fn fallbacks(&self) -> &[settle_lang::ir::Expr] {
        &self.fallbacks
    }

    /// Settle one claim held in `frame`; `fallback` computes what the code does not (see
    /// [`Compiled::fallbacks`]).
    pub fn settle(&self, frame: &mut Frame, fallback: &dyn Fallback) -> Result<(), Fault> {
        frame.with_own_fields(|fields, frame| self.settle_fields(fields, frame, fallback))
    }

    /// [`Compiled::settle`] with the claim's fields read from `fields` instead of the frame's:
    /// for callers holding claims in one contiguous block.
    pub fn settle_fields(
        &self,
        fields: &[i64],
        frame: &mut Frame,
        fallback: &dyn Fallback,
    ) -> Result<(), Fault> {
        let sizes_ok = fields.len() == self.fields && frame.fits(self.values, self.accs);
        // INVARIANT: the fallback bridge reads `values` and `accs` with the lengths checked here.
        if !sizes_ok {
            return Err(Fault { kind: FaultKind::Internal, at: self.values, a: 0, b: 0 });
        }
        let mut err = [0i64; 4];
        let bridge = Bridge { fallback, values: self.values, accs: self.accs };
        // SAFETY: every buffer has the length the code was compiled for (checked above), and
        // the code reads and writes only within them, `err` (4 slots) and its data block: each
        // field, value and accumulator at a constant offset below those lengths, each table
        // cell after checking every key against its enum's size (a key outside is a fault),
        // each set's word after checking the variant against the set's words. It never traps:
        // faults come back through the return value.
        let status = unsafe {
            (self.entry)(
                fields.as_ptr(),
                frame.accs.as_ptr(),
                frame.seen.as_ptr(),
                frame.values.as_mut_ptr(),
                frame.next_accs.as_mut_ptr(),
                frame.next_seen.as_mut_ptr(),
                err.as_mut_ptr(),
                &bridge,
            )
        };
        if status == 0 {
            return Ok(());
        }
        let [kind, at, a, b] = err;
        let at = usize::try_from(at).unwrap_or(usize::MAX);
        Err(Fault { kind: FaultKind::from_code(kind), at, a, b })
    }
}

/// Compile a checked policy.
pub fn compile(policy: &Policy) -> Result<Compiled, CompileError> {
    translate::compile(policy)
}
