//! Reads Switchyard's own overhead and time-to-first-byte histograms from `/metrics`.

use std::collections::BTreeMap;

pub const OVERHEAD: &str = "switchyard_overhead_seconds";
pub const TTFB: &str = "switchyard_time_to_first_byte_seconds";

/// One histogram series (one dialect) of a Prometheus text exposition.
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    /// `(le, cumulative count)`, in ascending `le`.
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: f64,
}

impl Histogram {
    pub fn mean(&self) -> f64 {
        if self.count > 0.0 {
            self.sum / self.count
        } else {
            0.0
        }
    }

    /// The upper bound of the bucket holding quantile `q` (`inf` past the last bucket).
    pub fn quantile_bound(&self, q: f64) -> f64 {
        let want = q * self.count;
        self.buckets
            .iter()
            .find(|(_, c)| *c >= want)
            .map_or(f64::INFINITY, |(le, _)| *le)
    }
}

fn labels(s: &str) -> BTreeMap<String, String> {
    s.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        })
        .collect()
}

/// Every series of histogram `name`, by dialect.
pub fn histograms(text: &str, name: &str) -> BTreeMap<String, Histogram> {
    let mut out: BTreeMap<String, Histogram> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (suffix, rest) = match rest.find('{') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => continue,
        };
        let Some(close) = rest.find('}') else {
            continue;
        };
        let labels = labels(&rest[1..close]);
        let Ok(value) = rest[close + 1..].trim().parse::<f64>() else {
            continue;
        };
        let dialect = labels.get("dialect").cloned().unwrap_or_default();
        let h = out.entry(dialect).or_default();
        match suffix {
            "_bucket" => {
                let le = labels.get("le").map_or(f64::INFINITY, |v| {
                    if v == "+Inf" {
                        f64::INFINITY
                    } else {
                        v.parse().unwrap_or(f64::INFINITY)
                    }
                });
                h.buckets.push((le, value));
            }
            "_sum" => h.sum = value,
            "_count" => h.count = value,
            _ => {}
        }
    }
    for h in out.values_mut() {
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_histogram() {
        let text = "\
# TYPE switchyard_overhead_seconds histogram
switchyard_overhead_seconds_bucket{dialect=\"anthropic\",le=\"0.0001\"} 10
switchyard_overhead_seconds_bucket{dialect=\"anthropic\",le=\"0.001\"} 99
switchyard_overhead_seconds_bucket{dialect=\"anthropic\",le=\"+Inf\"} 100
switchyard_overhead_seconds_sum{dialect=\"anthropic\"} 0.05
switchyard_overhead_seconds_count{dialect=\"anthropic\"} 100
";
        let h = &histograms(text, OVERHEAD)["anthropic"];
        assert_eq!(h.count, 100.0);
        assert!((h.mean() - 0.0005).abs() < 1e-12);
        assert_eq!(h.quantile_bound(0.5), 0.001);
        assert_eq!(h.quantile_bound(0.995), f64::INFINITY);
    }
}
