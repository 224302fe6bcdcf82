//! Every diagnostic a policy author meets, rendered as they see it (without colour).
//!
//! Each case is a realistic mistake in a small policy. The snapshot shows the source and what
//! `settle check` prints for it; a case that stops producing its diagnostic fails.

use std::collections::HashMap;

use settle_lang::{Code, Loader, check_bytes, check_with};

/// The start of most cases: a header, two enums and the claim.
const PRELUDE: &str = "policy test.case
enum Level { level1, level2, level3 }
enum Group { none, minimum_allowance, extreme_poverty }
input claim {
    id: text
    member: text
    date: date
    level: Level
    group: Group
    total: money
    self_paid: money
}
yearly admissions = count()
";

/// A payer chain to put after the case's lines when the case needs none of its own.
const CHAIN: &str = "
stage basic (pay: money) {
    pay = claim.total * 90%
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay
}
balance claim.total = basic.pay + patient.out_of_pocket
";

/// In-memory base policies for `extends`.
struct Bases(HashMap<&'static str, &'static str>);

impl Loader for Bases {
    fn load(&mut self, _from: &str, path: &str) -> Result<(String, String), String> {
        self.0
            .get(path)
            .map(|t| (path.to_string(), (*t).to_string()))
            .ok_or_else(|| format!("no file `{path}`"))
    }
}

fn render(source: &str, bases: &[(&'static str, &'static str)]) -> (String, Vec<Code>) {
    let mut loader = Bases(bases.iter().copied().collect());
    let checked = check_with("policy.settle", source, &mut loader);
    let codes = checked.problems.list.iter().map(|p| p.code).collect();
    (checked.problems.render_plain(), codes)
}

/// Snapshot the diagnostics of `source` and assert that `code` is among them.
macro_rules! case {
    ($name:ident, $code:ident, $source:expr) => {
        case!($name, $code, $source, &[]);
    };
    ($name:ident, $code:ident, $source:expr, $bases:expr) => {
        #[test]
        fn $name() {
            let source: String = $source;
            let (rendered, codes) = render(&source, $bases);
            assert!(
                codes.contains(&Code::$code),
                "expected {:?} among {codes:?}\n{rendered}",
                Code::$code
            );
            insta::assert_snapshot!(format!(
                "----- SOURCE\n{source}\n----- DIAGNOSTICS\n{rendered}"
            ));
        }
    };
}

fn with_chain(lines: &str) -> String {
    format!("{PRELUDE}{lines}{CHAIN}")
}

fn alone(lines: &str) -> String {
    format!("{PRELUDE}{lines}")
}

// ----- names

case!(
    typo_in_a_parameter_name,
    NameUnknown,
    with_chain(
        "
param deductible: money = 450
let due = max(claim.total - deductable, 0)
"
    )
);

case!(
    typo_in_an_enum_variant,
    NameUnknownVariant,
    with_chain(
        "
let top = claim.level == levl3
"
    )
);

case!(
    variant_of_another_enum,
    NameUnknownVariant,
    with_chain(
        "
let poor = claim.group == level1
"
    )
);

case!(
    typo_in_an_input_field,
    NameUnknownField,
    with_chain(
        "
let range = claim.total - claim.self_payed
"
    )
);

case!(
    typo_in_a_stage_output,
    NameUnknownField,
    alone(
        "
stage basic (pay: money) {
    pay = claim.total * 90%
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pya
}
balance claim.total = basic.pay + patient.out_of_pocket
"
    )
);

case!(
    unknown_type,
    NameUnknownType,
    with_chain(
        "
param cap: decimal = 80_000
"
    )
);

case!(
    unknown_function,
    NameUnknownFunction,
    with_chain(
        "
let least = mn(claim.total, 1_000)
"
    )
);

case!(
    ambiguous_variant,
    NameAmbiguousVariant,
    format!(
        "policy test.case
enum Group {{ none, minimum_allowance }}
enum Referral {{ none, upward, downward }}
input claim {{ id: text, member: text, date: date, group: Group, referral: Referral, total: money }}
let plain = none
{CHAIN}"
    )
);

case!(
    duplicate_definition,
    NameDuplicate,
    with_chain(
        "
param cap: money = 80_000
param cap: money = 150_000
"
    )
);

case!(
    reserved_word_as_a_name,
    SyntaxUnexpected,
    with_chain(
        "
let source = claim.total
"
    )
);

// ----- units and types

case!(
    money_plus_rate,
    TypeUnits,
    with_chain(
        "
let wrong = claim.total + 10%
"
    )
);

case!(
    money_times_money,
    TypeUnits,
    with_chain(
        "
let wrong = claim.total * claim.self_paid
"
    )
);

case!(
    proportion_divided_by_a_rate,
    TypeProportionDivisor,
    with_chain(
        "
param room: money = 1_234.57
let wrong = claim.total * room / 90%
"
    )
);

case!(
    ratio_of_amounts_rounded_before_it_multiplies,
    ArithRoundedRatio,
    format!(
        "{PRELUDE}
param room: money = 1_234.57
stage basic (pay: money) {{
    pay = claim.total - claim.total * (room / claim.self_paid)
}}
stage patient (out_of_pocket: money) {{
    out_of_pocket = claim.total - basic.pay
}}
balance claim.total = basic.pay + patient.out_of_pocket
"
    )
);

case!(
    rate_times_rate_used_as_money,
    TypeMismatch,
    with_chain(
        "
param ratio: rate = 90%
rule share: money
    default ratio * 50%
"
    )
);

case!(
    money_compared_with_a_date,
    TypeCompare,
    with_chain(
        "
let late = claim.total > 2023-05-01
"
    )
);

case!(
    percent_sign_forgotten_in_a_parameter,
    TypeRateLiteral,
    with_chain(
        "
param ratio: rate = 85
"
    )
);

