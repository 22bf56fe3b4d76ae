//! A fixed-size latency histogram in microseconds, so a phase's memory does not grow with
//! its request count.
//!
//! Buckets are log-linear: values below 128 µs have a bucket each; above that every power
//! of two is split into 128 equal buckets, so a reported quantile is within 1% of the true
//! value. It does not do time windows, means or coordinated-omission correction: the load
//! generator is closed-loop and reports what each connection saw.

/// Buckets per power of two (and the number of exact buckets at the bottom).
const SUB_BITS: u32 = 7;
const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// Values are clamped to 2^40 µs (about 12 days): far beyond any phase.
const MAX_BITS: u32 = 40;
const BUCKETS: usize = ((MAX_BITS - SUB_BITS) as usize + 1) * SUB_BUCKETS;

#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.total)
            .finish_non_exhaustive()
    }
}

fn index(micros: u64) -> usize {
    let v = micros.min((1 << MAX_BITS) - 1);
    if v < SUB_BUCKETS as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - SUB_BITS;
    // `top` keeps the SUB_BITS + 1 most significant bits: 128..=255.
    let top = (v >> shift) as usize;
    shift as usize * SUB_BUCKETS + top
}

/// The smallest value and the width of bucket `i` (the inverse of [`index`]).
fn bounds(i: usize) -> (u64, u64) {
    if i < SUB_BUCKETS {
        return (i as u64, 1);
    }
    let shift = (i / SUB_BUCKETS - 1) as u32;
    let top = (i % SUB_BUCKETS + SUB_BUCKETS) as u64;
    (top << shift, 1 << shift)
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        self.counts[index(micros)] += 1;
        self.total += 1;
    }

    /// How many samples were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
    }

    /// The value at quantile `q` (0..=1) in µs: the middle of the bucket holding the
    /// `ceil(q * count)`-th smallest sample. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bounds(i);
                return Some(low + width / 2);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_bounds_agree() {
        for v in (0..5000).chain([65_535, 65_536, 1_000_000, 123_456_789]) {
            let (low, width) = bounds(index(v));
            assert!(low <= v && v < low + width, "{v}: [{low}, {})", low + width);
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_within_one_percent() {
        let mut h = Histogram::default();
        for v in 1..=100_000 {
            h.record(v);
        }
        for (q, want) in [(0.5, 50_000.0), (0.99, 99_000.0), (1.0, 100_000.0)] {
            let got = h.quantile(q).unwrap() as f64;
            assert!((got - want).abs() / want < 0.01, "q{q}: {got} vs {want}");
        }
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn merge_adds_counts() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(10);
        b.record(20);
        b.record(30);
        a.merge(&b);
        assert_eq!(a.total, 3);
        assert_eq!(a.quantile(0.5), Some(20));
    }
}
