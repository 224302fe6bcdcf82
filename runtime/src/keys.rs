//! Records side by side by a hash of a text (a claim id, a member id), in 64-bit keys that sort
//! in parallel: how both data paths find duplicate claim ids ([`duplicates`]), and how both put
//! each member's claims together, cut them into parallel tasks and order them for settling
//! ([`Grouping`]). The engine's general path and the batch fast path read this one grouping.

use rayon::prelude::*;
use settle_lang::date::Date;

use crate::engine::settling_order;

/// The 32 high bits of a hash of `bytes`, above a record index: records sorted by these keys are
/// side by side by hash, each hash's in input order.
pub(crate) fn key(bytes: &[u8], i: u32) -> u64 {
    use std::hash::BuildHasher;
    let hash = foldhash::fast::FixedState::default().hash_one(bytes);
    (hash & !0xffff_ffff) | u64::from(i)
}

/// The record index of a key.
pub(crate) fn record(key: u64) -> u32 {
    key as u32
}

/// Runs of sorted keys sharing their hash.
pub(crate) fn runs(keys: &[u64]) -> impl Iterator<Item = &[u64]> {
    keys.chunk_by(|a, b| a >> 32 == b >> 32)
}

/// Every record whose text (`text(record)`) an earlier record has, with the first record that
/// has it, `(later, first)`, in order of the later; `keys` are the records' keys, sorted. Texts
/// sharing a hash are told apart exactly.
pub(crate) fn duplicates<'t>(
    keys: &[u64],
    text: impl Fn(u32) -> &'t [u8] + Sync,
) -> Vec<(u32, u32)> {
    let shared: Vec<&[u64]> = runs(keys).filter(|run| run.len() > 1).collect();
    // Within a run of one hash, records by text then input order: the first of each text is the
    // first record with it, the others its duplicates.
    let mut pairs: Vec<(u32, u32)> = shared
        .par_iter()
        .flat_map_iter(|run| {
            let mut records: Vec<u32> = run.iter().map(|&k| record(k)).collect();
            records.sort_by(|&a, &b| text(a).cmp(text(b)).then(a.cmp(&b)));
            let mut pairs = Vec::new();
            let mut first = 0;
            for (n, &r) in records.iter().enumerate() {
                match records.get(first) {
                    Some(&f) if text(f) == text(r) => {
                        if n != first {
                            pairs.push((r, f));
                        }
                    }
                    _ => first = n,
                }
            }
            pairs
        })
        .collect();
    pairs.par_sort_unstable();
    pairs
}

/// Claims linked by a member or a group (the key of group totals) they share, transitively: a
/// member whose claims name two households settles with both, so that its own totals and each
/// household's see all their claims. `members` and `groups` are the same claims' [`key`]s of
/// their member id and of their group key, in any order. Keys sharing a hash are linked as if
/// equal: their claims settle in one task, each member and group still told apart exactly.
#[derive(Debug)]
pub(crate) struct Linked {
    /// Each claim's key by its component: a hash of the component's first record above the
    /// claim's index.
    pub(crate) keys: Vec<u64>,
    /// The first record of each record's component, by record index.
    roots: Vec<u32>,
}

impl Linked {
    pub(crate) fn new(mut members: Vec<u64>, mut groups: Vec<u64>) -> Self {
        let n = members.iter().map(|&k| record(k) as usize + 1).max().unwrap_or(0);
        let mut roots: Vec<u32> = (0..u32::try_from(n).unwrap_or(u32::MAX)).collect();
        members.par_sort_unstable();
        groups.par_sort_unstable();
        for keys in [&members, &groups] {
            for run in runs(keys) {
                let mut claims = run.iter().map(|&k| record(k));
                let Some(first) = claims.next() else { continue };
                for other in claims {
                    link(&mut roots, first, other);
                }
            }
        }
        for i in 0..roots.len() {
            let root = find(&mut roots, u32::try_from(i).unwrap_or(u32::MAX));
            if let Some(r) = roots.get_mut(i) {
                *r = root;
            }
        }
        let keys = members
            .par_iter()
            .map(|&k| {
                let i = record(k);
                let root = roots.get(i as usize).copied().unwrap_or(i);
                key(&root.to_le_bytes(), i)
            })
            .collect();
        Linked { keys, roots }
    }

    /// The first record of record `i`'s component: claims with the same settle together.
    pub(crate) fn root(&self, i: u32) -> u32 {
        self.roots.get(i as usize).copied().unwrap_or(i)
    }
}

