//! Durations as configuration files and flags write them: Go's `time.ParseDuration` syntax
//! (`300ms`, `1.5s`, `1h30m`), plus a bare number meaning seconds (`30`, `2.5`).
//!
//! One grammar for every layer's configuration and every component's flags, modelled on
//! kube-rs's `kube-core/src/duration.rs`, but with exact integer arithmetic: a duration too
//! long for a [`std::time::Duration`] of at most `u64::MAX` nanoseconds (about 584 years) is an
//! error, never a wrap-around or a panic.
//!
//! | written | means |
//! |---|---|
//! | `250ms`, `2s`, `5m`, `1h` | with a unit: `ns`, `us` (`µs`, `μs`), `ms`, `s`, `m`, `h` |
//! | `1.5s`, `.5h`, `1h30m`, `1m0.5s` | fractions and compound terms, as in Go |
//! | `30`, `2.5` (or the YAML numbers `30`, `2.5`) | a bare number: seconds |
//! | `+5s`, `-0` | a sign, as in Go; a negative duration other than zero is refused |
//!
//! ```
//! use storage_api::Duration;
//!
//! let d: Duration = "1h30m".parse().unwrap();
//! assert_eq!(std::time::Duration::from(d), std::time::Duration::from_secs(5400));
//! assert_eq!("1.5".parse::<Duration>().unwrap().to_string(), "1.5s");
//! assert!("2d".parse::<Duration>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A non-negative duration read from Go syntax or a number of seconds (see the
/// [module documentation](self)). Converts to and from [`std::time::Duration`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

/// Why a text is not a [`Duration`]. Each message quotes the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Not a duration at all (empty, no number, a stray character).
    #[error("{text:?} is not a duration (e.g. 200ms, 30s, 1h30m, or a number of seconds)")]
    Invalid {
        /// The text.
        text: String,
    },
    /// A term of a compound duration has no unit (`1h30`).
    #[error("{text:?}: missing unit after {number:?}; want ns, us, ms, s, m or h")]
    MissingUnit {
        /// The text.
        text: String,
        /// The number without a unit.
        number: String,
    },
    /// A unit that is not one of `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`.
    #[error("{text:?}: unknown unit {unit:?}; want ns, us, ms, s, m or h")]
    UnknownUnit {
        /// The text.
        text: String,
        /// The unit.
        unit: String,
    },
    /// A negative duration (other than zero).
    #[error("{text:?}: a duration cannot be negative")]
    Negative {
        /// The text.
        text: String,
    },
    /// Longer than `u64::MAX` nanoseconds.
    #[error("{text:?}: too long a duration")]
    Overflow {
        /// The text.
        text: String,
    },
}

const NANOS_PER_SECOND: u64 = 1_000_000_000;

impl Duration {
    /// The zero duration.
    pub const ZERO: Self = Self(std::time::Duration::ZERO);

    /// `duration` as a [`Duration`].
    pub const fn from_std(duration: std::time::Duration) -> Self {
        Self(duration)
    }

    /// This duration as a [`std::time::Duration`].
    pub const fn as_std(&self) -> std::time::Duration {
        self.0
    }
}

impl From<std::time::Duration> for Duration {
    fn from(duration: std::time::Duration) -> Self {
        Self(duration)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(duration: Duration) -> Self {
        duration.0
    }
}

impl PartialEq<std::time::Duration> for Duration {
    fn eq(&self, other: &std::time::Duration) -> bool {
        self.0 == *other
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text.trim()).map(|nanos| Self(std::time::Duration::from_nanos(nanos)))
    }
}

/// Nanoseconds per unit, for Go's units.
fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{00b5}s" | "\u{03bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => NANOS_PER_SECOND,
        "m" => 60 * NANOS_PER_SECOND,
        "h" => 3_600 * NANOS_PER_SECOND,
        _ => return None,
    })
}

