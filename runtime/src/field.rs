//! One way to read a field, and one way to write a value: every data path (CSV and JSON Lines,
//! the general reader and the batch fast path) reads each input field with [`Field::read`],
//! from its bytes to the scaled integer the backends compute on, and every output shows a value
//! with [`format_value`] (or, in the output loops, `write_value` and `write_scaled`).
//!
//! **Spaces.** A field is read without the spaces around it: every character of the Unicode
//! `White_Space` set (space, tab, vertical tab, form feed, line ends, no-break space U+00A0,
//! ideographic space U+3000, ...) and the byte order mark U+FEFF, at either end ([`trim`]).
//! Spaces inside a field stay (`张 三`, `85 %`).
//!
//! **Numbers.** Money and rates are written in decimals, an optional sign, digits with `,` or `_`
//! between the digits of the whole part, and optionally a point and more digits (`1,234.50`,
//! `.5`, `7.`); rates optionally end in `%`. Digits are ASCII: full-width digits (`１２３`), as an
//! input method types them, are an error with a hint, not read silently. Exponents are refused.
//! Every number is read with checked arithmetic and bounded: money within 10^15 yuan and exact
//! to the fen, rates within ±10^9 and exact to the millionth (the bounds of
//! [`settle_lang::limits`]);
//! anything beyond is an error naming the field, never a wrap or a panic.
//!
//! **Scaled integers.** Money is fen, rates millionths, dates days since 1970-01-01, yes/no 0 or
//! 1, an enum its variant's index.

use std::fmt::Write as _;
use std::sync::Arc;

use rust_decimal::Decimal;
use settle_lang::date::Date;
use settle_lang::diagnostic::did_you_mean;
use settle_lang::ir::{EnumDef, Policy, Type};

use settle_lang::limits::{
    MONEY_LIMIT_FEN, MONEY_LIMIT_TEXT, RATE_LIMIT_MILLIONTHS, RATE_LIMIT_TEXT,
};

use crate::value::{Value, fen};

/// Whether `c` is a space a field is read without: Unicode `White_Space`, and the byte order
/// mark.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// `text` without the spaces around it (see [`is_space`]).
pub fn trim_str(text: &str) -> &str {
    text.trim_matches(is_space)
}

/// A field's bytes without the spaces around it (see [`is_space`]); bytes that are not UTF-8
/// text are left as they are (no path reads a field of them).
#[inline]
pub fn trim(bytes: &[u8]) -> &[u8] {
    // The common case: a printable ASCII character at each end (one that is no space; a
    // control character takes the long way, and is kept unless it is a space).
    let plain = |b: Option<&u8>| b.is_some_and(|b| (0x21..0x7f).contains(b));
    if plain(bytes.first()) && plain(bytes.last()) {
        return bytes;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => trim_str(text).as_bytes(),
        Err(_) => bytes,
    }
}

/// How a field of a type is read: the type, prepared once per field.
#[derive(Debug, Clone, Copy)]
pub enum Field<'p> {
    /// Text, kept as written (without the spaces around it).
    Text,
    /// Money, to fen.
    Money,
    /// A rate, to millionths.
    Rate,
    /// A whole number.
    Int,
    /// Yes or no, to 1 or 0.
    Bool,
    /// A date, to days since 1970-01-01.
    Date,
    /// A variant of an enum (by name or label), to its index.
    Enum(&'p EnumDef),
    /// A record or a list of records, written as JSON: read by [`parse_value`] only.
    Json,
}

