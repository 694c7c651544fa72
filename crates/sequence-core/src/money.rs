//! Money: integer cents, checked arithmetic, never floats.
//!
//! Every amount in the API is an integer number of US cents (`*_in_cents`). [`Cents`] wraps an
//! `i64` and only offers checked operations, so an overflow is an error the caller must handle
//! rather than a silently wrapped balance.

use std::fmt;

/// The smallest amount a transfer may move: $1.00. Manual transfers below it are rejected; rule
/// actions that compute less are skipped and counted (as the public API documents).
pub const TRANSFER_MINIMUM: Cents = Cents(100);

/// An amount of money in US cents. May be negative only where a balance can be (liabilities,
/// deltas); amounts of transfers are always positive.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Cents(i64);

/// Arithmetic on [`Cents`] left the range of `i64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("amount out of range")]
pub struct Overflow;

impl Cents {
    /// Zero cents.
    pub const ZERO: Cents = Cents(0);

    /// Wraps a raw number of cents.
    pub const fn new(cents: i64) -> Self {
        Cents(cents)
    }

    /// The raw number of cents.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// `self + other`, or [`Overflow`].
    pub fn checked_add(self, other: Cents) -> Result<Cents, Overflow> {
        self.0.checked_add(other.0).map(Cents).ok_or(Overflow)
    }

    /// `self - other`, or [`Overflow`].
    pub fn checked_sub(self, other: Cents) -> Result<Cents, Overflow> {
        self.0.checked_sub(other.0).map(Cents).ok_or(Overflow)
    }

    /// `-self`, or [`Overflow`].
    pub fn checked_neg(self) -> Result<Cents, Overflow> {
        self.0.checked_neg().map(Cents).ok_or(Overflow)
    }

    /// `true` when strictly greater than zero.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// The smaller of two amounts.
    pub fn min(self, other: Cents) -> Cents {
        Cents(self.0.min(other.0))
    }

    /// The larger of two amounts.
    pub fn max(self, other: Cents) -> Cents {
        Cents(self.0.max(other.0))
    }

    /// `self * basis_points / 10_000`, rounded **down** toward zero to the cent.
    ///
    /// Percentages in rules are carried as basis points (hundredths of a percent) so that no float
    /// ever touches an amount. Rounding down means a rule never moves more than it was told to.
    pub fn percentage_floor(self, basis_points: u32) -> Result<Cents, Overflow> {
        let product = i128::from(self.0).checked_mul(i128::from(basis_points)).ok_or(Overflow)?;
        let result = product / 10_000;
        i64::try_from(result).map(Cents).map_err(|_| Overflow)
    }
}

impl fmt::Display for Cents {
    /// Dollars and cents, e.g. `$1,234.05` or `-$0.10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let dollars = (abs / 100).to_string();
        let mut grouped = String::with_capacity(dollars.len() + dollars.len() / 3);
        for (i, ch) in dollars.chars().enumerate() {
            if i > 0 && (dollars.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        write!(f, "{sign}${grouped}.{:02}", abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_arithmetic_reports_overflow() {
        assert_eq!(Cents::new(i64::MAX).checked_add(Cents::new(1)), Err(Overflow));
        assert_eq!(Cents::new(i64::MIN).checked_sub(Cents::new(1)), Err(Overflow));
        assert_eq!(Cents::new(5).checked_sub(Cents::new(7)), Ok(Cents::new(-2)));
    }

    #[test]
    fn percentages_round_down_to_the_cent() {
        // 20% of $10.01 is $2.002 -> $2.00.
        assert_eq!(Cents::new(1001).percentage_floor(2000), Ok(Cents::new(200)));
        // 33.33% of $1.00 is 33.33 cents -> 33 cents.
        assert_eq!(Cents::new(100).percentage_floor(3333), Ok(Cents::new(33)));
        assert_eq!(Cents::new(i64::MAX).percentage_floor(10_000), Ok(Cents::new(i64::MAX)));
    }

    #[test]
    fn displays_as_dollars() {
        assert_eq!(Cents::new(123_405).to_string(), "$1,234.05");
        assert_eq!(Cents::new(-10).to_string(), "-$0.10");
        assert_eq!(Cents::new(100_000_000).to_string(), "$1,000,000.00");
    }
}
