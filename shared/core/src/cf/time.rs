//! CF time coordinates: `units = "<unit> since <reference>"` plus a calendar,
//! decoded into typed instants and encoded back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Calendar;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// Why a time could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// The units string is not `<unit> since <reference>`.
    #[error("time units {0:?} are not of the form '<unit> since <reference date>'")]
    NotTimeUnits(String),
    /// The unit is not a known time unit.
    #[error("unknown time unit {unit:?} in {units:?}")]
    UnknownUnit {
        /// The unit word.
        unit: String,
        /// The whole units string.
        units: String,
    },
    /// Months and years have no fixed length outside the 360_day calendar.
    #[error("'{unit} since' is only defined for the 360_day calendar (CF 4.4), not for {calendar}")]
    AmbiguousUnit {
        /// The unit word.
        unit: String,
        /// The calendar in use.
        calendar: Calendar,
    },
    /// The date text could not be parsed.
    #[error("cannot read {0:?} as a date-time (expected YYYY-MM-DD[Thh:mm[:ss[.f]]][Z|±hh[:mm]])")]
    BadDateTime(String),
    /// The date does not exist in the calendar.
    #[error("{date} does not exist in the {calendar} calendar")]
    InvalidDate {
        /// The date, as written.
        date: String,
        /// The calendar.
        calendar: Calendar,
    },
    /// The value is not finite or out of range.
    #[error("time value {0} is not finite or out of range")]
    OutOfRange(f64),
}

/// Calendar fields of a date-time, as written in a CF reference or a query;
/// which dates exist depends on the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CfDateTime {
    /// Year (astronomical numbering: year 0 exists, -1 is 2 BC).
    pub year: i64,
    /// Month, 1-12.
    pub month: u8,
    /// Day of month, 1-31.
    pub day: u8,
    /// Hour, 0-23.
    pub hour: u8,
    /// Minute, 0-59.
    pub minute: u8,
    /// Second, 0-59 (no leap seconds in CF calendars).
    pub second: u8,
    /// Microseconds, 0-999999.
    pub micros: u32,
    /// Offset from UTC in minutes, as written (`+01:00` is 60).
    pub utc_offset_minutes: i32,
}

impl CfDateTime {
    /// Midnight of a date.
    pub fn date(year: i64, month: u8, day: u8) -> Self {
        Self { year, month, day, hour: 0, minute: 0, second: 0, micros: 0, utc_offset_minutes: 0 }
    }

    /// Parses `YYYY-M-D`, optionally followed by `T` or spaces and
    /// `h[:m[:s[.f]]]`, optionally followed by `Z`, `UTC`, `GMT` or `±h[:mm]`.
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let bad = || TimeError::BadDateTime(text.to_string());
        let s = text.trim();
        let (neg, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        // Date part: up to the first 'T' or space.
        let split = s.find(['T', 't', ' ']).unwrap_or(s.len());
        let (date, rest) = s.split_at(split);
        let mut parts = date.split('-');
        let year: i64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let month: u8 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let day: u8 = parts.next().map_or(Some(1), |p| p.parse().ok()).ok_or_else(bad)?;
        if parts.next().is_some() {
            return Err(bad());
        }
        let mut out = Self::date(if neg { -year } else { year }, month, day);
        let rest = rest.trim_start_matches(['T', 't']).trim();
        if rest.is_empty() {
            return Ok(out);
        }
        // Time-zone suffix.
        let (clock, tz) = split_timezone(rest);
        let clock = clock.trim();
        if !clock.is_empty() {
            let mut f = clock.split(':');
            out.hour = f.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
            if let Some(m) = f.next() {
                out.minute = m.parse().map_err(|_| bad())?;
            }
            if let Some(sec) = f.next() {
                let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
                out.second = whole.parse().map_err(|_| bad())?;
                if !frac.is_empty() {
                    if !frac.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(bad());
                    }
                    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
                    out.micros = digits.parse().map_err(|_| bad())?;
                }
            }
            if f.next().is_some() || out.hour > 23 || out.minute > 59 || out.second > 59 {
                return Err(bad());
            }
        }
        if let Some(tz) = tz {
            out.utc_offset_minutes = parse_offset(tz).ok_or_else(bad)?;
        }
        Ok(out)
    }
}

fn split_timezone(s: &str) -> (&str, Option<&str>) {
    let upper = s.to_ascii_uppercase();
    for suffix in ["UTC", "GMT", "Z"] {
        if upper.ends_with(suffix) {
            return (&s[..s.len() - suffix.len()], Some("+0"));
        }
    }
    // A sign after the clock starts an offset ("12:00:00+01:00", "00:00 -6").
    match s.rfind(['+', '-']) {
        Some(i) if i > 0 => (&s[..i], Some(&s[i..])),
        Some(0) => ("", Some(s)),
        _ => (s, None),
    }
}

