//! The impact report as one self-contained page: provenance, tables with captions and headers,
//! inline SVG charts with text alternatives; no script, no outside resource, opens offline.
//!
//! Every figure the page shows from the report sits in an element with a `data-figure` key
//! (`share:basic.pay:base`, `variant:level:level1:affected`, ...) and is written with thousands
//! separators: a test reads the page as a browser renders it and compares each one with the
//! JSON report.

use std::fmt::Write as _;

use rust_decimal::Decimal;
use settle_runtime::diff::{Impact, ShareChange};

use settle_runtime::period::compare::{Moved, TableChange};

use super::{ABSENT, MovedRows, more_or_less, moved_rows, share_label};

/// Where a report came from: the files with their SHA-256, when it was made, by which settle.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// `(role, path, SHA-256 in hex, bytes)` of the base, the reform and the claims.
    pub files: Vec<(&'static str, String, String, u64)>,
    /// When the report was made (UTC).
    pub made: String,
    /// The settle version.
    pub version: &'static str,
}

/// `text` HTML-escaped.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A decimal or whole number with thousands separators: `-1234567.89` -> `-1,234,567.89`.
fn grouped(number: &str) -> String {
    let (sign, digits) = match number.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", number),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return number.to_string();
    }
    let mut out = String::from(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// A table cell holding a figure: its key, and the figure grouped.
fn figure(key: &str, value: &str) -> String {
    format!("<td data-figure=\"{}\">{}</td>", escape(key), escape(&grouped(value)))
}

/// A header row of column headers.
fn head(columns: &[&str]) -> String {
    let cells: String =
        columns.iter().map(|c| format!("<th scope=\"col\">{}</th>", escape(c))).collect();
    format!("<thead><tr>{cells}</tr></thead>")
}

/// A bin of the histogram: claims whose change of the funds lies in `[lo, hi)` by magnitude
/// (powers of ten), on one side of zero, or exactly zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bin {
    /// The funds pay less: magnitude class `k` (`10^(k-2)` to `10^(k-1)` yuan; class 0 is
    /// under a yuan).
    Less(u32),
    Zero,
    More(u32),
}

/// The magnitude class of a non-zero change: 0 below one yuan, then one per power of ten.
fn class(v: Decimal) -> u32 {
    let mut bound = Decimal::ONE;
    let mut k = 0;
    let v = v.abs();
    while v >= bound && k < 30 {
        bound *= Decimal::TEN;
        k += 1;
    }
    k
}

/// A magnitude class's bounds as short text: `<1`, `1-10`, `10-100`, `100-1k`, ...
fn class_label(k: u32) -> String {
    let short = |p: u32| match p {
        0 => "1".to_string(),
        1 => "10".to_string(),
        2 => "100".to_string(),
        3..=5 => format!("{}k", 10u64.pow(p - 3)),
        _ => format!("{}M", 10u64.pow(p.saturating_sub(6).min(12))),
    };
    if k == 0 { "<1".to_string() } else { format!("{}-{}", short(k - 1), short(k)) }
}

impl Bin {
    fn of(v: Decimal) -> Bin {
        if v.is_zero() {
            Bin::Zero
        } else if v.is_sign_negative() {
            Bin::Less(class(v))
        } else {
            Bin::More(class(v))
        }
    }

    /// The bin's bounds in yuan, for its caption.
    fn label(self) -> String {
        match self {
            Bin::Zero => "0".to_string(),
            Bin::Less(k) => format!("-({})", class_label(k)),
            Bin::More(k) => format!("+({})", class_label(k)),
        }
    }

    /// The same, spelled out for a screen reader and the table.
    fn words(self) -> String {
        let bounds = |k: u32| {
            if k == 0 {
                "under 1 yuan".to_string()
            } else {
                let lo = 10u64.pow(k - 1);
                format!("{} to {} yuan", grouped(&lo.to_string()), grouped(&(lo * 10).to_string()))
            }
        };
        match self {
            Bin::Zero => "no change of the funds (shares moved between payers)".to_string(),
            Bin::Less(k) => format!("the funds pay less by {}", bounds(k)),
            Bin::More(k) => format!("the funds pay more by {}", bounds(k)),
        }
    }
}

