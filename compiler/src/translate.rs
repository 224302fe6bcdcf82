//! The translator: one `translate_*` method per node of the execution plan ([`crate::plan`]),
//! emitting Cranelift IR over 64-bit scaled integers in the plan's order of evaluation, so that
//! the first fault of a claim is the one the closures and the reference interpreter meet.
//! Every decision (the operation, the bound, the rounding mode, the set's words, the table's
//! strides and key ranges, the version in force) is read from the plan; the translator only
//! chooses instructions.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, Block, BlockArg, FuncRef, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind,
    Value, types,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module};
use settle_lang::ir::{Policy, Rounding};

use crate::kernel::{Calendar, MILLION, MONEY_LIMIT_FEN};
use crate::plan::{Arith, Bracket, Compare, Fold, FoldOp, Key, Node, Plan, Set, Unary};
use crate::{CompileError, Compiled, Entry, FaultKind, helpers};

const I64: types::Type = types::I64;
/// The multiplier that divides a signed 64-bit integer by 10^6 with a shift of 18 (Hacker's
/// Delight, 10-4); `tests::magic_division_by_a_million` checks it.
const MILLION_MAGIC: i64 = 0x431B_DE82_D7B6_34DB;

/// The largest product rounded half away from zero by the inline bias: adding half a million
/// to it stays within 64 bits. A larger one goes to the kernel's helper.
const HALF_UP_ROOM: i64 = i64::MAX - MILLION / 2;

/// A divisor: the constant 10^6 of rates, or a value computed at run time.
#[derive(Debug, Clone, Copy)]
enum Divisor {
    Million,
    Dynamic(Value),
}

fn codegen(e: impl std::fmt::Display) -> CompileError {
    CompileError::Codegen(e.to_string())
}

