//! Amounts of US dollars as integer micro-dollars: prices, costs and budgets add up and compare
//! exactly, with no floating-point drift.
//!
//! People write dollars as decimals (`5.0`, `0.15`); [`Money`] reads and writes them that way in
//! serde (TOML and JSON numbers, or strings such as `"5.0"` from environment variables) and keeps
//! micro-dollars inside.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

const MICROS_PER_DOLLAR: i64 = 1_000_000;
/// Decimal places a micro-dollar amount can hold.
const MAX_DECIMALS: usize = 6;

/// An amount of US dollars in micro-dollars (millionths of a dollar).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{0} is not an amount of dollars like 5 or 0.15")]
    NotANumber(String),
    #[error("{0} is negative; an amount of dollars must be 0 or more")]
    Negative(String),
    #[error("{0} has more than 6 decimal places (the smallest amount is 0.000001 dollars)")]
    TooPrecise(String),
    #[error("{0} is more than {max} dollars", max = Money::MAX_PARSED.whole_dollars())]
    TooLarge(String),
}

impl Money {
    pub const ZERO: Self = Self(0);
    /// The largest amount [`Money::parse_dollars`] accepts: a billion dollars. Anything above is a
    /// typo, and the bound keeps every sum of a few such amounts far from overflowing.
    pub const MAX_PARSED: Self = Self::from_dollars(1_000_000_000);

    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn from_cents(cents: i64) -> Self {
        Self(cents * (MICROS_PER_DOLLAR / 100))
    }

    pub const fn from_dollars(dollars: i64) -> Self {
        Self(dollars * MICROS_PER_DOLLAR)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    pub fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }

    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Self)
    }

    const fn whole_dollars(self) -> i64 {
        self.0 / MICROS_PER_DOLLAR
    }

    /// Reads a decimal amount of dollars: `5`, `5.0`, `0.15`, `+1.5`; at most 6 decimal places,
    /// 0 to [`Money::MAX_PARSED`]. Surrounding spaces are ignored.
    pub fn parse_dollars(text: &str) -> Result<Self, MoneyError> {
        let trimmed = text.trim();
        if trimmed.starts_with('-') {
            return Err(MoneyError::Negative(trimmed.to_owned()));
        }
        let unsigned = trimmed.strip_prefix('+').unwrap_or(trimmed);
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
            return Err(MoneyError::NotANumber(trimmed.to_owned()));
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > MAX_DECIMALS {
            return Err(MoneyError::TooPrecise(trimmed.to_owned()));
        }
        let too_large = || MoneyError::TooLarge(trimmed.to_owned());
        let whole = whole.trim_start_matches('0');
        // More digits than the bound has cannot be within it (and could overflow an i64).
        if whole.len() > 10 {
            return Err(too_large());
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_large())?
        };
        let padded = format!("{fraction:0<MAX_DECIMALS$}");
        let fraction: i64 = padded.parse().expect("six ASCII digits fit an i64");
        let money = Self(whole * MICROS_PER_DOLLAR + fraction);
        if money > Self::MAX_PARSED {
            return Err(too_large());
        }
        Ok(money)
    }

    /// Reads a number of dollars as written in a file (a float such as `0.15` is read as the
    /// decimal it was written as, not as its binary approximation).
    pub fn from_dollars_f64(dollars: f64) -> Result<Self, MoneyError> {
        if !dollars.is_finite() {
            return Err(MoneyError::NotANumber(dollars.to_string()));
        }
        if dollars == 0.0 {
            // Also -0.0, which would otherwise read as negative.
            return Ok(Self::ZERO);
        }
        // `Display` of an f64 is the shortest decimal that reads back as the same f64: the
        // number as the person typed it, without an exponent.
        Self::parse_dollars(&dollars.to_string())
    }

    /// The amount as a decimal number of dollars, for serialising: exact up to 2^53
    /// micro-dollars (about 9 billion dollars), which covers every amount that is read.
    pub fn as_dollars_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_DOLLAR as f64
    }
}

