//! Rolling look-back and episode windows: the member's earlier claims the engine keeps for the
//! accumulators declared `rolling N days|months` or `episode N days [after claim.field]`.
//!
//! The backends fold these accumulators as they fold any other; the engine decides, before each
//! claim, the value they read. Entering a claim, the engine first takes the previous claim's
//! contribution from its slot (each window's `seen` flag was cleared before that claim, so the
//! flag says whether the claim qualified, and the slot holds the window's value plus the claim's
//! contribution for `count` and `sum`, the claim's own value for `min` and `max`), then writes
//! each window's value for the new claim's date into its slot: a rolling window folds the kept
//! claims dated in its span (older ones are dropped); an episode starts again at zero when the
//! claim comes `gap` days or more after the end of the last qualifying claim. A claim that
//! fails leaves its slot as it was and its flag cleared, so it contributes nothing.
//!
//! A policy without such windows has no [`Windows`] at all: its members' claims pay one test of
//! an `Option` each.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use settle_lang::date::{Date, DateUnit};
use settle_lang::ir::{FoldKind, Policy, Type, Window};
use settle_lang::limits::limit;

/// One window accumulator's kept claims, saved with the member's state: each qualifying claim's
/// date and contribution, formatted as output shows them, for a rolling window; the running
/// total and the episode's first and last dates for an episode.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WindowState {
    /// A rolling window's qualifying claims still in reach: `(date, contribution)`, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<(String, String)>,
    /// An episode's total so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
    /// The date of the episode's first qualifying claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub began: Option<String>,
    /// The end of the episode's last qualifying claim, from which the gap is counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_end: Option<String>,
}

/// One accumulator with a window of kept claims.
#[derive(Debug, Clone)]
struct Kept {
    /// Its index among the policy's accumulators.
    index: usize,
    window: Window,
    fold: FoldKind,
    ty: Type,
    /// A rolling window's qualifying claims: date and contribution (scaled), oldest first.
    claims: VecDeque<(Date, i64)>,
    /// An episode's total, whether any claim qualified, its first date and last end.
    total: i64,
    seen: bool,
    began: Option<Date>,
    last_end: Option<Date>,
    /// The value written into the slot for the claim being settled.
    base: i64,
    /// The end of the claim being settled (for an episode).
    end: Option<Date>,
}

/// Why a window has no value for a claim: its total leaves the bounds of its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overflow {
    /// The accumulator's index.
    pub index: usize,
}

/// The kept claims of every window accumulator of a member.
#[derive(Debug, Clone)]
pub(crate) struct Windows {
    kept: Vec<Kept>,
    /// The date of the claim whose contribution is still in the slots.
    pending: Option<Date>,
}

/// An accumulator's slot, wherever the backend keeps it: its value scaled and whether it has
/// taken a claim.
pub(crate) trait Slots {
    /// Accumulator `i`'s value and flag.
    fn get(&self, i: usize) -> Option<(i64, bool)>;
    /// Set accumulator `i`'s value and flag.
    fn set(&mut self, i: usize, value: i64, seen: bool);
}

impl Windows {
    /// The windows of `policy`'s accumulators; `None` when it has none, so that such a policy
    /// pays nothing for them.
    pub(crate) fn new(policy: &Policy) -> Option<Self> {
        let kept: Vec<Kept> = policy
            .accumulators
            .iter()
            .enumerate()
            .filter(|(_, a)| a.window.keeps_history())
            .map(|(index, a)| Kept {
                index,
                window: a.window,
                fold: a.fold,
                ty: a.ty,
                claims: VecDeque::new(),
                total: 0,
                seen: false,
                began: None,
                last_end: None,
                base: 0,
                end: None,
            })
            .collect();
        (!kept.is_empty()).then_some(Windows { kept, pending: None })
    }

    /// A new member: nothing kept.
    pub(crate) fn clear(&mut self) {
        self.pending = None;
        for k in &mut self.kept {
            k.claims.clear();
            (k.total, k.seen, k.began, k.last_end, k.base, k.end) = (0, false, None, None, 0, None);
        }
    }

