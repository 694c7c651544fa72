//! Exact parsing of dollar amounts given on the command line.
//!
//! **The rule:** every `AMOUNT` argument is in US dollars, written like a price tag: an optional
//! `$`, whole dollars (optionally with `,` between groups of three digits), and optionally `.`
//! followed by one or two digits of cents. `12.34`, `$1,000`, `1000.5` and `0.05` are valid;
//! `1.234` (sub-cent), `-5` (negative), `.5`, `12.`, `1,00` and `abc` are not. The text is parsed
//! digit by digit into integer cents: no floating point is involved, so `0.1` is exactly 10 cents.

use std::fmt;

/// Why a dollar amount was rejected. The message is shown by clap after
/// `invalid value '…' for '--amount <AMOUNT>'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    /// Nothing to parse.
    Empty,
    /// A leading `-`: amounts are never negative (the direction comes from `--from`/`--to`).
    Negative,
    /// More than two digits after the decimal point.
    SubCent,
    /// `,` not between groups of exactly three digits (`1,00`, `10,0000`) or in the cents.
    Separator,
    /// Anything else that is not `[$]digits[.d[d]]`.
    Malformed,
    /// More cents than fit in a signed 64-bit integer.
    TooLarge,
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            AmountError::Empty => "an amount is required, in dollars (e.g. 12.34)",
            AmountError::Negative => "amounts cannot be negative",
            AmountError::SubCent => "at most two decimal places (whole cents), e.g. 12.34",
            AmountError::Separator => "`,` may only separate groups of three digits, e.g. 1,000.00",
            AmountError::Malformed => {
                "expected dollars such as 12.34, $1,000 or 0.05 (digits, optional $, \
                 optional , thousands separators, at most two decimals)"
            }
            AmountError::TooLarge => "amount is too large",
        };
        f.write_str(message)
    }
}

impl std::error::Error for AmountError {}

/// Parses a dollar amount (see the module docs) into integer cents.
pub fn parse_dollars(text: &str) -> Result<i64, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    let unsigned = match text.strip_prefix('-') {
        Some(_) => return Err(AmountError::Negative),
        None => text,
    };
    let unsigned = unsigned.strip_prefix('$').unwrap_or(unsigned);
    if unsigned.starts_with('-') {
        return Err(AmountError::Negative);
    }
    let (whole, cents) = match unsigned.split_once('.') {
        Some((whole, cents)) => (whole, Some(cents)),
        None => (unsigned, None),
    };
    let dollars = parse_whole_dollars(whole)?;
    let cents = match cents {
        None => 0,
        Some(cents) => parse_cents(cents)?,
    };
    dollars.checked_mul(100).and_then(|c| c.checked_add(cents)).ok_or(AmountError::TooLarge)
}

fn parse_whole_dollars(whole: &str) -> Result<i64, AmountError> {
    if whole.is_empty() {
        return Err(AmountError::Malformed);
    }
    if whole.contains(',') {
        let mut groups = whole.split(',');
        let first = groups.next().unwrap_or_default();
        let first_ok = (1..=3).contains(&first.len());
        if !first_ok || groups.any(|group| group.len() != 3) {
            return if whole.bytes().all(|b| b.is_ascii_digit() || b == b',') {
                Err(AmountError::Separator)
            } else {
                Err(AmountError::Malformed)
            };
        }
    }
    let mut dollars: i64 = 0;
    for byte in whole.bytes().filter(|&b| b != b',') {
        if !byte.is_ascii_digit() {
            return Err(AmountError::Malformed);
        }
        dollars = dollars
            .checked_mul(10)
            .and_then(|d| d.checked_add(i64::from(byte - b'0')))
            .ok_or(AmountError::TooLarge)?;
    }
    Ok(dollars)
}

fn parse_cents(cents: &str) -> Result<i64, AmountError> {
    if cents.contains(',') {
        return Err(AmountError::Separator);
    }
    if cents.is_empty() || !cents.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::Malformed);
    }
    match cents.as_bytes() {
        [tens] => Ok(i64::from(tens - b'0') * 10),
        [tens, units] => Ok(i64::from(tens - b'0') * 10 + i64::from(units - b'0')),
        _ => Err(AmountError::SubCent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dollar_amounts_exactly() {
        let cases = [
            ("12.34", 1234),
            ("0.1", 10),
            ("0.05", 5),
            ("1,000", 100_000),
            ("$1,000", 100_000),
            ("$1,234.05", 123_405),
            ("1000.5", 100_050),
            ("5", 500),
            ("0", 0),
            ("007.10", 710),
            ("1,000,000.99", 100_000_099),
            ("92233720368547758.07", i64::MAX),
        ];
        for (text, cents) in cases {
            assert_eq!(parse_dollars(text), Ok(cents), "{text}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        let cases = [
            ("", AmountError::Empty),
            ("-5", AmountError::Negative),
            ("$-5", AmountError::Negative),
            ("-$5", AmountError::Negative),
            ("1.234", AmountError::SubCent),
            ("abc", AmountError::Malformed),
            ("12.", AmountError::Malformed),
            (".5", AmountError::Malformed),
            ("1.2.3", AmountError::Malformed),
            ("+5", AmountError::Malformed),
            ("1e3", AmountError::Malformed),
            ("12 34", AmountError::Malformed),
            ("$", AmountError::Malformed),
            ("1,00", AmountError::Separator),
            ("10,0000", AmountError::Separator),
            (",100", AmountError::Separator),
            ("1000,", AmountError::Separator),
            ("1.0,0", AmountError::Separator),
            ("92233720368547758.08", AmountError::TooLarge),
            ("99999999999999999999", AmountError::TooLarge),
        ];
        for (text, error) in cases {
            assert_eq!(parse_dollars(text), Err(error), "{text}");
        }
    }
}
