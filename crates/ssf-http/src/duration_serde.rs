//! Durations in configuration files: `"500ms"`, `"5s"`, `"2m"`, `"1h"`, `"1d"`, or a bare integer
//! number of seconds.
//!
//! Use with `#[serde(with = "ssf_http::duration_serde")]`, or [`duration_serde::vec`](mod@vec) for a list such as a retry
//! schedule. Serialization writes the largest unit that represents the value exactly.

use std::{fmt, time::Duration};

use serde::{Deserializer, Serializer, de};

const UNITS: &[(&str, u64)] = &[
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
];

/// Parses `"<digits><unit>"` with unit `ms`, `s`, `m`, `h` or `d` (whitespace between allowed).
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {text:?} has no unit: write e.g. \"5s\" or \"500ms\""))?;
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("duration {text:?} must start with a whole number"))?;
    let millis_per_unit = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(format!(
                "duration {text:?} has unknown unit {other:?}: use ms, s, m, h or d"
            ));
        }
    };
    value
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {text:?} is too large"))
}

/// Formats `d` in the largest unit that represents it exactly (sub-millisecond parts dropped).
pub fn format(d: Duration) -> String {
    let millis = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return "0s".to_owned();
    }
    for &(unit, per) in UNITS {
        if millis % per == 0 {
            return format!("{}{unit}", millis / per);
        }
    }
    format!("{millis}ms")
}

/// Serializes a [`Duration`] as a string such as `"5s"`.
pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*d))
}

/// Deserializes a [`Duration`] from `"5s"`-style text or an integer number of seconds.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"5s\", \"500ms\", \"2m\", \"1h\", or whole seconds")
    }

    fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(secs))
    }

    fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Duration, E> {
        u64::try_from(secs)
            .map(Duration::from_secs)
            .map_err(|_| E::custom("a duration cannot be negative"))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).map_err(E::custom)
    }
}

/// The same format for a list of durations, e.g. `["1s", "5s", "30s"]`.
pub mod vec {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    /// Serializes each duration as a string such as `"5s"`.
    pub fn serialize<S: Serializer>(list: &[Duration], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(list.len()))?;
        for d in list {
            seq.serialize_element(&super::format(*d))?;
        }
        seq.end()
    }

    /// Deserializes a list whose items are `"5s"`-style text or whole seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Item(#[serde(with = "super")] Duration);
        let items = Vec::<Item>::deserialize(deserializer)?;
        Ok(items.into_iter().map(|Item(d)| d).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse(" 2 m "), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn bad_durations_say_what_to_write() {
        assert!(parse("5").unwrap_err().contains("no unit"));
        assert!(parse("5w").unwrap_err().contains("unknown unit"));
        assert!(parse("s").unwrap_err().contains("whole number"));
        assert!(parse("-5s").unwrap_err().contains("whole number"));
        assert!(
            parse("99999999999999999d")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn formats_in_the_largest_exact_unit() {
        assert_eq!(format(Duration::from_secs(90)), "90s");
        assert_eq!(format(Duration::from_secs(120)), "2m");
        assert_eq!(format(Duration::from_secs(86_400)), "1d");
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format(Duration::ZERO), "0s");
        for text in ["90s", "2m", "1d", "1500ms", "0s"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
