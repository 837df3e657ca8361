//! The one percentile every bench reports: of ascending samples, the one at rank
//! round((n − 1) × p) (p = 0.5 the median, 1.0 the maximum); NaN for no samples.

/// A sample that reads as a number.
pub trait Sample: Copy {
    /// Its value.
    fn value(self) -> f64;
}

impl Sample for u64 {
    fn value(self) -> f64 {
        self as f64
    }
}

impl Sample for f64 {
    fn value(self) -> f64 {
        self
    }
}

impl Sample for std::time::Duration {
    /// Microseconds.
    fn value(self) -> f64 {
        self.as_secs_f64() * 1e6
    }
}

/// The `p` percentile of `sorted` (ascending).
pub fn percentile<T: Sample>(sorted: &[T], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n => sorted[((n - 1) as f64 * p.clamp(0.0, 1.0)).round() as usize].value(),
    }
}