    /// Take the contribution of the claim last entered from the slots.
    pub(crate) fn flush(&mut self, slots: &dyn Slots) {
        let Some(date) = self.pending.take() else { return };
        for k in &mut self.kept {
            let Some((next, true)) = slots.get(k.index) else { continue };
            let contribution = match k.fold {
                FoldKind::Count | FoldKind::Sum => next.wrapping_sub(k.base),
                FoldKind::Min | FoldKind::Max => next,
            };
            match k.window {
                Window::Episode { .. } => {
                    k.total = combine(k.fold, k.total, contribution, k.seen);
                    k.seen = true;
                    k.began = k.began.or(Some(date));
                    let end = k.end.unwrap_or(date);
                    k.last_end = Some(k.last_end.map_or(end, |e| e.max(end)));
                }
                _ => k.claims.push_back((date, contribution)),
            }
        }
    }

    /// Enter a claim dated `date` (`end(field)`: the claim's date field, for an episode ending
    /// on one): the previous claim's contribution taken, then each window's value for this
    /// claim written into its slot, its flag cleared.
    pub(crate) fn enter(
        &mut self,
        date: Date,
        end: &dyn Fn(usize) -> Option<Date>,
        slots: &mut dyn Slots,
    ) -> Result<(), Overflow> {
        self.flush(slots);
        for k in &mut self.kept {
            let value = match k.window {
                Window::Rolling { length, unit } => {
                    let from = span_start(date, length, unit);
                    while k.claims.front().is_some_and(|(d, _)| *d < from) {
                        k.claims.pop_front();
                    }
                    rolling_value(k).ok_or(Overflow { index: k.index })?
                }
                Window::Episode { gap, end: field } => {
                    let lapsed = k
                        .last_end
                        .is_some_and(|e| i64::from(date.0) - i64::from(e.0) >= i64::from(gap));
                    if lapsed {
                        (k.total, k.seen, k.began, k.last_end) = (0, false, None, None);
                    }
                    k.end = field.and_then(end);
                    k.total
                }
                _ => continue,
            };
            k.base = value;
            slots.set(k.index, value, false);
        }
        self.pending = Some(date);
        Ok(())
    }

    /// What `explain` says a window spans for a claim dated `date`, for accumulator `index`.
    pub(crate) fn span(&self, index: usize, date: Date) -> Option<String> {
        let k = self.kept.iter().find(|k| k.index == index)?;
        Some(match k.window {
            Window::Rolling { length, unit } => {
                format!("{} from {}", k.window.declared(), span_start(date, length, unit))
            }
            Window::Episode { gap, .. } => match k.began {
                Some(began) => format!("episode since {began}, ends after a gap of {gap} days"),
                None => format!("episode, none open; ends after a gap of {gap} days"),
            },
            _ => return None,
        })
    }

    /// Each window's kept claims by accumulator index, for the saved state.
    pub(crate) fn save(&self, policy: &Policy) -> Vec<(usize, WindowState)> {
        let text = |ty, x: i64| {
            crate::value::Value::from_scaled(ty, x)
                .map(|v| crate::field::format_value(policy, ty, &v))
                .unwrap_or_default()
        };
        self.kept
            .iter()
            .map(|k| {
                let state = match k.window {
                    Window::Episode { .. } => WindowState {
                        claims: Vec::new(),
                        total: k.seen.then(|| text(k.ty, k.total)),
                        began: k.began.map(|d| d.to_string()),
                        last_end: k.last_end.map(|d| d.to_string()),
                    },
                    _ => WindowState {
                        claims: k
                            .claims
                            .iter()
                            .map(|(d, x)| (d.to_string(), text(k.ty, *x)))
                            .collect(),
                        ..WindowState::default()
                    },
                };
                (k.index, state)
            })
            .collect()
    }

