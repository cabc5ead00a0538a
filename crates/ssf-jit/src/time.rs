//! Timestamps as ticket systems write them.
//!
//! - RFC 3339 (`2025-01-01T09:00:00Z`, `2025-01-01T09:00:00.123+02:00`) and Jira's variant
//!   without the colon in the offset (`2025-01-01T09:00:00.123+0000`);
//! - ServiceNow's `sys_updated_on` (`2025-01-01 09:00:00`, taken as UTC: the value a Business
//!   Rule gets from `current.sys_updated_on.getValue()`);
//! - integers: epoch seconds, or epoch milliseconds above 10^11 (Jira's `timestamp`).

use serde_json::Value;
use ssf_types::{UnixMillis, time::is_probably_millis};

/// Reads a JSON timestamp: a number (epoch seconds, or milliseconds when it looks like them),
/// a string of digits (the same), or a date-time string.
pub fn parse_json(value: &Value) -> Result<UnixMillis, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(from_epoch_number)
            .ok_or_else(|| format!("timestamp {n} is not a whole number")),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse::<i64>()
            .map(from_epoch_number)
            .map_err(|_| format!("timestamp {s:?} is too large")),
        Value::String(s) => parse_datetime(s),
        other => Err(format!(
            "timestamp must be a string or a number, not {other}"
        )),
    }
}

fn from_epoch_number(n: i64) -> UnixMillis {
    if is_probably_millis(n) {
        UnixMillis(n)
    } else {
        UnixMillis::from_secs(n)
    }
}

/// Parses `YYYY-MM-DD[T| ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM]`; no offset means UTC.
pub fn parse_datetime(text: &str) -> Result<UnixMillis, String> {
    let bad = || format!("{text:?} is not a date-time such as 2025-01-01T09:00:00Z");
    let t = text.trim().as_bytes();
    if t.len() < 19 || t.get(4) != Some(&b'-') || t.get(7) != Some(&b'-') {
        return Err(bad());
    }
    if !matches!(t.get(10), Some(b'T' | b't' | b' '))
        || t.get(13) != Some(&b':')
        || t.get(16) != Some(&b':')
    {
        return Err(bad());
    }
    let num = |from: usize, to: usize| -> Result<i64, String> {
        let part = t.get(from..to).ok_or_else(bad)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        part.iter()
            .try_fold(0i64, |acc, d| {
                acc.checked_mul(10)?.checked_add(i64::from(d - b'0'))
            })
            .ok_or_else(bad)
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(bad());
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let mut rest = t.get(19..).unwrap_or_default();
    let mut millis = 0i64;
    if let Some((b'.', frac)) = rest.split_first() {
        let digits = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad());
        }
        for (i, d) in frac.iter().take(digits).enumerate() {
            if i < 3 {
                millis = millis * 10 + i64::from(d - b'0');
            }
        }
        for _ in digits..3 {
            millis *= 10;
        }
        rest = frac.get(digits..).unwrap_or_default();
    }
    let offset_minutes = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            let v = |a: u8, b: u8| i64::from(a - b'0') * 10 + i64::from(b - b'0');
            let minutes = v(*h1, *h2) * 60 + v(*m1, *m2);
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_minutes * 60;
    Ok(UnixMillis(secs * 1000 + millis))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds (for logs and reason texts).
pub fn format_rfc3339(at: UnixMillis) -> String {
    let secs = at.0.div_euclid(1000);
    let millis = at.0.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Inverse of days_from_civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Serde for [`UnixMillis`] as an integer of epoch milliseconds:
/// `#[serde(with = "crate::time::millis")]`, or [`millis::option`] for `Option<UnixMillis>`.
pub mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use ssf_types::UnixMillis;

    /// Writes the integer.
    pub fn serialize<S: Serializer>(at: &UnixMillis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(at.0)
    }

    /// Reads the integer.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<UnixMillis, D::Error> {
        i64::deserialize(d).map(UnixMillis)
    }

    /// The same for `Option<UnixMillis>` (`null` when absent).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use ssf_types::UnixMillis;

        /// Writes the integer or `null`.
        pub fn serialize<S: Serializer>(at: &Option<UnixMillis>, s: S) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => s.serialize_some(&at.0),
                None => s.serialize_none(),
            }
        }

        /// Reads the integer or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<UnixMillis>, D::Error> {
            Option::<i64>::deserialize(d).map(|v| v.map(UnixMillis))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rfc3339_and_variants() {
        let base = UnixMillis::from_secs(1_735_722_000); // 2025-01-01T09:00:00Z
        assert_eq!(parse_datetime("2025-01-01T09:00:00Z").unwrap(), base);
        assert_eq!(parse_datetime("2025-01-01 09:00:00").unwrap(), base);
        assert_eq!(parse_datetime("2025-01-01T11:00:00+02:00").unwrap(), base);
        assert_eq!(
            parse_datetime("2025-01-01T09:00:00.123+0000").unwrap(),
            base.plus_millis(123)
        );
        assert_eq!(
            parse_datetime("2025-01-01T09:00:00.5Z").unwrap(),
            base.plus_millis(500)
        );
        assert_eq!(parse_datetime("2025-01-01T08:30:00-00:30").unwrap(), base);
        assert_eq!(
            parse_datetime("2024-02-29T00:00:00Z").unwrap(),
            UnixMillis::from_secs(1_709_164_800)
        );
        for bad in [
            "2025-13-01T00:00:00Z",
            "2025-02-30T00:00:00Z",
            "yesterday",
            "2025-01-01T09:00:00+2",
            "2025-01-01T09:00:00.",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_are_seconds_or_millis() {
        assert_eq!(
            parse_json(&json!(1_735_722_000)).unwrap(),
            UnixMillis::from_secs(1_735_722_000)
        );
        assert_eq!(
            parse_json(&json!(1_735_722_000_123_i64)).unwrap(),
            UnixMillis(1_735_722_000_123)
        );
        assert_eq!(
            parse_json(&json!("1735722000")).unwrap(),
            UnixMillis::from_secs(1_735_722_000)
        );
        assert!(parse_json(&json!(true)).is_err());
        assert!(parse_json(&json!(1.5)).is_err());
    }

    #[test]
    fn format_round_trips() {
        for text in [
            "2025-01-01T09:00:00.000Z",
            "1999-12-31T23:59:59.999Z",
            "2024-02-29T12:00:00.042Z",
        ] {
            assert_eq!(format_rfc3339(parse_datetime(text).unwrap()), text);
        }
    }
}