fn parse_offset(tz: &str) -> Option<i32> {
    let tz = tz.trim();
    let (sign, body) = match tz.as_bytes().first()? {
        b'+' => (1, &tz[1..]),
        b'-' => (-1, &tz[1..]),
        _ => return None,
    };
    let body = body.trim();
    let (h, m) = match body.split_once(':') {
        Some((h, m)) => (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?),
        None if body.len() == 4 && body.bytes().all(|b| b.is_ascii_digit()) => {
            (body[..2].parse().ok()?, body[2..].parse().ok()?)
        }
        None => (body.parse().ok()?, 0),
    };
    (h <= 14 && m < 60).then_some(sign * (h * 60 + m))
}

/// An instant in a CF calendar, with microsecond resolution (as cftime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CfTime {
    calendar: Calendar,
    /// Microseconds since day 0 of the calendar, UTC.
    micros: i64,
}

impl CfTime {
    /// The instant of a date-time in a calendar (its UTC offset applied).
    pub fn new(calendar: Calendar, dt: &CfDateTime) -> Result<Self, TimeError> {
        if !calendar.is_valid_date(dt.year, dt.month, dt.day) {
            return Err(TimeError::InvalidDate {
                date: format!("{:04}-{:02}-{:02}", dt.year, dt.month, dt.day),
                calendar,
            });
        }
        let day = calendar.day_number(dt.year, dt.month, dt.day);
        let secs = i64::from(dt.hour) * 3600 + i64::from(dt.minute) * 60 + i64::from(dt.second)
            - i64::from(dt.utc_offset_minutes) * 60;
        let micros = day
            .checked_mul(MICROS_PER_DAY)
            .and_then(|m| m.checked_add(secs * MICROS_PER_SECOND + i64::from(dt.micros)))
            .ok_or(TimeError::InvalidDate { date: format!("{}", dt.year), calendar })?;
        Ok(Self { calendar, micros })
    }

    /// Parses an ISO-8601-like text in `calendar` (e.g. `2001-02-30T12:00Z` in 360_day).
    pub fn parse(text: &str, calendar: Calendar) -> Result<Self, TimeError> {
        Self::new(calendar, &CfDateTime::parse(text)?)
    }

    /// The calendar of the instant.
    pub fn calendar(&self) -> Calendar {
        self.calendar
    }

    /// Microseconds since day 0 of the calendar.
    pub fn micros(&self) -> i64 {
        self.micros
    }

    /// The instant shifted by a number of microseconds.
    pub fn add_micros(self, delta: i64) -> Option<Self> {
        Some(Self { calendar: self.calendar, micros: self.micros.checked_add(delta)? })
    }

    /// Calendar fields (UTC).
    pub fn fields(&self) -> CfDateTime {
        let day = self.micros.div_euclid(MICROS_PER_DAY);
        let rem = self.micros.rem_euclid(MICROS_PER_DAY);
        let (year, month, d) = self.calendar.date(day);
        let secs = rem / MICROS_PER_SECOND;
        CfDateTime {
            year,
            month,
            day: d,
            hour: (secs / 3600) as u8,
            minute: (secs / 60 % 60) as u8,
            second: (secs % 60) as u8,
            micros: (rem % MICROS_PER_SECOND) as u32,
            utc_offset_minutes: 0,
        }
    }
}