/// The first record of `i`'s component, halving the path to it on the way.
fn find(roots: &mut [u32], mut i: u32) -> u32 {
    loop {
        let Some(&parent) = roots.get(i as usize) else { return i };
        if parent == i {
            return i;
        }
        let grandparent = roots.get(parent as usize).copied().unwrap_or(parent);
        if let Some(slot) = roots.get_mut(i as usize) {
            *slot = grandparent;
        }
        i = grandparent;
    }
}

/// Put the components of `a` and `b` together, under the first record of the two.
fn link(roots: &mut [u32], a: u32, b: u32) {
    let (a, b) = (find(roots, a), find(roots, b));
    let (first, other) = if a < b { (a, b) } else { (b, a) };
    if let Some(slot) = roots.get_mut(other as usize) {
        *slot = first;
    }
}

/// Claims one parallel task settles: whole members, a few hundred claims.
pub const CLAIMS_PER_TASK: usize = 256;

/// Claims grouped by member: their keys (a hash of the member's id above the claim's index)
/// sorted, so that each member's claims are side by side, and cut into tasks of about
/// [`CLAIMS_PER_TASK`] claims at changes of hash, so that no member is split between tasks.
#[derive(Debug)]
pub(crate) struct Grouping {
    keys: Vec<u64>,
    /// Each task's stretch of `keys`.
    tasks: Vec<(usize, usize)>,
}

impl Grouping {
    /// Group the claims whose keys ([`key`] of each claim's member id and index) are `keys`, in
    /// any order; a claim without a key is not settled.
    pub(crate) fn new(mut keys: Vec<u64>) -> Self {
        keys.par_sort_unstable();
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
        Grouping { keys, tasks }
    }

    /// The tasks, to settle in parallel.
    pub(crate) fn tasks(&self) -> impl IndexedParallelIterator<Item = Task<'_>> {
        self.tasks
            .par_iter()
            .map(|&(from, to)| Task { keys: self.keys.get(from..to).unwrap_or(&[]) })
    }
}

/// Whole members' claims, settled by one parallel task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Task<'g> {
    keys: &'g [u64],
}

impl<'g> Task<'g> {
    /// How many claims the task settles.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The task's claims (record indices), each member's side by side in input order: a claim's
    /// position in the task is its place here.
    pub(crate) fn claims(&self) -> impl ExactSizeIterator<Item = u32> + 'g {
        self.keys.iter().map(|&k| record(k))
    }

    /// Each member of the task with its claims in settling order ([`settling_order`]), as
    /// (date, position in the task), in `order`, which this fills. `date`, `member` and `id` are
    /// the date, member (or with group totals, the [`Linked`] component) and claim id of the
    /// claim at a position. Members sharing a hash are told apart exactly.
    pub(crate) fn members<'o, 'k, M: Ord>(
        &self,
        order: &'o mut Vec<(Date, u32)>,
        date: impl Fn(u32) -> Date,
        member: impl Fn(u32) -> M,
        id: impl Fn(u32) -> &'k [u8],
    ) -> Vec<&'o mut [(Date, u32)]> {
        order.clear();
        order.extend((0..u32::try_from(self.keys.len()).unwrap_or(u32::MAX)).map(|p| (date(p), p)));
        let mut members = Vec::with_capacity(self.keys.len());
        let mut rest: &mut [(Date, u32)] = order;
        for run in runs(self.keys) {
            let Some((head, tail)) = std::mem::take(&mut rest).split_at_mut_checked(run.len())
            else {
                break;
            };
            split_by_member(head, &member, &mut members);
            rest = tail;
        }
        // INVARIANT: within a member, positions rise with record indices (a run of keys is in
        // input order, and a split keeps it), so positions break ties as input order does.
        for claims in &mut members {
            claims.sort_unstable_by(|&(d, a), &(e, b)| {
                settling_order((d, e), || (id(a), id(b)), (a, b))
            });
        }
        members
    }
}