case!(
    percent_sign_forgotten_in_a_comparison,
    TypeRateLiteral,
    with_chain(
        "
param ratio: rate = 85%
let generous = ratio > 80
"
    )
);

case!(
    count_added_to_money,
    TypeUnits,
    with_chain(
        "
let wrong = claim.total + admissions
"
    )
);

case!(
    condition_that_is_not_true_or_false,
    TypeCondition,
    with_chain(
        "
rule due: money
    default 450
    when claim.total -> 0
"
    )
);

case!(
    table_used_as_a_value,
    TypeNotAValue,
    with_chain(
        "
param deductible: money by Level = { level1: 200, level2: 500, level3: 900 }
let due = deductible + 1
"
    )
);

case!(
    table_with_the_wrong_number_of_keys,
    TypeKeyCount,
    with_chain(
        "
param deductible: money by Level = { level1: 200, level2: 500, level3: 900 }
let due = deductible[claim.level, claim.group]
"
    )
);

case!(
    table_indexed_by_the_wrong_enum,
    TypeMismatch,
    with_chain(
        "
param deductible: money by Level = { level1: 200, level2: 500, level3: 900 }
let due = deductible[claim.group]
"
    )
);

case!(
    indexing_something_that_is_no_table,
    TypeNotATable,
    with_chain(
        "
param cap: money = 80_000
let due = cap[claim.level]
"
    )
);

case!(
    sum_without_a_list,
    TypeNotAFold,
    with_chain(
        "
let spent = sum(claim.total)
"
    )
);

case!(
    yearly_that_is_not_a_fold,
    TypeNotAFold,
    with_chain(
        "
yearly paid = basic.pay
"
    )
);

case!(
    in_on_an_amount,
    TypeMismatch,
    with_chain(
        "
let small = claim.total in {100, 200}
"
    )
);

case!(
    scale_argument_that_is_no_scale,
    TypeNotAScale,
    with_chain(
        "
param cap: money = 80_000
let part = segmented(cap, claim.total)
"
    )
);

// ----- tables, scales, dates

case!(
    table_missing_a_level,
    TableMissingKeys,
    with_chain(
        "
param deductible: money by Level
    from 2021-07-01 { level1: 200, level2: 500 }
"
    )
);

case!(
    table_with_a_key_twice,
    TableDuplicateKey,
    with_chain(
        "
param deductible: money by Level = { level1: 200, level2: 500, level2: 550, level3: 900 }
"
    )
);

case!(
    table_with_an_unknown_key,
    NameUnknownVariant,
    with_chain(
        "
param deductible: money by Level = { level1: 200, level2: 500, levle3: 900 }
"
    )
);

case!(
    table_given_a_single_value,
    TableShape,
    with_chain(
        "
param deductible: money by Level = 450
"
    )
);

case!(
    wildcard_that_matches_nothing,
    TableUselessWildcard,
    with_chain(
        "
param deductible: money by Level = { level1: 200, level2: 500, level3: 900, _: 1_000 }
let due = deductible[claim.level]
"
    )
);

case!(
    scale_with_a_gap,
    ScaleGap,
    with_chain(
        "
param critical: scale = { 0 .. 100_000: 60%, 120_000 ..: 70% }
"
    )
);

case!(
    scale_with_overlapping_brackets,
    ScaleOverlap,
    with_chain(
        "
param critical: scale = { 0 .. 100_000: 60%, 90_000 ..: 70% }
"
    )
);

case!(
    scale_with_decreasing_bounds,
    ScaleDecreasing,
    with_chain(
        "
param critical: scale = { 0 .. 100_000: 60%, 100_000 .. 50_000: 70%, 50_000 ..: 80% }
"
    )
);

case!(
    scale_by_level_missing_a_level,
    TableMissingKeys,
    with_chain(
        "
param critical: scale by Level = {
    level1: { 0 .. 100_000: 60%, 100_000 ..: 70% }
    level2: { 0 ..: 65% }
}
"
    )
);

case!(
    scale_by_level_with_a_value_for_a_level,
    TableShape,
    with_chain(
        "
param critical: scale by Level = {
    level1: { 0 .. 100_000: 60%, 100_000 ..: 70% }
    _: 65%
}
"
    )
);

case!(
    scale_bound_naming_a_rate,
    ScaleBound,
    with_chain(
        "
param share: rate = 10%
param critical: scale = { 0 .. share: 0%, share ..: 60% }
"
    )
);

case!(
    scale_bound_misspelt,
    ScaleBound,
    with_chain(
        "
param threshold: money = 15_000
param critical: scale = { 0 .. treshold: 0%, treshold ..: 60% }
"
    )
);

case!(
    scale_bound_before_its_parameter,
    ScaleBoundNotInForce,
    with_chain(
        "
param threshold: money
    from 2024-01-01 18_000
param critical: scale
    from 2023-01-01 { 0 .. threshold: 0%, threshold ..: 60% }
"
    )
);

case!(
    scale_bound_passing_the_next_on_a_later_date,
    ScaleDecreasing,
    with_chain(
        "
param threshold: money
    from 2023-01-01 15_000
    from 2024-01-01 60_000
param critical: scale by Level
    from 2023-01-01 {
        level1: { 0 .. threshold: 0%, threshold .. 50_000: 60%, 50_000 ..: 70% }
        _: { 0 .. threshold: 0%, threshold ..: 60% }
    }
"
    )
);

case!(
    scale_by_level_applied_without_a_level,
    ScaleKey,
    alone(
        "
param critical: scale by Level = { level1: { 0 ..: 60% }, _: { 0 ..: 50% } }
stage basic (pay: money) {
    pay = segmented(critical, claim.total)
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay
}
balance claim.total = basic.pay + patient.out_of_pocket
"
    )
);

