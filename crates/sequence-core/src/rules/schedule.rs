//! When a `SCHEDULED` rule fires: pure calendar arithmetic in UTC.
//!
//! The scheduler (`sequence_app::rule_hooks`) asks "what is the next occurrence after the last
//! one I ran?" and "which occurrences did I miss while down?"; both questions are answered here
//! from the [`Schedule`] alone, so there is no hidden state to persist beyond the last run time.
//! The clock is an argument, never read. Occurrences have the start's precision: the scheduler
//! hands in schedules at stored precision (milliseconds), so that an occurrence, once stored, is
//! still strictly later than the one before.
//!
//! Occurrences, all in UTC (the API's timestamps are UTC, so there is no daylight-saving gap):
//! - `ONE_TIME`: exactly `start`.
//! - `DAILY`, `WEEKLY`, `EVERY_OTHER_WEEK`: `start + n × 24h / 7d / 14d`, n ≥ 0. `EVERY_OTHER_WEEK`
//!   counts 14 days from the start, as `openapi.yaml` specifies (Platform v1 describes "even ISO
//!   weeks", which would ignore the start's own week).
//! - `MONTHLY`: the start's day of month in every month from the start's, clamped to the month's
//!   last day, at the start's time of day. The clamp is from the *original* day each month, so a
//!   rule started on Jan 31 runs Feb 28 (29 in leap years), then Mar 31 again, never drifting.
//! - `BI_WEEKLY` (the API's name for semi-monthly): the 1st and the 15th of every month at the
//!   start's time of day; the first occurrence is the first of those at or after `start`.
//!
//! Arithmetic that would leave chrono's range yields `None` (no further occurrence), never a panic.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, Utc};

use super::model::{Schedule, ScheduleKind};

/// The first occurrence strictly after `after`, or `None` when there is none (a `ONE_TIME`
/// schedule that already fired, or a date beyond chrono's range).
pub fn next_occurrence_after(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let next = match schedule.kind {
        ScheduleKind::OneTime => (schedule.start > after).then_some(schedule.start),
        ScheduleKind::Daily => next_every(schedule.start, TimeDelta::days(1), after),
        ScheduleKind::Weekly => next_every(schedule.start, TimeDelta::weeks(1), after),
        ScheduleKind::EveryOtherWeek => next_every(schedule.start, TimeDelta::weeks(2), after),
        ScheduleKind::Monthly => next_monthly(schedule.start, after),
        ScheduleKind::BiWeekly => next_semi_monthly(schedule.start, after),
    };
    if let Some(next) = next {
        assert!(next > after, "occurrences move strictly forward");
        assert!(next >= schedule.start, "no occurrence precedes the start");
    }
    next
}

/// The occurrences in `(from_exclusive, to_inclusive]`, oldest first, at most `max` of them.
///
/// `max` bounds the work (a `DAILY` schedule over a century is 36 500 occurrences); a scheduler
/// catching up after downtime usually wants only the latest few, or just to know there were some.
pub fn occurrences_between(
    schedule: &Schedule,
    from_exclusive: DateTime<Utc>,
    to_inclusive: DateTime<Utc>,
    max: usize,
) -> Vec<DateTime<Utc>> {
    let mut occurrences = Vec::new();
    let mut cursor = from_exclusive;
    while occurrences.len() < max {
        match next_occurrence_after(schedule, cursor) {
            Some(next) if next <= to_inclusive => {
                occurrences.push(next);
                cursor = next;
            }
            _ => break,
        }
    }
    assert!(occurrences.len() <= max);
    assert!(occurrences.is_sorted());
    occurrences
}

/// The number of days in a month (28–31), or `None` outside chrono's calendar range.
pub fn last_day_of_month(year: i32, month: u32) -> Option<u32> {
    assert!((1..=12).contains(&month), "month is 1-based");
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let last = first.checked_add_months(Months::new(1))?.pred_opt()?;
    assert!((28..=31).contains(&last.day()));
    Some(last.day())
}

/// `start + n × period` for the smallest n ≥ 0 that lands strictly after `after`.
fn next_every(
    start: DateTime<Utc>,
    period: TimeDelta,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    assert!(period > TimeDelta::zero());
    if after < start {
        return Some(start);
    }
    // Whole periods elapsed, rounding down. Both durations are non-negative, so integer division
    // of the whole seconds is a floor, and `candidate` lands at or before `after`.
    let periods_elapsed = after.signed_duration_since(start).num_seconds() / period.num_seconds();
    let offset = period.checked_mul(i32::try_from(periods_elapsed).ok()?)?;
    let mut candidate = start.checked_add_signed(offset)?;
    assert!(candidate <= after);
    // One more period passes `after`: (periods + 1) × period > the elapsed whole seconds plus any
    // fraction of a second.
    candidate = candidate.checked_add_signed(period)?;
    assert!(candidate > after);
    Some(candidate)
}