    /// Read back what [`Windows::save`] wrote for accumulator `index`; a claim or total that
    /// does not read as its type is left out.
    pub(crate) fn load(&mut self, policy: &Policy, index: usize, state: &WindowState) {
        let Some(k) = self.kept.iter_mut().find(|k| k.index == index) else { return };
        let scaled = |text: &str| {
            crate::field::parse_value(policy, k.ty, text).ok().and_then(|v| v.to_scaled())
        };
        k.claims =
            state.claims.iter().filter_map(|(d, x)| Some((Date::parse(d)?, scaled(x)?))).collect();
        if let Some(total) = state.total.as_deref().and_then(scaled) {
            (k.total, k.seen) = (total, true);
        }
        k.began = state.began.as_deref().and_then(Date::parse);
        k.last_end = state.last_end.as_deref().and_then(Date::parse);
    }
}

/// The first day of a rolling window of `length` days or calendar months ending on `date`:
/// `rolling 30 days` spans the claim's date and the 29 days before it; `rolling 12 months` the
/// claim's calendar month and the 11 before it.
pub fn span_start(date: Date, length: u32, unit: DateUnit) -> Date {
    let back = i64::from(length) - 1;
    match unit {
        DateUnit::Days => date.shift(-back, DateUnit::Days),
        DateUnit::Months => {
            let (year, month, _) = date.ymd();
            Date::from_ymd(year, month, 1).and_then(|first| first.shift(-back, DateUnit::Months))
        }
    }
    .unwrap_or(Date(i32::MIN))
}

/// A rolling window's value: its kept claims folded, `None` beyond its type's bounds.
fn rolling_value(k: &Kept) -> Option<i64> {
    let mut claims = k.claims.iter().map(|(_, x)| *x);
    match k.fold {
        FoldKind::Count | FoldKind::Sum => {
            let total = claims.try_fold(0i64, i64::checked_add)?;
            limit(k.ty).is_none_or(|l| total.abs() <= l).then_some(total)
        }
        FoldKind::Min => Some(claims.min().unwrap_or(0)),
        FoldKind::Max => Some(claims.max().unwrap_or(0)),
    }
}

/// One contribution folded into an episode's total (`seen`: whether it has taken one before).
fn combine(fold: FoldKind, total: i64, x: i64, seen: bool) -> i64 {
    match fold {
        FoldKind::Count | FoldKind::Sum => total.saturating_add(x),
        FoldKind::Min if seen => total.min(x),
        FoldKind::Max if seen => total.max(x),
        FoldKind::Min | FoldKind::Max => x,
    }
}

/// The slots of the closures and the compiled code.
impl Slots for settle_compiler::Frame {
    fn get(&self, i: usize) -> Option<(i64, bool)> {
        Some((*self.accs.get(i)?, *self.seen.get(i)? != 0))
    }

    fn set(&mut self, i: usize, value: i64, seen: bool) {
        if let (Some(slot), Some(flag)) = (self.accs.get_mut(i), self.seen.get_mut(i)) {
            (*slot, *flag) = (value, i64::from(seen));
        }
    }
}

/// The slots of the reference interpreter: values of the accumulators' types.
pub(crate) struct Values<'a> {
    pub policy: &'a Policy,
    pub values: &'a mut [crate::value::Value],
    pub seen: &'a mut [bool],
}

impl Slots for Values<'_> {
    fn get(&self, i: usize) -> Option<(i64, bool)> {
        Some((self.values.get(i)?.to_scaled()?, *self.seen.get(i)?))
    }

    fn set(&mut self, i: usize, value: i64, seen: bool) {
        let ty = self.policy.accumulators.get(i).map(|a| a.ty);
        let v = ty.and_then(|ty| crate::value::Value::from_scaled(ty, value));
        if let (Some(v), Some(slot), Some(flag)) = (v, self.values.get_mut(i), self.seen.get_mut(i))
        {
            (*slot, *flag) = (v, seen);
        }
    }
}
