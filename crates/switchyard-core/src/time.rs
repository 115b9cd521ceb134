//! Durations from untrusted numbers (upstream headers, token responses, settings). chrono
//! panics on out-of-range arithmetic, so every such number is clamped first.

use chrono::Duration;

/// The longest span Switchyard ever waits on: longer values are treated as this.
pub const MAX_SECONDS: i64 = 366 * 24 * 3600;

/// `n` seconds, clamped to `0..=MAX_SECONDS`.
pub fn seconds(n: i64) -> Duration {
    Duration::seconds(n.clamp(0, MAX_SECONDS))
}

/// `n` seconds from a float (e.g. `"12.5"`), rounded up and clamped.
pub fn seconds_f64(n: f64) -> Duration {
    if !n.is_finite() {
        return Duration::zero();
    }
    seconds(n.ceil().clamp(0.0, MAX_SECONDS as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps() {
        assert_eq!(seconds(-5), Duration::zero());
        assert_eq!(seconds(i64::MAX).num_seconds(), MAX_SECONDS);
        assert_eq!(seconds_f64(1e300).num_seconds(), MAX_SECONDS);
        assert_eq!(seconds_f64(f64::NAN), Duration::zero());
        assert_eq!(seconds_f64(2.1).num_seconds(), 3);
    }
}