impl<'p> Field<'p> {
    /// How a field of type `ty` of `policy` is read.
    pub fn of(policy: &'p Policy, ty: Type) -> Field<'p> {
        match ty {
            Type::Text => Field::Text,
            Type::Money => Field::Money,
            Type::Rate => Field::Rate,
            Type::Int => Field::Int,
            Type::Bool => Field::Bool,
            Type::Date => Field::Date,
            Type::Enum(e) => policy.enums.get(e).map_or(Field::Json, Field::Enum),
            Type::Record(_) | Type::List(_) => Field::Json,
        }
    }

    /// The field's value as a scaled integer (fen, millionths, a count, 0 or 1, a day, a
    /// variant's index), from its bytes; or why it is not one, in words for an error row. A
    /// text, a record or a list has no scaled value: an error here.
    // Inlined into the fast path's loops: it reads every field of a file.
    #[inline(always)]
    pub fn read(&self, bytes: &[u8]) -> Result<i64, String> {
        let t = trim(bytes);
        match self {
            Field::Money => money(t),
            Field::Date => date(t),
            Field::Rate => rate(t),
            Field::Int => int(t),
            Field::Bool => boolean(t),
            Field::Enum(def) => variant(def, t),
            Field::Text | Field::Json => Err("a text, a record or a list has no number".into()),
        }
    }
}

/// A decimal number as written: its whole part, its first six decimals as millionths, and the
/// number of decimals up to the last that is not zero. In 64 bits: this is the reading of every
/// amount of a file, and 128-bit division is slow.
struct Decimal6 {
    negative: bool,
    /// The whole part; `None` when it does not fit 64 bits.
    whole: Option<u64>,
    /// The first six decimals, in millionths.
    frac: u64,
    /// Decimals up to the last non-zero one (`1.500`: 1).
    decimals: usize,
}

impl Decimal6 {
    /// The magnitude in units of 10^-`scale` (`scale` at most 6), when it fits 64 bits; the
    /// decimals past `scale` are dropped (the callers refuse a number that has any).
    #[inline]
    fn scaled(&self, scale: u32) -> Option<u64> {
        let unit = 10u64.pow(scale);
        let frac = self.frac / 10u64.pow(6 - scale.min(6));
        self.whole?.checked_mul(unit)?.checked_add(frac)
    }
}

/// Why a number's text is not a number.
enum NotNumber {
    Empty,
    Exponent,
    FullWidth,
    Other,
}

/// Read a decimal number: a sign, digits (`,` or `_` between those of the whole part), a point
/// and more digits; at least one digit.
#[inline]
fn decimal(t: &[u8]) -> Result<Decimal6, NotNumber> {
    let (negative, digits) = match t.split_first() {
        None => return Err(NotNumber::Empty),
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        Some(_) => (false, t),
    };
    let mut whole: Option<u64> = Some(0);
    let mut seen = 0usize;
    let mut point = false;
    let mut frac: u64 = 0;
    let mut frac_len = 0usize;
    let mut decimals = 0usize;
    // Whether the last byte was a digit, and whether a separator waits for its next digit.
    let (mut after_digit, mut after_separator) = (false, false);
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                let d = u64::from(b - b'0');
                seen += 1;
                if point {
                    frac_len += 1;
                    if d != 0 {
                        decimals = frac_len;
                    }
                    if frac_len <= 6 {
                        frac = frac * 10 + d;
                    }
                } else {
                    whole = whole.and_then(|w| w.checked_mul(10)?.checked_add(d));
                }
                (after_digit, after_separator) = (true, false);
            }
            b'.' if !point && !after_separator => {
                point = true;
                after_digit = false;
            }
            // A separator stands between two digits of the whole part.
            b',' | b'_' if !point && after_digit => (after_digit, after_separator) = (false, true),
            _ => return Err(not_a_number(t)),
        }
    }
    if seen == 0 || after_separator {
        return Err(not_a_number(t));
    }
    let frac = frac * 10u64.pow(6 - frac_len.min(6) as u32);
    Ok(Decimal6 { negative, whole, frac, decimals })
}