/// The start's day of month, clamped, in the first month whose occurrence is after `after`.
fn next_monthly(start: DateTime<Utc>, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if after < start {
        return Some(start);
    }
    let months_elapsed = (i64::from(after.year()) - i64::from(start.year())) * 12
        + i64::from(after.month0())
        - i64::from(start.month0());
    assert!(months_elapsed >= 0);
    let months_elapsed = u32::try_from(months_elapsed).ok()?;
    // The occurrence in `after`'s own month may still be ahead of it; otherwise the next month's
    // is, since it falls in a later month than `after`.
    for offset in [months_elapsed, months_elapsed.checked_add(1)?] {
        // chrono clamps to the month's last day, counting from the original start each time.
        let candidate = start.checked_add_months(Months::new(offset))?;
        if candidate > after {
            return Some(candidate);
        }
    }
    unreachable!("the occurrence in the month after `after` is later than `after`")
}

/// The first 1st-or-15th (at the start's time of day) that is at or after `start` and strictly
/// after `after`.
fn next_semi_monthly(start: DateTime<Utc>, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let base = after.max(start);
    let first_of_month = base.date_naive().with_day(1)?;
    // The 1st of the month after `base`'s is always later than `base`, so two months suffice.
    for month_offset in 0..2 {
        let month = first_of_month.checked_add_months(Months::new(month_offset))?;
        for day in [1, 15] {
            let candidate = month.with_day(day)?.and_time(start.time()).and_utc();
            if candidate > after && candidate >= start {
                return Some(candidate);
            }
        }
    }
    unreachable!("the 1st of the month after `base` is later than `base`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("test timestamp").with_timezone(&Utc)
    }

    /// Goal: list the occurrences of a schedule after a moment. Method: `occurrences_between`
    /// with a far horizon, compared as RFC 3339 strings so the table reads like a calendar.
    #[track_caller]
    fn check(kind: ScheduleKind, start: &str, after: &str, expected: &[&str]) {
        let schedule = Schedule { kind, start: at(start) };
        let occurrences =
            occurrences_between(&schedule, at(after), at("2100-01-01T00:00:00Z"), expected.len());
        let actual: Vec<String> = occurrences
            .iter()
            .map(|moment| moment.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .collect();
        assert_eq!(actual, expected);
        // `next_occurrence_after` agrees with the first listed occurrence.
        let next = next_occurrence_after(&schedule, at(after));
        assert_eq!(next, occurrences.first().copied());
    }

    #[test]
    fn one_time_fires_once_at_its_start() {
        let start = "2024-03-10T09:30:00Z";
        check(ScheduleKind::OneTime, start, "2024-03-10T09:29:59Z", &[start]);
        check(ScheduleKind::OneTime, start, "2024-03-10T09:30:00Z", &[]);
        check(ScheduleKind::OneTime, start, "2020-01-01T00:00:00Z", &[start]);
        let schedule = Schedule { kind: ScheduleKind::OneTime, start: at(start) };
        let all = occurrences_between(&schedule, at("2000-01-01T00:00:00Z"), at(start), 10);
        assert_eq!(all, vec![at(start)]);
    }

    #[test]
    fn daily_steps_24_hours_across_month_and_leap_day() {
        let start = "2024-02-27T22:00:00Z";
        check(
            ScheduleKind::Daily,
            start,
            "2024-02-27T00:00:00Z",
            &[
                "2024-02-27T22:00:00Z",
                "2024-02-28T22:00:00Z",
                "2024-02-29T22:00:00Z",
                "2024-03-01T22:00:00Z",
            ],
        );
        // Exactly on an occurrence: the next one, not the same one.
        check(ScheduleKind::Daily, start, "2024-02-29T22:00:00Z", &["2024-03-01T22:00:00Z"]);
        // A fraction of a second past an occurrence.
        let schedule = Schedule { kind: ScheduleKind::Daily, start: at(start) };
        let after = at("2024-02-29T22:00:00Z") + TimeDelta::nanoseconds(1);
        assert_eq!(next_occurrence_after(&schedule, after), Some(at("2024-03-01T22:00:00Z")));
        // Years later, across the year boundary.
        check(
            ScheduleKind::Daily,
            start,
            "2030-12-31T21:00:00Z",
            &["2030-12-31T22:00:00Z", "2031-01-01T22:00:00Z"],
        );
    }

    #[test]
    fn weekly_and_every_other_week_count_from_the_start() {
        // 2024-12-23 is a Monday.
        let start = "2024-12-23T08:00:00Z";
        check(
            ScheduleKind::Weekly,
            start,
            "2024-12-23T08:00:00Z",
            &["2024-12-30T08:00:00Z", "2025-01-06T08:00:00Z"],
        );
        check(
            ScheduleKind::EveryOtherWeek,
            start,
            "2024-12-01T00:00:00Z",
            &["2024-12-23T08:00:00Z", "2025-01-06T08:00:00Z", "2025-01-20T08:00:00Z"],
        );
        // Mid-cycle: the 14-day phase is kept from the start, whatever the week number.
        check(
            ScheduleKind::EveryOtherWeek,
            start,
            "2025-01-07T00:00:00Z",
            &["2025-01-20T08:00:00Z"],
        );
    }

    #[test]
    fn monthly_clamps_to_short_months_without_drifting() {
        let start = "2024-01-31T12:00:00Z";
        check(
            ScheduleKind::Monthly,
            start,
            "2024-01-01T00:00:00Z",
            &[
                "2024-01-31T12:00:00Z",
                "2024-02-29T12:00:00Z",
                "2024-03-31T12:00:00Z",
                "2024-04-30T12:00:00Z",
                "2024-05-31T12:00:00Z",
            ],
        );
        // Not a leap year; and across the year boundary.
        check(
            ScheduleKind::Monthly,
            start,
            "2024-12-31T12:00:00Z",
            &["2025-01-31T12:00:00Z", "2025-02-28T12:00:00Z", "2025-03-31T12:00:00Z"],
        );
        // Later in the same month as `after`, then earlier in the month than `after`.
        check(
            ScheduleKind::Monthly,
            "2024-01-15T06:00:00Z",
            "2024-06-15T05:59:59Z",
            &["2024-06-15T06:00:00Z"],
        );
        check(
            ScheduleKind::Monthly,
            "2024-01-15T06:00:00Z",
            "2024-06-15T06:00:00Z",
            &["2024-07-15T06:00:00Z"],
        );
        // The 29th in February: only leap years have it.
        check(
            ScheduleKind::Monthly,
            "2023-01-29T00:00:00Z",
            "2023-01-29T00:00:00Z",
            &["2023-02-28T00:00:00Z", "2023-03-29T00:00:00Z"],
        );
    }

    #[test]
    fn bi_weekly_is_the_first_and_fifteenth() {
        // Starts between the 1st and the 15th: the 15th comes first.
        check(
            ScheduleKind::BiWeekly,
            "2024-01-10T09:00:00Z",
            "2023-06-01T00:00:00Z",
            &[
                "2024-01-15T09:00:00Z",
                "2024-02-01T09:00:00Z",
                "2024-02-15T09:00:00Z",
                "2024-03-01T09:00:00Z",
            ],
        );
        // Starting exactly on a 1st includes it.
        check(
            ScheduleKind::BiWeekly,
            "2024-03-01T09:00:00Z",
            "2024-02-01T00:00:00Z",
            &["2024-03-01T09:00:00Z"],
        );
        // Later the same day as an occurrence's time of day has passed: next is the 1st of next
        // month; across the year boundary.
        check(
            ScheduleKind::BiWeekly,
            "2024-01-10T09:00:00Z",
            "2024-12-15T09:00:00Z",
            &["2025-01-01T09:00:00Z", "2025-01-15T09:00:00Z"],
        );
        // The start's time of day applies, not the start's date.
        check(
            ScheduleKind::BiWeekly,
            "2024-01-15T23:30:00Z",
            "2024-01-15T23:29:00Z",
            &["2024-01-15T23:30:00Z"],
        );
        check(
            ScheduleKind::BiWeekly,
            "2024-01-16T00:00:00Z",
            "2024-01-01T00:00:00Z",
            &["2024-02-01T00:00:00Z"],
        );
    }

    #[test]
    fn occurrences_between_honours_both_bounds_and_max() {
        let schedule = Schedule { kind: ScheduleKind::Daily, start: at("2024-01-01T00:00:00Z") };
        let from = at("2024-01-01T00:00:00Z");
        let to = at("2024-01-04T00:00:00Z");
        // `from` is exclusive, `to` inclusive.
        assert_eq!(
            occurrences_between(&schedule, from, to, 10),
            vec![at("2024-01-02T00:00:00Z"), at("2024-01-03T00:00:00Z"), to]
        );
        assert_eq!(occurrences_between(&schedule, from, to, 2).len(), 2);
        assert!(occurrences_between(&schedule, from, to, 0).is_empty());
        assert!(occurrences_between(&schedule, to, from, 10).is_empty());
    }

    #[test]
    fn last_day_of_month_knows_leap_years() {
        assert_eq!(last_day_of_month(2024, 2), Some(29));
        assert_eq!(last_day_of_month(2023, 2), Some(28));
        assert_eq!(last_day_of_month(1900, 2), Some(28));
        assert_eq!(last_day_of_month(2000, 2), Some(29));
        assert_eq!(last_day_of_month(2024, 4), Some(30));
        assert_eq!(last_day_of_month(2024, 12), Some(31));
    }
}