/// The histogram's bins, most negative first: every magnitude class between the smallest and
/// the largest present on each side (empty ones too, so the axis is even), and zero always.
fn bins(changes: &[Decimal]) -> Vec<(Bin, usize)> {
    let found: Vec<Bin> = changes.iter().map(|v| Bin::of(*v)).collect();
    let span = |side: fn(Bin) -> Option<u32>| {
        let ks: Vec<u32> = found.iter().filter_map(|b| side(*b)).collect();
        Some((*ks.iter().min()?, *ks.iter().max()?))
    };
    let less = span(|b| if let Bin::Less(k) = b { Some(k) } else { None });
    let more = span(|b| if let Bin::More(k) = b { Some(k) } else { None });
    let mut out: Vec<Bin> = Vec::new();
    if let Some((lo, hi)) = less {
        out.extend((lo..=hi).rev().map(Bin::Less));
    }
    out.push(Bin::Zero);
    if let Some((lo, hi)) = more {
        out.extend((lo..=hi).map(Bin::More));
    }
    out.into_iter().map(|b| (b, found.iter().filter(|f| **f == b).count())).collect()
}

/// The histogram of the funds' change per affected claim, as an SVG chart (losers and gainers
/// in their own colours, zero in grey, counts above the bars, bounds below) and as a table.
fn histogram(changes: &[Decimal]) -> String {
    let bins = bins(changes);
    let width = 56;
    let chart_width = (bins.len() * width + 80).max(320);
    let max = bins.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1);
    let mut svg = format!(
        "<figure><figcaption id=\"hist-title\">Change of the funds' payments per affected claim \
         (yuan, bins by powers of ten)</figcaption><svg viewBox=\"0 0 {chart_width} 310\" \
         width=\"{chart_width}\" height=\"310\" role=\"img\" aria-labelledby=\"hist-title\"><desc>{}</desc>",
        escape(
            &bins
                .iter()
                .map(|(b, c)| format!("{}: {c} claims", b.words()))
                .collect::<Vec<_>>()
                .join("; ")
        )
    );
    for (i, (bin, count)) in bins.iter().enumerate() {
        let x = 50 + i * width;
        let h = (*count as f64 / max as f64 * 180.0).max(if *count > 0 { 1.0 } else { 0.0 });
        let class = match bin {
            Bin::Less(_) => "down",
            Bin::Zero => "zero",
            Bin::More(_) => "up",
        };
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"{}\" height=\"{h:.1}\" class=\"{class}\"><title>{}: {count} claims</title></rect>\
             <text x=\"{}\" y=\"{:.1}\" class=\"value\" text-anchor=\"middle\">{}</text>\
             <text x=\"{lx}\" y=\"224\" class=\"label\" text-anchor=\"end\" transform=\"rotate(-35 {lx} 224)\">{}</text>",
            210.0 - h,
            width - 6,
            escape(&bin.words()),
            x + (width - 6) / 2,
            204.0 - h,
            grouped(&count.to_string()),
            escape(&bin.label()),
            lx = x + (width - 6) / 2 + 4,
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"46\" y1=\"210\" x2=\"{}\" y2=\"210\" class=\"axis\"/>\
         <text x=\"20\" y=\"304\" class=\"label\">&larr; funds pay less</text>\
         <text x=\"{}\" y=\"304\" class=\"label\" text-anchor=\"end\">funds pay more &rarr;</text></svg></figure>",
        chart_width - 16,
        chart_width - 20
    );
    let mut table = String::from(
        "<table class=\"bins\"><caption>Affected claims by the change of the funds' payments</caption>",
    );
    table.push_str(&head(&["change of the funds", "claims"]));
    table.push_str("<tbody>");
    for (bin, count) in &bins {
        let _ = write!(
            table,
            "<tr><th scope=\"row\">{}</th>{}</tr>",
            escape(&bin.words()),
            figure(&format!("bin:{}", bin.label()), &count.to_string())
        );
    }
    table.push_str("</tbody></table>");
    svg + &table
}

