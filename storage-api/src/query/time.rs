//! The time formats of `since` and `before` (URL parameters and search labels).
//!
//! The format is chosen by the shape of the value, as in the original:
//!
//! | the value contains | format | example |
//! |---|---|---|
//! | `T` | RFC 3339 (fraction optional, `Z` or `±hh:mm`) | `2022-01-02T03:04:05+08:00` |
//! | a space | `2006-01-02 15:04:05`, in UTC (fraction optional) | `2022-01-02 03:04:05` |
//! | `-` | `2006-01-02`, midnight UTC | `2022-01-02` |
//! | none of these | a Unix timestamp: 10 characters in seconds, 13 in milliseconds | `1641092645`, `1641092645000` |
//!
//! Times are returned in milliseconds since the Unix epoch (finer fractions are truncated).
//! Whitespace around the value is ignored (the original only ignores it to pick the format and
//! then fails to parse it).

use jiff::civil::DateTime;
use jiff::tz::Offset;

/// The error for a value that looks like a date or time but is not a valid one.
fn invalid_datetime(value: &str) -> String {
    format!(
        "Invalid datetime: {value}, a valid datetime format: RFC3339, \
         Datetime(2006-01-02 15:04:05), Date(2006-01-02), Unix Timestamp"
    )
}

/// The error for an integer that is neither 10 nor 13 characters long.
const INVALID_TIMESTAMP: &str = "Invalid timestamp: only timestamps with string lengths of 10(as s) and 13(as ms) are supported";

/// Parses a `since`/`before` value into milliseconds since the Unix epoch.
///
/// See the [module documentation](self) for the accepted formats. The error is the message of
/// the original: `Invalid datetime: <value>, a valid datetime format: ...` or
/// `Invalid timestamp: only timestamps with string lengths of 10(as s) and 13(as ms) are supported`.
pub fn parse_time(value: &str) -> Result<i64, String> {
    let trimmed = value.trim();
    let parsed = if trimmed.contains('T') {
        parse_rfc3339(trimmed)
    } else if trimmed.contains(' ') {
        parse_datetime(trimmed)
    } else if trimmed.contains('-') {
        parse_date(trimmed)
    } else {
        // As the original: the value must be an integer first, then 10 or 13 characters long.
        let Ok(number) = trimmed.parse::<i64>() else {
            return Err(invalid_datetime(value));
        };
        return match trimmed.len() {
            10 => number
                .checked_mul(1000)
                .ok_or_else(|| invalid_datetime(value)),
            13 => Ok(number),
            _ => Err(INVALID_TIMESTAMP.to_owned()),
        };
    };
    parsed.ok_or_else(|| invalid_datetime(value))
}

/// `2006-01-02T15:04:05[.fraction](Z|±07:00)`, as Go's `time.RFC3339`.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let mut cursor = Cursor::new(s);
    let (year, month, day) = cursor.date()?;
    cursor.literal(b'T')?;
    let hour = cursor.fixed(2)?;
    cursor.literal(b':')?;
    let (minute, second, nanos) = cursor.minutes_seconds()?;
    let offset_seconds = if cursor.eat(b'Z') {
        0
    } else {
        let sign = if cursor.eat(b'+') {
            1
        } else if cursor.eat(b'-') {
            -1
        } else {
            return None;
        };
        let hours = cursor.fixed(2)?;
        cursor.literal(b':')?;
        let minutes = cursor.fixed(2)?;
        if hours >= 24 || minutes >= 60 {
            return None;
        }
        sign * (hours * 3600 + minutes * 60)
    };
    cursor.end()?;
    to_millis(
        year,
        month,
        day,
        (hour, minute, second, nanos),
        offset_seconds,
    )
}

/// `2006-01-02 15:04:05[.fraction]` in UTC, as Go's layout (the hour may have one digit).
fn parse_datetime(s: &str) -> Option<i64> {
    let mut cursor = Cursor::new(s);
    let (year, month, day) = cursor.date()?;
    cursor.literal(b' ')?;
    let hour = cursor.one_or_two()?;
    cursor.literal(b':')?;
    let (minute, second, nanos) = cursor.minutes_seconds()?;
    cursor.end()?;
    to_millis(year, month, day, (hour, minute, second, nanos), 0)
}

/// `2006-01-02`, midnight UTC.
fn parse_date(s: &str) -> Option<i64> {
    let mut cursor = Cursor::new(s);
    let (year, month, day) = cursor.date()?;
    cursor.end()?;
    to_millis(year, month, day, (0, 0, 0, 0), 0)
}

/// The instant of a civil date and time at a fixed offset from UTC, if they are valid.
fn to_millis(
    year: i32,
    month: i32,
    day: i32,
    (hour, minute, second, nanos): (i32, i32, i32, i32),
    offset_seconds: i32,
) -> Option<i64> {
    let narrow = |n: i32| i8::try_from(n).ok();
    let datetime = DateTime::new(
        i16::try_from(year).ok()?,
        narrow(month)?,
        narrow(day)?,
        narrow(hour)?,
        narrow(minute)?,
        narrow(second)?,
        nanos,
    )
    .ok()?;
    let offset = Offset::from_seconds(offset_seconds).ok()?;
    let timestamp = offset.to_timestamp(datetime).ok()?;
    Some(timestamp.as_millisecond())
}