/// The total of `text` in nanoseconds (Go's `time.ParseDuration`, plus bare seconds).
fn parse(text: &str) -> Result<u64, DurationError> {
    let invalid = || DurationError::Invalid { text: text.into() };
    let overflow = || DurationError::Overflow { text: text.into() };
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    let mut first = true;
    while !rest.is_empty() {
        // [0-9]* (\.[0-9]*)?, with at least one digit.
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after) = rest.split_at(int_len);
        let (frac_digits, after) = match after.strip_prefix('.') {
            Some(after) => {
                let frac_len = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(frac_len)
            }
            None => ("", after),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let per_unit = if unit.is_empty() {
            if !(first && after.is_empty()) {
                let number_len = rest.len() - after.len();
                return Err(DurationError::MissingUnit {
                    text: text.into(),
                    number: rest[..number_len].into(),
                });
            }
            // The whole text is a number: seconds.
            NANOS_PER_SECOND
        } else {
            unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
                text: text.into(),
                unit: unit.into(),
            })?
        };
        let whole = int_digits
            .bytes()
            .try_fold(0u64, |n, d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
            .and_then(|n| n.checked_mul(per_unit))
            .ok_or_else(overflow)?;
        // The fraction as Go computes it: the digits that fit in 63 bits, scaled in floating
        // point (so that `0.3333333333333333333h` is 20m, as in Go). It is below one
        // `per_unit`, which fits in a u64, so the conversion cannot saturate.
        let (mut numerator, mut scale, mut full) = (0u64, 1f64, false);
        for digit in frac_digits.bytes() {
            let next = numerator
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(digit - b'0')))
                .filter(|n| *n <= 1 << 63);
            match next {
                Some(next) if !full => {
                    numerator = next;
                    scale *= 10.0;
                }
                _ => full = true,
            }
        }
        let fraction = (numerator as f64 * (per_unit as f64 / scale)) as u64;
        total = total
            .checked_add(whole)
            .and_then(|t| t.checked_add(fraction))
            .ok_or_else(overflow)?;
        rest = after;
        first = false;
    }
    if negative && total != 0 {
        return Err(DurationError::Negative { text: text.into() });
    }
    Ok(total)
}

/// Go's `time.Duration.String()`: `1h30m0s`, `1.5s`, `200ms`, `1.5µs`, `0s`.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < 1_000 {
            return write!(f, "{nanos}ns");
        }
        if nanos < 1_000_000 {
            return write_decimal(f, nanos, 1_000, "µs");
        }
        if nanos < u128::from(NANOS_PER_SECOND) {
            return write_decimal(f, nanos, 1_000_000, "ms");
        }
        let seconds = self.0.as_secs();
        let (hours, minutes) = (seconds / 3_600, seconds / 60 % 60);
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if hours > 0 || minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write_decimal(
            f,
            u128::from(seconds % 60) * u128::from(NANOS_PER_SECOND)
                + u128::from(self.0.subsec_nanos()),
            u128::from(NANOS_PER_SECOND),
            "s",
        )
    }
}

/// `value / per_unit` with its fraction (trailing zeros dropped), then `unit`.
fn write_decimal(
    f: &mut fmt::Formatter<'_>,
    value: u128,
    per_unit: u128,
    unit: &str,
) -> fmt::Result {
    let (whole, fraction) = (value / per_unit, value % per_unit);
    if fraction == 0 {
        return write!(f, "{whole}{unit}");
    }
    let width = per_unit.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    write!(f, "{whole}.{}{unit}", digits.trim_end_matches('0'))
}

/// As its [`Display`](fmt::Display) text, which [`FromStr`] reads back.
impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// From a string in the syntax of [`FromStr`], or from a number of seconds.
impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 500ms, 30s, 1h30m, or a number of seconds")
            }

            fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Duration, E> {
                Ok(Duration(std::time::Duration::from_secs(seconds)))
            }

            fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Duration, E> {
                u64::try_from(seconds)
                    .map(|s| Duration(std::time::Duration::from_secs(s)))
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(seconds), &self))
            }

            fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Duration, E> {
                std::time::Duration::try_from_secs_f64(seconds)
                    .map(Duration)
                    .map_err(|_| E::invalid_value(de::Unexpected::Float(seconds), &self))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
                text.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}

/// Reads a [`std::time::Duration`] field the way [`Duration`] deserializes:
/// `#[serde(deserialize_with = "storage_api::duration::deserialize")]`.
pub fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<std::time::Duration, D::Error> {
    Duration::deserialize(deserializer).map(Into::into)
}

