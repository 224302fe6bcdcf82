//! Calendar dates as days since 1970-01-01, the form both backends compute with, and the
//! calendar arithmetic of the language (`date + 1 month`, `year(d)`, `years_between(a, b)`),
//! written once here for the reference interpreter, the closures and the compiled code's
//! helpers alike.

use std::fmt;

/// The unit of a length of time added to a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateUnit {
    /// Days: `3 days`.
    Days,
    /// Calendar months: `1 month`; a day past the end of the month reached is its last day.
    Months,
}

/// A part of a date read as a whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatePart {
    /// `year(d)`: 2024.
    Year,
    /// `month(d)`: 1 to 12.
    Month,
    /// `day(d)`: 1 to 31.
    Day,
}

impl DatePart {
    /// The function that reads it, as a policy writes it.
    pub fn name(self) -> &'static str {
        match self {
            DatePart::Year => "year",
            DatePart::Month => "month",
            DatePart::Day => "day",
        }
    }
}

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

    /// The first day a date may be: 0001-01-01.
    pub const MIN: Date = Date(-719_162);
    /// The last day a date may be: 9999-12-31.
    pub const MAX: Date = Date(2_932_896);

    /// The date `n` days or months later (earlier when `n` is negative); `None` outside
    /// 0001-01-01 to 9999-12-31. A month later than 01-31 is the last day of February: a day
    /// past the end of the month reached becomes that month's last day.
    pub fn shift(self, n: i64, unit: DateUnit) -> Option<Date> {
        let shifted = match unit {
            DateUnit::Days => Date(i32::try_from(i64::from(self.0).checked_add(n)?).ok()?),
            DateUnit::Months => {
                let (y, m, d) = self.ymd();
                let index = (i64::from(y) * 12 + i64::from(m) - 1).checked_add(n)?;
                let year = i32::try_from(index.div_euclid(12)).ok()?;
                let month = u32::try_from(index.rem_euclid(12) + 1).ok()?;
                if !(1..=9999).contains(&year) {
                    return None;
                }
                Date(days_from_civil(year, month, d.min(days_in_month(year, month))))
            }
        };
        (Date::MIN..=Date::MAX).contains(&shifted).then_some(shifted)
    }

    /// The year, month or day of the date.
    pub fn part(self, part: DatePart) -> i64 {
        let (y, m, d) = self.ymd();
        match part {
            DatePart::Year => i64::from(y),
            DatePart::Month => i64::from(m),
            DatePart::Day => i64::from(d),
        }
    }

    /// Whole years from `self` to `to` (an age): the number of anniversaries of `self` on or
    /// before `to`, an anniversary being `self` plus a number of years as months are added (so
    /// one born on 02-29 has an anniversary on 02-28 of a common year). Negative when `to` is
    /// earlier: minus the whole years from `to` to `self`.
    pub fn years_between(self, to: Date) -> i64 {
        if to < self {
            return -to.years_between(self);
        }
        let (from_y, ..) = self.ymd();
        let (to_y, ..) = to.ymd();
        let years = i64::from(to_y - from_y);
        match self.shift(years * 12, DateUnit::Months) {
            Some(anniversary) if anniversary <= to => years,
            _ => years - 1,
        }
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
    fn the_bounds_are_the_first_and_last_days() {
        assert_eq!(Date::from_ymd(1, 1, 1), Some(Date::MIN));
        assert_eq!(Date::from_ymd(9999, 12, 31), Some(Date::MAX));
        assert_eq!(Date::MAX.shift(1, DateUnit::Days), None);
        assert_eq!(Date::MIN.shift(-1, DateUnit::Days), None);
        assert_eq!(Date::MAX.shift(1, DateUnit::Months), None);
        assert_eq!(Date::MIN.shift(-1, DateUnit::Months), None);
        assert_eq!(Date::MIN.shift(i64::MAX, DateUnit::Months), None);
        assert_eq!(Date::MAX.shift(i64::MIN, DateUnit::Days), None);
    }

    fn date(text: &str) -> Date {
        Date::parse(text).unwrap_or(Date(i32::MIN))
    }

    #[test]
    fn months_clamp_to_the_end_of_the_month_reached() {
        let after = |d: &str, n| date(d).shift(n, DateUnit::Months).map(|d| d.to_string());
        assert_eq!(after("2021-01-31", 1).as_deref(), Some("2021-02-28"));
        assert_eq!(after("2024-01-31", 1).as_deref(), Some("2024-02-29"));
        assert_eq!(after("2024-03-31", -1).as_deref(), Some("2024-02-29"));
        assert_eq!(after("2021-12-15", 1).as_deref(), Some("2022-01-15"));
        assert_eq!(after("2022-01-15", -1).as_deref(), Some("2021-12-15"));
        assert_eq!(after("2024-02-29", 12).as_deref(), Some("2025-02-28"));
        assert_eq!(after("2024-02-29", -48).as_deref(), Some("2020-02-29"));
        assert_eq!(after("2021-05-31", -3).as_deref(), Some("2021-02-28"));
    }

    /// Whole years counted the slow way: step one day at a time from `from`, counting the days
    /// whose month and day are the birthday's (02-29 counting on 02-28 in common years).
    fn slow_years(from: Date, to: Date) -> i64 {
        let (_, bm, bd) = from.ymd();
        let mut years = 0;
        let mut day = from;
        while day < to {
            day = Date(day.0 + 1);
            let (y, m, d) = day.ymd();
            let leap = Date::from_ymd(y, 2, 29).is_some();
            if (m, d) == (bm, bd) || (!leap && (bm, bd) == (2, 29) && (m, d) == (2, 28)) {
                years += 1;
            }
        }
        years
    }

    #[test]
    fn years_between_counts_anniversaries() {
        assert_eq!(date("1980-06-15").years_between(date("2021-06-14")), 40);
        assert_eq!(date("1980-06-15").years_between(date("2021-06-15")), 41);
        assert_eq!(date("2000-02-29").years_between(date("2001-02-28")), 1);
        assert_eq!(date("2000-02-29").years_between(date("2001-02-27")), 0);
        assert_eq!(date("2021-06-15").years_between(date("1980-06-15")), -41);
        let mut x: u32 = 0x2545_f491;
        for _ in 0..400 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let from = Date(date("1996-01-01").0 + (x % 3000) as i32);
            let to = Date(from.0 + ((x >> 12) % 2200) as i32);
            assert_eq!(from.years_between(to), slow_years(from, to), "{from} to {to}");
        }
    }

    #[test]
    fn parts_of_a_date() {
        let d = date("2024-02-29");
        assert_eq!(
            [DatePart::Year, DatePart::Month, DatePart::Day].map(|p| d.part(p)),
            [2024, 2, 29]
        );
    }

    #[test]
    fn medical_year_starts() {
        let d = Date::parse("2021-03-15").unwrap_or(Date(0));
        assert_eq!(d.year_start((1, 1)).to_string(), "2021-01-01");
        assert_eq!(d.year_start((7, 1)).to_string(), "2020-07-01");
        assert_eq!(d.year_start((3, 15)).to_string(), "2021-03-15");
    }
}
