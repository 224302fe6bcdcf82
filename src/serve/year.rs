//! A member's year to date kept between claims: a claim dated after the member's latest settles
//! from the saved state alone, as a counter engine does, instead of replaying the year.
//!
//! The saved state is the one a replay of the member's stored claims (each under its version,
//! in the engine's order) ends with, so settling from it gives what the replay would. It is used
//! only when the new claim comes last in the engine's order (a later day, or the same day and a
//! greater id) and the state was saved under the version now served; a claim dated before the
//! latest, a reversal and a reload replay the year and save the state anew. A policy with group
//! totals keeps no state (a member's claims alone cannot settle it): its claims always replay.

use std::sync::Arc;

use serde_json::{Value as Json, json};
use settle_runtime::io::{self, Row};
use settle_runtime::{Claim, MemberState, Outcome};

use super::store::{Saved, Stored, Year};
use super::{Change, Incoming, Loaded, Problem};
use axum::http::StatusCode;

/// Whether claims of `p` can be settled from a saved state: no group totals.
pub(super) fn keeps_state(p: &Loaded) -> bool {
    p.engine.policy().accumulators.iter().all(|a| a.group.is_none())
}

/// The state `incoming` settles from without a replay, when it may: the member is new, or
/// their state was saved under `p`'s version and `incoming` comes after their latest claim.
pub(super) fn start(p: &Loaded, year: &Year, incoming: &Incoming) -> Option<MemberState> {
    if !keeps_state(p) {
        return None;
    }
    match year {
        Year::Fresh => Some(MemberState::default()),
        Year::Unknown => None,
        Year::Saved(saved) => {
            if saved.version != p.version {
                return None;
            }
            let after = saved.latest.as_ref().is_none_or(|(day, id)| {
                (p.engine.date_of(&incoming.claim).0, incoming.id.as_str()) > (*day, id.as_str())
            });
            if !after {
                return None;
            }
            serde_json::from_str(&saved.state).ok()
        }
    }
}

/// Settle `incoming`, the member's latest claim, from `state`: the change to write (the new
/// claim and the state after it), or the problem when the claim cannot be settled.
pub(super) fn settle_latest(
    p: &Loaded,
    mut state: MemberState,
    incoming: &Incoming,
) -> Result<Change, Problem> {
    let outcome = p.engine.settle_one(&incoming.claim, &mut state);
    let settlement = row(p, &incoming.claim, outcome);
    refuse_failed(&incoming.id, &settlement)?;
    let saved = save(p, Some(&incoming.claim), &state);
    Ok(Change {
        new: vec![Stored {
            id: incoming.id.clone(),
            member: incoming.member.clone(),
            body: incoming.body.clone(),
            version: p.version.clone(),
            settlement: settlement.to_string(),
        }],
        changed: Vec::new(),
        adjustments: Vec::new(),
        settled: vec![(incoming.id.clone(), settlement)],
        saved: vec![(incoming.member.clone(), saved)],
    })
}

/// A claim that settled with an error is refused, naming why.
pub(super) fn refuse_failed(id: &str, settlement: &Json) -> Result<(), Problem> {
    if settlement.get("status").and_then(Json::as_str) == Some("ok") {
        return Ok(());
    }
    let why = settlement.get("error").and_then(Json::as_str).unwrap_or("").to_string();
    Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "the claim cannot be settled", why)
        .with("id", json!(id)))
}

/// The state to save after `latest` (`None`: no claim is left) was settled under `p`; `None`
/// when it cannot be written.
pub(super) fn save(p: &Loaded, latest: Option<&Claim>, state: &MemberState) -> Option<Saved> {
    Some(Saved {
        version: p.version.clone(),
        latest: latest.map(|c| (p.engine.date_of(c).0, p.engine.id_of(c).to_string())),
        state: serde_json::to_string(state).ok()?,
    })
}

/// A claim's settlement as `settle run` writes its row in JSON Lines (without the line).
pub(super) fn row(p: &Loaded, claim: &Claim, outcome: Outcome) -> Json {
    let rows = [Row::Claim(claim.clone())];
    let mut line = Vec::new();
    if io::write_jsonl(p.engine.policy(), &rows, &[Some(outcome)], &mut line).is_err() {
        return Json::Null;
    }
    let mut row: Json = serde_json::from_slice(&line).unwrap_or(Json::Null);
    if let Some(map) = row.as_object_mut() {
        map.remove("line");
    }
    row
}

/// Settle a member's claims one at a time in the engine's order, each under its own version
/// (`under`, by claim), the year to date carried from one to the next: each claim's settlement
/// by id, and the state to save after the last.
pub(super) fn settle_in_order(
    p: &Loaded,
    under: &[Arc<Loaded>],
    claims: &[Claim],
    member: &str,
) -> (Vec<(String, Json)>, Option<Saved>) {
    let mut state = MemberState::default();
    let mut out = Vec::with_capacity(claims.len());
    let mut last = None;
    for (i, c) in p.engine.member_history(claims, member) {
        let Some(v) = under.get(i) else { continue };
        let outcome = v.engine.settle_one(c, &mut state);
        out.push((v.engine.id_of(c).to_string(), row(v, c, outcome)));
        last = Some(c);
    }
    (out, save(p, last, &state))
}
