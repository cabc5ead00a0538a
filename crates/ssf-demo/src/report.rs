//! The timeline: each step with what was expected, what was observed, and how long it took.

use std::fmt::Write as _;

/// One step of the scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    /// What happened, in words.
    pub name: String,
    /// The expected answer, e.g. `403 grant_required`.
    pub expected: String,
    /// The observed answer, with the causing SET's `jti` when there is one.
    pub observed: String,
    /// Milliseconds: the request's round trip, or for a step that changes access, from the
    /// triggering call (webhook, `POST /events`) to the first changed answer of the app.
    pub millis: f64,
    /// Whether the observed answer is the expected one.
    pub passed: bool,
}

/// The whole run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The steps, in order.
    pub steps: Vec<StepResult>,
}

impl Report {
    /// Whether every step behaved as expected (and there was at least one).
    pub fn passed(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.passed)
    }

    /// The readable timeline.
    pub fn render(&self) -> String {
        let name_w = self
            .steps
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        let exp_w = self
            .steps
            .iter()
            .map(|s| s.expected.chars().count())
            .max()
            .unwrap_or(8)
            .max(8);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "  #  {:<name_w$}  {:<exp_w$}  {:>9}  observed",
            "step", "expected", "ms"
        );
        for (i, s) in self.steps.iter().enumerate() {
            let mark = if s.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(
                out,
                "{:>3}  {:<name_w$}  {:<exp_w$}  {:>9.1}  {mark} {}",
                i + 1,
                s.name,
                s.expected,
                s.millis,
                s.observed
            );
        }
        let failed = self.steps.iter().filter(|s| !s.passed).count();
        let _ = if failed == 0 {
            writeln!(out, "\nall {} steps behaved as expected", self.steps.len())
        } else {
            writeln!(
                out,
                "\n{failed} of {} steps did not behave as expected",
                self.steps.len()
            )
        };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_judges() {
        let mut r = Report::default();
        assert!(!r.passed());
        r.steps.push(StepResult {
            name: "read".into(),
            expected: "200".into(),
            observed: "200 allowed".into(),
            millis: 1.25,
            passed: true,
        });
        assert!(r.passed());
        assert!(r.render().contains("all 1 steps"));
        r.steps.push(StepResult {
            name: "write".into(),
            expected: "403".into(),
            observed: "200".into(),
            millis: 2.0,
            passed: false,
        });
        assert!(!r.passed());
        assert!(r.render().contains("FAIL"));
    }
}
