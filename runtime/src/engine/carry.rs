//! Saved states through the batch fast path: members (and with group totals, groups) whose claims
//! settle after an earlier batch's start from the state that batch left them in, and every
//! member's and group's state is kept after its claims, as [`Engine::settle_one`] and
//! [`Engine::settle_one_in_group`] keep it after each claim (`arrow::Settler`).
//!
//! Exactness: a member continues from a state saved and loaded again exactly as it continues
//! from its running state; the general path's settler relies on the same round trip after every
//! claim, and `runtime/tests/arrow.rs` settles batches split inside members against one table.

use std::collections::HashMap;
use std::sync::Arc;

use super::groups::{Holds, Ledger};
use super::{ClaimError, Engine, MemberState, Running};

/// Saved states by member id, or by group key.
pub(crate) type States = HashMap<Arc<str>, MemberState>;

/// The saved states claims start from, by member id and by group key, and the states the
/// members and groups settled end in.
#[derive(Debug)]
pub(crate) struct Carried<'s> {
    members: &'s States,
    groups: &'s States,
    /// The states after the claims settled, in the order their members were settled.
    pub(crate) kept: Vec<Kept>,
}

/// A member's or a group's state after its claims settled.
#[derive(Debug)]
#[cfg_attr(
    not(feature = "arrow"),
    expect(dead_code, reason = "the states are read by the Arrow settler only")
)]
pub(crate) struct Kept {
    /// Whether it is a group's (by its key) rather than a member's (by its id).
    pub(crate) group: bool,
    pub(crate) id: Arc<str>,
    /// The state, or the internal error that kept it from being saved.
    pub(crate) state: Result<MemberState, ClaimError>,
}

impl<'s> Carried<'s> {
    /// Claims that start from `members`' and `groups`' saved states.
    pub(crate) fn new(members: &'s States, groups: &'s States) -> Self {
        Carried { members, groups, kept: Vec::new() }
    }
}

/// A member id or group key as the text the states are kept by (read from text: UTF-8).
fn id(bytes: &[u8]) -> Arc<str> {
    Arc::from(String::from_utf8_lossy(bytes))
}

impl Engine {
    /// Before a member's claims (numbered `first` on, `count` of them; with group totals, the
    /// claims linked to them), load the saved states of the member (or of each member and
    /// group among them) that has one.
    pub(super) fn carry_in<'k>(
        &self,
        carried: &Carried<'_>,
        (first, count): (usize, usize),
        member_of: &dyn Fn(usize) -> (&'k [u8], &'k [u8]),
        state: &mut Running,
        ledger: &mut Option<Ledger<'k>>,
    ) {
        let saved = |map: &States, key: &[u8]| {
            std::str::from_utf8(key).ok().and_then(|k| map.get(k).cloned())
        };
        match ledger {
            None => {
                if let Some(s) = saved(carried.members, member_of(first).0) {
                    *state = self.load(&s, Holds::All);
                }
            }
            Some(ledger) => {
                for k in first..first + count {
                    let (member, group) = member_of(k);
                    if !ledger.members.contains_key(member)
                        && let Some(s) = saved(carried.members, member)
                    {
                        ledger.members.insert(member, self.load(&s, Holds::Member));
                    }
                    if !ledger.groups.contains_key(group)
                        && let Some(s) = saved(carried.groups, group)
                    {
                        ledger.groups.insert(group, self.load(&s, Holds::Group));
                    }
                }
            }
        }
    }

    /// After a member's claims (numbered from `first`), keep the state of the member (or of
    /// each member and group among the linked claims), as [`Engine::settle_one`] and
    /// [`Engine::settle_one_in_group`] keep it: a member's windows take its last claim first.
    pub(super) fn carry_out<'k>(
        &self,
        carried: &mut Carried<'_>,
        first: usize,
        member_of: &dyn Fn(usize) -> (&'k [u8], &'k [u8]),
        state: &mut Running,
        ledger: Option<Ledger<'k>>,
    ) {
        match ledger {
            None => {
                self.flush_windows(state);
                let id = id(member_of(first).0);
                carried.kept.push(Kept { group: false, id, state: self.save(state) });
            }
            Some(ledger) => {
                for (member, mut running) in ledger.members {
                    self.flush_windows(&mut running);
                    let state = self.save(&running);
                    carried.kept.push(Kept { group: false, id: id(member), state });
                }
                for (group, running) in ledger.groups {
                    let state = self.save(&running);
                    carried.kept.push(Kept { group: true, id: id(group), state });
                }
            }
        }
    }
}
