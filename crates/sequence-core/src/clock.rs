//! Time: an injected clock, so nothing in the domain reads the system time directly.
//!
//! Everything that depends on "now" (settlement schedules, approval windows, rule schedules)
//! takes a [`Clock`] or a timestamp argument. Production passes [`SystemClock`]; tests pass a
//! [`ManualClock`] and move it explicitly, so time-dependent behaviour is deterministic.
//! `SystemClock::now` is the only place in this crate that reads the system clock.
//!
//! # Organization clocks
//!
//! The sandbox lets each organization move *its own* time forward
//! (`POST /sandbox/clock/advance {seconds}`), so a client can watch transfers settle or
//! schedules fire without waiting, and without disturbing other organizations. An
//! organization's time is the base clock plus its `clock_offset_seconds`, an `i64` stored per
//! organization:
//!
//! * the offset only grows ([`advanced_offset`] rejects zero and negative steps): moving time
//!   backwards would let settled transfers and fired schedules precede their own causes;
//! * the offset is bounded by [`CLOCK_OFFSET_SECONDS_MAX`] (about 100 years), so adding it to
//!   any realistic "now" can never leave chrono's range, and arithmetic on it stays checked.
//!
//! Every use case that reads "now" for an organization uses [`org_now`], never the base clock
//! alone.
//!
//! # Business days
//!
//! Settlement of transfers to and from external banks is counted in business days.
//! [`add_business_days`] skips Saturdays and Sundays, evaluated in UTC. There is deliberately
//! no holiday calendar: a simulation that is off by a bank holiday is harmless, while a calendar
//! would be data that needs maintaining and would make schedules depend on the year.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Datelike, TimeDelta, Utc, Weekday};

/// The largest total offset an organization clock may have: 100 years of 366 days.
pub const CLOCK_OFFSET_SECONDS_MAX: i64 = 100 * 366 * SECONDS_PER_DAY;

/// The largest number of business days [`add_business_days`] accepts: a bound on its loop.
/// Settlement needs at most a handful.
pub const BUSINESS_DAYS_MAX: u32 = 366;

const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// The real wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Clones share the same time, so a test can keep one
/// handle and give another to the server.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock { now: Arc::new(Mutex::new(start)) }
    }

    /// Sets the time, forwards or backwards (tests of skew may want the latter).
    pub fn set(&self, now: DateTime<Utc>) {
        *self.lock() = now;
    }

    /// Moves the time forward by `by`.
    ///
    /// # Panics
    /// If `by` is negative (use [`Self::set`] to go back) or the result leaves chrono's range.
    pub fn advance(&self, by: TimeDelta) {
        assert!(by >= TimeDelta::zero(), "ManualClock::advance only moves forward, got {by}");
        let mut now = self.lock();
        *now = now.checked_add_signed(by).expect("ManualClock advanced beyond chrono's range");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned lock only means another test thread panicked while holding it; a
        // `DateTime` cannot be left half-written, so the value is still good.
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

/// An organization's clock offset from the base clock, in seconds (always
/// `0..=CLOCK_OFFSET_SECONDS_MAX`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrgTime {
    /// Seconds the organization's clock runs ahead of the base clock.
    pub offset_seconds: i64,
}

impl OrgTime {
    /// The organization's current time. See [`org_now`].
    pub fn now(self, clock: &dyn Clock) -> DateTime<Utc> {
        org_now(clock, self.offset_seconds)
    }

    /// The offset after advancing by `by_seconds`. See [`advanced_offset`].
    pub fn advanced(self, by_seconds: i64) -> Result<OrgTime, AdvanceError> {
        advanced_offset(self.offset_seconds, by_seconds)
            .map(|offset_seconds| OrgTime { offset_seconds })
    }
}

/// Why an organization clock could not be advanced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdvanceError {
    /// The step is zero or negative; organization clocks only move forward.
    #[error("the clock only moves forward: seconds must be positive, got {by_seconds}")]
    NotPositive {
        /// The requested step.
        by_seconds: i64,
    },
    /// The step would take the total offset beyond [`CLOCK_OFFSET_SECONDS_MAX`].
    #[error(
        "advancing by {by_seconds} seconds would move the clock more than {max_offset_seconds} \
         seconds (100 years) ahead; it is already {offset_seconds} seconds ahead"
    )]
    TooFarAhead {
        /// The current offset.
        offset_seconds: i64,
        /// The requested step.
        by_seconds: i64,
        /// The bound.
        max_offset_seconds: i64,
    },
}