case!(
    scale_by_level_chosen_by_a_group,
    ScaleKey,
    alone(
        "
param critical: scale by Level = { level1: { 0 ..: 60% }, _: { 0 ..: 50% } }
stage basic (pay: money) {
    pay = segmented(critical[claim.group], claim.total)
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay
}
balance claim.total = basic.pay + patient.out_of_pocket
"
    )
);

case!(
    scale_not_starting_at_zero,
    ScaleStart,
    with_chain(
        "
param critical: scale = { 15_000 .. 100_000: 60%, 100_000 ..: 70% }
"
    )
);

case!(
    scale_bracket_after_the_open_one,
    ScaleOpenBracket,
    with_chain(
        "
param critical: scale = { 0 ..: 60%, 100_000 .. 200_000: 70% }
"
    )
);

case!(
    effective_dates_out_of_order,
    ParamDateOrder,
    with_chain(
        "
param cap: money
    from 2021-07-01 150_000
    from 2021-01-01 80_000
"
    )
);

case!(
    effective_date_twice,
    ParamDuplicateDate,
    with_chain(
        "
param cap: money
    from 2021-07-01 80_000
    from 2021-07-01 150_000
"
    )
);

case!(
    a_day_that_does_not_exist,
    SyntaxBadDate,
    with_chain(
        "
param cap: money
    from 2023-02-30 150_000
"
    )
);

case!(
    medical_year_starting_on_no_day,
    SyntaxBadDate,
    format!("{PRELUDE}year starts 13-01\n{CHAIN}")
);

case!(
    amount_with_three_decimals,
    SyntaxBadNumber,
    with_chain(
        "
param fee: money = 12.345
let due = claim.total + fee
"
    )
);

case!(
    base_enum_declared_again,
    ExtendsRedeclared,
    "policy weihai.resident
extends \"shandong.settle\"
enum Level { primary, county, city, province }
"
    .to_string(),
    &[("shandong.settle", BASE)]
);

// ----- rules and exceptions

case!(
    exceptions_that_both_apply,
    RuleConflict,
    with_chain(
        "
param deductible: money = 450
rule due: money
    default deductible
    when admissions >= 1 -> deductible * 50%
    when admissions >= 2 -> 0
"
    )
);

case!(
    arm_taken_by_the_arms_above,
    RuleShadowedArm,
    with_chain(
        "
param deductible: money = 450
rule due: money
    default deductible
    when admissions >= 1 -> deductible * 50%
    else when admissions >= 2 -> 0
"
    )
);

