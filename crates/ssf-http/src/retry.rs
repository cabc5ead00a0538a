//! When to try again: the retry schedule and `Retry-After`
//! ([RFC 8935 §2](https://www.rfc-editor.org/rfc/rfc8935#section-2) asks transmitters to back off;
//! checklist PUSH-16).
//!
//! Shared by push delivery and the receiver's RFC 8936 poller. Time is never read here: callers
//! pass `now` from their injected [`ssf_types::Clock`] and store the resulting due time durably.

use std::{
    fmt,
    sync::{Mutex, PoisonError},
    time::{Duration, UNIX_EPOCH},
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};
use ssf_types::UnixMillis;

use crate::HttpError;

/// Retry settings as they appear in `ssf.toml`. Unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryConfig {
    /// The wait after each failed attempt, in order; when they run out the SET is given up.
    /// Default `["1s", "5s", "30s", "2m", "10m", "1h", "6h", "24h"]`: nine attempts over about
    /// 31 hours, svix's shape.
    #[serde(with = "crate::duration_serde::vec")]
    pub delays: Vec<Duration>,
    /// Random spread applied to each delay, in percent either way (0..=100). Default 20, so
    /// receivers recovering from an outage are not hit by every transmitter at once.
    pub jitter_percent: u8,
    /// The longest `Retry-After` a peer may ask for. Default 1 h.
    #[serde(with = "crate::duration_serde")]
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            delays: [1, 5, 30, 120, 600, 3600, 6 * 3600, 24 * 3600]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            jitter_percent: 20,
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

/// A retry schedule with jitter from its own random generator (seedable for tests).
pub struct RetrySchedule {
    delays: Vec<Duration>,
    jitter: f64,
    max_retry_after: Duration,
    rng: Mutex<StdRng>,
}

impl fmt::Debug for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetrySchedule")
            .field("delays", &self.delays)
            .field("jitter", &self.jitter)
            .field("max_retry_after", &self.max_retry_after)
            .finish_non_exhaustive()
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::build(RetryConfig::default(), StdRng::from_os_rng())
    }
}

impl RetrySchedule {
    /// A schedule whose jitter comes from the operating system's random source.
    pub fn new(config: &RetryConfig) -> Result<Self, HttpError> {
        Self::with_rng(config, StdRng::from_os_rng())
    }

    /// A schedule with reproducible jitter, for tests and simulations.
    pub fn with_seed(config: &RetryConfig, seed: u64) -> Result<Self, HttpError> {
        Self::with_rng(config, StdRng::seed_from_u64(seed))
    }

    /// A schedule drawing jitter from `rng`.
    pub fn with_rng(config: &RetryConfig, rng: StdRng) -> Result<Self, HttpError> {
        if config.jitter_percent > 100 {
            return Err(HttpError::InvalidConfig {
                setting: "jitter_percent",
                reason: format!("{} is above 100", config.jitter_percent),
            });
        }
        Ok(Self::build(config.clone(), rng))
    }

    fn build(config: RetryConfig, rng: StdRng) -> Self {
        Self {
            delays: config.delays,
            jitter: f64::from(config.jitter_percent) / 100.0,
            max_retry_after: config.max_retry_after,
            rng: Mutex::new(rng),
        }
    }

    /// The configured delays, without jitter.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// How many attempts a message gets in all: the first plus one per delay.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The wait before the next attempt, after `attempts_made` attempts have all failed, or
    /// `None` when the schedule is exhausted and the message should be recorded as failed.
    ///
    /// `next_delay(1)` is the wait after the first failure (about 1 s by default); `next_delay(0)`
    /// is zero (nothing tried yet). The delay is spread by the jitter.
    pub fn next_delay(&self, attempts_made: u32) -> Option<Duration> {
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        self.next_delay_with(attempts_made, &mut *rng)
    }

    /// [`next_delay`](Self::next_delay) with jitter drawn from the caller's `rng`.
    pub fn next_delay_with<R: Rng + ?Sized>(
        &self,
        attempts_made: u32,
        rng: &mut R,
    ) -> Option<Duration> {
        let Some(index) = attempts_made.checked_sub(1) else {
            return Some(Duration::ZERO);
        };
        let base = *self.delays.get(usize::try_from(index).ok()?)?;
        if self.jitter == 0.0 || base.is_zero() {
            return Some(base);
        }
        let factor = 1.0 + rng.random_range(-self.jitter..=self.jitter);
        Some(Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(Duration::MAX))
    }

    /// The wait before the next attempt when the peer also sent `Retry-After`: the later of the
    /// schedule's delay and the peer's request, capped at `max_retry_after`. `None` when the
    /// schedule is exhausted (a `Retry-After` does not grant extra attempts).
    pub fn next_delay_after(
        &self,
        attempts_made: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let scheduled = self.next_delay(attempts_made)?;
        let asked =
            retry_after.map_or(Duration::ZERO, |d| cap_retry_after(d, self.max_retry_after));
        Some(scheduled.max(asked))
    }
}

