//! Time as the protocol sees it, and the injected clock.
//!
//! SETs carry NumericDate values (RFC 7519 §2): integer seconds since the Unix epoch. Storage keeps
//! epoch milliseconds. Nothing in the workspace reads the system clock except through [`Clock`], so
//! retry schedules, lease expiry and `iat` freshness can be tested without sleeping.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

/// A point in time as Unix epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    /// Whole seconds since the epoch (a NumericDate, RFC 7519 §2).
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The instant `secs` seconds after the epoch.
    pub fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// This instant moved by `millis` (negative moves back).
    #[must_use]
    pub fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }
}

impl fmt::Display for UnixMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// The source of "now". Inject it; never read the system clock deep in the code.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> UnixMillis;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the system clock
    fn now(&self) -> UnixMillis {
        let elapsed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        UnixMillis(i64::try_from(elapsed).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to; for tests and simulations.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: UnixMillis) -> Self {
        Self(Arc::new(AtomicI64::new(at.0)))
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: UnixMillis) {
        self.0.store(at.0, Ordering::SeqCst);
    }

    /// Moves the clock forward by `millis`.
    pub fn advance(&self, millis: i64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixMillis {
        UnixMillis(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(UnixMillis::from_secs(1_700_000_000));
        assert_eq!(clock.now().as_secs(), 1_700_000_000);
        clock.advance(1500);
        assert_eq!(clock.now(), UnixMillis(1_700_000_001_500));
        assert_eq!(clock.now().as_secs(), 1_700_000_001);
    }

    #[test]
    fn negative_millis_floor_to_whole_seconds() {
        assert_eq!(UnixMillis(-1).as_secs(), -1);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now().as_secs() > 1_577_836_800);
    }
}

/// The bound above which a NumericDate is taken to be in milliseconds (about the year 5138 in
/// seconds, 1973 in milliseconds). Checklist CAEP-06.
pub const PROBABLY_MILLIS_ABOVE: i64 = 100_000_000_000;

/// Whether a NumericDate that should be in seconds looks like milliseconds (greater than about
/// 10^11), as older CAEP drafts sent in `event_timestamp` (checklist CAEP-06, D-19, TV-NEG-10).
/// Such values are accepted, not refused; the caller logs a warning and may use
/// [`secs_from_maybe_millis`].
pub fn is_probably_millis(numeric_date: i64) -> bool {
    numeric_date > PROBABLY_MILLIS_ABOVE
}

/// The value in seconds, dividing by 1000 when [`is_probably_millis`] says it is milliseconds.
pub fn secs_from_maybe_millis(numeric_date: i64) -> i64 {
    if is_probably_millis(numeric_date) {
        numeric_date.div_euclid(1000)
    } else {
        numeric_date
    }
}

#[cfg(test)]
mod millis_tests {
    use super::*;

    #[test]
    fn millisecond_timestamps_are_flagged_caep_06() {
        assert!(!is_probably_millis(1_615_304_991));
        assert!(is_probably_millis(1_615_304_991_643));
        assert_eq!(secs_from_maybe_millis(1_615_304_991_643), 1_615_304_991);
        assert_eq!(secs_from_maybe_millis(1_615_304_991), 1_615_304_991);
    }
}
