//! Stream management objects ([SSF 1.0 §8.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1)).

crate::open_enum! {
    /// A stream's status (SSF 1.0 §8.1.2.1, SSF-STATUS-02). Unknown values are kept so a
    /// transmitter can answer `400` to them (D-18) and a receiver can refuse them in a
    /// stream-updated event (TV-NEG-23).
    pub enum StreamStatus {
        /// Events are transmitted.
        Enabled = "enabled",
        /// Nothing is transmitted; events are held (SSF-STATUS-11/12).
        Paused = "paused",
        /// Nothing is transmitted or held (SSF-STATUS-15).
        Disabled = "disabled",
    }
}