/// A bar chart of signed values as inline SVG, with the values written beside the bars
/// (outside them: to the left of a bar that goes left).
fn bars(id: &str, title: &str, items: &[(String, Decimal)]) -> String {
    let height = 24 * items.len().max(1) + 30;
    let max =
        items.iter().map(|(_, v)| v.abs()).max().unwrap_or(Decimal::ONE).max(Decimal::new(1, 2));
    let described: Vec<String> =
        items.iter().map(|(l, v)| format!("{l}: {}", grouped(&format!("{v:.2}")))).collect();
    let mut svg = format!(
        "<figure><figcaption id=\"{id}\">{}</figcaption><svg viewBox=\"0 0 720 {height}\" width=\"720\" \
         height=\"{height}\" role=\"img\" aria-labelledby=\"{id}\"><desc>{}</desc>",
        escape(title),
        escape(&described.join("; "))
    );
    let zero = 400.0;
    for (i, (label, v)) in items.iter().enumerate() {
        let y = 12 + i * 24;
        let share = (v.abs() / max).try_into().unwrap_or(0.0_f64);
        let w = share * 170.0;
        let negative = v.is_sign_negative() && !v.is_zero();
        let x = if negative { zero - w } else { zero };
        let (class, text_x, anchor) =
            if negative { ("down", x - 6.0, "end") } else { ("up", x + w + 6.0, "start") };
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" class=\"label\">{}</text><rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"18\" class=\"{class}\"/>\
             <text x=\"{text_x:.1}\" y=\"{}\" class=\"value\" text-anchor=\"{anchor}\">{}</text>",
            y + 14,
            escape(label),
            y + 14,
            escape(&grouped(&format!("{v:.2}")))
        );
    }
    let _ = write!(
        svg,
        "<line x1=\"{zero}\" y1=\"6\" x2=\"{zero}\" y2=\"{}\" class=\"axis\"/></svg></figure>",
        height - 6
    );
    svg
}

fn decimal(s: &str) -> Decimal {
    s.parse().unwrap_or(Decimal::ZERO)
}

/// Values before and after, one `name before → after` a line.
fn moves<'a>(list: impl IntoIterator<Item = &'a (String, String, String)>) -> String {
    let lines: Vec<String> = list
        .into_iter()
        .map(|(n, b, a)| {
            format!("{} {} &rarr; {}", escape(n), escape(&grouped(b)), escape(&grouped(a)))
        })
        .collect();
    lines.join("<br>")
}

/// The shares' table.
fn shares_table(r: &Impact) -> String {
    let mut t = format!(
        "<table><caption>Shares, over the {} claims settled under both policies</caption>",
        grouped(&r.settled_both.to_string())
    );
    t.push_str(&head(&["share", "base", "reform", "change"]));
    t.push_str("<tbody>");
    let side = |key: String, v: &Option<String>| match v {
        Some(v) => figure(&key, v),
        None => format!(
            "<td data-figure=\"{}\" title=\"the policy has no such share\">{ABSENT}</td>",
            escape(&key)
        ),
    };
    for s in &r.shares {
        let ShareChange { name, base, reform, change, .. } = s;
        let _ = write!(
            t,
            "<tr><th scope=\"row\">{}</th>{}{}{}</tr>",
            escape(&share_label(s)),
            side(format!("share:{name}:base"), base),
            side(format!("share:{name}:reform"), reform),
            figure(&format!("share:{name}:change"), change)
        );
    }
    t.push_str("</tbody></table>");
    if r.shares.iter().any(|s| s.base.is_none() || s.reform.is_none()) {
        let _ =
            write!(t, "<p class=\"note\">{ABSENT}: the policy's balance has no such share.</p>");
    }
    t
}

