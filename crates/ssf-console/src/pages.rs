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

/// Percent-encodes a query value.
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}
