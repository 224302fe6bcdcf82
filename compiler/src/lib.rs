//! settle-compiler: compiles a checked policy's IR to native code with Cranelift.
//!
//! The compiled function settles one claim: it reads the claim's fields and the member's
//! accumulators as 64-bit integers (money in fen, rates in millionths, counts, truth values as
//! 0/1, dates as days since 1970-01-01, enum variants by index), computes every value of the
//! policy in the IR's order, checks the balance, and folds the claim into the accumulators. Its
//! arithmetic is the interpreter's, operation for operation: products and quotients rounded once
//! by the policy's mode, bounds (±10^15 yuan, ±10^9 for a rate) and division by zero reported
//! through an error return, never a trap.
//!
//! ```text
//! let compiled = settle_compiler::compile(&policy)?;     // once per policy
//! compiled.settle(&mut frame)?;                          // once per claim
//! ```

mod helpers;
mod layout;
mod translate;

use std::fmt;

use cranelift_jit::JITModule;
use settle_lang::ir::{Policy, Type};

pub use layout::{constant, money_fen, rate_millionths};

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

/// Error kinds the compiled code reports in `err[0]`.
pub mod fault {
    /// A result beyond the bounds of its type.
    pub const OVERFLOW: i64 = 1;
    /// A division by zero.
    pub const DIVISION_BY_ZERO: i64 = 2;
    /// No value of parameter `err[2]` in force on day `err[3]`.
    pub const NOT_IN_FORCE: i64 = 3;
    /// Exceptions `err[2]` and `err[3]` of rule `err[1]` both apply.
    pub const CONFLICT: i64 = 4;
    /// Share `err[2]` (a value id) of the balance is negative.
    pub const NEGATIVE_SHARE: i64 = 5;
    /// The shares add up to `err[3]` fen, not the total `err[2]`.
    pub const UNBALANCED: i64 = 6;
}

/// A fault of the compiled code: `kind` (see [`fault`]), the value being computed (a value id;
/// `values.len() + i` for accumulator `i`; `values.len() + accumulators.len()` for the balance),
/// and two details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// What went wrong.
    pub kind: i64,
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
    /// The claim's input fields.
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
        Err(Fault { kind: fault::OVERFLOW, at: 0, a: 0, b: 0 })
    }
}

/// What the compiled code passes back to [`helpers::fallback`]: the fallback and the sizes of
/// the buffers it reads.
pub(crate) struct Bridge<'a> {
    pub fallback: &'a dyn Fallback,
    pub values: usize,
    pub accs: usize,
}

/// A policy compiled to native code.
pub struct Compiled {
    entry: Entry,
    fields: usize,
    values: usize,
    accs: usize,
    fallbacks: Vec<settle_lang::ir::Expr>,
    // INVARIANT: the code of `entry` lives in `_module` and reads parameter cells from `_data`;
    // both live as long as `self`.
    _data: Box<[i64]>,
    _module: JITModule,
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
            return Err(Fault { kind: fault::OVERFLOW, at: self.values, a: 0, b: 0 });
        }
        let mut err = [0i64; 4];
        let bridge = Bridge { fallback, values: self.values, accs: self.accs };
        // SAFETY: every buffer has the length the code was compiled for (checked above), the
        // code reads and writes only within them and `err` (4 slots), and it never traps: faults
        // come back through the return value.
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
        Err(Fault { kind, at: usize::try_from(at).unwrap_or(usize::MAX), a, b })
    }
}

/// Compile a checked policy.
pub fn compile(policy: &Policy) -> Result<Compiled, CompileError> {
    translate::compile(policy)
}

/// Whether a policy can be settled on 64-bit scaled integers: every value, accumulator and
/// balance total a number, truth value, date or enum variant (text, list and record values are
/// not). What [`compile`] checks before it emits any code.
pub fn supported(policy: &Policy) -> Result<(), CompileError> {
    translate::check_supported(policy)
}

/// Whether an expression is left to the [`Fallback`]: folds and quantifiers over a claim's
/// lists, and comparisons of text.
pub fn needs_fallback(e: &settle_lang::ir::Expr) -> bool {
    translate::needs_fallback(e)
}

/// Whether the code computes expressions of type `ty` itself.
pub fn scalar(ty: Type) -> Result<(), CompileError> {
    match ty {
        Type::Money | Type::Rate | Type::Int | Type::Bool | Type::Date | Type::Enum(_) => Ok(()),
        Type::Text => Err(CompileError::Unsupported("computations on text".into())),
        Type::Record(_) | Type::List(_) => {
            Err(CompileError::Unsupported("lists and records".into()))
        }
    }
}
