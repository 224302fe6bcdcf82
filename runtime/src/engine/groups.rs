//! Group totals (`monthly by claim.household ...`): when a policy has them, the engine settles
//! the claims linked by a shared member or group key (one value of the key field) in one task
//! ([`crate::keys::Linked`]), in settling order across them. Each member keeps its own running
//! state for its own totals, and each group one for the group totals, copied into the member's
//! state before each claim of the group and back after it.
//! The backends see one set of accumulators per claim, as without groups: only the engine knows
//! which are the group's. A policy without group totals never builds a [`Ledger`].

use std::collections::{HashMap, HashSet};

use settle_lang::date::Date;
use settle_lang::ir::Accumulator;

use super::{Claim, Engine, MemberState, Outcome, Running, settling_order};

/// Which accumulators a running state keeps: all of them (a policy without group totals), a
/// member's own, or a group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Holds {
    #[default]
    All,
    Member,
    Group,
}

impl Holds {
    /// Whether a state of this kind keeps `acc`: the others' slots in it are another state's,
    /// copied in, and never reset by this state's windows.
    pub(crate) fn holds(self, acc: &Accumulator) -> bool {
        match self {
            Holds::All => true,
            Holds::Member => acc.group.is_none(),
            Holds::Group => acc.group.is_some(),
        }
    }
}

/// The running states of linked claims: each group's by key, and each member's by id.
pub(crate) struct Ledger<'k> {
    pub(super) groups: HashMap<&'k [u8], Running>,
    pub(super) members: HashMap<&'k [u8], Running>,
}

impl Engine {
    /// A ledger for a group's claims, when the policy has group totals.
    pub(crate) fn ledger<'k>(&self) -> Option<Ledger<'k>> {
        self.policy
            .group_field()
            .map(|_| Ledger { groups: HashMap::new(), members: HashMap::new() })
    }

    /// A fresh running state keeping the accumulators `holds` picks.
    fn fresh_holding(&self, holds: Holds) -> Running {
        let mut running = self.fresh();
        running.holds = holds;
        running
    }

