//! Open string enumerations: known values are variants, unknown ones round-trip in `Other`.
//!
//! The specs keep adding values (event types, subject formats, error codes), and a peer that sends
//! one we do not know must not break parsing. Strict places (CAEP enumerations a receiver must
//! refuse when out of range, checklist CAEP-05) check [`is_known`](macro@crate::open_enum) explicitly.
//!
//! The payload of `Other` is an [`OtherValue`], which only the enum's `From`/`FromStr`/serde
//! build: they normalise a known value to its variant, so `Other` never holds a value the enum
//! knows (no `Other("session-revoked")` that compares unequal to the known variant).

use std::fmt;

/// The text of an open enum's unknown value. Only the enums of [`open_enum!`](macro@crate::open_enum)
/// construct it (from a value they do not know); read it with [`as_str`](Self::as_str).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OtherValue(String);

impl OtherValue {
    /// Wraps a value the enum found unknown. Hidden: for the macro only.
    #[doc(hidden)]
    pub fn __unknown(value: String) -> Self {
        Self(value)
    }

    /// The value as received.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtherValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for OtherValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares an open string enum with serde, `Display`, `FromStr`, `as_str` and `is_known`.
///
/// ```
/// ssf_types::open_enum! {
///     /// A colour.
///     pub enum Colour {
///         /// Red.
///         Red = "red",
///     }
/// }
/// assert_eq!("red".parse::<Colour>().unwrap(), Colour::Red);
/// assert_eq!(Colour::from("blue").as_str(), "blue");
/// assert!(!Colour::from("blue").is_known());
/// // A known value never lands in `Other`.
/// assert!(matches!(Colour::from("red".to_owned()), Colour::Red));
/// ```
#[macro_export]
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version does not know; kept verbatim. Built only by `From`,
            /// `FromStr` and serde, which turn a known value into its variant.
            Other($crate::open_enum::OtherValue),
        }

        impl $name {
            /// Every known value, in declaration order.
            pub const KNOWN: &'static [&'static str] = &[$($value),+];

            /// The wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $value, )+
                    Self::Other(s) => s.as_str(),
                }
            }

            /// Whether this is one of the values the spec defines.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $value => Self::$variant, )+
                    other => Self::Other($crate::open_enum::OtherValue::__unknown(other.to_owned())),
                }
            }
        }

        impl ::std::convert::From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $( $value => Self::$variant, )+
                    _ => Self::Other($crate::open_enum::OtherValue::__unknown(s)),
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                Ok(Self::from(s))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::string::String as ::serde::Deserialize>::deserialize(d)?;
                Ok(Self::from(s))
            }
        }
    };
}
