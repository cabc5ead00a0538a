//! The whole scenario, as `ssf demo` runs it: every step must behave as expected.

mod scenario;