/// Parses a command-line duration flag (clap's `value_parser`): Go syntax (`90s`, `1m30s`) or a
/// bare number of seconds, with an error message for the user.
pub fn parse_flag(text: &str) -> Result<std::time::Duration, String> {
    text.parse::<Duration>()
        .map(std::time::Duration::from)
        .map_err(|e| format!("invalid duration: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<std::time::Duration, DurationError> {
        text.parse::<Duration>().map(Into::into)
    }

    fn ms(millis: u64) -> std::time::Duration {
        std::time::Duration::from_millis(millis)
    }

    #[test]
    fn go_syntax() {
        for (text, expected) in [
            ("0", ms(0)),
            ("-0", ms(0)),
            ("+0", ms(0)),
            ("5s", ms(5_000)),
            ("+5s", ms(5_000)),
            ("1478s", ms(1_478_000)),
            ("5.6s", ms(5_600)),
            ("5.s", ms(5_000)),
            (".5s", ms(500)),
            ("1.004s", ms(1_004)),
            ("100.00100s", ms(100_001)),
            ("10ns", std::time::Duration::from_nanos(10)),
            ("11us", std::time::Duration::from_micros(11)),
            ("12µs", std::time::Duration::from_micros(12)),
            ("12μs", std::time::Duration::from_micros(12)),
            ("13ms", ms(13)),
            ("14s", ms(14_000)),
            ("15m", ms(900_000)),
            ("16h", ms(57_600_000)),
            ("3h30m", ms(12_600_000)),
            ("10.5s4m", ms(250_500)),
            (
                "1h2m3s4ms5us6ns",
                std::time::Duration::new(3_723, 4_005_006),
            ),
            ("39h9m14.425s", ms(140_954_425)),
            (
                "52763797000ns",
                std::time::Duration::from_micros(52_763_797),
            ),
            (
                "0.3333333333333333333h",
                std::time::Duration::from_secs(1_200),
            ),
            (" 200ms ", ms(200)),
        ] {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn a_bare_number_is_seconds() {
        assert_eq!(parse("15"), Ok(ms(15_000)));
        assert_eq!(parse("2.5"), Ok(ms(2_500)));
        assert_eq!(parse("250"), Ok(ms(250_000)));
    }

    #[test]
    fn refusals() {
        for text in [
            "", " ", "-", "+", ".", "s", "fast", "3d", "1h30", "1.2.3s", "1 s", "-1s",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
        assert!(matches!(
            parse("2d"),
            Err(DurationError::UnknownUnit { unit, .. }) if unit == "d"
        ));
        assert!(matches!(
            parse("1h30"),
            Err(DurationError::MissingUnit { number, .. }) if number == "30"
        ));
        assert!(matches!(parse("-1s"), Err(DurationError::Negative { .. })));
        assert!(
            parse("fast")
                .expect_err("bad")
                .to_string()
                .contains("\"fast\"")
        );
    }

    #[test]
    fn no_overflow() {
        for text in [
            "18446744073709551616ns",
            "5124096h",
            "18446744074s",
            "99999999999999999999999h",
            "1h18446744073709551615ns",
        ] {
            assert!(
                matches!(parse(text), Err(DurationError::Overflow { .. })),
                "{text}: {:?}",
                parse(text)
            );
        }
        assert_eq!(
            parse("18446744073709551615ns"),
            Ok(std::time::Duration::from_nanos(u64::MAX))
        );
    }

    #[test]
    fn display_is_gos_and_reads_back() {
        for (text, shown) in [
            ("0", "0s"),
            ("1ns", "1ns"),
            ("1500ns", "1.5µs"),
            ("200ms", "200ms"),
            ("1.5", "1.5s"),
            ("90m", "1h30m0s"),
            ("2m0.5s", "2m0.5s"),
            ("61s", "1m1s"),
        ] {
            let duration: Duration = text.parse().expect(text);
            assert_eq!(duration.to_string(), shown, "{text}");
            assert_eq!(shown.parse::<Duration>(), Ok(duration), "{shown}");
        }
    }

    #[test]
    fn serde_takes_strings_and_numbers_of_seconds() {
        let read = |json: &str| serde_json::from_str::<Duration>(json).map(Into::into);
        assert_eq!(read("\"1h30m\"").ok(), Some(ms(5_400_000)));
        assert_eq!(read("30").ok(), Some(ms(30_000)));
        assert_eq!(read("0.25").ok(), Some(ms(250)));
        assert!(read("-1").is_err());
        assert!(read("\"soon\"").is_err());
        let json = serde_json::to_string(&Duration::from(ms(1_500))).expect("json");
        assert_eq!(json, "\"1.5s\"");
    }
}
