//! The translator: one `translate_*` method per IR construct, emitting Cranelift IR over 64-bit
//! scaled integers, in the same order of evaluation as the interpreter so that the first fault
//! of a claim is the same under both backends.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, Block, BlockArg, FuncRef, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind,
    Value, types,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module};
use settle_lang::ir::{BinOp, Body, Expr, ExprKind, FoldKind, ParamKind, Policy, Rounding, Type};

use crate::layout::{Layout, constant};
use crate::{CompileError, Compiled, Entry, fault, helpers, scalar};

const I64: types::Type = types::I64;
/// The largest money magnitude, in fen.
const MONEY_LIMIT: i64 = 100_000_000_000_000_000;
/// The largest rate magnitude, in millionths.
const RATE_LIMIT: i64 = 1_000_000_000_000_000;
const MILLION: i64 = 1_000_000;
/// The multiplier that divides a signed 64-bit integer by 10^6 with a shift of 18 (Hacker's
/// Delight, 10-4); `tests::magic_division_by_a_million` checks it.
const MILLION_MAGIC: i64 = 0x431B_DE82_D7B6_34DB;

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
    check_supported(policy)?;
    let layout = Layout::new(policy)?;
    let data: Box<[i64]> = layout.data.clone().into_boxed_slice();

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

    let mut ctx = module.make_context();
    for _ in 0..8 {
        ctx.func.signature.params.push(AbiParam::new(I64));
    }
    ctx.func.signature.returns.push(AbiParam::new(I64));
    let muldiv = module.declare_func_in_func(muldiv_id, &mut ctx.func);
    let fallback = module.declare_func_in_func(fallback_id, &mut ctx.func);
    let mut fctx = FunctionBuilderContext::new();
    let b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
    let translator = Translator::new(b, policy, &layout, data.as_ptr() as i64, muldiv, fallback);
    let fallbacks = translator.translate(frontend)?;

    let id = module
        .declare_function("settle_claim", Linkage::Export, &ctx.func.signature)
        .map_err(codegen)?;
    module.define_function(id, &mut ctx).map_err(codegen)?;
    module.clear_context(&mut ctx);
    module.finalize_definitions().map_err(codegen)?;
    let code = module.get_finalized_function(id);
    // SAFETY: `code` is the function just defined with exactly `Entry`'s signature (seven
    // 64-bit pointer parameters, one 64-bit result) in the platform's default calling convention.
    let entry = unsafe { std::mem::transmute::<*const u8, Entry>(code) };
    let fields = policy.input_record().map_or(0, |r| r.fields.len());
    Ok(Compiled {
        entry,
        fields,
        values: policy.values.len(),
        accs: policy.accumulators.len(),
        fallbacks,
        _data: data,
        _module: module,
    })
}

/// Whether the code leaves `e` to the engine's fallback: folds and quantifiers over a claim's
/// lists, and comparisons of text.
pub fn needs_fallback(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Fold { .. } | ExprKind::Quantifier { .. } => true,
        ExprKind::Binary(_, a, b) => a.ty == Type::Text || b.ty == Type::Text,
        _ => false,
    }
}

/// Refuse, before any code is emitted, what the JIT neither lowers nor leaves to the fallback:
/// values of text, list or record type.
pub fn check_supported(policy: &Policy) -> Result<(), CompileError> {
    fn expr(e: &Expr) -> Result<(), CompileError> {
        if needs_fallback(e) {
            return Ok(());
        }
        scalar(e.ty)?;
        let mut result = Ok(());
        e.for_each_child(&mut |child| {
            if result.is_ok() {
                result = expr(child);
            }
        });
        result
    }
    for v in &policy.values {
        scalar(v.ty)?;
        match &v.body {
            Body::Expr(e) => expr(e)?,
            Body::Rule { default, exceptions } => {
                expr(default)?;
                for x in exceptions {
                    expr(&x.when)?;
                    expr(&x.value)?;
                }
            }
        }
    }
    for a in &policy.accumulators {
        scalar(a.ty)?;
        for e in a.value.iter().chain(a.filter.iter()) {
            expr(e)?;
        }
    }
    if let Some(b) = &policy.balance {
        expr(&b.total)?;
    }
    Ok(())
}

