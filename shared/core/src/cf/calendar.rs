//! CF calendars and calendar dates.
//!
//! Each calendar numbers its days continuously; a date converts to a day number
//! and back. Day numbers are only compared within one calendar, so each calendar
//! chooses its own origin (for the Gregorian ones, 1970-01-01 is day 0).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The calendars of the CF conventions (section 4.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calendar {
    /// `standard` / `gregorian`: Julian before 1582-10-15, Gregorian from then on
    /// (1582-10-05 to 1582-10-14 do not exist).
    Standard,
    /// `proleptic_gregorian`: Gregorian rules for every year.
    ProlepticGregorian,
    /// `julian`: every fourth year is a leap year.
    Julian,
    /// `noleap` / `365_day`: no leap years.
    NoLeap,
    /// `all_leap` / `366_day`: every year is a leap year.
    AllLeap,
    /// `360_day`: twelve months of 30 days.
    Day360,
}

/// A calendar name the CF conventions do not define (or `none`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported calendar {0:?}: expected standard, gregorian, proleptic_gregorian, julian, noleap, 365_day, all_leap, 366_day or 360_day"
)]
pub struct UnknownCalendar(pub String);

impl FromStr for Calendar {
    type Err = UnknownCalendar;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "standard" | "gregorian" => Self::Standard,
            "proleptic_gregorian" => Self::ProlepticGregorian,
            "julian" => Self::Julian,
            "noleap" | "no_leap" | "365_day" => Self::NoLeap,
            "all_leap" | "366_day" => Self::AllLeap,
            "360_day" => Self::Day360,
            _ => return Err(UnknownCalendar(s.to_string())),
        })
    }
}

