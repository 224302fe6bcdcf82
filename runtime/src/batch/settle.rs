//! Settling a table's claims, members in parallel, each claim's settled values written into its own
//! row; and the shares an impact report reads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use zerocopy::{FromBytes, IntoBytes};

use rayon::prelude::*;
use settle_lang::date::Date;
use settle_lang::ir::{Policy, Type};

use super::group::keys;
use super::table::{Part, Slot, Table, fill, text_of};
use super::{settled_values, supported};
use crate::engine::{Carried, ClaimError, Engine, Kept, States};
use crate::io::output_slots;
use crate::keys::{Grouping, Linked};

/// The settlements of a [`Table`]: each claim's settled values in its row (see `Shape`).
#[derive(Debug)]
pub struct Settled {
    pub(super) table: Table,
    /// The settled values of the claims where one does not fit 32 bits, by record index.
    pub(super) wide: Vec<(usize, Vec<i64>)>,
    /// Claims that did not settle, by record index.
    pub(super) errors: Vec<(usize, ClaimError)>,
    /// The total of each balance share over the settled claims, in fen.
    pub totals: Vec<(String, i128)>,
}

impl Settled {
    /// How many claims did not settle.
    pub fn failed(&self) -> usize {
        self.errors.len()
    }

    /// The claims settled.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Claim `i`'s settled values (record `k` of `part`): its outputs, then its accumulators
    /// before it.
    pub(super) fn values(&self, i: usize, part: &Part, k: usize, out: &mut [i64]) {
        match self.wide.binary_search_by_key(&i, |(k, _)| *k) {
            Ok(w) => {
                let wide = self.wide.get(w).map_or(&[][..], |(_, v)| v.as_slice());
                out.iter_mut().zip(wide).for_each(|(slot, x)| *slot = *x);
            }
            Err(_) => {
                for (j, slot) in out.iter_mut().enumerate() {
                    *slot = part.result(&self.table.shape, k, j);
                }
            }
        }
    }
}

/// A part's rows while its claims are settled: as words each task may write its claims'
/// settled values into, with what they refer to outside themselves.
pub(super) struct Settling<'t> {
    pub(super) rows: &'t [AtomicU32],
    pub(super) arena: &'t [u8],
    pub(super) wide: &'t [(u32, u32, i64)],
}

/// Settle a table's claims: members in parallel on the current rayon pool, calling `progress`
/// with the number of claims settled as each member is done. `None` when the engine does not
/// take this path (see [`supported`]).
pub fn settle_table(
    engine: &Engine,
    table: Table,
    progress: &(dyn Fn(u64) + Sync),
) -> Option<Settled> {
    settle_table_carried(engine, table, None, progress).map(|(settled, _)| settled)
}