/// Emits the function that settles one claim.
struct Translator<'a, 'f> {
    b: FunctionBuilder<'f>,
    policy: &'a Policy,
    layout: &'a Layout,
    data: i64,
    muldiv: FuncRef,
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
    /// The expressions left to the fallback, by index.
    fallbacks: Vec<Expr>,
    /// Four slots for the fallback's answer.
    answer: cranelift_codegen::ir::StackSlot,
}

impl<'a, 'f> Translator<'a, 'f> {
    fn new(
        mut b: FunctionBuilder<'f>,
        policy: &'a Policy,
        layout: &'a Layout,
        data: i64,
        muldiv: FuncRef,
        fallback: FuncRef,
    ) -> Self {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let params: Vec<Value> = b.block_params(entry).to_vec();
        let p = |i: usize| params.get(i).copied().unwrap_or(Value::from_u32(0));
        let bridge = p(7);
        let (fields, accs, seen, values, next_accs, next_seen, err) =
            (p(0), p(1), p(2), p(3), p(4), p(5), p(6));
        let date = b.ins().load(I64, MemFlagsData::trusted(), fields, offset(policy.dated_field));
        let vars = (0..policy.values.len()).map(|_| b.declare_var(I64)).collect();
        let error = b.create_block();
        for _ in 0..4 {
            b.append_block_param(error, I64);
        }
        let slot = b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 8, 3));
        let answer =
            b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 32, 3));
        let mode = match policy.rounding {
            Rounding::HalfUp => 0,
            Rounding::HalfEven => 1,
            Rounding::Down => 2,
            Rounding::Up => 3,
        };
        Translator {
            b,
            policy,
            layout,
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
            fallbacks: Vec::new(),
            answer,
        }
    }

    /// Emit the whole function: values in order, the balance, the accumulators, the error exit.
    fn translate(
        mut self,
        frontend: cranelift_codegen::isa::TargetFrontendConfig,
    ) -> Result<Vec<Expr>, CompileError> {
        let policy = self.policy;
        self.cache_versions();
        for &v in &policy.order {
            let Some(def) = policy.values.get(v) else { continue };
            self.at = v as i64;
            let value = self.translate_body(&def.body)?;
            if let Some(var) = self.vars.get(v) {
                self.b.def_var(*var, value);
            }
            self.b.ins().store(MemFlagsData::trusted(), value, self.values, offset(v));
        }
        self.translate_balance()?;
        self.translate_accumulators()?;
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
        Ok(self.fallbacks)
    }

    /// Branch to the error exit when `cond` holds.
    fn fault_if(&mut self, cond: Value, kind: i64, a: Value, b: Value) {
        // The fault's constants are made on the cold path only.
        let (cold, cont) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(cond, cold, &[], cont, &[]);
        self.b.set_cold_block(cold);
        self.b.switch_to_block(cold);
        self.b.seal_block(cold);
        let kind = self.b.ins().iconst(I64, kind);
        let at = self.b.ins().iconst(I64, self.at);
        let args = [BlockArg::from(kind), BlockArg::from(at), BlockArg::from(a), BlockArg::from(b)];
        self.b.ins().jump(self.error, &args);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
    }

    fn fault_simple(&mut self, cond: Value, kind: i64) {
        let zero = self.b.ins().iconst(I64, 0);
        self.fault_if(cond, kind, zero, zero);
    }

    /// Fault with an overflow when `x` is beyond ±`limit`.
    fn bound(&mut self, x: Value, limit: i64) {
        let high = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, x, limit);
        let low = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, x, -limit);
        let out = self.b.ins().bor(high, low);
        self.fault_simple(out, fault::OVERFLOW);
    }

    fn limit(ty: Type) -> Option<i64> {
        match ty {
            Type::Money => Some(MONEY_LIMIT),
            Type::Rate => Some(RATE_LIMIT),
            _ => None,
        }
    }

    fn bool(&mut self, flag: Value) -> Value {
        self.b.ins().uextend(I64, flag)
    }

    fn translate_body(&mut self, body: &Body) -> Result<Value, CompileError> {
        match body {
            Body::Expr(e) => self.translate_expr(e),
            Body::Rule { default, exceptions } => {
                // Every condition in order; a second one that holds is a conflict.
                let none = self.b.ins().iconst(I64, -1);
                let mut applied = none;
                for (i, e) in exceptions.iter().enumerate() {
                    let holds = self.translate_expr(&e.when)?;
                    let taken =
                        self.b.ins().icmp_imm_s(IntCC::SignedGreaterThanOrEqual, applied, 0);
                    let holds_flag = self.b.ins().icmp_imm_s(IntCC::NotEqual, holds, 0);
                    let conflict = self.b.ins().band(taken, holds_flag);
                    let second = self.b.ins().iconst(I64, i as i64);
                    self.fault_if(conflict, fault::CONFLICT, applied, second);
                    applied = self.b.ins().select(holds_flag, second, applied);
                }
                // Only the value that applies is computed.
                let merge = self.b.create_block();
                self.b.append_block_param(merge, I64);
                for (i, e) in exceptions.iter().enumerate() {
                    let this = self.b.create_block();
                    let next = self.b.create_block();
                    let is = self.b.ins().icmp_imm_s(IntCC::Equal, applied, i as i64);
                    self.b.ins().brif(is, this, &[], next, &[]);
                    self.b.switch_to_block(this);
                    self.b.seal_block(this);
                    let value = self.translate_expr(&e.value)?;
                    self.b.ins().jump(merge, &[BlockArg::from(value)]);
                    self.b.switch_to_block(next);
                    self.b.seal_block(next);
                }
                let value = self.translate_expr(default)?;
                self.b.ins().jump(merge, &[BlockArg::from(value)]);
                self.b.switch_to_block(merge);
                self.b.seal_block(merge);
                Ok(self.b.block_params(merge).first().copied().unwrap_or(value))
            }
        }
    }

    fn translate_expr(&mut self, e: &Expr) -> Result<Value, CompileError> {
        if needs_fallback(e) {
            return Ok(self.translate_fallback(e));
        }
        Ok(match &e.kind {
            ExprKind::Const(c) => {
                let v = constant(c)?;
                self.b.ins().iconst(I64, v)
            }
            ExprKind::Field(i) => {
                self.b.ins().load(I64, MemFlagsData::trusted(), self.fields, offset(*i))
            }
            ExprKind::Value(v) => match self.vars.get(*v) {
                Some(var) => self.b.use_var(*var),
                None => return Err(CompileError::Codegen(format!("value {v} out of range"))),
            },
            ExprKind::Acc(a) => {
                self.b.ins().load(I64, MemFlagsData::trusted(), self.accs, offset(*a))
            }
            ExprKind::Param(p) => self.translate_param(*p, None)?,
            ExprKind::Table(p, keys) => self.translate_table(*p, keys)?,
            ExprKind::Segmented(p, amount) => self.translate_segmented(*p, amount)?,
            ExprKind::RateAt(p, amount) => self.translate_rate_at(*p, amount)?,
            ExprKind::Neg(x) => {
                let v = self.translate_expr(x)?;
                let zero = self.b.ins().iconst(I64, 0);
                if e.ty == Type::Int {
                    let (r, over) = self.b.ins().ssub_overflow(zero, v);
                    self.fault_simple(over, fault::OVERFLOW);
                    r
                } else {
                    self.b.ins().isub(zero, v)
                }
            }
            ExprKind::Not(x) => {
                let v = self.translate_expr(x)?;
                let flag = self.b.ins().icmp_imm_s(IntCC::Equal, v, 0);
                self.bool(flag)
            }
            ExprKind::Abs(x) => {
                let v = self.translate_expr(x)?;
                if e.ty == Type::Int {
                    let min = self.b.ins().icmp_imm_s(IntCC::Equal, v, i64::MIN);
                    self.fault_simple(min, fault::OVERFLOW);
                }
                self.b.ins().iabs(v)
            }
            ExprKind::Binary(op, a, b) => self.translate_binary(*op, a, b, e.ty)?,
            ExprKind::If(c, a, b) => {
                let cond = self.translate_expr(c)?;
                let (then, other, merge) =
                    (self.b.create_block(), self.b.create_block(), self.b.create_block());
                self.b.append_block_param(merge, I64);
                self.b.ins().brif(cond, then, &[], other, &[]);
                self.b.switch_to_block(then);
                self.b.seal_block(then);
                let x = self.translate_expr(a)?;
                self.b.ins().jump(merge, &[BlockArg::from(x)]);
                self.b.switch_to_block(other);
                self.b.seal_block(other);
                let y = self.translate_expr(b)?;
                self.b.ins().jump(merge, &[BlockArg::from(y)]);
                self.b.switch_to_block(merge);
                self.b.seal_block(merge);
                self.b.block_params(merge).first().copied().unwrap_or(y)
            }
            ExprKind::Min(xs) | ExprKind::Max(xs) => {
                let min = matches!(e.kind, ExprKind::Min(_));
                let mut best: Option<Value> = None;
                for x in xs {
                    let v = self.translate_expr(x)?;
                    best = Some(match best {
                        None => v,
                        Some(b) if min => self.b.ins().smin(b, v),
                        Some(b) => self.b.ins().smax(b, v),
                    });
                }
                match best {
                    Some(v) => v,
                    None => self.b.ins().iconst(I64, 0),
                }
            }
            ExprKind::In(x, variants) => {
                let v = self.translate_expr(x)?;
                if variants.iter().any(|&i| i >= 64) {
                    let mut any = self.b.ins().iconst(I64, 0);
                    for &i in variants {
                        let is = self.b.ins().icmp_imm_s(IntCC::Equal, v, i64::from(i));
                        let is = self.bool(is);
                        any = self.b.ins().bor(any, is);
                    }
                    any
                } else {
                    let mask = variants.iter().fold(0u64, |m, &i| m | (1u64 << i));
                    let mask = self.b.ins().iconst(I64, mask as i64);
                    let shifted = self.b.ins().ushr(mask, v);
                    self.b.ins().band_imm_s(shifted, 1)
                }
            }
            ExprKind::Fold { .. }
            | ExprKind::Quantifier { .. }
            | ExprKind::Local(_)
            | ExprKind::RecordField(..)
            | ExprKind::ClaimValue(..) => {
                return Err(CompileError::Unsupported("folds over lists".into()));
            }
        })
    }

    /// Ask the engine's fallback for `e`, with the values computed so far; its fault, if any,
    /// becomes the code's.
    fn translate_fallback(&mut self, e: &Expr) -> Value {
        let id = self.b.ins().iconst(I64, self.fallbacks.len() as i64);
        self.fallbacks.push(e.clone());
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

    /// The offset into the data block of the version of parameter `p` in force; faults when
    /// none is.
    fn version_offset(&mut self, p: usize) -> Result<Value, CompileError> {
        let param = self
            .policy
            .params
            .get(p)
            .ok_or_else(|| CompileError::Codegen("parameter out of range".into()))?;
        let offsets =
            self.layout.offsets.get(p).ok_or_else(|| CompileError::Codegen("no layout".into()))?;
        if let Some(first) = param.versions.first().and_then(|v| v.from) {
            let before =
                self.b.ins().icmp_imm_s(IntCC::SignedLessThan, self.date, i64::from(first.0));
            let param_id = self.b.ins().iconst(I64, p as i64);
            let date = self.date;
            self.fault_if(before, fault::NOT_IN_FORCE, param_id, date);
        }
        if let Some(Some(cached)) = self.version_cache.get(p) {
            return Ok(*cached);
        }
        Ok(self.b.ins().iconst(I64, offsets.first().copied().unwrap_or(0) as i64))
    }

    /// At the function's entry: the offset of the version in force of every dated parameter,
    /// computed once per claim (the check that one is in force stays where it is read).
    fn cache_versions(&mut self) {
        let policy = self.policy;
        for (p, param) in policy.params.iter().enumerate() {
            let offsets = self.layout.offsets.get(p).cloned().unwrap_or_default();
            if param.versions.len() < 2 {
                self.version_cache.push(None);
                continue;
            }
            let mut current =
                self.b.ins().iconst(I64, offsets.first().copied().unwrap_or(0) as i64);
            for (v, off) in param.versions.iter().zip(&offsets).skip(1) {
                let Some(from) = v.from else { continue };
                let reached = self.b.ins().icmp_imm_s(
                    IntCC::SignedGreaterThanOrEqual,
                    self.date,
                    i64::from(from.0),
                );
                let this = self.b.ins().iconst(I64, *off as i64);
                current = self.b.ins().select(reached, this, current);
            }
            self.version_cache.push(Some(current));
        }
    }

    /// Load cell `cell` (a value, or a constant index) of the version in force of `p`.
    fn load_cell(&mut self, version: Value, cell: Option<Value>) -> Value {
        let index = match cell {
            Some(c) => self.b.ins().iadd(version, c),
            None => version,
        };
        let bytes = self.b.ins().ishl_imm_s(index, 3);
        let base = self.b.ins().iconst(I64, self.data);
        let addr = self.b.ins().iadd(base, bytes);
        self.b.ins().load(I64, MemFlagsData::trusted(), addr, 0)
    }

    fn translate_param(&mut self, p: usize, cell: Option<Value>) -> Result<Value, CompileError> {
        let version = self.version_offset(p)?;
        Ok(self.load_cell(version, cell))
    }

    fn translate_table(&mut self, p: usize, keys: &[Expr]) -> Result<Value, CompileError> {
        let key_enums = match self.policy.params.get(p).map(|x| &x.kind) {
            Some(ParamKind::Table { keys, .. }) => keys.clone(),
            _ => {
                return Err(CompileError::Codegen(
                    "a table read of a parameter that is no table".into(),
                ));
            }
        };
        let sizes: Vec<i64> = key_enums
            .iter()
            .map(|k| self.policy.enums.get(*k).map_or(1, |e| e.variants.len() as i64))
            .collect();
        let mut cell = self.b.ins().iconst(I64, 0);
        for (i, key) in keys.iter().enumerate() {
            let k = self.translate_expr(key)?;
            let stride: i64 = sizes.iter().skip(i + 1).product();
            let part = self.b.ins().imul_imm_s(k, stride);
            cell = self.b.ins().iadd(cell, part);
        }
        self.translate_param(p, Some(cell))
    }

    /// `round(x * y / d)` with the policy's rounding; 64-bit fast path, 128-bit helper otherwise.
    /// Faults on a zero divisor first, as the interpreter does.
    fn muldiv(&mut self, x: Value, y: Value, d: Divisor) -> Value {
        if let Divisor::Dynamic(d) = d {
            let zero = self.b.ins().icmp_imm_s(IntCC::Equal, d, 0);
            self.fault_simple(zero, fault::DIVISION_BY_ZERO);
        }
        let (product, over) = self.b.ins().smul_overflow(x, y);
        let is_min = self.b.ins().icmp_imm_s(IntCC::Equal, product, i64::MIN);
        let wide = self.b.ins().bor(over, is_min);
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
        self.fault_simple(failed, fault::OVERFLOW);
        let r = self.b.ins().stack_load(I64, I64, self.slot, 0);
        self.b.ins().jump(merge, &[BlockArg::from(r)]);

        self.b.switch_to_block(merge);
        self.b.seal_block(merge);
        self.b.block_params(merge).first().copied().unwrap_or(r)
    }

    /// `n / d` rounded by the policy's mode; `d` is not zero and `n` is not `i64::MIN`.
    fn round_div(&mut self, n: Value, d: Divisor) -> Value {
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
            Divisor::Dynamic(d) => (self.b.ins().sdiv(n, d), self.b.ins().srem(n, d), d),
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

    fn translate_binary(
        &mut self,
        op: BinOp,
        a: &Expr,
        b: &Expr,
        ty: Type,
    ) -> Result<Value, CompileError> {
        use Type::{Int, Money, Rate};
        // Conditions short-circuit: the right side is not computed, and cannot fault, when the
        // left decides.
        if matches!(op, BinOp::And | BinOp::Or) {
            let x = self.translate_expr(a)?;
            let (right, merge) = (self.b.create_block(), self.b.create_block());
            self.b.append_block_param(merge, I64);
            let decided = self.b.ins().iconst(I64, i64::from(op == BinOp::Or));
            if op == BinOp::And {
                self.b.ins().brif(x, right, &[], merge, &[BlockArg::from(decided)]);
            } else {
                self.b.ins().brif(x, merge, &[BlockArg::from(decided)], right, &[]);
            }
            self.b.switch_to_block(right);
            self.b.seal_block(right);
            let y = self.translate_expr(b)?;
            let y = self.b.ins().icmp_imm_s(IntCC::NotEqual, y, 0);
            let y = self.bool(y);
            self.b.ins().jump(merge, &[BlockArg::from(y)]);
            self.b.switch_to_block(merge);
            self.b.seal_block(merge);
            return Ok(self.b.block_params(merge).first().copied().unwrap_or(y));
        }
        let x = self.translate_expr(a)?;
        let y = self.translate_expr(b)?;
        let cmp = |op: BinOp| match op {
            BinOp::Eq => Some(IntCC::Equal),
            BinOp::Ne => Some(IntCC::NotEqual),
            BinOp::Lt => Some(IntCC::SignedLessThan),
            BinOp::Le => Some(IntCC::SignedLessThanOrEqual),
            BinOp::Gt => Some(IntCC::SignedGreaterThan),
            BinOp::Ge => Some(IntCC::SignedGreaterThanOrEqual),
            _ => None,
        };
        if let Some(cc) = cmp(op) {
            let flag = self.b.ins().icmp(cc, x, y);
            return Ok(self.bool(flag));
        }
        let million = self.b.ins().iconst(I64, MILLION);
        let (l, r) = (a.ty, b.ty);
        let result = match (op, l, r) {
            (BinOp::Add | BinOp::Sub, Int, Int) => {
                let (v, over) = if op == BinOp::Add {
                    self.b.ins().sadd_overflow(x, y)
                } else {
                    self.b.ins().ssub_overflow(x, y)
                };
                self.fault_simple(over, fault::OVERFLOW);
                v
            }
            (BinOp::Add, _, _) => self.b.ins().iadd(x, y),
            (BinOp::Sub, _, _) => self.b.ins().isub(x, y),
            (BinOp::Mul, Money, Rate) | (BinOp::Mul, Rate, Money) | (BinOp::Mul, Rate, Rate) => {
                self.muldiv(x, y, Divisor::Million)
            }
            (BinOp::Mul, _, _) => {
                let (v, over) = self.b.ins().smul_overflow(x, y);
                self.fault_simple(over, fault::OVERFLOW);
                v
            }
            (BinOp::Div, Money, Int) | (BinOp::Div, Rate, Int) => {
                let zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
                self.fault_simple(zero, fault::DIVISION_BY_ZERO);
                self.round_div(x, Divisor::Dynamic(y))
            }
            (BinOp::Div, _, _) => self.muldiv(x, million, Divisor::Dynamic(y)),
            _ => {
                return Err(CompileError::Codegen(format!(
                    "no lowering for {op:?} on {l:?} and {r:?}"
                )));
            }
        };
        if let Some(limit) = Self::limit(ty) {
            self.bound(result, limit);
        }
        Ok(result)
    }

    /// The brackets of each version of a scale: (lower, upper or `i64::MAX`, rate) in fen and
    /// millionths.
    fn brackets(&self, p: usize) -> Vec<Vec<(i64, i64, i64)>> {
        let offsets = self.layout.offsets.get(p).cloned().unwrap_or_default();
        let param = self.policy.params.get(p);
        offsets
            .iter()
            .zip(param.map(|x| x.versions.as_slice()).unwrap_or(&[]))
            .map(|(off, v)| {
                let n = match &v.value {
                    settle_lang::ir::ParamValue::Scale(b) => b.len(),
                    _ => 0,
                };
                (0..n)
                    .map(|i| {
                        let cell =
                            |k: usize| self.layout.data.get(off + 3 * i + k).copied().unwrap_or(0);
                        (cell(0), cell(1), cell(2))
                    })
                    .collect()
            })
            .collect()
    }

    /// Emit `f` for each version of scale `p`, choosing the version in force at run time.
    fn per_version(
        &mut self,
        p: usize,
        mut f: impl FnMut(&mut Self, &[(i64, i64, i64)]) -> Result<Value, CompileError>,
    ) -> Result<Value, CompileError> {
        let versions = self.brackets(p);
        let chosen = self.version_offset(p)?;
        if versions.len() <= 1 {
            return f(self, versions.first().map_or(&[][..], Vec::as_slice));
        }
        let offsets = self.layout.offsets.get(p).cloned().unwrap_or_default();
        let merge = self.b.create_block();
        self.b.append_block_param(merge, I64);
        let mut last = None;
        for (i, (brackets, off)) in versions.iter().zip(&offsets).enumerate() {
            let this = self.b.create_block();
            if i + 1 < versions.len() {
                let next = self.b.create_block();
                let is = self.b.ins().icmp_imm_s(IntCC::Equal, chosen, *off as i64);
                self.b.ins().brif(is, this, &[], next, &[]);
                self.b.switch_to_block(this);
                self.b.seal_block(this);
                let v = f(self, brackets)?;
                self.b.ins().jump(merge, &[BlockArg::from(v)]);
                self.b.switch_to_block(next);
                self.b.seal_block(next);
            } else {
                let v = f(self, brackets)?;
                self.b.ins().jump(merge, &[BlockArg::from(v)]);
                last = Some(v);
            }
        }
        self.b.switch_to_block(merge);
        self.b.seal_block(merge);
        let fallback = last.unwrap_or(chosen);
        Ok(self.b.block_params(merge).first().copied().unwrap_or(fallback))
    }

    fn translate_segmented(&mut self, p: usize, amount: &Expr) -> Result<Value, CompileError> {
        let amount = self.translate_expr(amount)?;
        self.per_version(p, |t, brackets| {
            // Bracket by bracket, leaving at the first one the amount does not reach, as the
            // interpreter does.
            let done = t.b.create_block();
            t.b.append_block_param(done, I64);
            let mut total = t.b.ins().iconst(I64, 0);
            for &(lower, upper, rate) in brackets {
                let reached = t.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, amount, lower);
                let next = t.b.create_block();
                t.b.ins().brif(reached, next, &[], done, &[BlockArg::from(total)]);
                t.b.switch_to_block(next);
                t.b.seal_block(next);
                let top = if upper == i64::MAX {
                    amount
                } else {
                    let u = t.b.ins().iconst(I64, upper);
                    t.b.ins().smin(amount, u)
                };
                let part = t.b.ins().iadd_imm_s(top, -lower);
                t.bound(part, MONEY_LIMIT);
                let r = t.b.ins().iconst(I64, rate);
                let paid = t.muldiv(part, r, Divisor::Million);
                t.bound(paid, MONEY_LIMIT);
                total = t.b.ins().iadd(total, paid);
                t.bound(total, MONEY_LIMIT);
            }
            t.b.ins().jump(done, &[BlockArg::from(total)]);
            t.b.switch_to_block(done);
            t.b.seal_block(done);
            Ok(t.b.block_params(done).first().copied().unwrap_or(total))
        })
    }

    fn translate_rate_at(&mut self, p: usize, amount: &Expr) -> Result<Value, CompileError> {
        let amount = self.translate_expr(amount)?;
        self.per_version(p, |t, brackets| {
            let mut rate = t.b.ins().iconst(I64, 0);
            for &(_, upper, r) in brackets.iter().rev() {
                let this = t.b.ins().iconst(I64, r);
                rate = if upper == i64::MAX {
                    this
                } else {
                    let below = t.b.ins().icmp_imm_s(IntCC::SignedLessThan, amount, upper);
                    t.b.ins().select(below, this, rate)
                };
            }
            Ok(rate)
        })
    }

    /// The balance: every share non-negative, their sum the total.
    fn translate_balance(&mut self) -> Result<(), CompileError> {
        let policy = self.policy;
        let Some(balance) = &policy.balance else { return Ok(()) };
        self.at = (policy.values.len() + policy.accumulators.len()) as i64;
        let total = self.translate_expr(&balance.total)?;
        let mut sum = self.b.ins().iconst(I64, 0);
        for &part in &balance.parts {
            let Some(var) = self.vars.get(part).copied() else { continue };
            let share = self.b.use_var(var);
            let negative = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, share, 0);
            let which = self.b.ins().iconst(I64, part as i64);
            self.fault_if(negative, fault::NEGATIVE_SHARE, which, share);
            sum = self.b.ins().iadd(sum, share);
            self.bound(sum, MONEY_LIMIT);
        }
        let differs = self.b.ins().icmp(IntCC::NotEqual, sum, total);
        self.fault_if(differs, fault::UNBALANCED, total, sum);
        Ok(())
    }

    /// Fold the claim into the accumulators: `next_*` start as copies and take each
    /// contribution in order.
    fn translate_accumulators(&mut self) -> Result<(), CompileError> {
        let policy = self.policy;
        for (i, acc) in policy.accumulators.iter().enumerate() {
            self.at = (policy.values.len() + i) as i64;
            let current = self.b.ins().load(I64, MemFlagsData::trusted(), self.accs, offset(i));
            let seen = self.b.ins().load(I64, MemFlagsData::trusted(), self.seen, offset(i));
            let keep = match &acc.filter {
                Some(f) => self.translate_expr(f)?,
                None => self.b.ins().iconst(I64, 1),
            };
            let (add, skip, merge) =
                (self.b.create_block(), self.b.create_block(), self.b.create_block());
            self.b.append_block_param(merge, I64);
            self.b.append_block_param(merge, I64);
            self.b.ins().brif(keep, add, &[], skip, &[]);

            self.b.switch_to_block(add);
            self.b.seal_block(add);
            let v = match (&acc.value, acc.fold) {
                (_, FoldKind::Count) | (None, _) => self.b.ins().iconst(I64, 1),
                (Some(e), _) => self.translate_expr(e)?,
            };
            let next = match acc.fold {
                FoldKind::Count | FoldKind::Sum if acc.ty == Type::Int => {
                    let (s, over) = self.b.ins().sadd_overflow(current, v);
                    self.fault_simple(over, fault::OVERFLOW);
                    s
                }
                FoldKind::Count | FoldKind::Sum => {
                    let s = self.b.ins().iadd(current, v);
                    if let Some(limit) = Self::limit(acc.ty) {
                        self.bound(s, limit);
                    }
                    s
                }
                FoldKind::Min | FoldKind::Max => {
                    let better = if acc.fold == FoldKind::Min {
                        self.b.ins().icmp(IntCC::SignedLessThan, v, current)
                    } else {
                        self.b.ins().icmp(IntCC::SignedLessThan, current, v)
                    };
                    let first = self.b.ins().icmp_imm_s(IntCC::Equal, seen, 0);
                    let take = self.b.ins().bor(first, better);
                    self.b.ins().select(take, v, current)
                }
            };
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
}