/// Parses a `Retry-After` value, in either form of
/// [RFC 9110 §10.2.3](https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3): delay-seconds
/// (`120`) or an HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`, plus the obsolete RFC 850 and
/// asctime forms recipients must accept, [RFC 9110 §5.6.7](https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7)).
///
/// A date in the past gives zero. Anything else (negative, fractional, signed, trailing text,
/// non-ASCII) is ignored as `None`. Huge delay-seconds saturate; apply [`cap_retry_after`].
pub fn parse_retry_after(value: &HeaderValue, now: UnixMillis) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if text.is_empty() {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        // All digits, so a parse failure can only be overflow.
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    let at_millis = i128::try_from(at.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()?;
    let wait = at_millis - i128::from(now.0);
    Some(Duration::from_millis(
        u64::try_from(wait.max(0)).unwrap_or(u64::MAX),
    ))
}

/// Caps a peer's `Retry-After` so a receiver cannot park deliveries for longer than `max`.
pub fn cap_retry_after(retry_after: Duration, max: Duration) -> Duration {
    retry_after.min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    /// Sun, 06 Nov 1994 08:49:37 GMT, the RFC 9110 example date.
    const EXAMPLE_DATE_SECS: i64 = 784_111_777;

    #[test]
    fn retry_after_delay_seconds() {
        let now = UnixMillis(0);
        assert_eq!(
            parse_retry_after(&hv("120"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(&hv("0"), now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(&hv(" 7 "), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after(&hv("99999999999999999999999"), now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_http_date_in_all_three_forms() {
        let now = UnixMillis::from_secs(EXAMPLE_DATE_SECS - 120).plus_millis(500);
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(&hv(date), now),
                Some(Duration::from_millis(119_500)),
                "{date}"
            );
        }
    }

    #[test]
    fn retry_after_date_in_the_past_is_zero() {
        let now = UnixMillis::from_secs(EXAMPLE_DATE_SECS + 3600);
        assert_eq!(
            parse_retry_after(&hv("Sun, 06 Nov 1994 08:49:37 GMT"), now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage_is_ignored() {
        let now = UnixMillis::from_secs(EXAMPLE_DATE_SECS);
        for garbage in [
            "",
            "-1",
            "+5",
            "1.5",
            "12abc",
            "soon",
            "0x10",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "2024-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_retry_after(&hv(garbage), now), None, "{garbage:?}");
        }
        let non_ascii = HeaderValue::from_bytes(b"\xff120").unwrap();
        assert_eq!(parse_retry_after(&non_ascii, now), None);
    }

    #[test]
    fn retry_after_is_capped() {
        let hour = Duration::from_secs(3600);
        assert_eq!(
            cap_retry_after(Duration::from_secs(10), hour),
            Duration::from_secs(10)
        );
        assert_eq!(cap_retry_after(Duration::from_secs(u64::MAX), hour), hour);
    }

    fn no_jitter(delays: &[u64]) -> RetrySchedule {
        let config = RetryConfig {
            delays: delays.iter().copied().map(Duration::from_secs).collect(),
            jitter_percent: 0,
            ..RetryConfig::default()
        };
        RetrySchedule::with_seed(&config, 1).unwrap()
    }

    // PUSH-16: back off, then give up.
    #[test]
    fn push_16_default_schedule_then_exhaustion() {
        let s = no_jitter(&[1, 5, 30, 120, 600, 3600, 21_600, 86_400]);
        assert_eq!(s.delays(), RetryConfig::default().delays);
        assert_eq!(s.max_attempts(), 9);
        assert_eq!(s.next_delay(0), Some(Duration::ZERO));
        assert_eq!(s.next_delay(1), Some(Duration::from_secs(1)));
        assert_eq!(s.next_delay(2), Some(Duration::from_secs(5)));
        assert_eq!(s.next_delay(8), Some(Duration::from_secs(86_400)));
        assert_eq!(s.next_delay(9), None);
        assert_eq!(s.next_delay(u32::MAX), None);
        assert_eq!(no_jitter(&[]).next_delay(1), None);
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_varies() {
        let s = RetrySchedule::with_seed(&RetryConfig::default(), 42).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            for attempt in 1..=8u32 {
                let base = s.delays()[attempt as usize - 1];
                let d = s.next_delay(attempt).unwrap();
                let slack = Duration::from_micros(1);
                assert!(d + slack >= base.mul_f64(0.8) && d <= base.mul_f64(1.2) + slack);
                seen.insert(d);
            }
        }
        assert!(seen.len() > 100, "jitter should spread delays");
    }

    #[test]
    fn same_seed_same_delays() {
        let a = RetrySchedule::with_seed(&RetryConfig::default(), 7).unwrap();
        let b = RetrySchedule::with_seed(&RetryConfig::default(), 7).unwrap();
        for attempt in 1..=8 {
            assert_eq!(a.next_delay(attempt), b.next_delay(attempt));
        }
    }

    #[test]
    fn retry_after_is_a_capped_floor() {
        let s = no_jitter(&[1, 5]);
        let hour = Duration::from_secs(3600);
        assert_eq!(s.next_delay_after(1, None), Some(Duration::from_secs(1)));
        assert_eq!(
            s.next_delay_after(1, Some(Duration::from_secs(30))),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            s.next_delay_after(2, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            s.next_delay_after(1, Some(Duration::from_secs(86_400))),
            Some(hour)
        );
        assert_eq!(s.next_delay_after(3, Some(Duration::from_secs(1))), None);
    }

    #[test]
    fn config_from_toml_and_bad_jitter() {
        let c: RetryConfig =
            toml::from_str("delays = [\"2s\", 10, \"1m\"]\njitter_percent = 5").unwrap();
        assert_eq!(c.delays, [2, 10, 60].map(Duration::from_secs));
        assert_eq!(c.max_retry_after, Duration::from_secs(3600));
        assert!(toml::from_str::<RetryConfig>("delay = []").is_err());
        let bad = RetryConfig {
            jitter_percent: 101,
            ..RetryConfig::default()
        };
        assert!(matches!(
            RetrySchedule::new(&bad),
            Err(HttpError::InvalidConfig {
                setting: "jitter_percent",
                ..
            })
        ));
    }
}