/// The organization's current time: the base clock plus `offset_seconds`.
///
/// # Panics
/// If `offset_seconds` is outside `0..=CLOCK_OFFSET_SECONDS_MAX`: offsets only come from
/// [`advanced_offset`], so anything else is a corrupt stored value.
pub fn org_now(clock: &dyn Clock, offset_seconds: i64) -> DateTime<Utc> {
    assert!(
        (0..=CLOCK_OFFSET_SECONDS_MAX).contains(&offset_seconds),
        "organization clock offset {offset_seconds} is outside 0..={CLOCK_OFFSET_SECONDS_MAX}"
    );
    let base = clock.now();
    let now = base
        .checked_add_signed(TimeDelta::seconds(offset_seconds))
        .expect("a bounded offset keeps any realistic base time within chrono's range");
    assert!(now >= base);
    now
}

/// The offset after moving an organization clock forward by `by_seconds`.
pub fn advanced_offset(offset_seconds: i64, by_seconds: i64) -> Result<i64, AdvanceError> {
    assert!(
        (0..=CLOCK_OFFSET_SECONDS_MAX).contains(&offset_seconds),
        "organization clock offset {offset_seconds} is outside 0..={CLOCK_OFFSET_SECONDS_MAX}"
    );
    if by_seconds <= 0 {
        return Err(AdvanceError::NotPositive { by_seconds });
    }
    let too_far = AdvanceError::TooFarAhead {
        offset_seconds,
        by_seconds,
        max_offset_seconds: CLOCK_OFFSET_SECONDS_MAX,
    };
    match offset_seconds.checked_add(by_seconds) {
        Some(advanced) if advanced <= CLOCK_OFFSET_SECONDS_MAX => {
            assert!(advanced > offset_seconds);
            Ok(advanced)
        }
        Some(_) | None => Err(too_far),
    }
}

/// The most calendar days `n` business days can span: each run of up to five business days is
/// followed by at most one two-day weekend, so `n + 2 * ceil(n / 5)`.
fn business_days_span_max(business_days: u32) -> u32 {
    business_days + 2 * business_days.div_ceil(5)
}

/// Whether `instant` falls on a business day (Monday to Friday, in UTC).
pub fn is_business_day(instant: DateTime<Utc>) -> bool {
    !matches!(instant.weekday(), Weekday::Sat | Weekday::Sun)
}

