//! The simulator's clock: real time as the application sees it, moved only by the simulator.
//!
//! `sequence_core::clock::ManualClock` would do, but the simulator wants microsecond steps (so
//! that sub-millisecond instants, which the store truncates, are exercised) and a lock-free read
//! on every use case; one atomic count of microseconds since the epoch gives both. Every
//! [`sequence_app::App`] of a run (both replicas) shares one `Arc<SimClock>`.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use sequence_core::clock::Clock;

/// Microseconds since the Unix epoch, moved forward by the simulator only.
#[derive(Debug)]
pub struct SimClock {
    micros: AtomicI64,
}

impl SimClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> SimClock {
        SimClock { micros: AtomicI64::new(start.timestamp_micros()) }
    }

    /// Moves the clock forward by `by` (never back: organizations' clocks only move forward).
    ///
    /// # Panics
    /// If `by` is negative or the result leaves chrono's range (the generator never asks that).
    pub fn advance(&self, by: TimeDelta) {
        let micros = by.num_microseconds().expect("a clock step fits in microseconds");
        assert!(micros >= 0, "the simulated clock only moves forward, got {by}");
        let before = self.micros.fetch_add(micros, Ordering::SeqCst);
        assert!(DateTime::from_timestamp_micros(before + micros).is_some(), "clock out of range");
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros.load(Ordering::SeqCst))
            .expect("the simulated clock stays within chrono's range")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_by_microseconds_and_only_when_told() {
        let start = DateTime::from_timestamp_micros(1_740_000_000_000_250).unwrap();
        let clock = SimClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(TimeDelta::microseconds(500));
        assert_eq!(clock.now(), start + TimeDelta::microseconds(500));
        assert!(std::panic::catch_unwind(|| clock.advance(TimeDelta::microseconds(-1))).is_err());
    }
}
