//! Pacing for background work that competes with requests for the CPUs.
//!
//! A seal pass turns tens of thousands of events into gzip'd files: about 2.5 µs of CPU per
//! event, so ~125 ms of one CPU for 50,000 events. Run flat out, on a machine with two
//! CPUs, a pass leaves the request threads one CPU for that long, and their tail latency
//! grows (docs/benchmarks.md, "Audit cost"). A [`Pace`] cuts such work into slices and
//! rests after each one, so that the work takes at most a given share of the wall-clock
//! time. The work calls [`Pace::step`] often (per event, per piece of a file); a step costs
//! one clock read unless a slice is over.
//!
//! Pacing must not let the work fall behind without bound: the caller chooses the share
//! for each pass (the sealer's grows with its backlog, up to [`Pace::flat_out`]; flat out
//! at shutdown too), and the rest function can end pacing mid-pass.

use std::time::{Duration, Instant};

/// What a [`Pace`] calls to rest for the given time: true to go on pacing, false to run
/// the rest of the work flat out (the thread is asked to stop).
pub type Rest<'a> = &'a mut dyn FnMut(Duration) -> bool;

/// A pacer for one pass of background work; see the module docs.
pub struct Pace<'a> {
    /// `None`: flat out.
    rest: Option<Rest<'a>>,
    /// Percent of the wall-clock time the work may take, 1–100.
    share: u32,
    slice: Duration,
    since: Instant,
}

impl<'a> Pace<'a> {
    /// Work that takes at most `share_percent` of the wall-clock time (clamped to 1–100),
    /// resting with `rest` after each `slice` of work; flat out at 100.
    pub fn new(share_percent: u32, slice: Duration, rest: Rest<'a>) -> Self {
        Self {
            rest: (share_percent < 100).then_some(rest),
            share: share_percent.clamp(1, 100),
            slice,
            since: Instant::now(),
        }
    }

    /// No pacing: every step returns at once.
    pub fn flat_out() -> Self {
        Self {
            rest: None,
            share: 100,
            slice: Duration::ZERO,
            since: Instant::now(),
        }
    }

    /// Marks a point where the work may rest: rests if a slice of work is over.
    pub fn step(&mut self) {
        let Some(rest) = self.rest.as_mut() else {
            return;
        };
        let worked = self.since.elapsed();
        if worked < self.slice {
            return;
        }
        if !rest(rest_after(worked, self.share)) {
            self.rest = None;
        }
        self.since = Instant::now();
    }
}

/// How long to rest after `worked` so that the work takes `share_percent` of the time.
/// Wall-clock time, not CPU time: work that was preempted rests longer, which errs on the
/// side of the requests that preempted it.
fn rest_after(worked: Duration, share_percent: u32) -> Duration {
    worked * (100 - share_percent) / share_percent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_keeps_the_work_to_its_share() {
        let ms = Duration::from_millis;
        assert_eq!(rest_after(ms(2), 25), ms(6));
        assert_eq!(rest_after(ms(3), 50), ms(3));
        assert_eq!(rest_after(ms(5), 100), Duration::ZERO);
        assert_eq!(rest_after(ms(1), 1), ms(99));
    }

    #[test]
    fn rests_only_after_a_slice_of_work() {
        let mut rests = Vec::new();
        let mut rest = |d: Duration| {
            rests.push(d);
            true
        };
        let mut pace = Pace::new(25, Duration::from_millis(5), &mut rest);
        pace.step();
        std::thread::sleep(Duration::from_millis(6));
        pace.step();
        pace.step();
        // The first and last steps came before a slice was over; the middle one rested
        // three times as long as it had worked.
        assert_eq!(rests.len(), 1);
        assert!(rests[0] >= Duration::from_millis(18), "{:?}", rests[0]);
    }

    #[test]
    fn a_rest_that_declines_ends_pacing() {
        let mut calls = 0;
        let mut rest = |_| {
            calls += 1;
            false
        };
        let mut pace = Pace::new(50, Duration::ZERO, &mut rest);
        pace.step();
        pace.step();
        pace.step();
        assert_eq!(calls, 1);
    }

    #[test]
    fn share_is_clamped() {
        let mut rest = |_| true;
        assert_eq!(Pace::new(0, Duration::ZERO, &mut rest).share, 1);
        let mut rest = |_| true;
        assert_eq!(Pace::new(500, Duration::ZERO, &mut rest).share, 100);
    }
}
