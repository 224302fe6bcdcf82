//! Scheduling: the order in which one claim's values are computed.
//!
//! Stage statements run in the payer chain's order (stage by stage, statement by statement).
//! A top-level `let` or rule is computed just before the first statement that needs it, so a
//! trace reads in the order a clerk would explain the claim; values nothing in a stage reads
//! come last. The checker has already rejected cycles and reads of later stages, so every value
//! is scheduled after everything it reads.

use crate::ir::{ValueId, ValueKind};

/// Order values for evaluation, given each value's kind and stage position and what it reads.
pub fn schedule(
    values: &[(ValueKind, Option<(usize, usize)>)],
    reads: &[Vec<ValueId>],
) -> Vec<ValueId> {
    let mut stage_statements: Vec<(usize, usize, ValueId)> =
        values.iter().enumerate().filter_map(|(v, (_, pos))| pos.map(|(s, i)| (s, i, v))).collect();
    stage_statements.sort_unstable();
    let mut placed = vec![false; values.len()];
    let mut order = Vec::with_capacity(values.len());
    let roots = stage_statements.iter().map(|(_, _, v)| *v).chain(0..values.len());
    for root in roots {
        place(root, reads, &mut placed, &mut order);
    }
    order
}

/// Place `root` after everything it reads, iteratively (policies may chain thousands of values).
fn place(root: ValueId, reads: &[Vec<ValueId>], placed: &mut [bool], order: &mut Vec<ValueId>) {
    if placed.get(root) != Some(&false) {
        return;
    }
    let mut on_stack = vec![root];
    let mut stack = vec![(root, 0usize)];
    while let Some(&mut (v, ref mut i)) = stack.last_mut() {
        let next = reads.get(v).and_then(|r| r.get(*i)).copied();
        *i += 1;
        match next {
            Some(d) if placed.get(d) == Some(&false) && !on_stack.contains(&d) => {
                on_stack.push(d);
                stack.push((d, 0));
            }
            Some(_) => {}
            None => {
                if let Some(p) = placed.get_mut(v) {
                    *p = true;
                }
                order.push(v);
                stack.pop();
                on_stack.retain(|x| *x != v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_values_come_before_the_statement_that_reads_them() {
        // 0: let a; 1: stage 0 statement 0 reads 0; 2: let b reads 1; 3: stage 1 statement 0 reads 2.
        let values = vec![
            (ValueKind::Let, None),
            (ValueKind::Output(0), Some((0, 0))),
            (ValueKind::Let, None),
            (ValueKind::Output(1), Some((1, 0))),
        ];
        let reads = vec![vec![], vec![0], vec![1], vec![2]];
        assert_eq!(schedule(&values, &reads), vec![0, 1, 2, 3]);
    }
}
