//! The `err` codes of SET delivery errors: RFC 8935 §2.4 / RFC 8936 §2.4, plus `invalid_state`
//! registered by SSF 1.0 §11.

crate::open_enum! {
    /// Why a receiver refused a SET (push `400` body, poll `setErrs` value).
    pub enum SetErrorCode {
        /// The body is not a SET, or the event does not conform to its definition.
        InvalidRequest = "invalid_request",
        /// A signing or encryption key is invalid or unacceptable (bad signature, unknown `kid`,
        /// disallowed `alg`).
        InvalidKey = "invalid_key",
        /// The issuer is not valid for this receiver.
        InvalidIssuer = "invalid_issuer",
        /// The audience does not correspond to this receiver.
        InvalidAudience = "invalid_audience",
        /// The receiver could not authenticate the transmitter.
        AuthenticationFailed = "authentication_failed",
        /// The transmitter may not send this SET to this receiver.
        AccessDenied = "access_denied",
        /// A verification event's `state` does not match (SSF 1.0 §8.1.4.1).
        InvalidState = "invalid_state",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_are_kept() {
        for known in SetErrorCode::KNOWN {
            let code = SetErrorCode::from(*known);
            assert!(code.is_known());
            assert_eq!(serde_json::to_value(&code).unwrap(), *known);
        }
        let legacy: SetErrorCode = serde_json::from_str("\"jwtParse\"").unwrap();
        assert_eq!(legacy, SetErrorCode::from("jwtParse"));
        assert!(!legacy.is_known());
        assert_eq!(serde_json::to_string(&legacy).unwrap(), "\"jwtParse\"");
    }
}