/// A strict left-to-right reader of ASCII date and time text.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            bytes: s.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn digit(&mut self) -> Option<i32> {
        let byte = self.peek().filter(u8::is_ascii_digit)?;
        self.pos += 1;
        Some(i32::from(byte - b'0'))
    }

    /// Exactly `n` digits.
    fn fixed(&mut self, n: usize) -> Option<i32> {
        (0..n).try_fold(0, |acc, _| Some(acc * 10 + self.digit()?))
    }

    /// One or two digits.
    fn one_or_two(&mut self) -> Option<i32> {
        let first = self.digit()?;
        Some(match self.digit() {
            Some(second) => first * 10 + second,
            None => first,
        })
    }

    /// `2006-01-02`.
    fn date(&mut self) -> Option<(i32, i32, i32)> {
        let year = self.fixed(4)?;
        self.literal(b'-')?;
        let month = self.fixed(2)?;
        self.literal(b'-')?;
        let day = self.fixed(2)?;
        Some((year, month, day))
    }

    /// `04:05[.fraction]` (a fraction may start with `.` or `,`, as Go accepts): minutes,
    /// seconds and the fraction in nanoseconds (digits past the ninth are dropped).
    fn minutes_seconds(&mut self) -> Option<(i32, i32, i32)> {
        let minute = self.fixed(2)?;
        self.literal(b':')?;
        let second = self.fixed(2)?;
        let mut nanos = 0;
        if self.eat(b'.') || self.eat(b',') {
            let mut digits = 0;
            while let Some(digit) = self.digit() {
                if digits < 9 {
                    nanos = nanos * 10 + digit;
                }
                digits += 1;
            }
            if digits == 0 {
                return None;
            }
            for _ in digits..9 {
                nanos *= 10;
            }
        }
        Some((minute, second, nanos))
    }

    fn end(&self) -> Option<()> {
        (self.pos == self.bytes.len()).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS_2022_01_02_03_04_05: i64 = 1_641_092_645_000;
    const MS_2022_01_02: i64 = 1_641_081_600_000;

    #[test]
    fn rfc3339() {
        assert_eq!(
            parse_time("2022-01-02T03:04:05Z"),
            Ok(MS_2022_01_02_03_04_05)
        );
        assert_eq!(
            parse_time("2022-01-02T11:04:05+08:00"),
            Ok(MS_2022_01_02_03_04_05)
        );
        assert_eq!(
            parse_time("2022-01-01T22:04:05-05:00"),
            Ok(MS_2022_01_02_03_04_05)
        );
        assert_eq!(
            parse_time("2022-01-02T03:04:05.123Z"),
            Ok(MS_2022_01_02_03_04_05 + 123)
        );
        assert_eq!(
            parse_time("2022-01-02T03:04:05.123456789Z"),
            Ok(MS_2022_01_02_03_04_05 + 123)
        );
        assert_eq!(
            parse_time("2022-01-02T03:04:05,5Z"),
            Ok(MS_2022_01_02_03_04_05 + 500)
        );
    }

    #[test]
    fn datetime_in_utc() {
        assert_eq!(
            parse_time("2022-01-02 03:04:05"),
            Ok(MS_2022_01_02_03_04_05)
        );
        assert_eq!(parse_time("2022-01-02 3:04:05"), Ok(MS_2022_01_02_03_04_05));
        assert_eq!(
            parse_time("2022-01-02 03:04:05.250"),
            Ok(MS_2022_01_02_03_04_05 + 250)
        );
    }

    #[test]
    fn date_is_midnight_utc() {
        assert_eq!(parse_time("2022-01-02"), Ok(MS_2022_01_02));
        assert_eq!(parse_time("1970-01-01"), Ok(0));
        assert_eq!(parse_time(" 2022-01-02 "), Ok(MS_2022_01_02));
    }

    #[test]
    fn unix_timestamps_in_seconds_and_milliseconds() {
        assert_eq!(parse_time("1641092645"), Ok(MS_2022_01_02_03_04_05));
        assert_eq!(
            parse_time("1641092645123"),
            Ok(MS_2022_01_02_03_04_05 + 123)
        );
        assert_eq!(parse_time("0000000000"), Ok(0));
    }

    #[test]
    fn invalid_datetimes() {
        let message = |v: &str| {
            format!(
                "Invalid datetime: {v}, a valid datetime format: RFC3339, \
                 Datetime(2006-01-02 15:04:05), Date(2006-01-02), Unix Timestamp"
            )
        };
        for value in [
            "2022-13-01",
            "2022-02-30",
            "2022-1-01",
            "22-01-01",
            "2022-01-01x",
            "2022-01-02T03:04:05",
            "2022-01-02T03:04Z",
            "2022-01-02T24:00:00Z",
            "2022-01-02T03:04:60Z",
            "2022-01-02T03:04:05+0800",
            "2022-01-02T03:04:05+24:00",
            "2022-01-02T03:04:05.Z",
            "2022-01-02t03:04:05z",
            "2022-01-02 03:04",
            "2022-01-02 03:04:05Z",
            "2022-01-02  03:04:05",
            "abc",
            "abcdefghij",
            "1.5",
            "99999999999999999999",
            "٣٣",
        ] {
            assert_eq!(parse_time(value), Err(message(value)), "{value}");
        }
    }

    #[test]
    fn timestamps_of_other_lengths() {
        let message = "Invalid timestamp: only timestamps with string lengths of 10(as s) \
                       and 13(as ms) are supported";
        for value in ["12345", "0", "16410926451", "164109264512345", "+12345"] {
            assert_eq!(parse_time(value), Err(message.to_owned()), "{value}");
        }
        // `+` counts in the length, as in the original.
        assert_eq!(parse_time("+164109264"), Ok(164_109_264_000));
    }

    #[test]
    fn empty_value_is_an_invalid_timestamp() {
        assert!(parse_time("").is_err());
        assert!(parse_time("   ").is_err());
    }
}