impl fmt::Display for CfTime {
    /// ISO 8601 in the instant's calendar: `2046-02-30T00:00:00Z`; fractions of a
    /// second only when present.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.fields();
        if t.year < 0 {
            write!(f, "-{:04}", -t.year)?;
        } else {
            write!(f, "{:04}", t.year)?;
        }
        write!(f, "-{:02}-{:02}T{:02}:{:02}:{:02}", t.month, t.day, t.hour, t.minute, t.second)?;
        if t.micros != 0 {
            let frac = format!("{:06}", t.micros);
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

impl Serialize for CfTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The unit of a CF time coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// `microseconds`, `us`.
    Microseconds,
    /// `milliseconds`, `ms`, `msec`.
    Milliseconds,
    /// `seconds`, `s`, `sec`.
    Seconds,
    /// `minutes`, `min`.
    Minutes,
    /// `hours`, `h`, `hr`.
    Hours,
    /// `days`, `d`.
    Days,
    /// `weeks`.
    Weeks,
    /// `months`: 30 days, 360_day calendar only.
    Months,
    /// `years`: 360 days, 360_day calendar only.
    Years,
}

impl TimeUnit {
    /// The unit a CF `units` word names (`hours`, `hrs`, `h`, `min`, `s`,
    /// `days`…): the hub's one table of CF time units.
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "microseconds" | "microsecond" | "us" | "usec" | "usecs" => Self::Microseconds,
            "milliseconds" | "millisecond" | "ms" | "msec" | "msecs" => Self::Milliseconds,
            "seconds" | "second" | "s" | "sec" | "secs" => Self::Seconds,
            "minutes" | "minute" | "min" | "mins" => Self::Minutes,
            "hours" | "hour" | "h" | "hr" | "hrs" => Self::Hours,
            "days" | "day" | "d" => Self::Days,
            "weeks" | "week" => Self::Weeks,
            "months" | "month" => Self::Months,
            "years" | "year" | "yr" | "yrs" => Self::Years,
            _ => return None,
        })
    }

    /// Length of the unit in microseconds.
    pub fn micros(self) -> i64 {
        match self {
            Self::Microseconds => 1,
            Self::Milliseconds => 1000,
            Self::Seconds => MICROS_PER_SECOND,
            Self::Minutes => 60 * MICROS_PER_SECOND,
            Self::Hours => 3600 * MICROS_PER_SECOND,
            Self::Days => MICROS_PER_DAY,
            Self::Weeks => 7 * MICROS_PER_DAY,
            Self::Months => 30 * MICROS_PER_DAY,
            Self::Years => 360 * MICROS_PER_DAY,
        }
    }

    /// The CF spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Microseconds => "microseconds",
            Self::Milliseconds => "milliseconds",
            Self::Seconds => "seconds",
            Self::Minutes => "minutes",
            Self::Hours => "hours",
            Self::Days => "days",
            Self::Weeks => "weeks",
            Self::Months => "months",
            Self::Years => "years",
        }
    }
}

/// The encoding of a CF time coordinate: unit, reference instant and calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEncoding {
    /// The unit of the stored numbers.
    pub unit: TimeUnit,
    /// The instant the numbers count from.
    pub reference: CfTime,
}

impl TimeEncoding {
    /// Reads `units` (e.g. `"days since 1859-12-01"`) in `calendar`.
    pub fn parse(units: &str, calendar: Calendar) -> Result<Self, TimeError> {
        let lower = units.to_ascii_lowercase();
        let idx = lower.find(" since ").ok_or_else(|| TimeError::NotTimeUnits(units.to_string()))?;
        let word = units[..idx].trim();
        let unit = TimeUnit::parse(word)
            .ok_or_else(|| TimeError::UnknownUnit { unit: word.to_string(), units: units.to_string() })?;
        if matches!(unit, TimeUnit::Months | TimeUnit::Years) && calendar != Calendar::Day360 {
            return Err(TimeError::AmbiguousUnit { unit: word.to_string(), calendar });
        }
        let reference = CfTime::parse(&units[idx + " since ".len()..], calendar)?;
        Ok(Self { unit, reference })
    }

    /// Reads the `units` and `calendar` attributes of a time variable (a missing
    /// calendar means `standard`, as CF says).
    pub fn from_attrs(units: &str, calendar: Option<&str>) -> Result<Self, TimeError> {
        let calendar = match calendar {
            Some(name) => {
                Calendar::from_str(name).map_err(|_| TimeError::NotTimeUnits(format!("calendar {name:?}")))?
            }
            None => Calendar::Standard,
        };
        Self::parse(units, calendar)
    }

    /// The calendar.
    pub fn calendar(&self) -> Calendar {
        self.reference.calendar()
    }

    /// The `units` attribute spelling, e.g. `days since 1970-01-01T00:00:00Z`.
    pub fn units(&self) -> String {
        format!("{} since {}", self.unit.name(), self.reference)
    }

