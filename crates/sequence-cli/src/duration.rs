//! Durations for `sequence sandbox advance`: `90s`, `15m`, `2h`, `5d`, `1w`, or several joined
//! together (`1d12h`). A unit is required, so `90` alone is rejected rather than guessed.

use std::fmt;

/// Why a duration was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    /// Not of the form `<number><unit>…`.
    Malformed,
    /// A number without a unit (`90`).
    MissingUnit,
    /// A unit other than `s`, `m`, `h`, `d` or `w`.
    UnknownUnit(char),
    /// The duration adds up to zero.
    Zero,
    /// Too many seconds to represent.
    TooLarge,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Malformed => {
                f.write_str("expected a duration such as 90s, 15m, 2h, 5d, 1w or 1d12h")
            }
            DurationError::MissingUnit => {
                f.write_str("add a unit: s (seconds), m (minutes), h (hours), d (days), w (weeks)")
            }
            DurationError::UnknownUnit(unit) => {
                write!(f, "unknown unit `{unit}`: use s, m, h, d or w (e.g. 90s, 2h, 5d)")
            }
            DurationError::Zero => f.write_str("the duration must be longer than zero"),
            DurationError::TooLarge => f.write_str("the duration is too long"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration into whole seconds.
pub fn parse_duration(text: &str) -> Result<u64, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Malformed);
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(digit) = c.to_digit(10) {
            let value = number.unwrap_or(0);
            number = Some(
                value
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(digit)))
                    .ok_or(DurationError::TooLarge)?,
            );
            continue;
        }
        let unit_seconds = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            c if c.is_alphabetic() => return Err(DurationError::UnknownUnit(c)),
            _ => return Err(DurationError::Malformed),
        };
        let value = number.take().ok_or(DurationError::Malformed)?;
        total = value
            .checked_mul(unit_seconds)
            .and_then(|seconds| total.checked_add(seconds))
            .ok_or(DurationError::TooLarge)?;
    }
    if number.is_some() {
        return Err(DurationError::MissingUnit);
    }
    if total == 0 {
        return Err(DurationError::Zero);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        let cases = [
            ("90s", 90),
            ("15m", 900),
            ("2h", 7_200),
            ("5d", 432_000),
            ("1w", 604_800),
            ("1d12h", 129_600),
            ("1h30m15s", 5_415),
        ];
        for (text, seconds) in cases {
            assert_eq!(parse_duration(text), Ok(seconds), "{text}");
        }
    }

    #[test]
    fn rejects_bad_durations() {
        let cases = [
            ("", DurationError::Malformed),
            ("90", DurationError::MissingUnit),
            ("1h30", DurationError::MissingUnit),
            ("5y", DurationError::UnknownUnit('y')),
            ("h", DurationError::Malformed),
            ("-5d", DurationError::Malformed),
            ("1.5h", DurationError::Malformed),
            ("0s", DurationError::Zero),
            ("99999999999999999999s", DurationError::TooLarge),
            ("999999999999999w", DurationError::TooLarge),
        ];
        for (text, error) in cases {
            assert_eq!(parse_duration(text), Err(error), "{text}");
        }
    }
}