/// Why `t` is not a number: an exponent, full-width digits, or anything else.
#[cold]
fn not_a_number(t: &[u8]) -> NotNumber {
    let text = String::from_utf8_lossy(t);
    let exponent = text.split_once(['e', 'E']).is_some_and(|(mantissa, power)| {
        let power = power.strip_prefix(['+', '-']).unwrap_or(power);
        decimal(mantissa.as_bytes()).is_ok()
            && !power.is_empty()
            && power.bytes().all(|b| b.is_ascii_digit())
    });
    if exponent {
        NotNumber::Exponent
    } else if text.chars().any(|c| ('\u{ff01}'..='\u{ff5e}').contains(&c)) {
        NotNumber::FullWidth
    } else {
        NotNumber::Other
    }
}

/// The words of an error row for `t` that is no number.
#[cold]
fn number_error(t: &[u8], why: NotNumber) -> String {
    let text = String::from_utf8_lossy(t);
    match why {
        NotNumber::Empty if t.is_empty() => "empty".into(),
        NotNumber::Exponent => format!("`{text}` is not a plain decimal number"),
        NotNumber::FullWidth => format!(
            "`{text}` has full-width characters; write numbers with the digits 0-9, `.` and `%`"
        ),
        NotNumber::Empty | NotNumber::Other => format!("`{text}` is not a number"),
    }
}

/// Money in fen: exact to the fen, not negative, within 10^15 yuan.
#[inline]
fn money(t: &[u8]) -> Result<i64, String> {
    match plain_fen(t) {
        Some(fen) => Ok(fen),
        None => any_money(t),
    }
}

/// An amount as most are written, read in one pass of 64-bit arithmetic: 1 to 15 digits,
/// optionally a point and up to two more (within the bound, whatever the digits). `None` for
/// anything else, which [`any_money`] reads to the same value or refuses.
#[inline]
fn plain_fen(t: &[u8]) -> Option<i64> {
    if t.is_empty() || t.len() > 18 {
        return None;
    }
    let mut n: i64 = 0;
    let mut point = None;
    for (i, &b) in t.iter().enumerate() {
        if b.is_ascii_digit() {
            n = n * 10 + i64::from(b - b'0');
        } else if b == b'.' && point.is_none() {
            point = Some(i);
        } else {
            return None;
        }
    }
    let (whole, decimals) = match point {
        Some(p) => (p, t.len() - p - 1),
        None => (t.len(), 0),
    };
    if !(1..=15).contains(&whole) {
        return None;
    }
    Some(n * [100, 10, 1].get(decimals).copied()?)
}

// Fifteen whole digits are below the bound: what `plain_fen` reads needs no check against it.
const _: () = assert!(999_999_999_999_999 < settle_lang::limits::MONEY_LIMIT_YUAN);

/// Money in any form [`decimal`] reads.
#[cold]
fn any_money(t: &[u8]) -> Result<i64, String> {
    let d = decimal(t).map_err(|why| number_error(t, why))?;
    let text = || String::from_utf8_lossy(t);
    if d.decimals > 2 {
        return Err(format!(
            "`{}` has more than two decimals (amounts are exact to the fen)",
            text()
        ));
    }
    let fen = d.scaled(2);
    if d.negative && fen != Some(0) {
        return Err(format!("`{}` is negative; amounts must be 0 or more", text()));
    }
    match fen {
        Some(f) => {
            i64::try_from(f).ok().filter(|f| *f <= MONEY_LIMIT_FEN).ok_or_else(|| beyond_money(t))
        }
        None => Err(beyond_money(t)),
    }
}

#[cold]
fn beyond_money(t: &[u8]) -> String {
    format!("`{}` is beyond {MONEY_LIMIT_TEXT}", String::from_utf8_lossy(t))
}

