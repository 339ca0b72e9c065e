//! `Money`: an amount of Chinese yuan with exactly two decimals, never negative.
//!
//! Balances, prices and charges are all `Money`. Arithmetic is checked and returns
//! `Result`; there is no float anywhere on the way in or out. JSON carries money as a string
//! with exactly two decimals (`"10.00"`); PostgreSQL carries it as `NUMERIC(18,2)`.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Decimal places of every amount (fen).
pub const SCALE: u32 = 2;

/// Largest amount a `NUMERIC(18,2)` column holds, in fen: 16 integer digits and 2 decimals.
const MAX_UNITS: i64 = 999_999_999_999_999_999;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("not a decimal amount")]
    NotANumber,
    #[error("more than two decimal places")]
    TooManyDecimals,
    #[error("amount is negative")]
    Negative,
    #[error("amount exceeds the largest storable amount")]
    Overflow,
    #[error("result would be negative")]
    Underflow,
}

/// A non-negative amount with scale 2. The field is private: every value was checked.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Amount from a count of fen (1/100 yuan).
    pub fn from_fen(fen: i64) -> Result<Money, MoneyError> {
        Self::checked(Decimal::new(fen, SCALE))
    }

    /// Parses user input: digits with at most two decimals (`"10"`, `"10.5"`, `"10.50"`).
    /// No sign, exponent, spaces or thousands separators.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        let (int_part, frac_part) = match text.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (text, None),
        };
        let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if text.starts_with('-') && text.len() > 1 {
            return Err(MoneyError::Negative);
        }
        if !digits_only(int_part) {
            return Err(MoneyError::NotANumber);
        }
        if let Some(frac) = frac_part {
            if !digits_only(frac) {
                return Err(MoneyError::NotANumber);
            }
            if frac.len() > SCALE as usize {
                return Err(MoneyError::TooManyDecimals);
            }
        }
        if int_part.len() > 16 {
            return Err(MoneyError::Overflow);
        }
        let value = Decimal::from_str(text).map_err(|_| MoneyError::NotANumber)?;
        Self::checked(value)
    }

    /// Wraps a decimal read from storage (`NUMERIC(18,2)`); refuses what `parse` would.
    pub fn from_decimal(value: Decimal) -> Result<Money, MoneyError> {
        if value.scale() > SCALE && value.normalize().scale() > SCALE {
            return Err(MoneyError::TooManyDecimals);
        }
        Self::checked(value)
    }

    fn checked(mut value: Decimal) -> Result<Money, MoneyError> {
        if value.is_sign_negative() && !value.is_zero() {
            return Err(MoneyError::Negative);
        }
        value.rescale(SCALE);
        if value.mantissa() > i128::from(MAX_UNITS) {
            return Err(MoneyError::Overflow);
        }
        // -0.00 and 0.00 are the same amount; keep one representation.
        value.set_sign_positive(true);
        Ok(Money(value))
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        let sum = self.0.checked_add(other.0).ok_or(MoneyError::Overflow)?;
        Self::checked(sum)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        if other.0 > self.0 {
            return Err(MoneyError::Underflow);
        }
        Self::checked(self.0 - other.0)
    }

    /// `self × count`, e.g. unit price × players. Exact: no rounding happens.
    pub fn times(self, count: u32) -> Result<Money, MoneyError> {
        let product = self
            .0
            .checked_mul(Decimal::from(count))
            .ok_or(MoneyError::Overflow)?;
        Self::checked(product)
    }

    /// How much `other` exceeds `self` (zero when it does not).
    pub fn shortage_to(self, other: Money) -> Money {
        other.checked_sub(self).unwrap_or(Money::ZERO)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn as_decimal(self) -> Decimal {
        self.0
    }

    /// Whole amount in fen; exact because the scale is always 2.
    pub fn fen(self) -> i64 {
        i64::try_from(self.0.mantissa()).expect("money fits in i64 fen by construction")
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Only strings: a JSON number would invite float rounding on some client.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Money::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_up_to_two_decimals_and_prints_exactly_two() {
        assert_eq!(Money::parse("10").unwrap().to_string(), "10.00");
        assert_eq!(Money::parse("10.5").unwrap().to_string(), "10.50");
        assert_eq!(Money::parse("10.50").unwrap().to_string(), "10.50");
        assert_eq!(Money::parse("0").unwrap().to_string(), "0.00");
    }

    #[test]
    fn parse_refuses_everything_that_is_not_a_plain_amount() {
        assert_eq!(Money::parse("10.555"), Err(MoneyError::TooManyDecimals));
        assert_eq!(Money::parse("-1"), Err(MoneyError::Negative));
        for bad in [
            "", ".", "1.", ".5", "1e3", " 1", "1,000", "abc", "+1", "NaN",
        ] {
            assert_eq!(Money::parse(bad), Err(MoneyError::NotANumber), "{bad:?}");
        }
        assert_eq!(Money::parse("12345678901234567"), Err(MoneyError::Overflow));
    }

    #[test]
    fn arithmetic_is_exact_and_checked() {
        let price = Money::parse("10.00").unwrap();
        assert_eq!(price.times(5).unwrap(), Money::parse("50").unwrap());
        let balance = Money::parse("30").unwrap();
        assert_eq!(
            balance.checked_sub(price.times(5).unwrap()),
            Err(MoneyError::Underflow)
        );
        assert_eq!(
            Money::parse("0.10")
                .unwrap()
                .checked_add(Money::parse("0.20").unwrap())
                .unwrap(),
            Money::parse("0.30").unwrap()
        );
        let max = Money::parse("9999999999999999.99").unwrap();
        assert_eq!(
            max.checked_add(Money::from_fen(1).unwrap()),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            balance.shortage_to(Money::parse("50").unwrap()).to_string(),
            "20.00"
        );
    }

    #[test]
    fn json_is_a_two_decimal_string_and_numbers_are_refused() {
        let m = Money::parse("7.5").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"7.50\"");
        assert_eq!(serde_json::from_str::<Money>("\"7.5\"").unwrap(), m);
        assert!(serde_json::from_str::<Money>("7.5").is_err());
    }

    #[test]
    fn storage_decimals_round_trip() {
        let m = Money::parse("123.40").unwrap();
        assert_eq!(Money::from_decimal(m.as_decimal()).unwrap(), m);
        assert_eq!(m.fen(), 12340);
    }
}
