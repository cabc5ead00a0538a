//! Newtypes for protocol identifiers, so a `jti` can never be passed where a `stream_id` goes.

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a value as received or generated.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The owned value.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl ::std::convert::From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl ::std::convert::AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A stream identifier (SSF 1.0 §8.1.1, `stream_id`): unique among the transmitter's streams,
    /// made of RFC 3986 unreserved characters.
    StreamId
);
string_id!(
    /// A SET's unique identifier (RFC 8417 §2.2, `jti`), compared case-sensitively.
    Jti
);
string_id!(
    /// An issuer identifier (SSF 1.0 §7.1 `issuer`, RFC 8417 `iss`). Compared as the exact
    /// string: SSF 1.0 §7.2.4 requires byte-identical values, so no URL normalisation happens.
    Issuer
);
string_id!(
    /// A JOSE key identifier (RFC 7515 §4.1.4, `kid`).
    KeyId
);
string_id!(
    /// An event-type URI (RFC 8417 §2.2, the member names of `events`).
    EventTypeUri
);

impl StreamId {
    /// Whether the id uses only RFC 3986 unreserved characters (SSF 1.0 §8.1.1 SHOULD).
    pub fn is_unreserved(&self) -> bool {
        !self.0.is_empty()
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = StreamId::new("f67e39a0a4d34d56b3aa1bc4cff0069f");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"f67e39a0a4d34d56b3aa1bc4cff0069f\""
        );
        let back: StreamId = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(back.as_str(), "abc");
    }

    #[test]
    fn stream_id_unreserved_check() {
        assert!(StreamId::new("a-b.c_d~1").is_unreserved());
        assert!(!StreamId::new("a/b").is_unreserved());
        assert!(!StreamId::new("").is_unreserved());
    }

    #[test]
    fn issuer_is_compared_exactly() {
        assert_ne!(
            Issuer::new("https://a.example/"),
            Issuer::new("https://a.example")
        );
    }
}