/// Compile `policy` to a native function.
pub fn compile(policy: &Policy) -> Result<Compiled, CompileError> {
    let plan = Plan::new(policy)?;
    let data: Box<[i64]> = plan.data.clone().into_boxed_slice();

    let mut flags = settings::builder();
    flags.set("opt_level", "speed").map_err(codegen)?;
    flags
        .set("enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })
        .map_err(codegen)?;
    let isa = cranelift_native::builder()
        .map_err(codegen)?
        .finish(settings::Flags::new(flags))
        .map_err(codegen)?;
    let frontend = isa.frontend_config();
    let mut jit = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
    jit.symbol("settle_muldiv", helpers::muldiv as *const u8);
    jit.symbol("settle_fallback", helpers::fallback as *const u8);
    jit.symbol("settle_round_to", helpers::round_to as *const u8);
    jit.symbol("settle_calendar", helpers::calendar as *const u8);
    let mut module = JITModule::new(jit);

    let mut helper = module.make_signature();
    for _ in 0..5 {
        helper.params.push(AbiParam::new(I64));
    }
    helper.returns.push(AbiParam::new(I64));
    let muldiv_id =
        module.declare_function("settle_muldiv", Linkage::Import, &helper).map_err(codegen)?;

    let fallback_id =
        module.declare_function("settle_fallback", Linkage::Import, &helper).map_err(codegen)?;

    let round_to_id =
        module.declare_function("settle_round_to", Linkage::Import, &helper).map_err(codegen)?;
    let calendar_id =
        module.declare_function("settle_calendar", Linkage::Import, &helper).map_err(codegen)?;

    let mut ctx = module.make_context();
    for _ in 0..8 {
        ctx.func.signature.params.push(AbiParam::new(I64));
    }
    ctx.func.signature.returns.push(AbiParam::new(I64));
    let muldiv = module.declare_func_in_func(muldiv_id, &mut ctx.func);
    let fallback = module.declare_func_in_func(fallback_id, &mut ctx.func);
    let round_to = module.declare_func_in_func(round_to_id, &mut ctx.func);
    let calendar = module.declare_func_in_func(calendar_id, &mut ctx.func);
    let mut fctx = FunctionBuilderContext::new();
    let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
    let helpers = Helpers { muldiv, fallback, round_to, calendar };
    let translator = Translator::new(b, &plan, data.as_ptr() as i64, helpers);
    translator.translate(frontend)?;

    let id = module
        .declare_function("settle_claim", Linkage::Export, &ctx.func.signature)
        .map_err(codegen)?;
    module.define_function(id, &mut ctx).map_err(codegen)?;
    module.clear_context(&mut ctx);
    module.finalize_definitions().map_err(codegen)?;
    let code = module.get_finalized_function(id);
    // SAFETY: `code` is the function just defined with exactly `Entry`'s signature (eight
    // 64-bit parameters, one 64-bit result) in the platform's default calling convention.
    let entry = unsafe { std::mem::transmute::<*const u8, Entry>(code) };
    Ok(Compiled::new(entry, &plan, data, module))
}

/// The Rust helpers the code calls, each with the signature of five 64-bit parameters and a
/// 64-bit status.
struct Helpers {
    muldiv: FuncRef,
    fallback: FuncRef,
    round_to: FuncRef,
    calendar: FuncRef,
}

/// A rounding mode as the helpers take it.
fn mode_code(mode: Rounding) -> i64 {
    match mode {
        Rounding::HalfUp => 0,
        Rounding::HalfEven => 1,
        Rounding::Down => 2,
        Rounding::Up => 3,
    }
}

/// Emits the function that settles one claim.
struct Translator<'a, 'f> {
    b: FunctionBuilder<'f>,
    plan: &'a Plan,
    /// The address of the plan's data block.
    data: i64,
    muldiv: FuncRef,
    /// The rounding mode as the helper takes it (0 half up, 1 half even, 2 down, 3 up).
    mode: i64,
    /// The function's parameters.
    fields: Value,
    accs: Value,
    seen: Value,
    values: Value,
    next_accs: Value,
    next_seen: Value,
    err: Value,
    /// The claim's date (the policy's `dated by` field).
    date: Value,
    /// One variable per computed value.
    vars: Vec<Variable>,
    /// Where faults go: block parameters (kind, at, a, b).
    error: Block,
    /// The value being computed, for faults.
    at: i64,
    /// A stack slot for the helper's result.
    slot: cranelift_codegen::ir::StackSlot,
    /// The offset of each dated parameter's version in force (see `cache_versions`).
    version_cache: Vec<Option<Value>>,
    /// The bridge to the engine's fallback (the function's last parameter) and the helper.
    bridge: Value,
    fallback: FuncRef,
    /// The kernel's rounding to a unit and calendar operations.
    round_to: FuncRef,
    calendar: FuncRef,
    /// Four slots for the fallback's answer.
    answer: cranelift_codegen::ir::StackSlot,
}

impl<'a, 'f> Translator<'a, 'f> {
    fn new(mut b: FunctionBuilder<'f>, plan: &'a Plan, data: i64, helpers: Helpers) -> Self {
        let Helpers { muldiv, fallback, round_to, calendar } = helpers;
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let params: Vec<Value> = b.block_params(entry).to_vec();
        let p = |i: usize| params.get(i).copied().unwrap_or(Value::from_u32(0));
        let bridge = p(7);
        let (fields, accs, seen, values, next_accs, next_seen, err) =
            (p(0), p(1), p(2), p(3), p(4), p(5), p(6));
        let date = b.ins().load(I64, MemFlagsData::trusted(), fields, offset(plan.dated_field));
        let vars = (0..plan.values).map(|_| b.declare_var(I64)).collect();
        let error = b.create_block();
        for _ in 0..4 {
            b.append_block_param(error, I64);
        }
        let slot = b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 8, 3));
        let answer =
            b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 32, 3));
        let mode = mode_code(plan.mode);
        Translator {
            b,
            plan,
            data,
            muldiv,
            mode,
            fields,
            accs,
            seen,
            values,
            next_accs,
            next_seen,
            err,
            date,
            vars,
            error,
            at: 0,
            slot,
            version_cache: Vec::new(),
            bridge,
            fallback,
            round_to,
            calendar,
            answer,
        }
    }

    /// Emit the whole function: values in order, the balance, the accumulators, the error exit.
    fn translate(
        mut self,
        frontend: cranelift_codegen::isa::TargetFrontendConfig,
    ) -> Result<(), CompileError> {
        let plan = self.plan;
        self.cache_versions();
        for (v, node) in &plan.order {
            self.at = *v as i64;
            let value = self.translate_node(node)?;
            if let Some(var) = self.vars.get(*v) {
                self.b.def_var(*var, value);
            }
            self.b.ins().store(MemFlagsData::trusted(), value, self.values, offset(*v));
        }
        self.translate_balance()?;
        self.translate_folds()?;
        let zero = self.b.ins().iconst(I64, 0);
        self.b.ins().return_(&[zero]);

        // The error exit: write (kind, at, a, b) and return 1.
        self.b.switch_to_block(self.error);
        self.b.seal_block(self.error);
        let params: Vec<Value> = self.b.block_params(self.error).to_vec();
        for (i, p) in params.iter().enumerate() {
            self.b.ins().store(MemFlagsData::trusted(), *p, self.err, offset(i));
        }
        let one = self.b.ins().iconst(I64, 1);
        self.b.ins().return_(&[one]);
        self.b.finalize(frontend);
        Ok(())
    }

    /// Branch to the error exit when `cond` holds.
    fn fault_if(&mut self, cond: Value, kind: FaultKind, a: Value, b: Value) {
        // The fault's constants are made on the cold path only.
        let (cold, cont) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(cond, cold, &[], cont, &[]);
        self.b.set_cold_block(cold);
        self.b.switch_to_block(cold);
        self.b.seal_block(cold);
        let kind = self.b.ins().iconst(I64, kind.code());
        let at = self.b.ins().iconst(I64, self.at);
        let args = [BlockArg::from(kind), BlockArg::from(at), BlockArg::from(a), BlockArg::from(b)];
        self.b.ins().jump(self.error, &args);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
    }

    fn fault_simple(&mut self, cond: Value, kind: FaultKind) {
        let zero = self.b.ins().iconst(I64, 0);
        self.fault_if(cond, kind, zero, zero);
    }

    /// Fault with an overflow when `x` is beyond ±`limit`: one unsigned comparison, since
    /// `x + limit` (wrapping) is within `0..=2 * limit` exactly when `x` is within the bound.
    fn bound(&mut self, x: Value, limit: i64) {
        let shifted = self.b.ins().iadd_imm_s(x, limit);
        let out =
            self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThan, shifted, limit.saturating_mul(2));
        self.fault_simple(out, FaultKind::Overflow);
    }

    fn bool(&mut self, flag: Value) -> Value {
        self.b.ins().uextend(I64, flag)
    }

    fn translate_node(&mut self, node: &Node) -> Result<Value, CompileError> {
        Ok(match node {
            &Node::Const(v) => self.b.ins().iconst(I64, v),
            &Node::Field(i) => {
                self.b.ins().load(I64, MemFlagsData::trusted(), self.fields, offset(i))
            }
            &Node::Value(v) => match self.vars.get(v) {
                Some(var) => self.b.use_var(*var),
                None => return Err(CompileError::Codegen(format!("value {v} out of range"))),
            },
            &Node::Acc(a) => self.b.ins().load(I64, MemFlagsData::trusted(), self.accs, offset(a)),
            &Node::Param(p) => {
                let version = self.version_offset(p)?;
                self.load_cell(version, None)
            }
            Node::Table { param, keys } => self.translate_table(*param, keys)?,
            Node::Segmented { param, amount } => self.translate_segmented(*param, amount)?,
            Node::RateAt { param, amount } => self.translate_rate_at(*param, amount)?,
            Node::Unary(op, x) => self.translate_unary(*op, x)?,
            Node::Arith { op, x, y, bound } => self.translate_arith(*op, x, y, *bound)?,
            Node::Proportion { x, a, b, bound } => self.translate_proportion(x, a, b, *bound)?,
            Node::Compare(c, x, y) => {
                let (x, y) = (self.translate_node(x)?, self.translate_node(y)?);
                let cc = match c {
                    Compare::Eq => IntCC::Equal,
                    Compare::Ne => IntCC::NotEqual,
                    Compare::Lt => IntCC::SignedLessThan,
                    Compare::Le => IntCC::SignedLessThanOrEqual,
                    Compare::Gt => IntCC::SignedGreaterThan,
                    Compare::Ge => IntCC::SignedGreaterThanOrEqual,
                };
                let flag = self.b.ins().icmp(cc, x, y);
                self.bool(flag)
            }
            Node::And(x, y) => self.translate_condition(true, x, y)?,
            Node::Or(x, y) => self.translate_condition(false, x, y)?,
            Node::If(c, a, b) => {
                let cond = self.translate_node(c)?;
                let (then, other, merge) =
                    (self.b.create_block(), self.b.create_block(), self.b.create_block());
                self.b.append_block_param(merge, I64);
                self.b.ins().brif(cond, then, &[], other, &[]);
                self.b.switch_to_block(then);
                self.b.seal_block(then);
                let x = self.translate_node(a)?;
                self.b.ins().jump(merge, &[BlockArg::from(x)]);
                self.b.switch_to_block(other);
                self.b.seal_block(other);
                let y = self.translate_node(b)?;
                self.b.ins().jump(merge, &[BlockArg::from(y)]);
                self.b.switch_to_block(merge);
                self.b.seal_block(merge);
                self.b.block_params(merge).first().copied().unwrap_or(y)
            }
            Node::Extreme { min, xs } => {
                let mut best: Option<Value> = None;
                for x in xs {
                    let v = self.translate_node(x)?;
                    best = Some(match best {
                        None => v,
                        Some(b) if *min => self.b.ins().smin(b, v),
                        Some(b) => self.b.ins().smax(b, v),
                    });
                }
                best.ok_or_else(|| CompileError::Codegen("`min` or `max` of nothing".into()))?
            }
            Node::In(x, set) => self.translate_in(x, set)?,
            Node::Rule { whens, values, default } => self.translate_rule(whens, values, default)?,
            &Node::Fallback(id) => self.translate_fallback(id),
            Node::Calendar { op, x, y } => self.translate_calendar(*op, x, y)?,
            Node::Round { x, unit, mode } => self.translate_round(x, *unit, *mode)?,
        })
    }

    /// A calendar operation: the kernel's, through its helper; an overflow when a date leaves
    /// the calendar.
    fn translate_calendar(
        &mut self,
        op: Calendar,
        x: &Node,
        y: &Node,
    ) -> Result<Value, CompileError> {
        let x = self.translate_node(x)?;
        let y = self.translate_node(y)?;
        let op = self.b.ins().iconst(I64, op.code());
        let unused = self.b.ins().iconst(I64, 0);
        Ok(self.call_helper(self.calendar, [op, x, y, unused]))
    }

    /// Money rounded to a unit: the kernel's rounding, through its helper; an overflow beyond
    /// the money bound.
    fn translate_round(
        &mut self,
        x: &Node,
        unit: i64,
        mode: Rounding,
    ) -> Result<Value, CompileError> {
        let x = self.translate_node(x)?;
        let unit = self.b.ins().iconst(I64, unit);
        let mode = self.b.ins().iconst(I64, mode_code(mode));
        let unused = self.b.ins().iconst(I64, 0);
        Ok(self.call_helper(self.round_to, [x, unit, mode, unused]))
    }

    /// Call a helper that writes its result to the stack slot and returns 0, or returns a
    /// non-zero status for an overflow.
    fn call_helper(&mut self, helper: FuncRef, args: [Value; 4]) -> Value {
        let out = self.b.ins().stack_addr(I64, self.slot, 0);
        let [a, b, c, d] = args;
        let call = self.b.ins().call(helper, &[a, b, c, d, out]);
        let status = self.b.inst_results(call).first().copied().unwrap_or(a);
        let failed = self.b.ins().icmp_imm_s(IntCC::NotEqual, status, 0);
        self.fault_simple(failed, FaultKind::Overflow);
        self.b.ins().stack_load(I64, I64, self.slot, 0)
    }

    /// A rule: every condition in order, a second that holds a conflict; then only the value
    /// that applies is computed.
    fn translate_rule(
        &mut self,
        whens: &[Node],
        values: &[Node],
        default: &Node,
    ) -> Result<Value, CompileError> {
        let none = self.b.ins().iconst(I64, -1);
        let mut applied = none;
        for (i, when) in whens.iter().enumerate() {
            let holds = self.translate_node(when)?;
            let taken = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, applied, 0);
            let holds_flag = self.b.ins().icmp_imm_s(IntCC::NotEqual, holds, 0);
            let conflict = self.b.ins().band(taken, holds_flag);
            let second = self.b.ins().iconst(I64, i as i64);
            self.fault_if(conflict, FaultKind::Conflict, applied, second);
            applied = self.b.ins().select(holds_flag, second, applied);
        }
        let merge = self.b.create_block();
        self.b.append_block_param(merge, I64);
        for (i, value) in values.iter().enumerate() {
            let this = self.b.create_block();
            let next = self.b.create_block();
            let is = self.b.ins().icmp_imm_s(IntCC::Equal, applied, i as i64);
            self.b.ins().brif(is, this, &[], next, &[]);
            self.b.switch_to_block(this);
            self.b.seal_block(this);
            let value = self.translate_node(value)?;
            self.b.ins().jump(merge, &[BlockArg::from(value)]);
            self.b.switch_to_block(next);
            self.b.seal_block(next);
        }
        let value = self.translate_node(default)?;
        self.b.ins().jump(merge, &[BlockArg::from(value)]);
        self.b.switch_to_block(merge);
        self.b.seal_block(merge);
        Ok(self.b.block_params(merge).first().copied().unwrap_or(value))
    }

    /// `x and y` (`and` true) or `x or y`: the right side is not computed, and cannot fault,
    /// when the left decides.
    fn translate_condition(
        &mut self,
        and: bool,
        x: &Node,
        y: &Node,
    ) -> Result<Value, CompileError> {
        let x = self.translate_node(x)?;
        let (right, merge) = (self.b.create_block(), self.b.create_block());
        self.b.append_block_param(merge, I64);
        let decided = self.b.ins().iconst(I64, i64::from(!and));
        if and {
            self.b.ins().brif(x, right, &[], merge, &[BlockArg::from(decided)]);
        } else {
            self.b.ins().brif(x, merge, &[BlockArg::from(decided)], right, &[]);
        }
        self.b.switch_to_block(right);
        self.b.seal_block(right);
        let y = self.translate_node(y)?;
        let y = self.b.ins().icmp_imm_s(IntCC::NotEqual, y, 0);
        let y = self.bool(y);
        self.b.ins().jump(merge, &[BlockArg::from(y)]);
        self.b.switch_to_block(merge);
        self.b.seal_block(merge);
        Ok(self.b.block_params(merge).first().copied().unwrap_or(y))
    }

    fn translate_unary(&mut self, op: Unary, x: &Node) -> Result<Value, CompileError> {
        let v = self.translate_node(x)?;
        Ok(match op {
            Unary::Neg { checked } => {
                if checked {
                    let min = self.b.ins().icmp_imm_s(IntCC::Equal, v, i64::MIN);
                    self.fault_simple(min, FaultKind::Overflow);
                }
                self.b.ins().ineg(v)
            }
            Unary::Abs { checked } => {
                if checked {
                    let min = self.b.ins().icmp_imm_s(IntCC::Equal, v, i64::MIN);
                    self.fault_simple(min, FaultKind::Overflow);
                }
                self.b.ins().iabs(v)
            }
            Unary::Not => {
                let flag = self.b.ins().icmp_imm_s(IntCC::Equal, v, 0);
                self.bool(flag)
            }
        })
    }

    /// Whether a variant is in a set: the plan's bitset, read for variants inside its words
    /// (from a constant when it is one word, from the data block otherwise); a variant outside
    /// them is in no set.
    fn translate_in(&mut self, x: &Node, set: &Set) -> Result<Value, CompileError> {
        let v = self.translate_node(x)?;
        let bits = (set.words.len() as i64).saturating_mul(64);
        // Unsigned: a negative variant is outside too.
        let inside = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, v, bits);
        let word = match set.words.as_slice() {
            &[word] => self.b.ins().iconst(I64, word as i64),
            _ => {
                let zero = self.b.ins().iconst(I64, 0);
                let index = self.b.ins().select(inside, v, zero);
                let word = self.b.ins().ushr_imm_s(index, 6);
                let at = self.b.ins().iconst(I64, set.at as i64);
                let cell = self.b.ins().iadd(at, word);
                self.load_data(cell)
            }
        };
        // The shift takes the variant modulo 64.
        let shifted = self.b.ins().ushr(word, v);
        let bit = self.b.ins().band_imm_s(shifted, 1);
        let inside = self.bool(inside);
        Ok(self.b.ins().band(bit, inside))
    }

    fn translate_arith(
        &mut self,
        op: Arith,
        x: &Node,
        y: &Node,
        bound: Option<i64>,
    ) -> Result<Value, CompileError> {
        let x = self.translate_node(x)?;
        let y = self.translate_node(y)?;
        let result = match op {
            // Within the bound, the operands' sum cannot leave 64 bits: only the bound is
            // checked (below).
            Arith::Add if bound.is_some() => self.b.ins().iadd(x, y),
            Arith::Sub if bound.is_some() => self.b.ins().isub(x, y),
            Arith::Add | Arith::Sub | Arith::Mul => {
                let (v, over) = match op {
                    Arith::Add => self.b.ins().sadd_overflow(x, y),
                    Arith::Sub => self.b.ins().ssub_overflow(x, y),
                    _ => self.b.ins().smul_overflow(x, y),
                };
                self.fault_simple(over, FaultKind::Overflow);
                v
            }
            Arith::MulScaled => self.muldiv(x, y, Divisor::Million),
            Arith::DivRound => {
                let one = self.b.ins().iconst(I64, 1);
                self.muldiv(x, one, Divisor::Dynamic(y))
            }
            Arith::DivScaled => {
                let million = self.b.ins().iconst(I64, MILLION);
                self.muldiv(x, million, Divisor::Dynamic(y))
            }
        };
        if let Some(limit) = bound {
            self.bound(result, limit);
        }
        Ok(result)
    }

    /// `round(x * a / b)`: the amount, the multiplier and the divisor in order, then one
    /// rounding by [`Self::muldiv`] (its 64-bit fast path, or the kernel's helper when the
    /// product leaves 64 bits; a zero divisor faults first), then the money bound.
    fn translate_proportion(
        &mut self,
        x: &Node,
        a: &Node,
        b: &Node,
        bound: i64,
    ) -> Result<Value, CompileError> {
        let x = self.translate_node(x)?;
        let a = self.translate_node(a)?;
        let b = self.translate_node(b)?;
        let result = self.muldiv(x, a, Divisor::Dynamic(b));
        self.bound(result, bound);
        Ok(result)
    }

    /// Ask the engine's fallback for expression `id`, with the values computed so far; its
    /// fault, if any, becomes the code's.
    fn translate_fallback(&mut self, id: usize) -> Value {
        let id = self.b.ins().iconst(I64, id as i64);
        let out = self.b.ins().stack_addr(I64, self.answer, 0);
        let call =
            self.b.ins().call(self.fallback, &[self.bridge, id, self.values, self.accs, out]);
        let status = self.b.inst_results(call).first().copied().unwrap_or(id);
        let failed = self.b.ins().icmp_imm_s(IntCC::NotEqual, status, 0);
        let a = self.b.ins().stack_load(I64, I64, self.answer, 16);
        let b = self.b.ins().stack_load(I64, I64, self.answer, 24);
        let cont = self.b.create_block();
        let at = self.b.ins().iconst(I64, self.at);
        let args =
            [BlockArg::from(status), BlockArg::from(at), BlockArg::from(a), BlockArg::from(b)];
        self.b.ins().brif(failed, self.error, &args, cont, &[]);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
        self.b.ins().stack_load(I64, I64, self.answer, 0)
    }

    /// Where the cells of the version of parameter `p` in force start in the data block;
    /// faults when none is in force.
    fn version_offset(&mut self, p: usize) -> Result<Value, CompileError> {
        let versions = self
            .plan
            .params
            .get(p)
            .ok_or_else(|| CompileError::Codegen("parameter out of range".into()))?;
        if let Some(first) = versions.first {
            let before = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, self.date, first);
            let param_id = self.b.ins().iconst(I64, p as i64);
            let date = self.date;
            self.fault_if(before, FaultKind::NotInForce, param_id, date);
        }
        if let Some(Some(cached)) = self.version_cache.get(p) {
            return Ok(*cached);
        }
        let first = versions.list.first().map_or(0, |v| v.cells);
        Ok(self.b.ins().iconst(I64, first as i64))
    }

    /// At the function's entry: where the version in force of every parameter with several
    /// starts, by the plan's rule (the last version whose date is on or before the claim's),
    /// computed once per claim; the check that one is in force stays where it is read.
    fn cache_versions(&mut self) {
        let plan = self.plan;
        for versions in &plan.params {
            let [first, rest @ ..] = versions.list.as_slice() else {
                self.version_cache.push(None);
                continue;
            };
            if rest.is_empty() {
                self.version_cache.push(None);
                continue;
            }
            let mut current = self.b.ins().iconst(I64, first.cells as i64);
            for v in rest {
                let reached =
                    self.b.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, self.date, v.from);
                let this = self.b.ins().iconst(I64, v.cells as i64);
                current = self.b.ins().select(reached, this, current);
            }
            self.version_cache.push(Some(current));
        }
    }

    /// Load the data block's cell `index` (a value the plan keeps within the block).
    fn load_data(&mut self, index: Value) -> Value {
        let bytes = self.b.ins().ishl_imm_s(index, 3);
        let base = self.b.ins().iconst(I64, self.data);
        let addr = self.b.ins().iadd(base, bytes);
        self.b.ins().load(I64, MemFlagsData::trusted(), addr, 0)
    }

    /// Load cell `cell` (none: the first) of the version starting at `version`.
    fn load_cell(&mut self, version: Value, cell: Option<Value>) -> Value {
        let index = match cell {
            Some(c) => self.b.ins().iadd(version, c),
            None => version,
        };
        self.load_data(index)
    }

    /// A table's cell: each key checked to be one of its enum's variants (else a fault naming
    /// the key and the parameter), then the row-major index by the plan's strides.
    fn translate_table(&mut self, p: usize, keys: &[Key]) -> Result<Value, CompileError> {
        let mut cell = self.b.ins().iconst(I64, 0);
        for key in keys {
            let k = self.translate_node(&key.node)?;
            // Unsigned: a negative key is outside too.
            let outside = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, k, key.size);
            let param = self.b.ins().iconst(I64, p as i64);
            self.fault_if(outside, FaultKind::OutOfRange, k, param);
            let part = self.b.ins().imul_imm_s(k, key.stride);
            cell = self.b.ins().iadd(cell, part);
        }
        let version = self.version_offset(p)?;
        Ok(self.load_cell(version, Some(cell)))
    }

    /// `round(x * y / d)` with the policy's rounding; 64-bit fast path, the kernel's 128-bit
    /// helper otherwise. Faults on a zero divisor first, as the interpreter does.
    fn muldiv(&mut self, x: Value, y: Value, d: Divisor) -> Value {
        if let Divisor::Dynamic(d) = d {
            let zero = self.b.ins().icmp_imm_s(IntCC::Equal, d, 0);
            self.fault_simple(zero, FaultKind::DivisionByZero);
        }
        let (product, over) = self.b.ins().smul_overflow(x, y);
        let far = if self.biased(d) {
            // Half the divisor is added away from zero: the product must leave room for it.
            let shifted = self.b.ins().iadd_imm_s(product, HALF_UP_ROOM);
            let twice = (HALF_UP_ROOM as u64).wrapping_mul(2) as i64;
            self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThan, shifted, twice)
        } else {
            self.b.ins().icmp_imm_s(IntCC::Equal, product, i64::MIN)
        };
        let wide = self.b.ins().bor(over, far);
        let (fast, slow, merge) =
            (self.b.create_block(), self.b.create_block(), self.b.create_block());
        self.b.append_block_param(merge, I64);
        self.b.ins().brif(wide, slow, &[], fast, &[]);

        self.b.switch_to_block(fast);
        self.b.seal_block(fast);
        let q = self.round_div(product, d);
        self.b.ins().jump(merge, &[BlockArg::from(q)]);

        self.b.switch_to_block(slow);
        self.b.seal_block(slow);
        let mode = self.b.ins().iconst(I64, self.mode);
        let out = self.b.ins().stack_addr(I64, self.slot, 0);
        let d = match d {
            Divisor::Million => self.b.ins().iconst(I64, MILLION),
            Divisor::Dynamic(d) => d,
        };
        let call = self.b.ins().call(self.muldiv, &[x, y, d, mode, out]);
        let status = self.b.inst_results(call).first().copied().unwrap_or(mode);
        let failed = self.b.ins().icmp_imm_s(IntCC::NotEqual, status, 0);
        self.fault_simple(failed, FaultKind::Overflow);
        let r = self.b.ins().stack_load(I64, I64, self.slot, 0);
        self.b.ins().jump(merge, &[BlockArg::from(r)]);

        self.b.switch_to_block(merge);
        self.b.seal_block(merge);
        self.b.block_params(merge).first().copied().unwrap_or(r)
    }

    /// `n / d` rounded by the policy's mode, inline: the kernel's rule
    /// ([`crate::kernel::muldiv`]) in instructions. `d` is not zero, `n` is not
    /// `i64::MIN`.
    fn round_div(&mut self, n: Value, d: Divisor) -> Value {
        if self.biased(d) {
            // Half away from zero by a million: half a million added away from zero, then the
            // quotient truncated (`n` is within ±HALF_UP_ROOM, so the sum fits; its sign is
            // `n`'s).
            let sign = self.b.ins().sshr_imm_s(n, 63);
            let half = self.b.ins().iconst(I64, MILLION / 2);
            let flipped = self.b.ins().bxor(half, sign);
            let half = self.b.ins().isub(flipped, sign);
            let m = self.b.ins().iadd(n, half);
            let magic = self.b.ins().iconst(I64, MILLION_MAGIC);
            let high = self.b.ins().smulhi(m, magic);
            let shifted = self.b.ins().sshr_imm_s(high, 18);
            return self.b.ins().isub(shifted, sign);
        }
        let (q, r, d) = match d {
            Divisor::Million => {
                // Division by 10^6 as a multiplication: q = (mulhs(n, M) >> 18) - (n >> 63),
                // the quotient truncated toward zero, exactly as `sdiv` gives it.
                let magic = self.b.ins().iconst(I64, MILLION_MAGIC);
                let high = self.b.ins().smulhi(n, magic);
                let shifted = self.b.ins().sshr_imm_s(high, 18);
                let sign = self.b.ins().sshr_imm_s(n, 63);
                let q = self.b.ins().isub(shifted, sign);
                let back = self.b.ins().imul_imm_s(q, MILLION);
                let r = self.b.ins().isub(n, back);
                let d = self.b.ins().iconst(I64, MILLION);
                (q, r, d)
            }
            Divisor::Dynamic(d) => {
                // One division: the remainder from the quotient.
                let q = self.b.ins().sdiv(n, d);
                let back = self.b.ins().imul(q, d);
                (q, self.b.ins().isub(n, back), d)
            }
        };
        if self.mode == 2 {
            return q;
        }
        let inexact = self.b.ins().icmp_imm_s(IntCC::NotEqual, r, 0);
        let signs = self.b.ins().bxor(n, d);
        let negative = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, signs, 0);
        let minus = self.b.ins().iconst(I64, -1);
        let plus = self.b.ins().iconst(I64, 1);
        let away = self.b.ins().select(negative, minus, plus);
        let up = match self.mode {
            3 => inexact,
            _ => {
                let r_abs = self.b.ins().iabs(r);
                let twice = self.b.ins().ishl_imm_s(r_abs, 1);
                let d_abs = self.b.ins().iabs(d);
                if self.mode == 0 {
                    self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, twice, d_abs)
                } else {
                    let above = self.b.ins().icmp(IntCC::UnsignedGreaterThan, twice, d_abs);
                    let half = self.b.ins().icmp(IntCC::Equal, twice, d_abs);
                    let odd = self.b.ins().band_imm_s(q, 1);
                    let odd = self.b.ins().icmp_imm_s(IntCC::NotEqual, odd, 0);
                    let tie_up = self.b.ins().band(half, odd);
                    self.b.ins().bor(above, tie_up)
                }
            }
        };
        let step = self.b.ins().band(up, inexact);
        let zero = self.b.ins().iconst(I64, 0);
        let adjust = self.b.ins().select(step, away, zero);
        self.b.ins().iadd(q, adjust)
    }

    /// Whether `n / d` is rounded by adding half the divisor away from zero and truncating:
    /// half away from zero (the policy's `half_up`) by the constant million.
    fn biased(&self, d: Divisor) -> bool {
        self.mode == 0 && matches!(d, Divisor::Million)
    }

    /// Emit `f` for each version of scale `p`, choosing the version in force at run time.
    fn per_version(
        &mut self,
        p: usize,
        mut f: impl FnMut(&mut Self, &[Bracket]) -> Result<Value, CompileError>,
    ) -> Result<Value, CompileError> {
        let plan = self.plan;
        let versions = plan
            .params
            .get(p)
            .ok_or_else(|| CompileError::Codegen("parameter out of range".into()))?;
        let chosen = self.version_offset(p)?;
        let [first, rest @ ..] = versions.list.as_slice() else {
            return Err(CompileError::Codegen("a scale without versions".into()));
        };
        if rest.is_empty() {
            return f(self, &first.brackets);
        }
        let merge = self.b.create_block();
        self.b.append_block_param(merge, I64);
        let mut last = chosen;
        for (i, v) in versions.list.iter().enumerate() {
            if i + 1 < versions.list.len() {
                let (this, next) = (self.b.create_block(), self.b.create_block());
                let is = self.b.ins().icmp_imm_s(IntCC::Equal, chosen, v.cells as i64);
                self.b.ins().brif(is, this, &[], next, &[]);
                self.b.switch_to_block(this);
                self.b.seal_block(this);
                let value = f(self, &v.brackets)?;
                self.b.ins().jump(merge, &[BlockArg::from(value)]);
                self.b.switch_to_block(next);
                self.b.seal_block(next);
            } else {
                last = f(self, &v.brackets)?;
                self.b.ins().jump(merge, &[BlockArg::from(last)]);
            }
        }
        self.b.switch_to_block(merge);
        self.b.seal_block(merge);
        Ok(self.b.block_params(merge).first().copied().unwrap_or(last))
    }

    fn translate_segmented(&mut self, p: usize, amount: &Node) -> Result<Value, CompileError> {
        let amount = self.translate_node(amount)?;
        self.per_version(p, |t, brackets| {
            // Bracket by bracket, leaving at the first one the amount does not reach, as the
            // closures and the interpreter do.
            let done = t.b.create_block();
            t.b.append_block_param(done, I64);
            let mut total = t.b.ins().iconst(I64, 0);
            for b in brackets {
                let reached = t.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, amount, b.lower);
                let next = t.b.create_block();
                t.b.ins().brif(reached, next, &[], done, &[BlockArg::from(total)]);
                t.b.switch_to_block(next);
                t.b.seal_block(next);
                let top = match b.upper {
                    None => amount,
                    Some(upper) => {
                        let u = t.b.ins().iconst(I64, upper);
                        t.b.ins().smin(amount, u)
                    }
                };
                // The amount is above the lower bound, itself 0 or more: no overflow.
                let part = t.b.ins().iadd_imm_s(top, -b.lower);
                t.bound(part, MONEY_LIMIT_FEN);
                let r = t.b.ins().iconst(I64, b.rate);
                let paid = t.muldiv(part, r, Divisor::Million);
                t.bound(paid, MONEY_LIMIT_FEN);
                // Both within the bound: no overflow.
                total = t.b.ins().iadd(total, paid);
                t.bound(total, MONEY_LIMIT_FEN);
            }
            t.b.ins().jump(done, &[BlockArg::from(total)]);
            t.b.switch_to_block(done);
            t.b.seal_block(done);
            Ok(t.b.block_params(done).first().copied().unwrap_or(total))
        })
    }

    fn translate_rate_at(&mut self, p: usize, amount: &Node) -> Result<Value, CompileError> {
        let amount = self.translate_node(amount)?;
        self.per_version(p, |t, brackets| {
            let mut rate = t.b.ins().iconst(I64, 0);
            for b in brackets.iter().rev() {
                let this = t.b.ins().iconst(I64, b.rate);
                rate = match b.upper {
                    None => this,
                    Some(upper) => {
                        let below = t.b.ins().icmp_imm_s(IntCC::SignedLessThan, amount, upper);
                        t.b.ins().select(below, this, rate)
                    }
                };
            }
            Ok(rate)
        })
    }

    /// The balance: every share non-negative, their sum the total.
    fn translate_balance(&mut self) -> Result<(), CompileError> {
        let plan = self.plan;
        let Some(balance) = &plan.balance else { return Ok(()) };
        self.at = (plan.values + plan.accs) as i64;
        let total = self.translate_node(&balance.total)?;
        let mut sum = self.b.ins().iconst(I64, 0);
        for &part in &balance.parts {
            let var = self
                .vars
                .get(part)
                .copied()
                .ok_or_else(|| CompileError::Codegen(format!("share {part} out of range")))?;
            let share = self.b.use_var(var);
            let negative = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, share, 0);
            let which = self.b.ins().iconst(I64, part as i64);
            self.fault_if(negative, FaultKind::NegativeShare, which, share);
            sum = self.b.ins().iadd(sum, share);
            self.bound(sum, MONEY_LIMIT_FEN);
        }
        let differs = self.b.ins().icmp(IntCC::NotEqual, sum, total);
        self.fault_if(differs, FaultKind::Unbalanced, total, sum);
        Ok(())
    }

    /// Fold the claim into the accumulators: `next_*` start as copies and take each
    /// contribution in order, as the plan's folds say.
    fn translate_folds(&mut self) -> Result<(), CompileError> {
        let plan = self.plan;
        for (i, fold) in plan.folds.iter().enumerate() {
            self.at = (plan.values + i) as i64;
            let current = self.b.ins().load(I64, MemFlagsData::trusted(), self.accs, offset(i));
            let seen = self.b.ins().load(I64, MemFlagsData::trusted(), self.seen, offset(i));
            let Some(filter) = &fold.filter else {
                // Every claim counts: straight on, no branch.
                let next = self.fold_step(fold, current, seen)?;
                let one = self.b.ins().iconst(I64, 1);
                self.b.ins().store(MemFlagsData::trusted(), next, self.next_accs, offset(i));
                self.b.ins().store(MemFlagsData::trusted(), one, self.next_seen, offset(i));
                continue;
            };
            let keep = self.translate_node(filter)?;
            let (add, skip, merge) =
                (self.b.create_block(), self.b.create_block(), self.b.create_block());
            self.b.append_block_param(merge, I64);
            self.b.append_block_param(merge, I64);
            self.b.ins().brif(keep, add, &[], skip, &[]);

            self.b.switch_to_block(add);
            self.b.seal_block(add);
            let next = self.fold_step(fold, current, seen)?;
            let one = self.b.ins().iconst(I64, 1);
            self.b.ins().jump(merge, &[BlockArg::from(next), BlockArg::from(one)]);

            self.b.switch_to_block(skip);
            self.b.seal_block(skip);
            self.b.ins().jump(merge, &[BlockArg::from(current), BlockArg::from(seen)]);

            self.b.switch_to_block(merge);
            self.b.seal_block(merge);
            let params: Vec<Value> = self.b.block_params(merge).to_vec();
            if let (Some(&value), Some(&flag)) = (params.first(), params.get(1)) {
                self.b.ins().store(MemFlagsData::trusted(), value, self.next_accs, offset(i));
                self.b.ins().store(MemFlagsData::trusted(), flag, self.next_seen, offset(i));
            }
        }
        Ok(())
    }

    /// An accumulator's next value, `current` taking the claim's contribution by the fold's
    /// operation (`seen`: whether it has taken one before).
    fn fold_step(
        &mut self,
        fold: &Fold,
        current: Value,
        seen: Value,
    ) -> Result<Value, CompileError> {
        let v = match &fold.value {
            None => self.b.ins().iconst(I64, 1),
            Some(e) => self.translate_node(e)?,
        };
        Ok(match fold.op {
            FoldOp::Add(Some(limit)) => {
                let s = self.b.ins().iadd(current, v);
                self.bound(s, limit);
                s
            }
            FoldOp::Add(None) => {
                let (s, over) = self.b.ins().sadd_overflow(current, v);
                self.fault_simple(over, FaultKind::Overflow);
                s
            }
            FoldOp::Min | FoldOp::Max => {
                let better = if fold.op == FoldOp::Min {
                    self.b.ins().icmp(IntCC::SignedLessThan, v, current)
                } else {
                    self.b.ins().icmp(IntCC::SignedLessThan, current, v)
                };
                let first = self.b.ins().icmp_imm_s(IntCC::Equal, seen, 0);
                let take = self.b.ins().bor(first, better);
                self.b.ins().select(take, v, current)
            }
        })
    }
}