/// [`settle_table`], each member (and group) starting from its state in `saved` (members' by
/// id, groups' by key) if it has one there: also the states every member and group settled
/// ends in ([`Kept`]).
pub(crate) fn settle_table_carried(
    engine: &Engine,
    mut table: Table,
    saved: Option<(&States, &States)>,
    progress: &(dyn Fn(u64) + Sync),
) -> Option<(Settled, Vec<Kept>)> {
    if !supported(engine) {
        return None;
    }
    let policy = engine.policy();
    let shares: Vec<usize> = policy.balance.iter().flat_map(|b| b.parts.iter().copied()).collect();
    let outputs: Vec<usize> = output_slots(policy).iter().map(|(v, _)| *v).collect();
    let shape = table.shape.clone();
    let per_claim = outputs.len() + policy.accumulators.len();
    if per_claim != shape.values {
        return None;
    }
    let words = shape.stride / 4;
    // Claims grouped by member (with group totals, linked by member and group) and cut into
    // tasks, as the general path does.
    let group_field = policy.group_field();
    let (grouping, linked) = match group_field {
        Some(g) => {
            let mut linked = Linked::new(keys(&table, policy.member_field), keys(&table, g));
            (Grouping::new(std::mem::take(&mut linked.keys)), Some(linked))
        }
        None => (Grouping::new(keys(&table, policy.member_field)), None),
    };
    let wide = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    let kept = Mutex::new(Vec::new());
    let totals = Mutex::new(vec![0i128; shares.len()]);
    let width = policy.input_record().map_or(0, |r| r.fields.len());
    let starts = table.starts.clone();
    // Each task writes only its own claims' rows, every claim being in one task.
    let views: Option<Vec<Settling<'_>>> = table
        .parts
        .iter_mut()
        .map(|part| {
            let Part { rows, text, wide, .. } = part;
            let rows: &[AtomicU32] = <[AtomicU32]>::mut_from_bytes(rows.as_mut_bytes()).ok()?;
            Some(Settling { rows, arena: text, wide })
        })
        .collect();
    // The rows are words: their view as atomic words cannot fail.
    let views = views?;
    let locate = |i: usize| {
        let p = starts.partition_point(|&s| s <= i).checked_sub(1)?;
        Some((views.get(p)?, i - starts.get(p)?))
    };
    grouping.tasks().for_each(|task| {
        // The task's claims' rows copied into one block, one read of the table each; the
        // claims then ordered and settled from there, and their settled values written back in
        // place of their numbers.
        let claims: Vec<u32> = task.claims().collect();
        let located: Vec<Option<(&Settling<'_>, usize)>> =
            claims.iter().map(|&i| locate(i as usize)).collect();
        // Each row's ends read first, every read independent of the others: the
        // processor fetches many rows at once instead of one after another in the loop below.
        let touched = located.iter().flatten().fold(0u32, |x, (view, k)| {
            // The first and last word: a row may span two cache lines.
            let word = |w: usize| view.rows.get(w).map_or(0, |w| w.load(Ordering::Relaxed));
            x ^ word(k * words) ^ word((k + 1) * words - 1)
        });
        std::hint::black_box(touched);
        let mut copies: Vec<u32> = vec![0; claims.len() * words];
        for (place, copy) in located.iter().zip(copies.chunks_exact_mut(words.max(1))) {
            if let Some((view, k)) = place
                && let Some(row) = view.rows.get(k * words..(k + 1) * words)
            {
                copy.iter_mut().zip(row).for_each(|(c, w)| *c = w.load(Ordering::Relaxed));
            }
        }
        let mut rows: Vec<i64> = vec![0; claims.len() * width];
        // Each claim's member, id and key of its group, from the row just copied.
        let mut texts: Vec<(&[u8], &[u8], &[u8])> = Vec::with_capacity(claims.len());
        for ((place, copy), row) in located
            .iter()
            .zip(copies.chunks_exact(words.max(1)))
            .zip(rows.chunks_exact_mut(width.max(1)))
        {
            texts.push(match place {
                Some((view, k)) => {
                    let bytes = copy.as_bytes();
                    fill(&shape, bytes, view.wide, *k, row);
                    let text = |field| text_of(&shape, bytes, view.arena, field);
                    let group = group_field.map_or(&[][..], text);
                    (text(policy.member_field), text(policy.id_field), group)
                }
                None => (&[], &[], &[]),
            });
        }
        let member = |p: u32| texts.get(p as usize).map_or(&[][..], |t| t.0);
        let id = |p: u32| texts.get(p as usize).map_or(&[][..], |t| t.1);
        let group = |p: u32| texts.get(p as usize).map_or(&[][..], |t| t.2);
        let day = |p: u32| {
            let cell = rows.get(p as usize * width + policy.dated_field).copied().unwrap_or(0);
            Date(i32::try_from(cell).unwrap_or(0))
        };
        // Each member's claims in settling order, as (date, position in the block).
        let mut order = Vec::new();
        let at = |p: u32| claims.get(p as usize).copied().unwrap_or(u32::MAX);
        let linked_member = |p: u32| match &linked {
            Some(linked) => (linked.root(at(p)), &[][..]),
            None => (0, member(p)),
        };
        let groups = task.members(&mut order, day, linked_member, id);
        let settling: Vec<u32> = groups.iter().flat_map(|g| g.iter().map(|c| c.1)).collect();
        let mut outs: Vec<i64> = vec![0; settling.len() * per_claim];
        let mut done = vec![false; settling.len()];
        let mut failed = Vec::new();
        let mut sums = vec![0i128; shares.len()];
        let row = |k: usize| {
            let p = settling.get(k).copied().unwrap_or(u32::MAX) as usize;
            rows.get(p * width..(p + 1) * width)
        };
        let member_of = |k: usize| {
            let p = settling.get(k).copied().unwrap_or(u32::MAX);
            (member(p), group(p))
        };
        let mut carried = saved.map(|(members, groups)| Carried::new(members, groups));
        engine.settle_members(
            &groups,
            &row,
            &member_of,
            &mut |k, result| match result {
                Ok(frame) => {
                    let Some(out) = outs.get_mut(k * per_claim..(k + 1) * per_claim) else {
                        return;
                    };
                    let values = outputs.iter().map(|&v| frame.values.get(v).copied());
                    let cells =
                        values.map(Option::unwrap_or_default).chain(frame.accs.iter().copied());
                    for (slot, x) in out.iter_mut().zip(cells) {
                        *slot = x;
                    }
                    for (sum, &p) in sums.iter_mut().zip(&shares) {
                        *sum += i128::from(frame.values.get(p).copied().unwrap_or(0));
                    }
                    if let Some(d) = done.get_mut(k) {
                        *d = true;
                    }
                }
                Err(e) => {
                    let p = settling.get(k).copied().unwrap_or(u32::MAX);
                    failed.push((at(p) as usize, e));
                }
            },
            progress,
            carried.as_mut(),
        );
        if let Some(carried) = carried
            && let Ok(mut kept) = kept.lock()
        {
            kept.extend(carried.kept);
        }
        if let Ok(mut totals) = totals.lock() {
            for (t, s) in totals.iter_mut().zip(sums) {
                *t += s;
            }
        }
        let mut wider = Vec::new();
        for ((&p, out), _) in
            settling.iter().zip(outs.chunks_exact(per_claim.max(1))).zip(&done).filter(|(_, d)| **d)
        {
            if !out.iter().all(|&x| i32::try_from(x).is_ok()) {
                wider.push((at(p) as usize, out.to_vec()));
                continue;
            }
            let Some(Some((view, k))) = located.get(p as usize) else { continue };
            let start = k * words + shape.results / 4;
            if let Some(cells) = view.rows.get(start..start + per_claim) {
                for (cell, &x) in cells.iter().zip(out) {
                    cell.store(x as i32 as u32, Ordering::Relaxed);
                }
            }
        }
        if !wider.is_empty()
            && let Ok(mut wide) = wide.lock()
        {
            wide.extend(wider);
        }
        if !failed.is_empty()
            && let Ok(mut errors) = errors.lock()
        {
            errors.extend(failed);
        }
    });
    drop(grouping);
    let mut errors = errors.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    errors.sort_by_key(|(i, _)| *i);
    let sums = totals.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let totals = shares
        .iter()
        .zip(sums)
        .map(|(p, sum)| (policy.values.get(*p).map_or(String::new(), |d| d.name.clone()), sum))
        .collect();
    let mut wide = wide.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    wide.sort_by_key(|(i, _)| *i);
    let kept = kept.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    Some((Settled { table, wide, errors, totals }, kept))
}

/// A table's claims settled for an impact report ([`crate::diff`]): each claim's shares of the
/// balance, by the names asked for, in fen, where it settled; and, until
/// [`Shares::without_table`], the settled table, for who each claim is and the variants of its
/// enum fields (both kept in its row, see `Shape`).
#[derive(Debug)]
pub struct Shares {
    pub(super) names: usize,
    pub(super) fen: Vec<i64>,
    pub(super) settled: Vec<bool>,
    pub(super) table: Option<Settled>,
}

/// Settle `table` for an impact report, calling `progress` as [`settle_table`] does. `None` when
/// the engine does not take this path, a share named is not one of the policy's outputs in
/// money, or an enum field has too many variants for a byte of the row (and so gives way to the
/// settled values): the general path then settles the claims.
pub fn settle_shares(
    engine: &Engine,
    table: Table,
    names: &[String],
    progress: &(dyn Fn(u64) + Sync),
) -> Option<Shares> {
    let policy = engine.policy();
    let outputs = output_slots(policy);
    let at: Vec<usize> = names
        .iter()
        .map(|name| {
            outputs.iter().position(|&(v, ty)| {
                ty == Type::Money && policy.values.get(v).is_some_and(|d| d.name == *name)
            })
        })
        .collect::<Option<_>>()?;
    let fields = policy.input_record().map_or(&[][..], |r| r.fields.as_slice());
    let kept = fields
        .iter()
        .zip(&table.shape.slots)
        .all(|(f, &(_, slot))| !matches!(f.ty, Type::Enum(_)) || slot == Slot::Small);
    if !kept {
        return None;
    }
    let n = table.len();
    let settled = settle_table(engine, table, progress)?;
    let k = names.len();
    let mut fen = vec![0i64; n * k];
    let mut ok = vec![false; n];
    let table = settled.table();
    // Claims a parallel task reads the shares of.
    const CLAIMS: usize = 4096;
    fen.par_chunks_mut(k.max(1) * CLAIMS).zip(ok.par_chunks_mut(CLAIMS)).enumerate().for_each(
        |(chunk, (fen, ok))| {
            let mut values = vec![0i64; settled_values(policy)];
            for (j, (shares, ok)) in fen.chunks_exact_mut(k.max(1)).zip(ok).enumerate() {
                let i = chunk * CLAIMS + j;
                let Some((part, kk)) = table.claim(i) else { continue };
                if settled.errors.binary_search_by_key(&i, |(e, _)| *e).is_ok() {
                    continue;
                }
                settled.values(i, part, kk, &mut values);
                for (slot, &a) in shares.iter_mut().zip(&at) {
                    *slot = values.get(a).copied().unwrap_or(0);
                }
                *ok = true;
            }
        },
    );
    Some(Shares { names: k, fen, settled: ok, table: Some(settled) })
}

impl Shares {
    /// Records (claims and error rows).
    pub fn len(&self) -> usize {
        self.settled.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.settled.is_empty()
    }

    /// Record `i`'s shares, `None` where it did not settle.
    pub fn shares(&self, i: usize) -> Option<Vec<rust_decimal::Decimal>> {
        if !self.settled.get(i).copied().unwrap_or(false) {
            return None;
        }
        let fen = self.fen.get(i * self.names..(i + 1) * self.names)?;
        Some(fen.iter().map(|&x| rust_decimal::Decimal::new(x, 2)).collect())
    }

    /// Record `i`'s variant of enum field `field` of the input, `None` for an error row (or once
    /// the table is forgotten).
    pub fn variant(&self, i: usize, field: usize) -> Option<u32> {
        let table = self.table.as_ref()?.table();
        let (part, k) = table.claim(i)?;
        let &(at, Slot::Small) = table.shape.slots.get(field)? else { return None };
        part.row(&table.shape, k).get(at).map(|&v| u32::from(v))
    }

    /// Who record `i` is, `None` for an error row (or once the table is forgotten).
    pub fn who(&self, policy: &Policy, i: usize) -> Option<crate::io::Who> {
        let table = self.table.as_ref()?.table();
        let (part, k) = table.claim(i)?;
        let text = |field| String::from_utf8_lossy(part.text(&table.shape, k, field)).into_owned();
        Some(crate::io::Who {
            id: text(policy.id_field),
            member: text(policy.member_field),
            line: part.line(k) as usize,
        })
    }

    /// Forget the settled table (who each claim is, its variants), keeping the shares.
    pub fn without_table(mut self) -> Shares {
        self.table = None;
        self
    }
}