/// Arms written `else when` in a document's order overlap as written, but apply first match:
/// no conflict is reported, and a claim takes the first arm that fits.
#[test]
fn first_match_arms_do_not_conflict() {
    let source = with_chain(
        "
param deductible: money = 450
rule due: money
    default deductible
    when admissions >= 2 -> 0
    else when admissions >= 1 -> deductible * 50%
    else when claim.level in {level1, level2} -> deductible * 80%
test \"arms in order\" {
    claim a { member: \"m1\", date: 2021-01-01, level: level1, group: none, total: 100 }
    claim b { member: \"m1\", date: 2021-01-02, level: level1, group: none, total: 100 }
    claim c { member: \"m1\", date: 2021-01-03, level: level1, group: none, total: 100 }
    expect a.due == 360 and b.due == 225 and c.due == 0
}
",
    );
    let (rendered, codes) = render(&source, &[]);
    assert!(
        !codes.contains(&Code::RuleConflict) && !codes.contains(&Code::RuleShadowedArm),
        "{rendered}"
    );
}

case!(
    exceptions_on_enum_values_that_overlap,
    RuleConflict,
    with_chain(
        "
rule ratio: rate
    default 80%
    when claim.level == level1 -> 90%
    when claim.level in {level1, level2} -> 85%
"
    )
);

case!(
    exception_that_can_never_apply,
    RuleNeverFires,
    with_chain(
        "
rule due: money
    default 450
    when admissions < 0 -> 0
"
    )
);

case!(
    exception_with_contradictory_bounds,
    RuleNeverFires,
    with_chain(
        "
rule due: money
    default 450
    when claim.total > 10_000 and claim.total < 5_000 -> 0
"
    )
);

// ----- stages and order

case!(
    stage_reading_a_later_stage,
    OrderLaterStage,
    alone(
        "
stage basic (pay: money) {
    pay = claim.total - patient.out_of_pocket
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total * 10%
}
balance claim.total = basic.pay + patient.out_of_pocket
"
    )
);

case!(
    stage_reading_a_later_stage_through_a_let,
    OrderLaterStage,
    alone(
        "
let left = claim.total - patient.out_of_pocket
stage basic (pay: money) {
    pay = left
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total * 10%
}
balance claim.total = basic.pay + patient.out_of_pocket
"
    )
);

case!(
    output_never_set,
    StageOutputUnset,
    alone(
        "
stage basic (pay: money, over_cap: money) {
    pay = claim.total * 90%
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay
}
balance claim.total = basic.pay + patient.out_of_pocket
"
    )
);

case!(
    output_set_twice,
    StageOutputTwice,
    alone(
        "
stage basic (pay: money) {
    pay = claim.total * 90%
    pay = claim.total * 80%
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay
}
balance claim.total = basic.pay + patient.out_of_pocket
"
    )
);

case!(
    setting_an_undeclared_output,
    StageNotAnOutput,
    alone(
        "
stage basic (pay: money) {
    pay = claim.total * 90%
    paid = pay
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay
}
balance claim.total = basic.pay + patient.out_of_pocket
"
    )
);

case!(
    reading_an_output_before_it_is_set,
    StageReadBeforeSet,
    alone(
        "
stage basic (pay: money, over_cap: money) {
    over_cap = max(claim.total - pay, 0)
    pay = min(claim.total, 80_000)
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay
}
balance claim.total = basic.pay + patient.out_of_pocket
"
    )
);

case!(
    lets_defined_in_terms_of_each_other,
    OrderCycle,
    with_chain(
        "
let a = b + 1
let b = a + 1
"
    )
);

case!(
    rules_defined_in_terms_of_each_other,
    OrderCycle,
    with_chain(
        "
rule a: money
    default b
rule b: money
    default a
"
    )
);

case!(
    no_balance_line,
    PolicyMissingBalance,
    alone(
        "
stage basic (pay: money) {
    pay = claim.total * 90%
}
"
    )
);

case!(
    balance_share_that_is_no_output,
    BalanceTerm,
    alone(
        "
stage basic (pay: money) {
    pay = claim.total * 90%
}
balance claim.total = basic.pay + claim.self_paid
"
    )
);

// ----- warnings

case!(
    parameter_never_used,
    UnusedParam,
    with_chain(
        "
param tcm_bonus: rate = 10%
"
    )
);

case!(
    rule_never_used,
    UnusedRule,
    with_chain(
        "
rule due: money
    default 450
"
    )
);

// ----- header

case!(
    no_policy_line,
    PolicyMissingHeader,
    format!("input claim {{ id: text, member: text, date: date, total: money }}\n{CHAIN}")
);

case!(
    no_input_record,
    PolicyMissingInput,
    "policy test.case\nparam cap: money = 80_000\n".to_string()
);

case!(
    input_without_a_member,
    PolicyMissingKeyField,
    format!("policy test.case\ninput claim {{ id: text, date: date, total: money }}\n{CHAIN}")
);

case!(unknown_rounding_mode, PolicyUnknownRounding, format!("{PRELUDE}rounding half_upp\n{CHAIN}"));

case!(dated_by_an_amount, PolicyBadDatedField, format!("{PRELUDE}dated by claim.total\n{CHAIN}"));

// ----- composition

const BASE: &str = "policy shandong.resident
enum Level { primary, county, city }
input claim { id: text, member: text, date: date, level: Level, total: money }
param ratio: rate by Level = { primary: 80%, county: 70%, city: 60% }
stage basic (pay: money) {
    pay = claim.total * ratio[claim.level]
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay
}
balance claim.total = basic.pay + patient.out_of_pocket
";

case!(
    override_with_another_type,
    ExtendsOverrideType,
    "policy weihai.resident
extends \"shandong.settle\"
override param ratio: money by Level = { primary: 85, county: 70, city: 60 }
"
    .to_string(),
    &[("shandong.settle", BASE)]
);

case!(
    redefinition_without_override,
    ExtendsNeedsOverride,
    "policy weihai.resident
extends \"shandong.settle\"
param ratio: rate by Level = { primary: 85%, county: 70%, city: 60% }
"
    .to_string(),
    &[("shandong.settle", BASE)]
);

case!(
    override_of_nothing,
    ExtendsNothingToOverride,
    "policy weihai.resident
extends \"shandong.settle\"
override param ration: rate by Level = { primary: 85%, county: 70%, city: 60% }
"
    .to_string(),
    &[("shandong.settle", BASE)]
);

/// A base whose ratio has dated values, for values added by a derived policy.
const DATED_BASE: &str = "policy shandong.resident
enum Level { primary, county, city }
input claim { id: text, member: text, date: date, level: Level, total: money }
param ratio: rate by Level
    from 2021-01-01 { primary: 80%, county: 70%, city: 60% }
    from 2023-05-01 { primary: 85%, county: 70%, city: 60% }
param cap: money = 80_000
stage basic (pay: money) {
    pay = min(claim.total * ratio[claim.level], cap)
}
stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay
}
balance claim.total = basic.pay + patient.out_of_pocket
";

case!(
    value_added_on_a_date_the_base_has,
    ExtendsAddedDate,
    "policy weihai.resident
extends \"shandong.settle\"
override param ratio
    from 2023-05-01 { primary: 90%, county: 70%, city: 60% }
"
    .to_string(),
    &[("shandong.settle", DATED_BASE)]
);

case!(
    value_added_before_the_base_starts,
    ExtendsAddedBeforeFirst,
    "policy weihai.resident
extends \"shandong.settle\"
override param ratio
    from 2020-01-01 { primary: 75%, county: 65%, city: 55% }
"
    .to_string(),
    &[("shandong.settle", DATED_BASE)]
);

case!(
    value_added_to_an_undated_parameter,
    ExtendsAddedUndated,
    "policy weihai.resident
extends \"shandong.settle\"
override param cap
    from 2024-01-01 100_000
"
    .to_string(),
    &[("shandong.settle", DATED_BASE)]
);

case!(
    value_added_with_a_missing_key,
    TableMissingKeys,
    "policy weihai.resident
extends \"shandong.settle\"
override param ratio
    from 2024-01-01 { primary: 90%, county: 75% }
"
    .to_string(),
    &[("shandong.settle", DATED_BASE)]
);

case!(
    value_added_of_another_type,
    TypeRateLiteral,
    "policy weihai.resident
extends \"shandong.settle\"
override param ratio
    from 2024-01-01 { primary: 90, county: 75%, city: 60% }
"
    .to_string(),
    &[("shandong.settle", DATED_BASE)]
);

case!(
    value_added_to_values_added_by_the_base,
    ExtendsAddedTwice,
    "policy weihai.city
extends \"weihai.settle\"
override param ratio
    from 2025-01-01 { primary: 95%, county: 75%, city: 65% }
"
    .to_string(),
    &[
        ("shandong.settle", DATED_BASE),
        (
            "weihai.settle",
            "policy weihai.resident\nextends \"shandong.settle\"\noverride param ratio\n    from 2024-01-01 { primary: 90%, county: 70%, city: 60% }\n"
        )
    ]
);

case!(
    value_added_to_nothing,
    ExtendsNothingToOverride,
    "policy weihai.resident
extends \"shandong.settle\"
override param ration
    from 2024-01-01 { primary: 90%, county: 70%, city: 60% }
"
    .to_string(),
    &[("shandong.settle", DATED_BASE)]
);

case!(
    stage_placed_before_an_unknown_stage,
    StageUnknownPlace,
    "policy weihai.resident
extends \"shandong.settle\"
stage assistance before patinet (pay: money) {
    pay = 0
}
"
    .to_string(),
    &[("shandong.settle", BASE)]
);

/// Stages placed before the same base stage run in the order written, just before it.
#[test]
fn stages_placed_before_one_stage_keep_their_written_order() {
    let source = "policy weihai.resident
extends \"shandong.settle\"
stage first_aid before patient (pay: money) {
    pay = 0
}
stage second_aid before patient (pay: money) {
    pay = 0
}
override stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay - first_aid.pay - second_aid.pay
}
balance claim.total = basic.pay + first_aid.pay + second_aid.pay + patient.out_of_pocket
";
    let mut loader = Bases([("shandong.settle", BASE)].into_iter().collect());
    let checked = check_with("policy.settle", source, &mut loader);
    let policy = checked.policy.unwrap_or_else(|| panic!("{}", checked.problems.render_plain()));
    let order: Vec<&str> = policy.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, ["basic", "first_aid", "second_aid", "patient"]);
}