    /// Settle a claim dated `date` with `settle`, given the state to settle in: with a ledger,
    /// the state of its member (`who()`: the member id and the group key) holding its group's
    /// totals ([`Engine::in_group`]); without one, `state` (and `who` is not called).
    #[inline]
    pub(crate) fn in_ledger<'k, R>(
        &self,
        ledger: &mut Option<Ledger<'k>>,
        state: &mut Running,
        who: impl FnOnce() -> (&'k [u8], &'k [u8]),
        date: Date,
        settle: impl FnOnce(&mut Running) -> R,
    ) -> R {
        match ledger {
            Some(ledger) => {
                let (member, group) = who();
                self.in_group(ledger, member, group, date, settle)
            }
            None => settle(state),
        }
    }

    /// Settle a claim of `member` in group `group` dated `date` with `settle`, given the
    /// member's state holding the group's totals as of `date` (the group's windows entered
    /// first); they go back to the group after the claim.
    fn in_group<'k, R>(
        &self,
        ledger: &mut Ledger<'k>,
        member: &'k [u8],
        group: &'k [u8],
        date: Date,
        settle: impl FnOnce(&mut Running) -> R,
    ) -> R {
        let group = ledger.groups.entry(group).or_insert_with(|| self.fresh_holding(Holds::Group));
        self.enter_year(date, group);
        let running =
            ledger.members.entry(member).or_insert_with(|| self.fresh_holding(Holds::Member));
        self.copy_group(group, running);
        let result = settle(running);
        // After an error the member's copies are as they came in: the group's are unchanged.
        self.copy_group(running, group);
        result
    }

    /// Copy the group totals of `from` into `to`.
    fn copy_group(&self, from: &Running, to: &mut Running) {
        let grouped = self.policy.accumulators.iter().map(|a| a.group.is_some());
        match (&from.frame, &mut to.frame) {
            (Some(f), Some(t)) => {
                let slots = t.accs.iter_mut().zip(t.seen.iter_mut());
                for ((g, (acc, seen)), (x, s)) in
                    grouped.zip(slots).zip(f.accs.iter().zip(f.seen.iter()))
                {
                    if g {
                        (*acc, *seen) = (*x, *s);
                    }
                }
            }
            _ => {
                let slots = to.values.iter_mut().zip(to.seen.iter_mut());
                for ((g, (value, seen)), (v, s)) in
                    grouped.zip(slots).zip(from.values.iter().zip(from.seen.iter()))
                {
                    if g {
                        (*value, *seen) = (v.clone(), *s);
                    }
                }
            }
        }
    }

    /// The bytes of a claim's member id.
    pub(crate) fn member_bytes<'c>(&self, claim: &'c Claim) -> &'c [u8] {
        self.text(claim, self.policy.member_field).as_bytes()
    }

    /// The bytes of a claim's group key (empty without group totals).
    pub(crate) fn group_bytes<'c>(&self, claim: &'c Claim) -> &'c [u8] {
        self.policy.group_field().map_or(&[], |g| self.text(claim, g).as_bytes())
    }

    /// The claims settled with claim `at` of `claims`, with their positions, in the order the
    /// engine settles them ([`settling_order`]): its member's, or with group totals, those
    /// linked to it by a member or a group key they share ([`crate::keys::Linked`]). Empty when
    /// `at` is no claim.
    pub fn history<'c>(&self, claims: &'c [Claim], at: usize) -> Vec<(usize, &'c Claim)> {
        if at >= claims.len() {
            return Vec::new();
        }
        let grouped = self.policy.group_field().is_some();
        let mut inside = vec![false; claims.len()];
        if let Some(i) = inside.get_mut(at) {
            *i = true;
        }
        // Members and groups reached from the claim, until a pass over the claims adds none.
        let (mut members, mut groups) = (HashSet::new(), HashSet::new());
        let mut grew = true;
        while grew {
            grew = false;
            for (c, inside) in claims.iter().zip(inside.iter_mut()) {
                let (m, g) = (self.member_bytes(c), self.group_bytes(c));
                if *inside || members.contains(m) || (grouped && groups.contains(g)) {
                    *inside = true;
                    grew |= members.insert(m);
                    grew |= grouped && groups.insert(g);
                }
            }
        }
        let mut history: Vec<(usize, &Claim)> =
            claims.iter().enumerate().zip(&inside).filter(|(_, i)| **i).map(|(c, _)| c).collect();
        history.sort_by(|(i, a), (j, b)| {
            settling_order(
                (self.date_of(a), self.date_of(b)),
                || (self.id_of(a), self.id_of(b)),
                (i, j),
            )
        });
        history
    }

    /// Settle one claim against its member's saved state and its group's (the state of the
    /// group totals of every member sharing the claim's key), updating both. Without group
    /// totals the group's state is left as it is.
    pub fn settle_one_in_group(
        &self,
        claim: &Claim,
        member: &mut MemberState,
        group: &mut MemberState,
    ) -> Outcome {
        if self.policy.group_field().is_none() {
            return self.settle_one(claim, member);
        }
        let (m, g) = (self.member_bytes(claim), self.group_bytes(claim));
        let mut ledger = Ledger {
            groups: HashMap::from([(g, self.load(group, Holds::Group))]),
            members: HashMap::from([(m, self.load(member, Holds::Member))]),
        };
        let date = self.date_of(claim);
        let outcome =
            self.in_group(&mut ledger, m, g, date, |running| self.settle_in(claim, running, None));
        if let Some(running) = ledger.groups.get(g) {
            *group = self.save(running)?;
        }
        if let Some(running) = ledger.members.get_mut(m) {
            // The claim's own contribution to the member's rolling and episode totals.
            self.flush_windows(running);
            *member = self.save(running)?;
        }
        outcome
    }
}
