//! The pages: one module per area, each with its handlers and template structs.

pub mod access;
pub mod overview;
pub mod receiver;
pub mod streams;

use serde::Deserialize;

/// `?done=` after an action: the message the page shows once (Post/Redirect/Get).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Done {
    done: Option<String>,
}

impl Done {
    pub(crate) fn message(self) -> Option<String> {
        self.done
    }
}

/// `done=<message>`, percent-encoded, for the page an action redirects to.
pub(crate) fn done_query(message: &str) -> String {
    format!("done={}", encode(message))
}

/// What [`encode`] leaves as is: letters, digits, `-`, `_`, `.`, `~` and `/`.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a query value (a message, a path, a ticket).
pub(crate) fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, QUERY_VALUE).to_string()
}
