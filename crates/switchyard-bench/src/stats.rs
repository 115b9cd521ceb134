//! Latency samples and their summaries.

use std::time::Duration;

/// One finished request as the load generator saw it.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// From the scheduled send time (open loop) or the send (closed loop) to the last body byte.
    pub total: Duration,
    /// To the first body byte.
    pub ttfb: Duration,
    pub ok: bool,
}

/// The samples of one or more load runs against one target.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub samples: Vec<Sample>,
    /// Requests sent (finished or not).
    pub sent: usize,
    /// Wall time the runs took.
    pub elapsed: Duration,
}

impl Batch {
    pub fn extend(&mut self, other: Batch) {
        self.samples.extend(other.samples);
        self.sent += other.sent;
        self.elapsed += other.elapsed;
    }

    pub fn stats(&self) -> RunStats {
        RunStats::from_samples(&self.samples, self.sent, self.elapsed)
    }
}

/// Percentiles of one series, in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles; all zeros for an empty series.
    pub fn of(values: &mut [u64]) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_unstable();
        let at = |q: f64| {
            let rank = (q * values.len() as f64).ceil() as usize;
            values[rank.clamp(1, values.len()) - 1] as f64
        };
        Percentiles {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: at(1.0),
        }
    }

    pub fn minus(&self, other: &Percentiles) -> Percentiles {
        Percentiles {
            p50: self.p50 - other.p50,
            p90: self.p90 - other.p90,
            p99: self.p99 - other.p99,
            max: self.max - other.max,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "p50_us": self.p50, "p90_us": self.p90, "p99_us": self.p99, "max_us": self.max,
        })
    }
}

/// The result of one load run against one target.
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    pub sent: usize,
    pub ok: usize,
    pub errors: usize,
    /// Successful requests per second over the run.
    pub throughput: f64,
    pub total: Percentiles,
    pub ttfb: Percentiles,
}

impl RunStats {
    pub fn from_samples(samples: &[Sample], sent: usize, elapsed: Duration) -> RunStats {
        let mut total: Vec<u64> = Vec::with_capacity(samples.len());
        let mut ttfb: Vec<u64> = Vec::with_capacity(samples.len());
        for s in samples.iter().filter(|s| s.ok) {
            total.push(s.total.as_micros() as u64);
            ttfb.push(s.ttfb.as_micros() as u64);
        }
        let ok = total.len();
        let secs = elapsed.as_secs_f64();
        RunStats {
            sent,
            ok,
            errors: sent.saturating_sub(ok),
            throughput: if secs > 0.0 { ok as f64 / secs } else { 0.0 },
            total: Percentiles::of(&mut total),
            ttfb: Percentiles::of(&mut ttfb),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "throughput_rps": self.throughput,
            "latency": self.total.json(),
            "ttfb": self.ttfb.json(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<u64> = (1..=100).collect();
        let p = Percentiles::of(&mut v);
        assert_eq!(p.p50, 50.0);
        assert_eq!(p.p90, 90.0);
        assert_eq!(p.p99, 99.0);
        assert_eq!(p.max, 100.0);
        assert_eq!(Percentiles::of(&mut []).p99, 0.0);
    }
}