/// The byte offset of slot `i` of an `i64` buffer.
fn offset(i: usize) -> i32 {
    i32::try_from(i * 8).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_magic(n: i64) -> i64 {
        let high = ((i128::from(n) * i128::from(MILLION_MAGIC)) >> 64) as i64;
        (high >> 18) - (n >> 63)
    }

    #[test]
    fn magic_division_by_a_million() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut samples =
            vec![0, 1, -1, MILLION, -MILLION, MILLION - 1, 1 - MILLION, i64::MAX, i64::MIN + 1];
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(x as i64);
            samples.push((x as i64) >> (x % 63));
        }
        for n in samples {
            assert_eq!(by_magic(n), n / MILLION, "{n}");
        }
    }

    #[test]
    fn half_up_by_a_bias_is_the_kernels_rounding() {
        let biased = |n: i64| {
            let sign = n >> 63;
            let m = n + (((MILLION / 2) ^ sign) - sign);
            // The code subtracts `n`'s sign where `by_magic` subtracts `m`'s: the same.
            by_magic(m)
        };
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut samples = vec![
            0,
            499_999,
            500_000,
            -500_000,
            -499_999,
            1_500_000,
            -1_500_000,
            2_500_000,
            HALF_UP_ROOM,
            -HALF_UP_ROOM,
        ];
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push((x as i64) >> (x % 63));
            samples.push(((x % 4_000_001) as i64 - 2_000_000) * 250_000);
        }
        for n in samples.into_iter().filter(|n| n.checked_abs().is_some_and(|a| a <= HALF_UP_ROOM))
        {
            let kernel = crate::kernel::muldiv(n, 1, MILLION, Rounding::HalfUp);
            assert_eq!(Ok(biased(n)), kernel, "{n}");
        }
    }
}