/// One compared table of the period (hospitals' or groups' payments): every row that moved,
/// the columns that moved under each policy with the change, the most moved first (as the text
/// report orders them), then the columns added up over every row.
fn providers_table(t: &TableChange) -> String {
    let MovedRows { columns, rows } = moved_rows(t);
    let name = escape(&t.table);
    let mut out = format!("<h2>Period table <code>{name}</code> by {}</h2>", escape(&t.key));
    if columns.is_empty() {
        let _ = write!(
            out,
            "<p>No amount moved in its {} rows ({}).</p>",
            grouped(&t.rows.len().to_string()),
            escape(&t.columns.join(", "))
        );
        return out;
    }
    let _ = write!(
        out,
        "<table><caption>{} of {} rows moved: the amounts under each policy</caption>",
        grouped(&rows.len().to_string()),
        grouped(&t.rows.len().to_string())
    );
    let titles: Vec<String> = columns
        .iter()
        .filter_map(|&c| t.columns.get(c))
        .flat_map(|c| [format!("{c} base"), format!("{c} reform"), format!("{c} change")])
        .collect();
    let mut head_columns = vec![t.key.as_str()];
    head_columns.extend(titles.iter().map(String::as_str));
    out.push_str(&head(&head_columns));
    out.push_str("<tbody>");
    let row = |out: &mut String, key: &str, moved: &[Moved]| {
        let _ = write!(out, "<tr><th scope=\"row\">{}</th>", escape(key));
        for &c in &columns {
            let (Some(column), Some(m)) = (t.columns.get(c), moved.get(c)) else { continue };
            let at = format!("provider:{}:{key}:{column}", t.table);
            for (side, value) in [("base", &m.base), ("reform", &m.reform)] {
                out.push_str(&figure(&format!("{at}:{side}"), value.as_deref().unwrap_or(ABSENT)));
            }
            out.push_str(&figure(&format!("{at}:change"), &m.change));
        }
        out.push_str("</tr>");
    };
    for r in &rows {
        row(&mut out, &r.key, &r.columns);
    }
    row(&mut out, "(all rows)", &t.totals);
    out.push_str("</tbody></table>");
    if rows.iter().any(|r| r.columns.iter().any(|m| m.base.is_none() || m.reform.is_none())) {
        let _ = write!(out, "<p class=\"note\">{ABSENT}: the policy's period has no such row.</p>");
    }
    out
}

/// The provenance table.
fn provenance(r: &Impact, p: &Provenance) -> String {
    let mut t = String::from("<table class=\"provenance\"><caption>Provenance</caption>");
    t.push_str(&head(&["", "file", "SHA-256", "bytes"]));
    t.push_str("<tbody>");
    for (role, path, hash, bytes) in &p.files {
        let title = match *role {
            "base" => r.base_title.as_deref(),
            "reform" => r.reform_title.as_deref(),
            _ => None,
        };
        let named = match title {
            Some(title) => format!("{} ({})", escape(path), escape(title)),
            None => escape(path),
        };
        let _ = write!(
            t,
            "<tr><th scope=\"row\">{role}</th><td>{named}</td><td><code>{hash}</code></td><td>{}</td></tr>",
            grouped(&bytes.to_string())
        );
    }
    let _ = write!(
        t,
        "</tbody></table><p class=\"note\">Made {} by settle {}.</p>",
        escape(&p.made),
        escape(p.version)
    );
    t
}