/// A rate in millionths, written as a fraction (`0.85`) or a percentage (`85%`): exact to the
/// millionth, within ±10^9.
fn rate(t: &[u8]) -> Result<i64, String> {
    let (number, percent) = match t.strip_suffix(b"%") {
        Some(n) => (trim(n), true),
        None => (t, false),
    };
    let d = decimal(number).map_err(|why| number_error(t, why))?;
    let text = || String::from_utf8_lossy(t);
    // A percentage has two decimals fewer to give: its millionths are ten-thousandths of the
    // number written.
    let (decimals, scale) = if percent { (d.decimals + 2, 4) } else { (d.decimals, 6) };
    if decimals > 6 {
        return Err(format!("`{}` has more than six decimals", text()));
    }
    let magnitude = d.scaled(scale).and_then(|m| i64::try_from(m).ok());
    let Some(m) = magnitude.filter(|m| *m <= RATE_LIMIT_MILLIONTHS) else {
        return Err(format!(
            "`{}` is beyond ±{RATE_LIMIT_TEXT} (rates are bounded like money)",
            text()
        ));
    };
    Ok(if d.negative { -m } else { m })
}

/// A whole number within 64 bits.
fn int(t: &[u8]) -> Result<i64, String> {
    let parsed = std::str::from_utf8(t).ok().and_then(|s| s.parse::<i64>().ok());
    parsed.ok_or_else(|| match not_a_number(t) {
        NotNumber::FullWidth => number_error(t, NotNumber::FullWidth),
        _ => format!("`{}` is not a whole number", String::from_utf8_lossy(t)),
    })
}

/// Yes (1) or no (0): `true`/`false`, `1`/`0`, `yes`/`no`, `y`/`n`, `是`/`否`, any case; empty
/// is no.
fn boolean(t: &[u8]) -> Result<i64, String> {
    const YES: &[u8] = "是".as_bytes();
    const NO: &[u8] = "否".as_bytes();
    match t.to_ascii_lowercase().as_slice() {
        b"true" | b"1" | b"yes" | b"y" | YES => Ok(1),
        b"false" | b"0" | b"no" | b"n" | NO | b"" => Ok(0),
        _ => Err(format!("`{}` is not true or false", String::from_utf8_lossy(t))),
    }
}

