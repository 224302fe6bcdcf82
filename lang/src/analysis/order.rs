//! The order of evaluation: cycles among rules and `let`s, values that reach into a later
//! stage, and unused declarations.

use crate::diagnostic::{Code, Problem};
use crate::ir::{ValueId, ValueKind};

use crate::check::{Checker, Decl};
use crate::span::Span;

/// Where in the payer chain a value can first be computed: after statement `.1` of stage `.0`.
type Need = Option<(usize, usize)>;

impl Checker<'_> {
    /// Check the order of values and return an evaluation order (see [`crate::lower`]).
    pub(crate) fn check_order(&mut self) -> Vec<ValueId> {
        let reads: Vec<Vec<ValueId>> = self
            .slots
            .iter()
            .map(|s| s.body.as_ref().map(|b| b.reads()).unwrap_or_default())
            .collect();
        let top = |kind: ValueKind| matches!(kind, ValueKind::Let | ValueKind::Rule);
        let n = self.slots.len();
        // Depth-first over top-level values: 0 new, 1 on stack, 2 done.
        let mut state = vec![0u8; n];
        let mut need: Vec<Need> = vec![None; n];
        let mut cyclic = vec![false; n];
        for start in 0..n {
            if !self.slots.get(start).is_some_and(|s| top(s.kind)) || state.get(start) != Some(&0) {
                continue;
            }
            let mut stack = vec![(start, 0usize)];
            if let Some(s) = state.get_mut(start) {
                *s = 1;
            }
            while let Some(&mut (v, ref mut i)) = stack.last_mut() {
                let next = reads.get(v).and_then(|r| r.get(*i)).copied();
                *i += 1;
                match next {
                    Some(d) if self.slots.get(d).is_some_and(|s| top(s.kind)) => match state.get(d)
                    {
                        Some(0) => {
                            if let Some(s) = state.get_mut(d) {
                                *s = 1;
                            }
                            stack.push((d, 0));
                        }
                        Some(1) => {
                            // INVARIANT: a value in state 1 is on the stack.
                            let Some(pos) = stack.iter().position(|(x, _)| *x == d) else {
                                continue;
                            };
                            let cycle: Vec<usize> =
                                stack.get(pos..).unwrap_or(&[]).iter().map(|(x, _)| *x).collect();
                            if !cycle.iter().any(|c| cyclic.get(*c) == Some(&true)) {
                                self.report_value_cycle(&cycle);
                            }
                            for c in cycle {
                                if let Some(x) = cyclic.get_mut(c) {
                                    *x = true;
                                }
                            }
                        }
                        _ => {}
                    },
                    Some(_) => {}
                    None => {
                        let mine = reads
                            .get(v)
                            .map(|r| {
                                r.iter().map(|d| self.position_or_need(*d, &need)).max().flatten()
                            })
                            .unwrap_or(None);
                        if let Some(x) = need.get_mut(v) {
                            *x = mine;
                        }
                        if let Some(s) = state.get_mut(v) {
                            *s = 2;
                        }
                        stack.pop();
                    }
                }
            }
        }
        // Stage statements reaching a later stage, or a later statement, through top-level values.
        let mut problems = Vec::new();
        for (v, slot) in self.slots.iter().enumerate() {
            let Some((stage, index)) = slot.position else { continue };
            for d in reads.get(v).into_iter().flatten() {
                let Some(dep) = self.slots.get(*d) else { continue };
                if !top(dep.kind) {
                    continue;
                }
                let Some((j, l)) = need.get(*d).copied().flatten() else { continue };
                if (j, l) < (stage, index) {
                    continue;
                }
                // INVARIANT: a need is the position of a statement setting a value, which the
                // declaration pass recorded on its stage.
                let Some(later) = self.stage_statement_name(j, l) else { continue };
                let here = self.stages.get(stage).map(|s| s.name.clone()).unwrap_or_default();
                let problem = if j > stage {
                    Problem::error(
                        Code::OrderLaterStage,
                        slot.decl.file,
                        slot.decl.span,
                        format!(
                            "stage `{here}` reads `{}`, which needs `{later}` of a later stage",
                            dep.name
                        ),
                    )
                    .label(format!("`{}` is computed here", slot.name))
                    .also(dep.decl.file, dep.decl.span, format!("`{}` reads `{later}`", dep.name))
                    .help("a stage sees only the stages before it; compute this in a later stage")
                } else {
                    Problem::error(
                        Code::StageReadBeforeSet,
                        slot.decl.file,
                        slot.decl.span,
                        format!(
                            "`{}` reads `{}`, which needs `{later}`, set later in this stage",
                            slot.name, dep.name
                        ),
                    )
                    .label("computed here")
                    .also(dep.decl.file, dep.decl.span, format!("`{}` reads `{later}`", dep.name))
                    .help(format!("set `{later}` before this statement, or compute this after it"))
                };
                problems.push(problem);
            }
        }
        self.problems.extend(problems);
        crate::lower::schedule(
            &self.slots.iter().map(|s| (s.kind, s.position)).collect::<Vec<_>>(),
            &reads,
        )
    }

    fn position_or_need(&self, d: ValueId, need: &[Need]) -> Need {
        match self.slots.get(d)?.position {
            Some(p) => Some(p),
            None => need.get(d).copied().flatten(),
        }
    }

    /// The name of the value statement `index` of stage `stage` sets, as the declaration pass
    /// recorded it.
    fn stage_statement_name(&self, stage: usize, index: usize) -> Option<String> {
        let value = self.stages.get(stage)?.statements.get(index).copied().flatten()?;
        self.slots.get(value).map(|s| s.name.clone())
    }

    fn report_value_cycle(&mut self, cycle: &[ValueId]) {
        let Some(first) = cycle.first().and_then(|v| self.slots.get(*v)).cloned() else { return };
        let names: Vec<String> = cycle
            .iter()
            .filter_map(|v| self.slots.get(*v))
            .map(|s| format!("`{}`", s.name))
            .collect();
        let mut problem = Problem::error(
            Code::OrderCycle,
            first.decl.file,
            first.decl.span,
            if cycle.len() == 1 {
                format!("`{}` is defined in terms of itself", first.name)
            } else {
                format!("{} are defined in terms of each other", names.join(" and "))
            },
        )
        .label("the cycle starts here");
        for v in cycle.iter().skip(1) {
            if let Some(s) = self.slots.get(*v) {
                problem = problem.also(
                    s.decl.file,
                    s.decl.span,
                    format!("`{}` is part of the cycle", s.name),
                );
            }
        }
        self.report(
            problem.help(
                "every value must be computable from the claim, parameters and earlier values",
            ),
        );
    }

    /// The lines of the declaration `decl`, to delete it.
    fn removal(&self, decl: Decl) -> Option<Span> {
        let span = decl.extent;
        let text = self.file_text(decl.file);
        let start = text.get(..span.start as usize)?.rfind('\n').map_or(0, |i| i + 1);
        let end = text
            .get(span.end as usize..)?
            .find('\n')
            .map_or(text.len(), |i| span.end as usize + i + 1);
        Some(Span::new(start, end))
    }

    /// Warn of parameters, rules and `let`s of the policy's own file that nothing reads.
    pub(crate) fn report_unused(&mut self) {
        let mut problems = Vec::new();
        for slot in &self.params {
            let decl = slot.decl;
            if slot.used || decl.file != 0 {
                continue;
            }
            // A parameter that failed its own checks is reported already.
            let Some(name) = slot.def.as_ref().map(|x| x.name.clone()) else { continue };
            problems.push(
                Problem::warning(
                    Code::UnusedParam,
                    decl.file,
                    decl.span,
                    format!("parameter `{name}` is never used"),
                )
                .label("declared here, read nowhere")
                .help("remove it, or use it in a rule or stage")
                .remove(self.removal(decl), &name),
            );
        }
        for slot in &self.slots {
            if slot.used || slot.decl.file != 0 || slot.body.is_none() {
                continue;
            }
            let (code, what) = match slot.kind {
                ValueKind::Rule => (Code::UnusedRule, "rule"),
                ValueKind::Let | ValueKind::StageLocal(_) => (Code::UnusedLet, "value"),
                ValueKind::Output(_) => continue,
            };
            problems.push(
                Problem::warning(
                    code,
                    slot.decl.file,
                    slot.decl.span,
                    format!("{what} `{}` is never used", slot.name),
                )
                .label("computed, read nowhere")
                .help("remove it, or read it in a stage or a test")
                .remove(self.removal(slot.decl), &slot.name),
            );
        }
        self.problems.extend(problems);
    }
}