    /// The instant of a stored value.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    pub fn decode(&self, value: f64) -> Result<CfTime, TimeError> {
        if !value.is_finite() || value.abs() > 1e15 {
            return Err(TimeError::OutOfRange(value));
        }
        let unit = self.unit.micros();
        let whole = value.trunc() as i64;
        let frac = ((value - value.trunc()) * unit as f64).round() as i64;
        whole
            .checked_mul(unit)
            .and_then(|w| w.checked_add(frac))
            .and_then(|delta| self.reference.add_micros(delta))
            .ok_or(TimeError::OutOfRange(value))
    }

    /// The stored value of an instant (in this encoding's calendar).
    #[allow(clippy::cast_precision_loss)]
    pub fn encode(&self, t: &CfTime) -> f64 {
        (t.micros() - self.reference.micros()) as f64 / self.unit.micros() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: a UTC offset of four bytes that are not four ASCII
    /// digits was sliced inside a character.
    #[test]
    fn offsets_with_multibyte_characters_are_errors_not_panics() {
        for text in ["6-2T4-\u{fffd}4", "2024-01-01T00:00-é1", "2024-01-01T00:00+1é"] {
            assert!(CfDateTime::parse(text).is_err(), "{text}");
        }
        assert_eq!(CfDateTime::parse("2024-01-01T00:00-0130").map(|d| d.utc_offset_minutes).ok(), Some(-90));
    }

    fn enc(units: &str, cal: &str) -> TimeEncoding {
        TimeEncoding::from_attrs(units, Some(cal)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_the_reference_forms_found_in_real_files() {
        for (units, expect) in [
            ("days since 1859-12-01", "1859-12-01T00:00:00Z"),
            ("days since 2046-1-1", "2046-01-01T00:00:00Z"),
            ("hours since 1900-01-01 00:00:0.0", "1900-01-01T00:00:00Z"),
            ("days since 1950-01-01 00:00:00.0", "1950-01-01T00:00:00Z"),
            ("seconds since 1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
            ("hours since 2000-01-01 06:00:00 UTC", "2000-01-01T06:00:00Z"),
            ("minutes since 2000-01-01 00:00 +01:00", "1999-12-31T23:00:00Z"),
            ("days since 1-1-1", "0001-01-01T00:00:00Z"),
        ] {
            assert_eq!(enc(units, "standard").reference.to_string(), expect, "{units}");
        }
    }

    #[test]
    fn decodes_in_each_calendar() {
        let e = enc("days since 1859-12-01", "360_day");
        assert_eq!(e.decode(30.0).map(|t| t.to_string()), Ok("1860-01-01T00:00:00Z".into()));
        assert_eq!(e.decode(89.0).map(|t| t.to_string()), Ok("1860-02-30T00:00:00Z".into()));
        let e = enc("days since 2046-1-1", "noleap");
        assert_eq!(e.decode(59.0).map(|t| t.to_string()), Ok("2046-03-01T00:00:00Z".into()));
        assert_eq!(e.decode(365.5).map(|t| t.to_string()), Ok("2047-01-01T12:00:00Z".into()));
        let e = enc("days since 2000-01-01", "all_leap");
        assert_eq!(e.decode(366.0 + 59.0).map(|t| t.to_string()), Ok("2001-02-29T00:00:00Z".into()));
        let e = enc("days since 1582-10-04", "gregorian");
        assert_eq!(e.decode(1.0).map(|t| t.to_string()), Ok("1582-10-15T00:00:00Z".into()));
        let e = enc("days since 1582-10-04", "proleptic_gregorian");
        assert_eq!(e.decode(1.0).map(|t| t.to_string()), Ok("1582-10-05T00:00:00Z".into()));
        let e = enc("days since 1900-02-28", "julian");
        assert_eq!(e.decode(1.0).map(|t| t.to_string()), Ok("1900-02-29T00:00:00Z".into()));
        let e = enc("hours since 1900-01-01 00:00:0.0", "standard");
        assert_eq!(e.decode(1_000_000.25).map(|t| t.to_string()), Ok("2014-01-29T16:15:00Z".into()));
    }

    #[test]
    fn encode_inverts_decode() {
        let e = enc("hours since 2000-01-01", "360_day");
        for v in [-1000.5, 0.0, 1.0, 8639.75, 1e6] {
            let t = e.decode(v).unwrap_or_else(|err| panic!("{err}"));
            assert!((e.encode(&t) - v).abs() < 1e-9, "{v}");
        }
    }

    #[test]
    fn months_only_in_360_day() {
        assert!(TimeEncoding::parse("months since 2000-01-01", Calendar::Standard).is_err());
        let e = enc("months since 2000-01-01", "360_day");
        assert_eq!(e.decode(13.0).map(|t| t.to_string()), Ok("2001-02-01T00:00:00Z".into()));
    }

    #[test]
    fn refuses_bad_units_and_dates() {
        for bad in [
            "kelvin",
            "days after 2000-01-01",
            "fortnights since 2000-01-01",
            "days since 2000-13-01",
            "days since yesterday",
        ] {
            assert!(TimeEncoding::from_attrs(bad, None).is_err(), "{bad}");
        }
        assert!(TimeEncoding::parse("days since 2001-02-29", Calendar::NoLeap).is_err());
        assert!(TimeEncoding::parse("days since 2001-02-30", Calendar::Day360).is_ok());
        assert!(enc("days since 2000-01-01", "standard").decode(f64::NAN).is_err());
    }

    #[test]
    fn parses_query_instants() {
        let t = CfTime::parse("2001-02-30T12:30:15.25Z", Calendar::Day360).map(|t| t.to_string());
        assert_eq!(t, Ok("2001-02-30T12:30:15.25Z".into()));
        assert!(CfTime::parse("2001-02-30", Calendar::Standard).is_err());
        assert!(CfTime::parse("2001-01-01T25:00", Calendar::Standard).is_err());
    }
}