case!(
    override_of_a_stage_given_a_place,
    StageOverridePlaced,
    "policy weihai.resident
extends \"shandong.settle\"
override stage basic before patient (pay: money) {
    pay = claim.total * 50%
}
"
    .to_string(),
    &[("shandong.settle", BASE)]
);

case!(
    stage_placed_after_the_stage_reading_it,
    OrderLaterStage,
    "policy weihai.resident
extends \"shandong.settle\"
stage assistance (pay: money) {
    pay = (claim.total - basic.pay) * 10%
}
override stage patient (out_of_pocket: money) {
    out_of_pocket = claim.total - basic.pay - assistance.pay
}
balance claim.total = basic.pay + assistance.pay + patient.out_of_pocket
"
    .to_string(),
    &[("shandong.settle", BASE)]
);

case!(
    input_field_added_twice,
    ExtendsInputField,
    "policy weihai.resident
extends \"shandong.settle\"
override input claim { low_income: bool, total: money }
"
    .to_string(),
    &[("shandong.settle", BASE)]
);

case!(
    fields_added_without_a_base,
    ExtendsNothingToOverride,
    with_chain("override input claim { low_income: bool }\n")
);

case!(
    fields_added_to_another_record,
    ExtendsNothingToOverride,
    "policy weihai.resident
extends \"shandong.settle\"
override input claims { low_income: bool }
"
    .to_string(),
    &[("shandong.settle", BASE)]
);

case!(
    base_policy_missing,
    ExtendsNotFound,
    "policy weihai.resident
extends \"shandong-2023.settle\"
"
    .to_string(),
    &[("shandong.settle", BASE)]
);

// ----- tests in the file

case!(
    test_expecting_an_unknown_claim,
    TestUnknownClaim,
    with_chain(
        "
test \"first admission\" {
    claim a { member: \"m1\", date: 2021-08-01, level: level1, group: none, total: 10_000 }
    expect b.basic.pay == 9_000
}
"
    )
);

case!(
    test_claim_with_an_unknown_field,
    NameUnknownField,
    with_chain(
        "
test \"first admission\" {
    claim a { member: \"m1\", date: 2021-08-01, level: level1, group: none, totl: 10_000 }
    expect a.basic.pay == 9_000
}
"
    )
);

case!(
    test_claim_without_a_date,
    TestMissingField,
    with_chain(
        "
test \"first admission\" {
    claim a { member: \"m1\", level: level1, group: none, total: 10_000 }
    expect a.basic.pay == 9_000
}
"
    )
);

case!(
    test_expecting_an_unknown_value,
    TestUnknownValue,
    with_chain(
        "
test \"first admission\" {
    claim a { member: \"m1\", date: 2021-08-01, level: level1, group: none, total: 10_000 }
    expect a.basic_pay == 9_000
}
"
    )
);

case!(
    test_claim_before_a_parameter,
    TestBeforeParameters,
    with_chain(
        "
param cap: money
    from 2021-01-01 80_000
let room = cap - claim.total
test \"an old claim\" {
    claim a { member: \"m1\", date: 2020-06-01, level: level1, group: none, total: 10_000 }
    expect a.room == 70_000
}
"
    )
);

case!(
    test_expectation_naming_no_claim,
    TestUnknownValue,
    with_chain(
        "
test \"first admission\" {
    claim a { member: \"m1\", date: 2021-08-01, level: level1, group: none, total: 10_000 }
    expect basic.pay == 9_000
}
"
    )
);

case!(
    test_that_cannot_fail,
    TestNoExpectation,
    with_chain(
        "
test \"first admission\" {
    claim a { member: \"m1\", date: 2021-08-01, level: level1, group: none, total: 10_000 }
}
"
    )
);

case!(
    test_claim_of_another_record,
    TestNotTheInput,
    with_chain(
        "
test \"first admission\" {
    clam a { member: \"m1\", date: 2021-08-01, level: level1, group: none, total: 10_000 }
    expect a.basic.pay == 9_000
}
"
    )
);

// ----- syntax

case!(
    unterminated_string,
    SyntaxUnterminatedString,
    with_chain(
        "
param cap: money = 80_000
    source \"Dezhou press conference 2021-07-28
"
    )
);

case!(
    unterminated_comment,
    SyntaxUnterminatedComment,
    format!("{PRELUDE}{CHAIN}\n/* the subsidy stage comes later\n")
);

case!(
    full_width_comma,
    SyntaxInvalidCharacter,
    with_chain(
        "
param deductible: money by Level = { level1: 200， level2: 500, level3: 900 }
"
    )
);

