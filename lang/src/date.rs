//! Calendar dates as days since 1970-01-01, the form both backends compute with.

use std::fmt;

/// A day of the proleptic Gregorian calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i32);

impl Date {
    /// Build a date from year, month and day; `None` when no such day exists (2023-02-30).
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date(days_from_civil(year, month, day)))
    }

    /// Parse `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
            return None;
        }
        let year = text.get(0..4)?.parse().ok()?;
        let month = text.get(5..7)?.parse().ok()?;
        let day = text.get(8..10)?.parse().ok()?;
        if !text.get(0..4)?.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Date::from_ymd(year, month, day)
    }

    /// Year, month and day.
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    /// The start of the medical year containing this date, for a year starting on `start`
    /// (month, day).
    pub fn year_start(self, start: (u32, u32)) -> Date {
        let (y, m, d) = self.ymd();
        let year = if (m, d) >= start { y } else { y - 1 };
        first_valid(year, start)
    }
}

fn first_valid(year: i32, (month, day): (u32, u32)) -> Date {
    // A year starting on 02-29 starts on 03-01 in common years.
    Date::from_ymd(year, month, day)
        .or_else(|| Date::from_ymd(year, month + 1, 1))
        .unwrap_or(Date(days_from_civil(year, 1, 1)))
}

/// Whether `month`-`day` names a day of some year (02-29 included).
pub fn valid_month_day(month: u32, day: u32) -> bool {
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(2000, month)
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

// Howard Hinnant's `days_from_civil` and `civil_from_days`.
fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i32) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i32::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_day_of_four_centuries() {
        let start = Date::from_ymd(1900, 1, 1).map(|d| d.0).unwrap_or_default();
        for n in start..start + 146_097 {
            let (y, m, d) = Date(n).ymd();
            assert_eq!(Date::from_ymd(y, m, d), Some(Date(n)));
        }
    }

    #[test]
    fn rejects_days_that_do_not_exist() {
        assert_eq!(Date::parse("2023-02-29"), None);
        assert_eq!(Date::parse("2023-02-30"), None);
        assert_eq!(Date::parse("2023-13-01"), None);
        assert!(Date::parse("2024-02-29").is_some());
        assert_eq!(Date::parse("1970-01-01"), Some(Date(0)));
    }

    #[test]
    fn medical_year_starts() {
        let d = Date::parse("2021-03-15").unwrap_or(Date(0));
        assert_eq!(d.year_start((1, 1)).to_string(), "2021-01-01");
        assert_eq!(d.year_start((7, 1)).to_string(), "2020-07-01");
        assert_eq!(d.year_start((3, 15)).to_string(), "2021-03-15");
    }
}