/// Put the claims of one hash group in `out` as one member, or, when different members share
/// the hash, as one group per member, each in the order it had.
fn split_by_member<'a, M: Ord>(
    group: &'a mut [(Date, u32)],
    member: &impl Fn(u32) -> M,
    out: &mut Vec<&'a mut [(Date, u32)]>,
) {
    let first = group.first().map(|&(_, i)| member(i));
    if group.iter().all(|&(_, i)| Some(member(i)) == first) {
        out.push(group);
        return;
    }
    group.sort_by(|a, b| member(a.1).cmp(&member(b.1)).then(a.1.cmp(&b.1)));
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

    #[test]
    fn tasks_hold_whole_members_in_settling_order() {
        // 40 members of 1 to 12 claims, interleaved, dates falling, ids rising with the index.
        let members: Vec<Vec<u8>> =
            (0..600u32).map(|i| format!("m{}", (i * 7) % 40).into_bytes()).collect();
        let ids: Vec<Vec<u8>> = (0..600u32).map(|i| format!("c{i:04}").into_bytes()).collect();
        let date = |i: u32| Date(1000 - (i as i32) / 50);
        let keys = (0..600u32).map(|i| key(&members[i as usize], i)).collect();
        let grouping = Grouping::new(keys);
        let mut seen = std::collections::HashMap::new();
        let mut claims = 0;
        let tasks: Vec<Task<'_>> = grouping.tasks().collect();
        assert!(tasks.len() > 1, "600 claims make more than one task");
        for (t, task) in tasks.iter().enumerate() {
            let at: Vec<u32> = task.claims().collect();
            let of = |p: u32| at[p as usize] as usize;
            let mut order = Vec::new();
            let settled = task.members(
                &mut order,
                |p| date(at[p as usize]),
                |p| &members[of(p)],
                |p| &ids[of(p)],
            );
            for m in settled {
                let first = &members[of(m[0].1)];
                assert!(m.iter().all(|&(_, p)| &members[of(p)] == first), "one member a group");
                assert_eq!(seen.insert(first.clone(), t), None, "a member in one task only");
                let records: Vec<usize> = m.iter().map(|&(_, p)| of(p)).collect();
                let mut sorted = records.clone();
                sorted.sort_by_key(|&i| (date(i as u32), ids[i].clone()));
                assert_eq!(records, sorted, "by date, then id");
                claims += m.len();
            }
        }
        assert_eq!(claims, 600);
        assert_eq!(seen.len(), 40);
    }

    #[test]
    fn claims_are_linked_by_members_and_groups_transitively() {
        // Members m1..m5 and households: m2 moves from h1 to h2, which m3 shares; m4 and m5
        // are alone in h3 and h4.
        let rows: [(&[u8], &[u8]); 8] = [
            (b"m1", b"h1"),
            (b"m4", b"h3"),
            (b"m2", b"h1"),
            (b"m3", b"h2"),
            (b"m5", b"h4"),
            (b"m2", b"h2"),
            (b"m4", b"h3"),
            (b"m5", b"h4"),
        ];
        let members: Vec<u64> = rows.iter().enumerate().map(|(i, r)| key(r.0, i as u32)).collect();
        let groups: Vec<u64> =
            rows.iter().enumerate().rev().map(|(i, r)| key(r.1, i as u32)).collect();
        let linked = Linked::new(members, groups);
        let roots: Vec<u32> = (0..8).map(|i| linked.root(i)).collect();
        assert_eq!(roots, vec![0, 1, 0, 0, 4, 0, 1, 4]);
        // Each claim keyed by its component: the grouping keeps components whole.
        let grouping = Grouping::new(linked.keys);
        let mut seen = Vec::new();
        for task in grouping.tasks().collect::<Vec<_>>() {
            let mut order = Vec::new();
            let claims: Vec<u32> = task.claims().collect();
            let root = |p: u32| roots[claims[p as usize] as usize];
            for group in task.members(&mut order, |_| Date(0), root, |_| &b""[..]) {
                let mut records: Vec<u32> = group.iter().map(|c| claims[c.1 as usize]).collect();
                records.sort_unstable();
                seen.push(records);
            }
        }
        seen.sort();
        assert_eq!(seen, vec![vec![0, 2, 3, 5], vec![1, 6], vec![4, 7]]);
    }

    #[test]
    fn duplicates_name_the_first_record_with_the_text() {
        let texts: [&[u8]; 7] = [b"a", b"b", b"a", b"c", b"b", b"a", b""];
        let mut keys: Vec<u64> = texts.iter().enumerate().map(|(i, t)| key(t, i as u32)).collect();
        keys.sort_unstable();
        let text = |i: u32| texts.get(i as usize).copied().unwrap_or_default();
        assert_eq!(duplicates(&keys, text), vec![(2, 0), (4, 1), (5, 0)]);
        // Every text with one hash: told apart exactly.
        let mut same: Vec<u64> = (0..7).map(|i| i as u64).collect();
        same.sort_unstable();
        assert_eq!(duplicates(&same, text), vec![(2, 0), (4, 1), (5, 0)]);
    }
}