case!(
    input_block_never_closed,
    SyntaxUnexpected,
    format!(
        "policy test.case
input claim {{
    id: text
    member: text
    date: date
    total: money
let x = claim.total
{CHAIN}"
    )
);

case!(
    arrow_forgotten_in_an_exception,
    SyntaxUnexpected,
    with_chain(
        "
rule due: money
    default 450
    when admissions >= 2 0
"
    )
);

case!(
    single_equals_in_a_condition,
    SyntaxUnexpected,
    with_chain(
        "
rule due: money
    default 450
    when admissions = 2 -> 0
"
    )
);

case!(
    rule_without_default,
    SyntaxUnexpected,
    with_chain(
        "
rule due: money
    when admissions >= 2 -> 0
"
    )
);

case!(
    nesting_too_deep,
    SyntaxTooDeep,
    with_chain(&format!("let deep = {}1{}\n", "(".repeat(70), ")".repeat(70)))
);

case!(
    every_error_of_the_file_at_once,
    NameUnknown,
    with_chain(
        "
param ratio: rate = 85
let a = claim.totl
let b = deductable
rule due: money
    default 450
    when admissions = 2 -> 0
let c = claim.total + 10%
"
    )
);

/// Snapshot the diagnostics of a file given as bytes (not text, or too large to show) and
/// assert that `code` is among them; the snapshot holds the rendering only.
macro_rules! bytes_case {
    ($name:ident, $code:ident, $bytes:expr) => {
        #[test]
        fn $name() {
            let bytes: Vec<u8> = $bytes;
            let checked = check_bytes("policy.settle", &bytes, &mut settle_lang::NoLoader);
            let rendered = checked.problems.render_plain();
            let codes: Vec<Code> = checked.problems.list.iter().map(|p| p.code).collect();
            assert!(
                codes.contains(&Code::$code),
                "expected {:?} among {codes:?}\n{rendered}",
                Code::$code
            );
            insta::assert_snapshot!(rendered);
        }
    };
}

bytes_case!(invalid_utf8_is_reported_at_the_first_bad_byte, SyntaxInvalidUtf8, {
    let mut bytes = format!("{PRELUDE}{CHAIN}").into_bytes();
    bytes.extend_from_slice(b"// caf\xe9\n");
    bytes
});

bytes_case!(file_over_four_mebibytes, SyntaxTooLarge, {
    let mut text = format!("{PRELUDE}{CHAIN}");
    while text.len() <= 4 << 20 {
        text.push_str("// 说明: 起付线以上部分按比例支付 ..............................\n");
    }
    text.into_bytes()
});

case!(
    item_with_too_many_operators,
    SyntaxTooLong,
    with_chain(&format!(
        "let long = claim.total{}\n",
        format!("{}\n   ", " + 1".repeat(25)).repeat(44)
    ))
);

case!(
    enum_without_variants,
    EnumEmpty,
    with_chain(
        "
enum Scheme {}
"
    )
);

case!(two_policy_lines, PolicyDuplicateHeader, format!("policy test.other\n{PRELUDE}{CHAIN}"));

case!(
    policies_extending_each_other,
    ExtendsCycle,
    format!("policy test.city\nextends \"province.settle\"\n"),
    &[
        ("province.settle", "policy test.province\nextends \"policy.settle\"\n"),
        ("policy.settle", "policy test.city\nextends \"province.settle\"\n"),
    ]
);

case!(
    rate_from_a_sum_of_numbers,
    TypeRateLiteral,
    with_chain(
        "
let share: rate = 1 + 2
stage extra (pay: money) {
    pay = claim.total * share
}
"
    )
);

case!(
    function_with_too_few_arguments,
    TypeArity,
    with_chain(
        "
let top = min(claim.total)
"
    )
);

case!(
    let_computed_and_never_read,
    UnusedLet,
    with_chain(
        "
let spare = claim.total - claim.self_paid
"
    )
);

case!(
    test_with_two_claims_of_one_name,
    TestDuplicateClaim,
    with_chain(
        "
test \"two admissions\" {
    claim a { member: \"m1\", date: 2021-08-01, level: level1, group: none, total: 10_000 }
    claim a { member: \"m1\", date: 2021-09-01, level: level1, group: none, total: 20_000 }
    expect a.basic.pay == 9_000
}
"
    )
);

case!(
    test_without_claims,
    TestNoClaims,
    with_chain(
        "
test \"nothing settled\" {
    expect 1 == 1
}
"
    )
);

case!(
    adding_two_dates,
    TypeUnits,
    with_chain(
        "
let later = claim.date + claim.date
"
    )
);

case!(
    a_date_minus_a_bare_number,
    TypeUnits,
    with_chain(
        "
let week_before = claim.date - 7
"
    )
);

case!(
    a_length_of_time_alone,
    TypeDuration,
    with_chain(
        "
let grace = 30 days
"
    )
);

case!(
    months_added_to_an_amount,
    TypeDuration,
    with_chain(
        "
let later = claim.total + 1 month
"
    )
);

case!(
    days_counted_in_money,
    TypeMismatch,
    with_chain(
        "
let later = claim.date + claim.total days
"
    )
);

case!(
    the_year_of_an_amount,
    TypeMismatch,
    with_chain(
        "
let y = year(claim.total)
"
    )
);

case!(
    years_between_one_date,
    TypeArity,
    with_chain(
        "
let age = years_between(claim.date)
"
    )
);

case!(
    rounding_to_an_unknown_unit,
    TypeRound,
    with_chain(
        "
let rounded = round(claim.total, yen)
"
    )
);

case!(
    rounding_to_a_fraction,
    TypeRound,
    with_chain(
        "
let rounded = round(claim.total, 0.5)
"
    )
);

case!(
    rounding_by_an_unknown_mode,
    TypeRound,
    with_chain(
        "
let rounded = round(claim.total, 10, half_down)
"
    )
);

case!(
    rounding_a_rate,
    TypeMismatch,
    with_chain(
        "
let share = round(claim.self_paid / claim.total, fen)
"
    )
);

case!(
    monthly_count_declared_as_money,
    TypeMismatch,
    with_chain(
        "
monthly visits: money = count()
"
    )
);

// ----- group totals

case!(
    group_keyed_by_an_accumulator,
    GroupKey,
    with_chain(
        "
monthly by admissions household_visits: int = count()
"
    )
);

case!(
    group_keyed_by_an_amount,
    GroupKeyType,
    with_chain(
        "
monthly by claim.total spent: money = sum(claim.total)
"
    )
);

case!(
    group_keyed_by_an_enum,
    GroupKeyType,
    with_chain(
        "
yearly by claim.level level_admissions = count()
"
    )
);

case!(
    group_totals_keyed_by_two_fields,
    GroupTwoKeys,
    with_chain(
        "
monthly by claim.member visits: int = count()
yearly by claim.id bills: int = count()
"
    )
);

case!(
    group_key_on_a_rolling_total,
    GroupWindow,
    with_chain(
        "
rolling 12 months by claim.member visits: int = count()
"
    )
);

case!(
    group_keyed_by_a_misspelt_field,
    NameUnknownField,
    with_chain(
        "
monthly by claim.membr household_visits: int = count()
"
    )
);

// ----- period settlement

case!(
    aggregate_read_in_a_claims_share,
    PeriodInClaim,
    with_chain(
        "
period all_cost = sum(claim.total)
let share_of_all = claim.total / all_cost
"
    )
);

case!(
    aggregate_kept_by_a_key_that_is_no_claim_field,
    PeriodKey,
    with_chain(
        "
period cost = average(claim.total) by admissions
"
    )
);

case!(
    aggregate_kept_by_a_key_read_without_it,
    PeriodKey,
    with_chain(
        "
period cost = average(claim.total) by claim.level
case ratio: rate = claim.total / cost
"
    )
);

case!(
    count_of_cases_declared_as_money,
    PeriodUnit,
    with_chain(
        "
period cases: money = count()
"
    )
);

case!(
    sum_of_conditions_over_the_period,
    PeriodUnit,
    with_chain(
        "
period poor = sum(claim.group == extreme_poverty)
"
    )
);

case!(
    period_value_reading_a_claim,
    PeriodPhase,
    with_chain(
        "
period all_cost = sum(claim.total)
period share_of_all = claim.total / all_cost
"
    )
);

case!(
    case_value_read_in_a_period_value,
    PeriodPhase,
    with_chain(
        "
case weight: rate = 100%
period all = weight
"
    )
);

case!(
    share_by_a_name_that_is_no_column,
    PeriodShare,
    with_chain(
        "
param budget: money = 1_000_000
table hospitals by claim.level {
    cases = count()
    due = share(budget, points)
}
"
    )
);

case!(
    case_value_folded_into_an_aggregate_it_reads,
    OrderCycle,
    with_chain(
        "
period all = sum(weight)
case weight: rate = claim.total / all
"
    )
);

/// A period for the cases of tests reading it: an aggregate by a key, a case value, a period
/// value, a table kept by a text and one kept by an enum.
fn with_period(test: &str) -> String {
    with_chain(&format!(
        "
param budget: money = 1_000_000
period cost = average(claim.total) by claim.group
case ratio: rate = claim.total / cost[claim.group]
period all_cost = sum(claim.total)
table members by claim.member {{
    total = sum(claim.total)
    due = share(budget, total)
    large = total > 5_000
}}
table levels by claim.level {{
    cases = count()
}}
test \"two members share the budget\" {{
    claim a {{ member: \"m1\", date: 2024-03-01, level: level1, group: none, total: 6_000 }}
    claim b {{ member: \"m2\", date: 2024-03-02, level: level2, group: none, total: 4_000 }}
{test}}}
"
    ))
}

case!(
    test_reading_a_row_of_an_unknown_table,
    TestUnknownTable,
    with_period("    expect member[\"m1\"].due == 600_000\n")
);

case!(
    test_reading_a_row_by_a_key_of_another_type,
    PeriodKey,
    with_period("    expect members[level1].due == 600_000\n")
);

case!(
    test_reading_a_column_without_a_row,
    PeriodKey,
    with_period("    expect members.due == 1_000_000\n")
);

case!(
    test_reading_a_column_a_table_does_not_have,
    TestUnknownValue,
    with_period("    expect members[\"m1\"].dues == 600_000\n")
);

case!(
    test_adding_up_a_column_of_conditions,
    PeriodUnit,
    with_period("    expect sum(members.large) == 1\n")
);

case!(
    test_reading_a_case_value_without_its_claim,
    PeriodPhase,
    with_period("    expect ratio == 120%\n")
);

case!(
    test_reading_a_period_value_of_a_claim,
    TestUnknownValue,
    with_period("    expect a.all_cost == 10_000\n")
);

case!(
    test_claim_given_a_period_value,
    PeriodInClaim,
    with_chain(
        "
period all_cost = sum(claim.total)
test \"a claim of the period's cost\" {
    claim a { member: \"m1\", date: 2024-03-01, level: level1, group: none, total: all_cost }
    expect a.basic.pay > 0
}
"
    )
);

case!(a_rolling_window_of_no_days, WindowLength, with_chain("rolling 0 days recent = count()\n"));

case!(
    an_episode_gap_of_a_fraction,
    WindowLength,
    with_chain("episode 1.5 days stay = sum(claim.total)\n")
);

case!(a_rolling_window_in_weeks, WindowUnit, with_chain("rolling 4 weeks recent = count()\n"));

case!(
    an_episode_counted_in_months,
    WindowUnit,
    with_chain("episode 2 months stay = sum(claim.total)\n")
);

case!(
    a_rolling_window_ending_on_a_field,
    WindowEnd,
    with_chain("rolling 30 days after claim.date recent = count()\n")
);

case!(
    an_episode_ending_on_an_amount,
    WindowEnd,
    with_chain("episode 60 days after claim.total stay = sum(claim.total)\n")
);

case!(
    an_episode_ending_on_an_unknown_field,
    NameUnknownField,
    with_chain("episode 60 days after claim.discharged stay = sum(claim.total)\n")
);

#[test]
fn at_least_forty_distinct_diagnostics_are_snapshotted() {
    let source = include_str!("diagnostics.rs");
    let cases = source.matches("\ncase!(").count();
    assert!(cases >= 40, "only {cases} cases");
}

/// Every code a policy author can meet has a case above, so its rendering is reviewed.
#[test]
fn every_code_has_a_snapshot_case() {
    let source = include_str!("diagnostics.rs");
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|code| format!("{code:?}"))
        .filter(|name| {
            !source
                .split("case!(")
                .skip(1)
                .any(|case| case.split(',').nth(1).is_some_and(|code| code.trim() == name.as_str()))
        })
        .map(|name| Code::ALL.iter().find(|c| format!("{c:?}") == name).map_or("", |c| c.as_str()))
        .collect();
    assert!(missing.is_empty(), "codes without a `case!`: {missing:?}");
}

#[test]
fn every_code_is_documented() {
    let doc = include_str!("../../docs/diagnostics.md");
    for code in Code::ALL {
        assert!(
            doc.contains(&format!("`{}`", code.as_str())),
            "{code} is missing from docs/diagnostics.md"
        );
    }
}

/// pest's error detail is one switch for the whole process; a check must not depend on it, so
/// that checks running at the same time (tests, an editor, an embedding engine) each name what
/// was expected.
#[test]
fn what_was_expected_does_not_depend_on_other_parses() {
    let source = with_chain(
        "
rule due: money
    default 450
    when admissions >= 2 0
",
    );
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                pest::set_error_detail(false);
                std::thread::yield_now();
            }
        });
        let messages: Vec<String> = (0..200)
            .map(|_| {
                let checked = settle_lang::check("policy.settle", &source);
                checked.problems.list.iter().map(|p| p.message.clone()).collect()
            })
            .collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for message in messages {
            assert_eq!(message, "expected `->`, `==` or an operator, found `0`");
        }
    });
}