/// `start` moved forward by `business_days` business days, keeping the time of day.
///
/// Each step moves one calendar day and counts it only if it lands on a weekday, so Friday + 1
/// is Monday, Saturday + 1 and Sunday + 1 are Monday, and `+ 0` is `start` itself (even on a
/// weekend). Weekdays are evaluated in UTC; there is no holiday calendar (see the module docs).
///
/// # Panics
/// If `business_days > BUSINESS_DAYS_MAX`, or the result would leave chrono's range.
pub fn add_business_days(start: DateTime<Utc>, business_days: u32) -> DateTime<Utc> {
    assert!(
        business_days <= BUSINESS_DAYS_MAX,
        "add_business_days: {business_days} exceeds {BUSINESS_DAYS_MAX}"
    );
    let mut current = start;
    let mut remaining = business_days;
    let steps_max = business_days_span_max(business_days);
    let mut steps = 0;
    while remaining > 0 {
        assert!(steps < steps_max, "add_business_days loop bound");
        steps += 1;
        current = current
            .checked_add_signed(TimeDelta::days(1))
            .expect("add_business_days: result beyond chrono's range");
        if is_business_day(current) {
            remaining -= 1;
        }
    }
    assert!(current >= start);
    assert!(business_days == 0 || is_business_day(current));
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(year: i32, month: u32, day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, hour, 30, 15).unwrap()
    }

    #[test]
    fn add_business_days_skips_weekends() {
        // Goal: the weekend rule at every weekday boundary. Method: start on each day of one
        // week (2024-04-22 is a Monday) and compare to the expected date.
        let table: &[(DateTime<Utc>, u32, DateTime<Utc>)] = &[
            (at(2024, 4, 22, 9), 0, at(2024, 4, 22, 9)), // Mon + 0 = Mon
            (at(2024, 4, 22, 9), 1, at(2024, 4, 23, 9)), // Mon + 1 = Tue
            (at(2024, 4, 22, 9), 4, at(2024, 4, 26, 9)), // Mon + 4 = Fri
            (at(2024, 4, 22, 9), 5, at(2024, 4, 29, 9)), // Mon + 5 = next Mon
            (at(2024, 4, 25, 9), 3, at(2024, 4, 30, 9)), // Thu + 3 = Tue
            (at(2024, 4, 26, 23), 1, at(2024, 4, 29, 23)), // Fri + 1 = Mon
            (at(2024, 4, 26, 9), 3, at(2024, 5, 1, 9)),  // Fri + 3 = Wed (across a month)
            (at(2024, 4, 27, 9), 0, at(2024, 4, 27, 9)), // Sat + 0 = Sat
            (at(2024, 4, 27, 9), 1, at(2024, 4, 29, 9)), // Sat + 1 = Mon
            (at(2024, 4, 28, 9), 1, at(2024, 4, 29, 9)), // Sun + 1 = Mon
            (at(2024, 4, 28, 9), 10, at(2024, 5, 10, 9)), // Sun + 10 = Fri two weeks on
            (at(2024, 12, 31, 9), 1, at(2025, 1, 1, 9)), // Tue + 1 across a year (no holidays)
        ];
        for (start, days, expected) in table {
            assert_eq!(add_business_days(*start, *days), *expected, "{start} + {days}");
        }
        assert!(is_business_day(at(2024, 4, 26, 9)));
        assert!(!is_business_day(at(2024, 4, 27, 9)));
        assert!(!is_business_day(at(2024, 4, 28, 9)));
    }

    #[test]
    fn add_business_days_never_needs_more_than_its_bound() {
        // Goal: the loop bound holds, and is tight, for every start day and allowed count.
        // Method: try all seven start days; the worst start must reach the bound exactly.
        for days in [1, 2, 3, 4, 5, 6, 9, 10, 11, 100, BUSINESS_DAYS_MAX] {
            let mut widest = 0;
            for offset in 0..7 {
                let start = at(2024, 4, 22, 0) + TimeDelta::days(offset);
                let calendar_days = (add_business_days(start, days) - start).num_days();
                assert!(calendar_days >= i64::from(days), "{start} + {days}");
                widest = widest.max(calendar_days);
            }
            assert_eq!(widest, i64::from(business_days_span_max(days)), "+ {days}");
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let clock = ManualClock::new(at(2024, 4, 23, 9));
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        assert_eq!(shared.now(), at(2024, 4, 23, 9));
        clock.advance(TimeDelta::hours(2));
        assert_eq!(shared.now(), at(2024, 4, 23, 11));
        clock.set(at(2024, 4, 1, 0));
        assert_eq!(shared.now(), at(2024, 4, 1, 0));
        let outcome = std::panic::catch_unwind(|| clock.advance(TimeDelta::seconds(-1)));
        assert!(outcome.is_err());
    }

    #[test]
    fn system_clock_reads_real_time() {
        let before = Utc::now();
        let now = SystemClock.now();
        assert!(now >= before && now <= Utc::now());
    }

    #[test]
    fn org_time_is_base_time_plus_offset() {
        let clock = ManualClock::new(at(2024, 4, 23, 9));
        assert_eq!(org_now(&clock, 0), at(2024, 4, 23, 9));
        assert_eq!(org_now(&clock, 3 * SECONDS_PER_DAY), at(2024, 4, 26, 9));
        assert_eq!(OrgTime { offset_seconds: 3600 }.now(&clock), at(2024, 4, 23, 10));
        assert_eq!(org_now(&clock, CLOCK_OFFSET_SECONDS_MAX).year(), 2124);
        let corrupt =
            std::panic::catch_unwind(|| org_now(&ManualClock::new(at(2024, 1, 1, 0)), -1));
        assert!(corrupt.is_err());
    }

    #[test]
    fn advancing_an_org_clock_is_forward_only_and_bounded() {
        let max = CLOCK_OFFSET_SECONDS_MAX;
        let too_far = |offset_seconds, by_seconds| {
            Err(AdvanceError::TooFarAhead { offset_seconds, by_seconds, max_offset_seconds: max })
        };
        let table: &[(i64, i64, Result<i64, AdvanceError>)] = &[
            (0, 1, Ok(1)),
            (0, 86_400, Ok(86_400)),
            (100, 50, Ok(150)),
            (0, max, Ok(max)),
            (max - 1, 1, Ok(max)),
            (0, 0, Err(AdvanceError::NotPositive { by_seconds: 0 })),
            (10, -5, Err(AdvanceError::NotPositive { by_seconds: -5 })),
            (0, i64::MIN, Err(AdvanceError::NotPositive { by_seconds: i64::MIN })),
            (max, 1, too_far(max, 1)),
            (1, max, too_far(1, max)),
            (max, i64::MAX, too_far(max, i64::MAX)),
        ];
        for (offset, by, expected) in table {
            assert_eq!(&advanced_offset(*offset, *by), expected, "{offset} + {by}");
        }
        assert_eq!(OrgTime::default().advanced(60), Ok(OrgTime { offset_seconds: 60 }));
        assert_eq!(
            AdvanceError::NotPositive { by_seconds: -5 }.to_string(),
            "the clock only moves forward: seconds must be positive, got -5"
        );
    }
}