impl Calendar {
    /// The CF name (the canonical one of its synonyms).
    pub fn name(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::ProlepticGregorian => "proleptic_gregorian",
            Self::Julian => "julian",
            Self::NoLeap => "noleap",
            Self::AllLeap => "all_leap",
            Self::Day360 => "360_day",
        }
    }

    /// Whether `year` has a 29 February (or, for 360_day, always false).
    pub fn is_leap(self, year: i64) -> bool {
        match self {
            Self::ProlepticGregorian => gregorian_leap(year),
            Self::Julian => year.rem_euclid(4) == 0,
            Self::Standard => {
                if year < 1582 {
                    year.rem_euclid(4) == 0
                } else {
                    gregorian_leap(year)
                }
            }
            Self::NoLeap | Self::Day360 => false,
            Self::AllLeap => true,
        }
    }

    /// Number of days in `month` (1-12) of `year`.
    pub fn days_in_month(self, year: i64, month: u8) -> u8 {
        if self == Self::Day360 {
            return 30;
        }
        match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if self.is_leap(year) => 29,
            2 => 28,
            _ => 0,
        }
    }

    /// Whether the date exists in this calendar.
    pub fn is_valid_date(self, year: i64, month: u8, day: u8) -> bool {
        if !(1..=12).contains(&month) || day == 0 || day > self.days_in_month(year, month) {
            return false;
        }
        // The ten days skipped by the Gregorian reform.
        !(self == Self::Standard && year == 1582 && month == 10 && (5..=14).contains(&day))
    }

    /// Day number of a date (the date must be valid, see [`Self::is_valid_date`]).
    pub fn day_number(self, year: i64, month: u8, day: u8) -> i64 {
        let (m, d) = (i64::from(month), i64::from(day));
        match self {
            Self::ProlepticGregorian => gregorian_days(year, m, d),
            Self::Julian => julian_days(year, m, d),
            Self::Standard => {
                if (year, month, day) >= (1582, 10, 15) {
                    gregorian_days(year, m, d)
                } else {
                    julian_days(year, m, d)
                }
            }
            Self::NoLeap => year * 365 + CUM_NOLEAP[(month - 1) as usize] + d - 1,
            Self::AllLeap => year * 366 + CUM_LEAP[(month - 1) as usize] + d - 1,
            Self::Day360 => year * 360 + (m - 1) * 30 + d - 1,
        }
    }

    /// The date of a day number: `(year, month, day)`.
    pub fn date(self, days: i64) -> (i64, u8, u8) {
        match self {
            Self::ProlepticGregorian => gregorian_date(days),
            Self::Julian => julian_date(days),
            Self::Standard => {
                if days >= GREGORIAN_REFORM_DAY {
                    gregorian_date(days)
                } else {
                    julian_date(days)
                }
            }
            Self::NoLeap => table_date(days, 365, &CUM_NOLEAP),
            Self::AllLeap => table_date(days, 366, &CUM_LEAP),
            Self::Day360 => {
                let year = days.div_euclid(360);
                let r = days.rem_euclid(360);
                (year, (r / 30 + 1) as u8, (r % 30 + 1) as u8)
            }
        }
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn gregorian_leap(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

const CUM_NOLEAP: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
const CUM_LEAP: [i64; 12] = [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335];

/// Day of the March-based year for a month and day (March 1 = 0).
fn march_day_of_year(m: i64, d: i64) -> i64 {
    (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1
}

/// Days since 1970-01-01 in the proleptic Gregorian calendar.
fn gregorian_days(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + march_day_of_year(m, d);
    era * 146_097 + doe - 719_468
}

fn gregorian_date(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    march_to_civil(era * 400 + yoe, doe - (365 * yoe + yoe / 4 - yoe / 100))
}

/// Days since 1970-01-01 (Julian calendar date 1969-12-19) in the Julian calendar,
/// so that both Gregorian-family counts share an origin.
fn julian_days(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(4);
    let yoe = y.rem_euclid(4);
    let doe = yoe * 365 + march_day_of_year(m, d);
    era * 1461 + doe - JULIAN_EPOCH_OFFSET
}

fn julian_date(days: i64) -> (i64, u8, u8) {
    let z = days + JULIAN_EPOCH_OFFSET;
    let era = z.div_euclid(1461);
    let doe = z.rem_euclid(1461);
    let yoe = (doe - doe / 1460) / 365;
    march_to_civil(era * 4 + yoe, doe - 365 * yoe)
}

fn march_to_civil(march_year: i64, doy: i64) -> (i64, u8, u8) {
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { march_year + 1 } else { march_year };
    (y, m as u8, d as u8)
}

/// Julian-count offset: Julian 0000-03-01 is this many days before 1970-01-01
/// (Gregorian), i.e. the Julian calendar ran 2 days behind in year 0.
const JULIAN_EPOCH_OFFSET: i64 = 719_470;

/// Day number of 1582-10-15 (Gregorian), the first day of the reform.
const GREGORIAN_REFORM_DAY: i64 = -141_427;

// In the mixed calendar, Julian dates continue the Gregorian count without a gap
// (Julian 1582-10-04 is the day before Gregorian 1582-10-15): the Julian count
// above shares the Gregorian origin, so both halves use their own count as is.

fn table_date(days: i64, year_len: i64, cum: &[i64; 12]) -> (i64, u8, u8) {
    let year = days.div_euclid(year_len);
    let doy = days.rem_euclid(year_len);
    let month = cum.iter().rposition(|&c| c <= doy).unwrap_or(0);
    (year, (month + 1) as u8, (doy - cum[month] + 1) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Calendar; 6] = [
        Calendar::Standard,
        Calendar::ProlepticGregorian,
        Calendar::Julian,
        Calendar::NoLeap,
        Calendar::AllLeap,
        Calendar::Day360,
    ];

    #[test]
    fn parses_cf_names_and_synonyms() {
        assert_eq!("gregorian".parse(), Ok(Calendar::Standard));
        assert_eq!("365_day".parse(), Ok(Calendar::NoLeap));
        assert_eq!("366_day".parse(), Ok(Calendar::AllLeap));
        assert_eq!("360_DAY".parse(), Ok(Calendar::Day360));
        assert!("none".parse::<Calendar>().is_err());
    }

    #[test]
    fn unix_epoch_is_day_zero_in_gregorian_calendars() {
        assert_eq!(Calendar::ProlepticGregorian.day_number(1970, 1, 1), 0);
        assert_eq!(Calendar::Standard.day_number(1970, 1, 1), 0);
        assert_eq!(Calendar::ProlepticGregorian.day_number(2000, 3, 1), 11_017);
        // The Julian calendar was 13 days behind in 1970.
        assert_eq!(Calendar::Julian.day_number(1969, 12, 19), 0);
    }

    #[test]
    fn gregorian_reform_has_no_gap_in_day_numbers() {
        let c = Calendar::Standard;
        assert_eq!(c.day_number(1582, 10, 15) - c.day_number(1582, 10, 4), 1);
        assert_eq!(c.day_number(1582, 10, 15), GREGORIAN_REFORM_DAY);
        assert_eq!(c.date(GREGORIAN_REFORM_DAY - 1), (1582, 10, 4));
        assert!(!c.is_valid_date(1582, 10, 10));
        // 1500 is a leap year in the mixed calendar, not in the proleptic one.
        assert!(c.is_valid_date(1500, 2, 29));
        assert!(!Calendar::ProlepticGregorian.is_valid_date(1500, 2, 29));
    }

    #[test]
    fn day_numbers_round_trip_every_day_of_four_centuries() {
        for cal in ALL {
            let start = cal.day_number(1500, 1, 1);
            let mut prev: Option<(i64, u8, u8)> = None;
            for n in start..start + 146_097 {
                let (y, m, d) = cal.date(n);
                assert!(cal.is_valid_date(y, m, d), "{cal}: {y}-{m}-{d}");
                assert_eq!(cal.day_number(y, m, d), n, "{cal}: {y}-{m}-{d}");
                if let Some(p) = prev {
                    assert!((y, m, d) > p, "{cal}: dates must increase");
                }
                prev = Some((y, m, d));
            }
        }
    }

    #[test]
    fn negative_years_round_trip() {
        for cal in ALL {
            for n in [-1_000_000, -719_468, -500_000] {
                let (y, m, d) = cal.date(n);
                assert_eq!(cal.day_number(y, m, d), n, "{cal}");
            }
        }
    }

    #[test]
    fn month_lengths() {
        assert_eq!(Calendar::Day360.days_in_month(2001, 2), 30);
        assert_eq!(Calendar::NoLeap.days_in_month(2000, 2), 28);
        assert_eq!(Calendar::AllLeap.days_in_month(2001, 2), 29);
        assert_eq!(Calendar::Julian.days_in_month(1900, 2), 29);
        assert_eq!(Calendar::ProlepticGregorian.days_in_month(1900, 2), 28);
    }
}