/// The text of `source` once the fix titled `title` of its first problem with `code` is
/// applied.
fn fixed(source: &str, code: Code, title: &str) -> String {
    let checked = check_with("policy.settle", source, &mut Bases(HashMap::new()));
    let problem = checked.problems.list.iter().find(|p| p.code == code);
    let titles: Vec<&str> =
        problem.iter().flat_map(|p| &p.fixes).map(|f| f.title.as_str()).collect();
    let fix = problem.and_then(|p| p.fixes.iter().find(|f| f.title == title));
    assert!(fix.is_some(), "no fix `{title}` for {code} among {titles:?}");
    let Some(fix) = fix else { return source.to_string() };
    assert_eq!(fix.file, 0);
    let mut text = source.to_string();
    text.replace_range(fix.span.start as usize..fix.span.end as usize, &fix.text);
    text
}

/// Each fix offered with a problem makes that problem go away, and reads as written by hand.
#[test]
fn fixes_repair_what_they_name() {
    let cases = [
        (
            Code::NameUnknown,
            "let a = claim.total\nlet b = a + deductable\nparam deductible: money = 450\n",
            "replace with `deductible`",
        ),
        (
            Code::TypeRateLiteral,
            "param ratio: rate = 85\nlet a = claim.total * ratio\n",
            "write `85%`",
        ),
        (
            Code::TableMissingKeys,
            "param d: money by Level = { level1: 450, level2: 300 }\nlet a = d[claim.level]\n",
            "add `level3` (each valued 0, to be filled in)",
        ),
        (
            Code::TableMissingKeys,
            "param d: rate by Level = {\n    level1: 90%\n    level2: 85%\n}\nlet a = claim.total * d[claim.level]\n",
            "add `level3` (each valued 0, to be filled in)",
        ),
        (
            Code::NameUnknownVariant,
            "let a = if claim.level == level4 then 1 else 2\n",
            "add `level4` to `Level`",
        ),
        (Code::UnusedLet, "let spare = claim.total\n", "remove `spare`"),
        (
            Code::UnusedRule,
            "rule spare: money\n    default 1\n    when claim.total > 5 -> 2\nlet a = claim.total\n",
            "remove `spare`",
        ),
        (
            Code::ArithRoundedRatio,
            "rule over: money\n    default claim.total - (claim.total - 0.5) * (claim.self_paid / (claim.total + 1))\nlet a = over\n",
            "write `(claim.total - 0.5) * claim.self_paid / (claim.total + 1)`",
        ),
        (Code::NameUnknownField, "let a = claim.totl\n", "replace with `total`"),
        (Code::TypeUnits, "let a = claim.date - 3\n", "write `3 days`"),
    ];
    let mut shown = String::new();
    for (code, lines, title) in cases {
        let source = with_chain(lines);
        let text = fixed(&source, code, title);
        let after = check_with("policy.settle", &text, &mut Bases(HashMap::new()));
        let codes: Vec<Code> = after.problems.list.iter().map(|p| p.code).collect();
        assert!(!codes.contains(&code), "{code} remains after `{title}`:\n{text}");
        shown.push_str(&format!("----- {title}\n"));
        for line in source.lines().filter(|l| !text.lines().any(|t| t == *l)) {
            shown.push_str(&format!("- {line}\n"));
        }
        for line in text.lines().filter(|l| !source.lines().any(|t| t == *l)) {
            shown.push_str(&format!("+ {line}\n"));
        }
    }
    insta::assert_snapshot!(shown);
}
