//! The table's claims side by side by a hash of a text field ([`crate::keys`]): duplicate ids found,
//! members grouped and cut into tasks.

use rayon::prelude::*;
use settle_lang::date::Date;
use settle_lang::ir::Policy;

use super::table::Table;
use crate::io::{InputError, duplicate_error};
use crate::keys::{duplicates, key};

/// Keys of text field `field` of every claim that is not an error row, made and sorted in
/// parallel: each part's made straight into its own stretch of one block.
pub(super) fn sorted_keys(table: &Table, field: usize) -> Vec<u64> {
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
    keys.par_sort_unstable();
    keys
}

/// Sorted keys cut into tasks of about [`CLAIMS_PER_TASK`] claims at changes of hash.
pub(super) fn tasks(keys: &[u64]) -> Vec<(usize, usize)> {
    let mut tasks = Vec::with_capacity(keys.len() / CLAIMS_PER_TASK + 1);
    let mut from = 0;
    while from < keys.len() {
        let mut to = (from + CLAIMS_PER_TASK).min(keys.len());
        while let (Some(a), Some(b)) = (keys.get(to - 1), keys.get(to))
            && a >> 32 == b >> 32
        {
            to += 1;
        }
        tasks.push((from, to));
        from = to;
    }
    tasks
}

/// Claims one parallel task settles: a few hundred members' claims.
pub(super) const CLAIMS_PER_TASK: usize = 256;

/// Turn every claim whose id an earlier claim has into an error row naming the first, as the
/// general reader does ([`crate::keys::duplicates`], [`crate::io::duplicate_error`]).
pub(super) fn mark_duplicates(policy: &Policy, table: &mut Table) {
    let t = &*table;
    let id = |i: u32| t.text(i as usize, policy.id_field);
    let keys = sorted_keys(t, policy.id_field);
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

/// Put the claims of one hash group in `out` as one member, or, when different members share
/// the hash, as one group per member.
pub(super) fn split_by_member<'a, 'k>(
    group: &'a mut [(Date, u32)],
    member: &impl Fn(u32) -> &'k [u8],
    out: &mut Vec<&'a mut [(Date, u32)]>,
) {
    let first = group.first().map(|&(_, i)| member(i));
    if group.iter().all(|&(_, i)| Some(member(i)) == first) {
        out.push(group);
        return;
    }
    group.sort_by(|a, b| member(a.1).cmp(member(b.1)).then(a.1.cmp(&b.1)));
    let mut rest = group;
    while let Some(&(_, i)) = rest.first() {
        let m = member(i);
        let len = rest.iter().take_while(|&&(_, j)| member(j) == m).count().max(1);
        let Some((head, tail)) = std::mem::take(&mut rest).split_at_mut_checked(len) else { break };
        out.push(head);
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_sharing_a_hash_are_split() {
        let names: [&[u8]; 5] = [b"m2", b"m1", b"m2", b"m3", b"m1"];
        let member = |i: u32| names.get(i as usize).copied().unwrap_or(b"");
        let mut group: Vec<(Date, u32)> = (0..5).map(|i| (Date(10 - i), i as u32)).collect();
        let mut out = Vec::new();
        split_by_member(&mut group, &member, &mut out);
        let split: Vec<Vec<u32>> = out.iter().map(|g| g.iter().map(|c| c.1).collect()).collect();
        assert_eq!(split, vec![vec![1, 4], vec![0, 2], vec![3]]);
        let mut one: Vec<(Date, u32)> = vec![(Date(3), 1), (Date(1), 4)];
        let mut out = Vec::new();
        split_by_member(&mut one, &member, &mut out);
        assert_eq!(out.len(), 1);
    }
}
