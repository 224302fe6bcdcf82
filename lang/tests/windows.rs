//! `rolling` and `episode` windows the checker accepts, and the windows they lower to (their
//! mistakes are cases of `diagnostics.rs`).

use settle_lang::check;
use settle_lang::date::DateUnit;
use settle_lang::ir::Window;

#[test]
fn windows_of_days_and_months_and_an_episode_ending_on_a_date_check() {
    let source = "policy test.windows
input claim {
    id: text
    member: text
    date: date
    discharged: date
    days: int
    total: money
}
rolling 90 days recent = count()
rolling 12 months capped = count() where claim.total > 100
rolling 1 month paid = sum(basic.pay)
episode 60 days after claim.discharged stay: int = sum(claim.days)
episode 1 day largest = max(claim.total)
stage basic (pay: money) {
    pay = claim.total * 90%
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay
}
balance claim.total = basic.pay + patient.out_of_pocket
";
    let checked = check("policy.settle", source);
    assert!(checked.problems.list.is_empty(), "{}", checked.problems.render_plain());
    let windows: Vec<Window> = checked
        .policy
        .as_ref()
        .map(|p| p.accumulators.iter().map(|a| a.window).collect())
        .unwrap_or_default();
    assert_eq!(
        windows,
        [
            Window::Rolling { length: 90, unit: DateUnit::Days },
            Window::Rolling { length: 12, unit: DateUnit::Months },
            Window::Rolling { length: 1, unit: DateUnit::Months },
            Window::Episode { gap: 60, end: Some(3) },
            Window::Episode { gap: 1, end: None },
        ]
    );
    // As the editor's hover shows them.
    let declared: Vec<String> = windows.iter().map(|w| w.declared()).collect();
    assert_eq!(
        declared,
        [
            "rolling 90 days",
            "rolling 12 months",
            "rolling 1 month",
            "episode 60 days",
            "episode 1 day"
        ]
    );
}