/// The report as a self-contained page.
pub fn html(r: &Impact, p: &Provenance) -> String {
    let mut body = String::new();
    let _ = write!(body, "<header><h1>{} &rarr; {}</h1>", escape(&r.base), escape(&r.reform));
    if let (Some(b), Some(f)) = (&r.base_title, &r.reform_title) {
        let _ = write!(body, "<p class=\"titles\">{} &rarr; {}</p>", escape(b), escape(f));
    }
    let _ = write!(
        body,
        "</header><main><p><span data-figure=\"claims\">{}</span> claims, <strong><span data-figure=\"affected\">{}</span> affected</strong>; \
         not settled: <span data-figure=\"errors:base\">{}</span> under the base, <span data-figure=\"errors:reform\">{}</span> under the reform. \
         The funds pay <strong><span data-figure=\"fund_change:abs\">{}</span> {}</strong> in total \
         (every payer of each side: all shares but the patient's).</p>",
        grouped(&r.claims.to_string()),
        grouped(&r.affected.to_string()),
        grouped(&r.errors.0.to_string()),
        grouped(&r.errors.1.to_string()),
        escape(&grouped(r.fund_change.trim_start_matches('-'))),
        more_or_less(&r.fund_change)
    );
    body.push_str(&shares_table(r));
    let (only_base, only_reform) = r.settled_one_side;
    if only_base + only_reform > 0 {
        let _ = write!(
            body,
            "<h2>Claims settled under one side only</h2><p>{} under the base only (the funds pay \
             {} for them there), {} under the reform only (the funds pay {}); not in the totals above.</p>",
            grouped(&only_base.to_string()),
            grouped(&r.one_side_funds.0),
            grouped(&only_reform.to_string()),
            grouped(&r.one_side_funds.1)
        );
        body.push_str("<table><caption>The first claims settled under one side only</caption>");
        body.push_str(&head(&["claim", "member", "line", "settles under", "funds"]));
        body.push_str("<tbody>");
        for c in &r.one_sided {
            let _ = write!(
                body,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
                escape(&c.id),
                escape(&c.member),
                c.line,
                c.settles_under,
                figure(&format!("one_sided:{}:funds", c.id), &c.funds)
            );
        }
        body.push_str("</tbody></table>");
    }
    body.push_str("<h2>How the affected claims moved</h2>");
    let changes: Vec<Decimal> = r.changes.iter().map(|c| decimal(&c.funds)).collect();
    body.push_str(&histogram(&changes));
    for (n, f) in r.by_field.iter().enumerate() {
        let _ = write!(body, "<h2>By {}</h2>", escape(&f.field));
        let items: Vec<(String, Decimal)> = f
            .rows
            .iter()
            .map(|v| {
                let funds = v.changes.iter().zip(&r.shares).filter(|(_, s)| s.fund);
                (v.variant.clone(), funds.map(|(c, _)| decimal(c)).sum())
            })
            .collect();
        body.push_str(&bars(
            &format!("by-{n}"),
            &format!("Change of the funds' payments by {}", f.field),
            &items,
        ));
        let _ = write!(
            body,
            "<table><caption>The change of each share by {}</caption>",
            escape(&f.field)
        );
        let mut columns = vec![f.field.as_str(), "claims", "affected"];
        let labels: Vec<String> = r.shares.iter().map(share_label).collect();
        columns.extend(labels.iter().map(String::as_str));
        body.push_str(&head(&columns));
        body.push_str("<tbody>");
        for v in &f.rows {
            let key = format!("variant:{}:{}", f.field, v.variant);
            let _ = write!(
                body,
                "<tr><th scope=\"row\">{}</th>{}{}",
                escape(&v.variant),
                figure(&format!("{key}:claims"), &v.claims.to_string()),
                figure(&format!("{key}:affected"), &v.affected.to_string())
            );
            for (s, c) in r.shares.iter().zip(&v.changes) {
                body.push_str(&figure(&format!("{key}:{}", s.name), c));
            }
            body.push_str("</tr>");
        }
        body.push_str("</tbody></table>");
    }
    if !r.movers.is_empty() {
        body.push_str("<h2>Largest movers</h2><table class=\"movers\"><caption>The claims whose funds' payments moved most</caption>");
        body.push_str(&head(&[
            "claim",
            "member",
            "line",
            "funds",
            "shares before → after",
            "what moved them (base → reform)",
        ]));
        body.push_str("<tbody>");
        for m in &r.movers {
            let shares: Vec<_> = m.shares.iter().filter(|(_, b, a)| b != a).collect();
            let _ = write!(
                body,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td>{}<td class=\"text\">{}</td><td class=\"text\">{}</td></tr>",
                escape(&m.id),
                escape(&m.member),
                m.line,
                figure(&format!("mover:{}:funds", m.id), &m.fund_change),
                moves(shares),
                moves(&m.trail)
            );
        }
        body.push_str("</tbody></table>");
    }
    let _ = write!(
        body,
        "<p class=\"note\">The funds' changes claim by claim add up to <span data-figure=\"per_claim_fund_change\">{}</span>, {} the change of the totals (<span data-figure=\"fund_change\">{}</span>).</p>",
        escape(&grouped(&r.per_claim_fund_change)),
        if r.reconciled { "equal to" } else { "NOT equal to" },
        escape(&grouped(&r.fund_change))
    );
    for t in &r.providers {
        body.push_str(&providers_table(t));
    }
    body.push_str("<h2>Provenance</h2>");
    body.push_str(&provenance(r, p));
    body.push_str("</main>");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} &rarr; {}: impact report</title><style>\
         body{{font:15px/1.45 system-ui,\"Noto Sans CJK SC\",\"PingFang SC\",\"Microsoft YaHei\",sans-serif;margin:2em auto;max-width:64em;color:#222;padding:0 1em}}\
         table{{border-collapse:collapse;margin:1em 0}}caption{{text-align:left;font-weight:600;padding:.3em 0}}\
         td,th{{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:right;font-variant-numeric:tabular-nums}}\
         th[scope=row],thead th:first-child,.movers thead th:nth-last-child(-n+2),td.text{{text-align:left}}figure{{margin:1.5em 0}}figcaption{{font-weight:600}}\
         .up{{fill:#2f6fc4}}.down{{fill:#c4512f}}.zero{{fill:#888}}.label,.value{{font-size:12px;fill:#222}}\
         .axis{{stroke:#666}}.note{{color:#444}}code{{font-size:12px}}\
         </style></head><body>{body}</body></html>\n",
        escape(&r.base),
        escape(&r.reform)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped("0.00"), "0.00");
        assert_eq!(grouped("999.99"), "999.99");
        assert_eq!(grouped("1000"), "1,000");
        assert_eq!(grouped("-21139.23"), "-21,139.23");
        assert_eq!(grouped("15467135.55"), "15,467,135.55");
        assert_eq!(grouped("error"), "error");
    }

    #[test]
    fn bins_keep_zero_apart_and_sides_apart() {
        let d = |s: &str| s.parse::<Decimal>().unwrap_or_default();
        let changes =
            [d("-1500"), d("-0.5"), d("0"), d("0"), d("225"), d("228.78"), d("9.99"), d("10")];
        let found = bins(&changes);
        let labels: Vec<(String, usize)> = found.iter().map(|(b, c)| (b.label(), *c)).collect();
        let expect = [
            ("-(1k-10k)", 1),
            ("-(100-1k)", 0),
            ("-(10-100)", 0),
            ("-(1-10)", 0),
            ("-(<1)", 1),
            ("0", 2),
            ("+(1-10)", 1),
            ("+(10-100)", 1),
            ("+(100-1k)", 2),
        ];
        let expect: Vec<(String, usize)> =
            expect.iter().map(|(l, c)| ((*l).to_string(), *c)).collect();
        assert_eq!(labels, expect);
        assert_eq!(found.iter().map(|(_, c)| c).sum::<usize>(), changes.len());
    }
}
