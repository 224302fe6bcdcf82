//! The table's keys of a text field ([`crate::keys`]): by its ids, duplicate claims found; by its
//! members, the claims grouped and cut into tasks ([`crate::keys::Grouping`]).

use rayon::prelude::*;
use settle_lang::ir::Policy;

use super::table::Table;
use crate::io::{InputError, duplicate_error};
use crate::keys::{duplicates, key};

/// Keys of text field `field` of every claim that is not an error row, made in parallel: each
/// part's straight into its own stretch of one block.
pub(super) fn keys(table: &Table, field: usize) -> Vec<u64> {
    let shape = &table.shape;
    let claims: Vec<usize> =
        table.parts.iter().map(|p| p.bad.iter().filter(|bad| !**bad).count()).collect();
    let mut keys = vec![0u64; claims.iter().sum()];
    let mut stretches = Vec::with_capacity(claims.len());
    let mut rest = keys.as_mut_slice();
    for &n in &claims {
        let Some((stretch, after)) = std::mem::take(&mut rest).split_at_mut_checked(n) else {
            break;
        };
        stretches.push(stretch);
        rest = after;
    }
    table.parts.par_iter().zip(&table.starts).zip(stretches).for_each(|((part, &start), out)| {
        let good = part.bad.iter().enumerate().filter(|(_, bad)| !**bad);
        for (slot, (k, _)) in out.iter_mut().zip(good) {
            let i = u32::try_from(start + k).unwrap_or(u32::MAX);
            *slot = key(part.text(shape, k, field), i);
        }
    });
    keys
}

/// Turn every claim whose id an earlier claim has into an error row naming the first, as the
/// general reader does ([`crate::keys::duplicates`], [`crate::io::duplicate_error`]).
pub(super) fn mark_duplicates(policy: &Policy, table: &mut Table) {
    let t = &*table;
    let id = |i: u32| t.text(i as usize, policy.id_field);
    let mut keys = keys(t, policy.id_field);
    keys.par_sort_unstable();
    let pairs = duplicates(&keys, id);
    drop(keys);
    if pairs.is_empty() {
        return;
    }
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let found: Vec<(usize, InputError)> = pairs
        .iter()
        .map(|&(b, a)| {
            let i = b as usize;
            let error = duplicate_error(
                t.line(i) as usize,
                text(id(b)),
                text(t.text(i, policy.member_field)),
                t.line(a as usize) as usize,
            );
            (i, error)
        })
        .collect();
    for (i, _) in &found {
        let p = table.starts.partition_point(|&s| s <= *i).saturating_sub(1);
        let k = i - table.starts.get(p).copied().unwrap_or(0);
        if let Some(b) = table.parts.get_mut(p).and_then(|p| p.bad.get_mut(k)) {
            *b = true;
        }
    }
    table.errors.extend(found);
    table.errors.sort_by_key(|(i, _)| *i);
}
