//! Charts of throughput and latency, from the server's own Prometheus metrics.
//!
//! A [`Sampler`] reads the metrics text every [`PERIOD`] and keeps the last [`KEEP`] samples
//! (ten minutes) in memory; each chart is the rate of a counter, or the average of a summary
//! (`_sum` over `_count`) between two samples, drawn as an inline SVG (no script, no style
//! attribute: the Content-Security-Policy allows neither).

use std::{
    collections::VecDeque,
    fmt::Write as _,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use ssf_types::{Clock, UnixMillis};

use crate::MetricsText;

/// How often the metrics are sampled.
pub const PERIOD: Duration = Duration::from_secs(5);
/// Samples kept (ten minutes at [`PERIOD`]).
pub const KEEP: usize = 120;

/// What a chart shows.
#[derive(Debug, Clone, Copy)]
enum Measure {
    /// Per second, from a counter.
    Rate(&'static str),
    /// Milliseconds on average, from a summary's `_sum` (seconds) and `_count`.
    AverageMillis(&'static str),
}

/// The charts: title, unit, measure.
const CHARTS: &[(&str, &str, Measure)] = &[
    (
        "Events accepted by the transmitter",
        "/s",
        Measure::Rate("ssf_events_ingested_total"),
    ),
    (
        "SETs queued for delivery",
        "/s",
        Measure::Rate("ssf_sets_enqueued_total"),
    ),
    (
        "Push delivery latency",
        "ms",
        Measure::AverageMillis("ssf_push_latency_seconds"),
    ),
    (
        "SETs received",
        "/s",
        Measure::Rate("ssf_receiver_sets_total"),
    ),
    (
        "Receiver apply latency",
        "ms",
        Measure::AverageMillis("ssf_receiver_apply_seconds"),
    ),
];

/// One sample: when, and the value of every series the charts need (summed over labels).
#[derive(Debug, Clone)]
struct Sample {
    at: UnixMillis,
    values: Vec<f64>,
}

/// The names read from the metrics text, in the order of [`Sample::values`].
fn series() -> Vec<String> {
    CHARTS
        .iter()
        .flat_map(|(_, _, m)| match m {
            Measure::Rate(name) => vec![(*name).to_owned()],
            Measure::AverageMillis(name) => vec![format!("{name}_sum"), format!("{name}_count")],
        })
        .collect()
}

/// Sums the samples of each name in `names` (any labels) in Prometheus text `text`.
fn read(text: &str, names: &[String]) -> Vec<f64> {
    let mut values = vec![0.0; names.len()];
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((key, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = key.split('{').next().unwrap_or(key);
        if let (Some(i), Ok(v)) = (names.iter().position(|n| n == name), value.parse::<f64>()) {
            values[i] += v;
        }
    }
    values
}

/// Samples the metrics in the background while it lives.
#[derive(Debug)]
pub struct Sampler {
    samples: Arc<Mutex<VecDeque<Sample>>>,
    task: Option<tokio::task::AbortHandle>,
}

impl Drop for Sampler {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Sampler {
    /// Starts sampling `metrics` (nothing without them) on the current tokio runtime.
    pub(crate) fn start(metrics: Option<MetricsText>, clock: Arc<dyn Clock>) -> Self {
        let samples = Arc::new(Mutex::new(VecDeque::with_capacity(KEEP)));
        let task = metrics.map(|metrics| {
            let samples = Arc::clone(&samples);
            let names = series();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(PERIOD);
                loop {
                    tick.tick().await;
                    let sample = Sample {
                        at: clock.now(),
                        values: read(&metrics.render(), &names),
                    };
                    let mut samples = samples.lock().unwrap_or_else(PoisonError::into_inner);
                    if samples.len() == KEEP {
                        samples.pop_front();
                    }
                    samples.push_back(sample);
                }
            })
            .abort_handle()
        });
        Self { samples, task }
    }

    /// The charts, drawn from the samples so far.
    pub(crate) fn charts(&self) -> Vec<Chart> {
        let samples: Vec<Sample> = self
            .samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        let mut column = 0;
        CHARTS
            .iter()
            .map(|(title, unit, measure)| {
                let points: Vec<f64> = samples
                    .windows(2)
                    .map(|w| {
                        let secs = ((w[1].at.0 - w[0].at.0) as f64 / 1000.0).max(0.001);
                        let delta = |i: usize| (w[1].values[i] - w[0].values[i]).max(0.0);
                        match measure {
                            Measure::Rate(_) => delta(column) / secs,
                            Measure::AverageMillis(_) => {
                                let count = delta(column + 1);
                                if count > 0.0 {
                                    delta(column) * 1000.0 / count
                                } else {
                                    0.0
                                }
                            }
                        }
                    })
                    .collect();
                column += match measure {
                    Measure::Rate(_) => 1,
                    Measure::AverageMillis(_) => 2,
                };
                Chart::new(title, unit, &points)
            })
            .collect()
    }
}

/// One chart, ready for the page.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    /// What it shows.
    pub(crate) title: &'static str,
    /// The latest value with its unit, or a dash.
    pub(crate) latest: String,
    /// The highest value shown, with its unit.
    pub(crate) peak: String,
    /// The SVG (numbers only, built here).
    pub(crate) svg: String,
}

impl Chart {
    fn new(title: &'static str, unit: &str, points: &[f64]) -> Self {
        let peak = points.iter().copied().fold(0.0_f64, f64::max);
        let show = |v: f64| {
            if v >= 100.0 {
                format!("{v:.0} {unit}")
            } else {
                format!("{v:.2} {unit}")
            }
        };
        Self {
            title,
            latest: points.last().map_or_else(|| "–".to_owned(), |v| show(*v)),
            peak: show(peak),
            svg: svg(points, peak),
        }
    }
}

/// A line over an area, `KEEP` points wide, scaled to the peak.
fn svg(points: &[f64], peak: f64) -> String {
    const W: f64 = 300.0;
    const H: f64 = 80.0;
    let mut line = String::new();
    let step = W / (KEEP as f64 - 1.0);
    let start = W - step * (points.len().saturating_sub(1) as f64);
    for (i, v) in points.iter().enumerate() {
        let x = start + step * i as f64;
        let y = if peak > 0.0 {
            H - 4.0 - (v / peak) * (H - 8.0)
        } else {
            H - 4.0
        };
        let _ = write!(line, "{x:.1},{y:.1} ");
    }
    let line = line.trim_end();
    let area = if points.len() > 1 {
        format!("<polygon class=\"chart-area\" points=\"{start:.1},{H} {line} {W},{H}\"/>")
    } else {
        String::new()
    };
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"none\" role=\"img\">{area}<polyline class=\"chart-line\" points=\"{line}\"/></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_over_labels() {
        let text = "# TYPE ssf_events_ingested_total counter\n\
                    ssf_events_ingested_total{client=\"a\"} 3\n\
                    ssf_events_ingested_total{client=\"b\"} 4\n\
                    ssf_push_latency_seconds{quantile=\"0.5\"} 0.2\n\
                    ssf_push_latency_seconds_sum 1.5\n\
                    ssf_push_latency_seconds_count 3\n";
        let names = vec![
            "ssf_events_ingested_total".to_owned(),
            "ssf_push_latency_seconds_sum".to_owned(),
            "ssf_push_latency_seconds_count".to_owned(),
        ];
        assert_eq!(read(text, &names), vec![7.0, 1.5, 3.0]);
    }

    #[test]
    fn rates_and_averages_come_from_differences_between_samples() {
        let sampler = Sampler {
            samples: Arc::new(Mutex::new(VecDeque::new())),
            task: None,
        };
        let n = series().len();
        let mut first = vec![0.0; n];
        let mut second = vec![0.0; n];
        second[0] = 50.0; // 50 events in 5 s
        // push latency: column 2 (_sum) and 3 (_count): 0.5 s over 10 pushes = 50 ms.
        first[2] = 1.0;
        first[3] = 10.0;
        second[2] = 1.5;
        second[3] = 20.0;
        sampler.samples.lock().unwrap().extend([
            Sample {
                at: UnixMillis(0),
                values: first,
            },
            Sample {
                at: UnixMillis(5000),
                values: second,
            },
        ]);
        let charts = sampler.charts();
        assert_eq!(charts[0].latest, "10.00 /s");
        assert_eq!(charts[2].latest, "50.00 ms");
        assert!(charts[0].svg.starts_with("<svg"));
    }
}
