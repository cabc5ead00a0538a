//! What every page shares: the frame around it (navigation, the session's CSRF token, the roles
//! the server runs) and how times are shown.

use ssf_types::UnixMillis;

use crate::{Shared, session::Session};

/// The frame of a page (`templates/base.html`).
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    /// The navigation entry of this page.
    pub(crate) current: &'static str,
    /// The session's CSRF token, for the forms of the page.
    pub(crate) csrf: String,
    /// Whether the server runs a transmitter.
    pub(crate) transmitter: bool,
    /// Whether it runs a receiver.
    pub(crate) receiver: bool,
    /// Whether it runs enforcement or the ticket bridge.
    pub(crate) access: bool,
    /// A message about what the last action did (`?done=`), if any.
    pub(crate) flash: Option<String>,
}

impl Frame {
    pub(crate) fn new(shared: &Shared, session: &Session, current: &'static str) -> Self {
        let s = &shared.sources;
        Self {
            current,
            csrf: session.csrf.clone(),
            transmitter: s.transmitter.is_some(),
            receiver: s.receiver.is_some(),
            access: s.engine.is_some() || s.bridge.is_some(),
            flash: None,
        }
    }

    /// The same frame with a message about the last action.
    pub(crate) fn with_flash(mut self, flash: Option<String>) -> Self {
        self.flash = flash.filter(|f| !f.is_empty());
        self
    }

    /// `class="current"` for the navigation entry of this page.
    pub(crate) fn nav_class(&self, entry: &str) -> &'static str {
        if self.current == entry { "current" } else { "" }
    }
}

/// The badge class of a stream status (`enabled`, `paused`, `disabled`), the same at either
/// end of a stream.
pub(crate) fn status_class(status: &str) -> &'static str {
    match status {
        "enabled" => "ok",
        "paused" => "warn",
        _ => "bad",
    }
}

/// A time as RFC 3339 UTC.
pub(crate) fn at(t: UnixMillis) -> String {
    ssf_jit::time::format_rfc3339(t)
}

/// A time as RFC 3339, or a dash.
pub(crate) fn maybe_at(t: Option<UnixMillis>) -> String {
    t.map_or_else(|| "–".to_owned(), at)
}

/// How long ago `t` was, roughly (`12s ago`, `3m ago`, `in 5m`).
pub(crate) fn ago(now: UnixMillis, t: UnixMillis) -> String {
    let secs = (now.0 - t.0) / 1000;
    let (n, future) = if secs < 0 {
        (-secs, true)
    } else {
        (secs, false)
    };
    let text = match n {
        0..=59 => format!("{n}s"),
        60..=3599 => format!("{}m", n / 60),
        3600..=86_399 => format!("{}h", n / 3600),
        _ => format!("{}d", n / 86_400),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_reads_naturally() {
        let now = UnixMillis(10_000_000);
        assert_eq!(ago(now, UnixMillis(9_988_000)), "12s ago");
        assert_eq!(ago(now, UnixMillis(10_300_000)), "in 5m");
        assert_eq!(ago(now, UnixMillis(10_000_000 - 7_200_000)), "2h ago");
    }
}