/// A date written `YYYY-MM-DD`, a day that exists, as days since 1970-01-01.
#[inline]
fn date(t: &[u8]) -> Result<i64, String> {
    let day = |t: &[u8]| {
        let &[y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = t else { return None };
        let digits = [y1, y2, y3, y4, m1, m2, d1, d2];
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = |b: &[u8]| b.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
        let year = i32::try_from(n(&[y1, y2, y3, y4])).ok()?;
        Date::from_ymd(year, n(&[m1, m2]), n(&[d1, d2])).map(|d| i64::from(d.0))
    };
    day(t).ok_or_else(|| {
        if t.is_empty() {
            "empty".to_string()
        } else {
            format!(
                "`{}` is not a date (YYYY-MM-DD, a day that exists)",
                String::from_utf8_lossy(t)
            )
        }
    })
}

/// The index of the variant of `def` named or labelled `t`.
#[inline]
fn variant(def: &EnumDef, t: &[u8]) -> Result<i64, String> {
    if let Some(i) = def.variants.iter().position(|v| v.as_bytes() == t) {
        return Ok(i as i64);
    }
    if let Some(i) = def.labels.iter().position(|l| l.as_deref().map(str::as_bytes) == Some(t)) {
        return Ok(i as i64);
    }
    Err(not_a_variant(def, t))
}

#[cold]
fn not_a_variant(def: &EnumDef, t: &[u8]) -> String {
    let t = String::from_utf8_lossy(t);
    let hint = match did_you_mean(&t, def.variants.iter().map(String::as_str)) {
        Some(s) => format!("; did you mean `{s}`?"),
        None => format!(
            "; one of {}",
            def.variants.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
        ),
    };
    format!("`{t}` is not a `{}`{hint}", def.name)
}

/// Parse one field's text as a value of `ty` (see [`Field::read`]; records and lists as JSON).
pub fn parse_value(policy: &Policy, ty: Type, text: &str) -> Result<Value, String> {
    let t = trim_str(text);
    match Field::of(policy, ty) {
        Field::Text => Ok(Value::Text(Arc::from(t))),
        Field::Json => parse_json(policy, ty, t),
        field => {
            let x = field.read(t.as_bytes())?;
            // INVARIANT: the date reader gives a `Date`'s day number and the variant reader an
            // index into the enum's variants, so `from_scaled` never refuses what they read.
            Value::from_scaled(ty, x).ok_or_else(|| format!("`{t}` is out of range"))
        }
    }
}

/// A record, or a list of records, written as JSON.
fn parse_json(policy: &Policy, ty: Type, t: &str) -> Result<Value, String> {
    let (Type::Record(r) | Type::List(r)) = ty else { return Err("not a record".into()) };
    let json: serde_json::Value = serde_json::from_str(if t.is_empty() { "[]" } else { t })
        .map_err(|e| format!("not JSON: {e}"))?;
    let record = policy.records.get(r).ok_or("unknown record")?;
    let parse_record = |item: &serde_json::Value| -> Result<Value, String> {
        let obj = item.as_object().ok_or("a list item must be an object")?;
        let fields = record
            .fields
            .iter()
            .map(|f| {
                let text = obj
                    .get(&f.name)
                    .map(json_text)
                    .ok_or(format!("an item has no `{}`", f.name))?;
                parse_value(policy, f.ty, &text).map_err(|m| format!("`{}`: {m}", f.name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::Record(fields.into()))
    };
    match (ty, &json) {
        (Type::List(_), serde_json::Value::Array(items)) => {
            Ok(Value::List(items.iter().map(parse_record).collect::<Result<Vec<_>, _>>()?.into()))
        }
        (Type::Record(_), obj @ serde_json::Value::Object(_)) => parse_record(obj),
        _ => Err("expected a JSON array of objects".into()),
    }
}

/// The text of a JSON value as a field: a string's contents, a number or literal as written,
/// `null` as empty.
pub fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A value as written in output files.
pub fn format_value(policy: &Policy, ty: Type, v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, policy, ty, Some(v));
    out
}

/// Write an amount in fen as yuan with two decimals (`-1234.05`), digit by digit: the output's
/// hottest loop.
pub(crate) fn push_fen(out: &mut String, fen: i128) {
    let sign = if fen < 0 { "-" } else { "" };
    // Every bounded amount fits 64 bits, whose division by ten is a multiplication.
    let Ok(mut n) = u64::try_from(fen.unsigned_abs()) else {
        let n = fen.unsigned_abs();
        let _ = write!(out, "{sign}{}.{:02}", n / 100, n % 100);
        return;
    };
    out.push_str(sign);
    let mut digits = [0u8; 40];
    let mut i = digits.len();
    // At least three digits: `0.05` is fen 5.
    while n > 0 || digits.len() - i < 3 {
        i -= 1;
        if let Some(slot) = digits.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
    }
    let all = digits.get(i..).unwrap_or(&[]);
    let (yuan, fen) = all.split_at(all.len().saturating_sub(2));
    out.extend(yuan.iter().map(|&b| char::from(b)));
    out.push('.');
    out.extend(fen.iter().map(|&b| char::from(b)));
}

/// Write a value as output files show it, into a buffer.
pub(crate) fn write_value(out: &mut String, policy: &Policy, ty: Type, v: Option<&Value>) {
    match (ty, v) {
        (_, Some(Value::Money(d))) => push_fen(out, fen(*d)),
        (Type::Enum(e), Some(Value::Enum(i))) => {
            out.push_str(
                policy
                    .enums
                    .get(e)
                    .and_then(|d| d.variants.get(*i as usize))
                    .map_or("", String::as_str),
            );
        }
        (_, Some(Value::Rate(d))) => {
            let _ = write!(out, "{}", d.normalize());
        }
        (_, Some(other)) => {
            let _ = write!(out, "{other}");
        }
        (_, None) => {}
    }
}

/// Write a value of type `ty` held as a scaled integer (fen, millionths, a count, 0 or 1, a
/// day, an enum variant's index) exactly as [`write_value`] writes the same value.
pub(crate) fn write_scaled(out: &mut String, policy: &Policy, ty: Type, x: i64) {
    match ty {
        Type::Money => push_fen(out, i128::from(x)),
        Type::Rate => {
            let _ = write!(out, "{}", Decimal::new(x, 6).normalize());
        }
        Type::Int => {
            let _ = write!(out, "{x}");
        }
        Type::Bool => out.push_str(if x != 0 { "true" } else { "false" }),
        Type::Date => {
            let _ = write!(out, "{}", Date(i32::try_from(x).unwrap_or(0)));
        }
        Type::Enum(e) => out.push_str(
            policy
                .enums
                .get(e)
                .and_then(|d| d.variants.get(usize::try_from(x).ok()?))
                .map_or("", String::as_str),
        ),
        Type::Text | Type::Record(_) | Type::List(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_with_two_decimals() {
        for (fen, text) in [
            (0, "0.00"),
            (5, "0.05"),
            (100, "1.00"),
            (-5, "-0.05"),
            (123_456, "1234.56"),
            (-100_000_000_000_000_000, "-1000000000000000.00"),
            (18_446_744_073_709_551_615, "184467440737095516.15"),
            (18_446_744_073_709_551_616, "184467440737095516.16"),
            (-18_446_744_073_709_551_616, "-184467440737095516.16"),
            (1_000_000_000_000_000_000_000_000_001, "10000000000000000000000000.01"),
        ] {
            let mut out = String::new();
            push_fen(&mut out, fen);
            assert_eq!(out, text);
            assert_eq!(format!("{:.2}", Decimal::from_i128_with_scale(fen, 2)), text);
        }
    }

    /// Rates and amounts read as `rust_decimal` reads the same plain decimals.
    #[test]
    fn decimals_are_read_as_rust_decimal_reads_them() {
        use std::str::FromStr;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut texts: Vec<String> =
            ["0", "1", "12.5", "-3.25", "999999999", "0.000001", "007.10", "-0"]
                .map(String::from)
                .into();
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let whole = (x >> 40) % 10u64.pow((x % 10) as u32);
            let frac = (x >> 8) % 1_000_000;
            let sign = if x % 3 == 0 { "-" } else { "" };
            texts.push(format!("{sign}{whole}.{frac:0width$}", width = (x % 7) as usize));
        }
        for t in texts {
            let ours = Field::Rate.read(t.as_bytes());
            let theirs = Decimal::from_str(&t).expect("a decimal");
            assert_eq!(ours.ok().map(|m| Decimal::new(m, 6)), Some(theirs), "{t}");
            if theirs.normalize().scale() <= 2 {
                let fen = Field::Money.read(t.as_bytes()).ok().map(|f| Decimal::new(f, 2));
                let valid = theirs.is_sign_positive() || theirs.is_zero();
                assert_eq!(fen, valid.then_some(theirs), "{t}");
            }
        }
    }

    fn money_of(t: &str) -> Result<i64, String> {
        Field::Money.read(t.as_bytes())
    }

    #[test]
    fn amounts_are_read_exactly_to_the_fen_and_within_the_bound() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("-0", Some(0)),
            ("7", Some(700)),
            ("12.3", Some(1230)),
            ("12.34", Some(1234)),
            ("12.3400", Some(1234)),
            ("0012.50", Some(1250)),
            ("1,234.50", Some(123_450)),
            ("1_234", Some(123_400)),
            ("+5", Some(500)),
            ("12.", Some(1200)),
            (".5", Some(50)),
            (" 5\u{b}", Some(500)),
            ("\u{feff}\u{a0}5\t\u{3000}", Some(500)),
            ("999999999999999.99", Some(99_999_999_999_999_999)),
            ("1000000000000000", Some(100_000_000_000_000_000)),
            ("1000000000000000.01", None),
            ("999999999999999999.9", None),
            ("99999999999999999999999999999999999999999999", None),
            ("1.234", None),
            ("1.2.3", None),
            ("-5", None),
            ("1e3", None),
            ("", None),
            (".", None),
            ("-", None),
            ("1,", None),
            (",1", None),
            ("1,.5", None),
            ("1.5,0", None),
            ("１２３", None),
            ("1 000", None),
        ];
        for (text, expected) in cases {
            assert_eq!(money_of(text).ok(), *expected, "{text:?}");
        }
        assert_eq!(
            money_of("999999999999999999.9"),
            Err("`999999999999999999.9` is beyond 10^15 yuan".into())
        );
        assert_eq!(money_of("１２３").map_err(|e| e.contains("full-width")), Err(true));
        assert_eq!(money_of("1e3"), Err("`1e3` is not a plain decimal number".into()));
        assert_eq!(money_of("1.5E-2"), Err("`1.5E-2` is not a plain decimal number".into()));
        assert_eq!(money_of("yes"), Err("`yes` is not a number".into()));
        assert_eq!(Field::Rate.read(b"%"), Err("`%` is not a number".into()));
        assert_eq!(money_of(" "), Err("empty".into()));
    }

    #[test]
    fn rates_are_read_exactly_to_the_millionth_and_within_the_bound() {
        let rate = |t: &str| Field::Rate.read(t.as_bytes());
        let cases: &[(&str, Option<i64>)] = &[
            ("85%", Some(850_000)),
            ("85 %", Some(850_000)),
            ("0.85", Some(850_000)),
            ("-0.5", Some(-500_000)),
            ("12.3456%", Some(123_456)),
            ("12.34567%", None),
            ("0.1234567", None),
            ("0.1234560", Some(123_456)),
            ("1000000000", Some(1_000_000_000_000_000)),
            ("-1000000000", Some(-1_000_000_000_000_000)),
            ("1000000000.000001", None),
            ("100000000000%", Some(1_000_000_000_000_000)),
            ("79228162514264337593543950336", None),
            ("１０%", None),
            ("x", None),
        ];
        for (text, expected) in cases {
            assert_eq!(rate(text).ok(), *expected, "{text:?}");
        }
        assert!(rate("8e22").is_err());
        assert_eq!(
            rate("79228162514264337593543950336"),
            Err("`79228162514264337593543950336` is beyond ±10^9 (rates are bounded like money)"
                .into())
        );
    }

    #[test]
    fn counts_dates_and_yes_or_no() {
        assert_eq!(Field::Int.read(b" 42\x0b"), Ok(42));
        assert_eq!(Field::Int.read(b"1.5"), Err("`1.5` is not a whole number".into()));
        assert!(Field::Int.read("４２".as_bytes()).is_err_and(|e| e.contains("full-width")));
        assert_eq!(Field::Date.read(b"1970-01-02"), Ok(1));
        assert!(Field::Date.read(b"2021-+1-05").is_err());
        assert!(Field::Date.read(b"2023-02-29").is_err());
        assert_eq!(Field::Bool.read("是".as_bytes()), Ok(1));
        assert_eq!(Field::Bool.read(b"\xc2\xa0NO"), Ok(0));
        assert!(Field::Bool.read(b"maybe").is_err());
    }

    #[test]
    fn spaces_are_unicode_white_space_and_the_byte_order_mark() {
        assert_eq!(trim(b"\x0bm1\x0b"), b"m1");
        assert_eq!(trim("\u{feff}\u{a0}张 三\u{3000}\t".as_bytes()), "张 三".as_bytes());
        assert_eq!(trim(b" \t\r\n"), b"");
        assert_eq!(trim(b"\xff "), b"\xff ");
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let text = format!("{c}a{c}");
            let expected = if is_space(c) { "a".to_string() } else { text.clone() };
            assert_eq!(trim(text.as_bytes()), expected.as_bytes(), "{c:?}");
        }
    }
}