/// `$1.25`: dollars rounded to the cent (half away from zero), or to as many places as a
/// precision asks for (`{:.6}` shows every micro-dollar).
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let places = f.precision().unwrap_or(2).min(MAX_DECIMALS);
        let unit = 10_i128.pow((MAX_DECIMALS - places) as u32);
        let micros = i128::from(self.0);
        let rounded = (micros.abs() + unit / 2) / unit;
        let scale = 10_i128.pow(places as u32);
        let sign = if micros < 0 && rounded != 0 { "-" } else { "" };
        let (whole, fraction) = (rounded / scale, rounded % scale);
        if places == 0 {
            write!(f, "{sign}${whole}")
        } else {
            write!(f, "{sign}${whole}.{fraction:0places$}")
        }
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_dollars_f64())
    }
}

/// Dollars from a number (integer or float) or a string of one; negative, non-finite, too
/// precise and absurdly large amounts are errors (the deserializer names the key).
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DollarsVisitor)
    }
}

struct DollarsVisitor;

impl Visitor<'_> for DollarsVisitor {
    type Value = Money;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an amount of dollars such as 5 or 0.15")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Money, E> {
        Money::parse_dollars(&v.to_string()).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Money, E> {
        Money::parse_dollars(&v.to_string()).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Money, E> {
        Money::from_dollars_f64(v).map_err(E::custom)
    }

    /// Some readers (figment, for short environment values) hand over an f32; read the decimal
    /// it was written as, not its widening to f64 (`0.15f32 as f64` is 0.150000006).
    fn visit_f32<E: de::Error>(self, v: f32) -> Result<Money, E> {
        if !v.is_finite() || v == 0.0 {
            return Money::from_dollars_f64(f64::from(v)).map_err(E::custom);
        }
        Money::parse_dollars(&v.to_string()).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Money, E> {
        Money::parse_dollars(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_dollars_are_read_exactly() {
        assert_eq!(Money::parse_dollars("5"), Ok(Money::from_dollars(5)));
        assert_eq!(Money::parse_dollars("5.0"), Ok(Money::from_micros(5_000_000)));
        assert_eq!(Money::parse_dollars(" 0.15 "), Ok(Money::from_cents(15)));
        assert_eq!(Money::parse_dollars(".5"), Ok(Money::from_cents(50)));
        assert_eq!(Money::parse_dollars("+2."), Ok(Money::from_dollars(2)));
        assert_eq!(Money::parse_dollars("0.000001"), Ok(Money::from_micros(1)));
        assert_eq!(Money::parse_dollars("1.2300000000"), Ok(Money::from_cents(123)));
        assert_eq!(Money::parse_dollars("1000000000"), Ok(Money::MAX_PARSED));
        assert_eq!(Money::from_dollars_f64(0.15), Ok(Money::from_cents(15)));
        assert_eq!(
            Money::from_dollars_f64(0.1 + 0.2),
            Err(MoneyError::TooPrecise("0.30000000000000004".into()))
        );
        assert_eq!(
            Money::from_dollars_f64(2.5e-6),
            Err(MoneyError::TooPrecise("0.0000025".into()))
        );
    }

    #[test]
    fn wrong_amounts_are_refused() {
        assert!(matches!(Money::parse_dollars("-1"), Err(MoneyError::Negative(_))));
        assert!(matches!(Money::from_dollars_f64(-0.5), Err(MoneyError::Negative(_))));
        assert!(matches!(
            Money::from_dollars_f64(f64::NAN),
            Err(MoneyError::NotANumber(_))
        ));
        assert!(matches!(
            Money::from_dollars_f64(f64::INFINITY),
            Err(MoneyError::NotANumber(_))
        ));
        assert!(matches!(
            Money::parse_dollars("0.0000001"),
            Err(MoneyError::TooPrecise(_))
        ));
        assert!(matches!(
            Money::parse_dollars("1000000000.000001"),
            Err(MoneyError::TooLarge(_))
        ));
        assert!(matches!(
            Money::parse_dollars("99999999999999999999999"),
            Err(MoneyError::TooLarge(_))
        ));
        assert!(matches!(Money::from_dollars_f64(1e300), Err(MoneyError::TooLarge(_))));
        for text in ["", ".", "five", "1e3", "1,5", "$5", "1.2.3", "--1", "+-1"] {
            assert!(Money::parse_dollars(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn display_rounds_to_the_cent() {
        assert_eq!(Money::from_cents(125).to_string(), "$1.25");
        assert_eq!(Money::from_dollars(5).to_string(), "$5.00");
        assert_eq!(Money::ZERO.to_string(), "$0.00");
        assert_eq!(Money::from_micros(1_234_999).to_string(), "$1.23");
        assert_eq!(Money::from_micros(1_235_000).to_string(), "$1.24");
        assert_eq!(Money::from_micros(4_999).to_string(), "$0.00");
        assert_eq!(Money::from_micros(5_000).to_string(), "$0.01");
        assert_eq!(Money::from_micros(-1_250_000).to_string(), "-$1.25");
        assert_eq!(Money::from_micros(-1).to_string(), "$0.00");
        assert_eq!(format!("{:.6}", Money::from_micros(450)), "$0.000450");
        assert_eq!(format!("{:.0}", Money::from_micros(2_500_000)), "$3");
        assert_eq!(Money::from_micros(i64::MAX).to_string(), "$9223372036854.78");
    }

    #[test]
    fn sums_do_not_overflow_silently() {
        let a = Money::from_cents(150);
        assert_eq!(a.checked_add(Money::from_cents(25)), Some(Money::from_cents(175)));
        assert_eq!(Money::from_micros(i64::MAX).checked_add(Money::from_micros(1)), None);
        assert_eq!(
            Money::from_micros(i64::MAX).saturating_add(a),
            Money::from_micros(i64::MAX)
        );
        assert_eq!(a.checked_sub(Money::from_cents(50)), Some(Money::from_dollars(1)));
    }

    #[test]
    fn serde_reads_numbers_and_strings_and_writes_dollars() {
        let read = |json: &str| serde_json::from_str::<Money>(json);
        assert_eq!(read("5").unwrap(), Money::from_dollars(5));
        assert_eq!(read("5.0").unwrap(), Money::from_dollars(5));
        assert_eq!(read("0.15").unwrap(), Money::from_cents(15));
        assert_eq!(read("\"5.0\"").unwrap(), Money::from_dollars(5));
        assert_eq!(read("\"0.000001\"").unwrap(), Money::from_micros(1));
        for (json, words) in [
            ("-1", "negative"),
            ("\"-2.5\"", "negative"),
            ("0.0000001", "6 decimal places"),
            ("1e12", "more than 1000000000 dollars"),
            ("\"lots\"", "not an amount"),
            ("true", "an amount of dollars"),
        ] {
            let err = read(json).unwrap_err().to_string();
            assert!(err.contains(words), "{json}: {err}");
        }
        for money in [
            Money::from_cents(15),
            Money::from_dollars(250),
            Money::from_micros(1),
            Money::MAX_PARSED,
        ] {
            let json = serde_json::to_string(&money).unwrap();
            assert_eq!(read(&json).unwrap(), money, "{json}");
        }
        assert_eq!(serde_json::to_string(&Money::from_cents(15)).unwrap(), "0.15");
        let from_f32 = |v: f32| Money::deserialize(de::value::F32Deserializer::<de::value::Error>::new(v));
        assert_eq!(from_f32(0.15), Ok(Money::from_cents(15)));
        assert_eq!(from_f32(-0.0), Ok(Money::ZERO));
        assert!(from_f32(f32::NAN).is_err());
    }
}
