//! SigV4 timestamps: the ISO 8601 basic form `YYYYMMDDTHHMMSSZ` (`X-Amz-Date`) and the
//! IMF-fixdate form of the HTTP `Date` header, converted to and from [`SystemTime`].
//!
//! The calendar arithmetic is the proleptic Gregorian "days from civil" / "civil from days"
//! pair, done in `i64` so it cannot overflow for any four-digit year. Every parser checks
//! field ranges (month 13, 30 February and 24:00:00 are rejected) and never panics.
//!
//! This module does not read the clock: callers pass the time in. It knows no time zones
//! other than UTC and no leap seconds (`:60` is rejected, as AWS does).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A timestamp that fits the SigV4 `YYYYMMDDTHHMMSSZ` form (years 0000 to 9999, whole
/// seconds). It keeps its textual form, so [`as_str`](Self::as_str) does not allocate.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AmzDate {
    /// Seconds since the Unix epoch (negative before 1970).
    secs: i64,
    /// The ASCII text `YYYYMMDDTHHMMSSZ`.
    text: [u8; 16],
}

/// A date string that is not a valid timestamp in the expected form, or a time outside the
/// years 0000 to 9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid or out-of-range date")]
pub struct InvalidDate;

const SECS_PER_DAY: i64 = 86_400;

impl AmzDate {
    /// Parses the SigV4 basic form `YYYYMMDDTHHMMSSZ`, e.g. `20150830T123600Z`.
    pub fn parse(s: &str) -> Result<Self, InvalidDate> {
        let b = s.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return Err(InvalidDate);
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[4..6])?;
        let day = digits(&b[6..8])?;
        let hour = digits(&b[9..11])?;
        let minute = digits(&b[11..13])?;
        let second = digits(&b[13..15])?;
        Self::from_fields(year, month, day, hour, minute, second)
    }

    /// Parses the IMF-fixdate form of the HTTP `Date` header (RFC 9110 §5.6.7), e.g.
    /// `Sun, 30 Aug 2015 12:36:00 GMT`. The obsolete RFC 850 and asctime forms are not
    /// accepted. The day name must be a valid one but is not checked against the date.
    pub fn parse_http_date(s: &str) -> Result<Self, InvalidDate> {
        const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
        const MONTHS: [&[u8]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        let b = s.as_bytes();
        // "Sun, 30 Aug 2015 12:36:00 GMT"
        //  0123456789012345678901234567 8
        if b.len() != 29
            || &b[3..5] != b", "
            || b[7] != b' '
            || b[11] != b' '
            || b[16] != b' '
            || b[19] != b':'
            || b[22] != b':'
            || &b[25..] != b" GMT"
            || !DAYS.contains(&&b[0..3])
        {
            return Err(InvalidDate);
        }
        let month = MONTHS
            .iter()
            .position(|m| *m == &b[8..11])
            .ok_or(InvalidDate)?;
        let day = digits(&b[5..7])?;
        let year = digits(&b[12..16])?;
        let hour = digits(&b[17..19])?;
        let minute = digits(&b[20..22])?;
        let second = digits(&b[23..25])?;
        Self::from_fields(year, month as i64 + 1, day, hour, minute, second)
    }

    /// The timestamp of `time`, truncated to whole seconds. Fails only for times outside
    /// the years 0000 to 9999.
    pub fn from_system_time(time: SystemTime) -> Result<Self, InvalidDate> {
        let secs = match time.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).map_err(|_| InvalidDate)?,
            Err(e) => {
                // Before the epoch: round towards negative infinity so that truncation to
                // whole seconds moves every time the same way.
                let d = e.duration();
                let whole = i64::try_from(d.as_secs()).map_err(|_| InvalidDate)?;
                -whole - i64::from(d.subsec_nanos() > 0)
            }
        };
        Self::from_unix_secs(secs)
    }

    /// The timestamp `secs` seconds after the Unix epoch (negative: before it).
    pub fn from_unix_secs(secs: i64) -> Result<Self, InvalidDate> {
        let days = secs.div_euclid(SECS_PER_DAY);
        let rem = secs.rem_euclid(SECS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return Err(InvalidDate);
        }
        let mut text = *b"00000000T000000Z";
        put_digits(&mut text[0..4], year);
        put_digits(&mut text[4..6], month);
        put_digits(&mut text[6..8], day);
        put_digits(&mut text[9..11], rem / 3600);
        put_digits(&mut text[11..13], rem % 3600 / 60);
        put_digits(&mut text[13..15], rem % 60);
        Ok(Self { secs, text })
    }

    /// The text `YYYYMMDDTHHMMSSZ`.
    pub fn as_str(&self) -> &str {
        // The text is built from ASCII digits, 'T' and 'Z' only, so it is always UTF-8.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }

    /// The `YYYYMMDD` date stamp used in the credential scope.
    pub fn date_stamp(&self) -> &str {
        self.as_str().get(..8).unwrap_or_default()
    }

    /// Seconds since the Unix epoch (negative before 1970).
    pub fn unix_secs(&self) -> i64 {
        self.secs
    }

    /// The same instant as a [`SystemTime`].
    pub fn to_system_time(&self) -> SystemTime {
        let magnitude = Duration::from_secs(self.secs.unsigned_abs());
        let time = if self.secs >= 0 {
            UNIX_EPOCH.checked_add(magnitude)
        } else {
            UNIX_EPOCH.checked_sub(magnitude)
        };
        // Years 0000..=9999 are within SystemTime's range on every supported platform.
        time.unwrap_or(UNIX_EPOCH)
    }

    fn from_fields(
        year: i64,
        month: i64,
        day: i64,
        hour: i64,
        minute: i64,
        second: i64,
    ) -> Result<Self, InvalidDate> {
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(InvalidDate);
        }
        let secs =
            days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + minute * 60 + second;
        Self::from_unix_secs(secs)
    }
}

impl fmt::Display for AmzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AmzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AmzDate({})", self.as_str())
    }
}

/// Formats `time` as `YYYYMMDDTHHMMSSZ`, or `None` outside the years 0000 to 9999.
pub fn format_amz_date(time: SystemTime) -> Option<String> {
    AmzDate::from_system_time(time)
        .ok()
        .map(|d| d.as_str().to_owned())
}

/// Parses `YYYYMMDDTHHMMSSZ` into a [`SystemTime`].
pub fn parse_amz_date(s: &str) -> Result<SystemTime, InvalidDate> {
    AmzDate::parse(s).map(|d| d.to_system_time())
}

/// Parses ASCII decimal digits (and nothing else) into a number.
fn digits(b: &[u8]) -> Result<i64, InvalidDate> {
    b.iter().try_fold(0i64, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + i64::from(c - b'0'))
        } else {
            Err(InvalidDate)
        }
    })
}

/// Writes `value` as zero-padded decimal filling `out`; `value` is known to fit.
fn put_digits(out: &mut [u8], mut value: i64) {
    for slot in out.iter_mut().rev() {
        // `value` is non-negative here, so the remainder is a single digit 0..=9.
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

fn is_leap_year(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d` (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of `z` days since 1970-01-01 (inverse of the above).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_the_test_suite_date() {
        let d = AmzDate::parse("20150830T123600Z").expect("valid");
        assert_eq!(d.unix_secs(), 1_440_938_160);
        assert_eq!(d.as_str(), "20150830T123600Z");
        assert_eq!(d.date_stamp(), "20150830");
        let t = d.to_system_time();
        assert_eq!(format_amz_date(t).as_deref(), Some("20150830T123600Z"));
        assert_eq!(parse_amz_date("20150830T123600Z"), Ok(t));
    }

    #[test]
    fn epoch_and_edges() {
        assert_eq!(
            AmzDate::from_system_time(UNIX_EPOCH).map(|d| d.to_string()),
            Ok("19700101T000000Z".to_owned())
        );
        let before = UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(
            AmzDate::from_system_time(before).map(|d| d.to_string()),
            Ok("19691231T235958Z".to_owned())
        );
        assert_eq!(
            AmzDate::parse("00000101T000000Z").map(|d| d.to_string()),
            Ok("00000101T000000Z".to_owned())
        );
        assert_eq!(
            AmzDate::parse("99991231T235959Z").map(|d| d.to_string()),
            Ok("99991231T235959Z".to_owned())
        );
        let after = AmzDate::parse("99991231T235959Z")
            .map(|d| d.to_system_time() + Duration::from_secs(1))
            .expect("valid");
        assert_eq!(AmzDate::from_system_time(after), Err(InvalidDate));
    }

    #[test]
    fn subsecond_times_truncate() {
        let t = UNIX_EPOCH + Duration::from_millis(1_440_938_160_999);
        assert_eq!(format_amz_date(t).as_deref(), Some("20150830T123600Z"));
    }

    #[test]
    fn leap_years() {
        assert!(AmzDate::parse("20240229T000000Z").is_ok());
        assert!(AmzDate::parse("20000229T000000Z").is_ok());
        assert_eq!(AmzDate::parse("19000229T000000Z"), Err(InvalidDate));
        assert_eq!(AmzDate::parse("20230229T000000Z"), Err(InvalidDate));
    }

    #[test]
    fn rejects_invalid_dates() {
        for bad in [
            "",
            "20150830",
            "20150830T123600",
            "20150830T123600z",
            "20150830t123600Z",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "20150030T123600Z",
            "20150800T123600Z",
            "20150230T123600Z",
            "20150431T123600Z",
            "20150830T243600Z",
            "20150830T126000Z",
            "20150830T123660Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
            "20150830T12360-Z",
            "20150830T123600ZZ",
            "２０15830T123600Z",
        ] {
            assert_eq!(AmzDate::parse(bad), Err(InvalidDate), "{bad:?}");
        }
    }

    #[test]
    fn http_dates() {
        let d = AmzDate::parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT").expect("valid");
        assert_eq!(d.as_str(), "20150830T123600Z");
        let d = AmzDate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("valid");
        assert_eq!(d.as_str(), "19941106T084937Z");
        for bad in [
            "Sun, 30 Aug 2015 12:36:00 UTC",
            "Sunday, 30-Aug-15 12:36:00 GMT",
            "Sun Aug 30 12:36:00 2015",
            "Xyz, 30 Aug 2015 12:36:00 GMT",
            "Sun, 30 Foo 2015 12:36:00 GMT",
            "Sun, 31 Sep 2015 12:36:00 GMT",
            "Sun, 30 Aug 2015 25:36:00 GMT",
            "Sun, 30 Aug 2015 12:36:00 GMT ",
            "Sun, 3  Aug 2015 12:36:00 GMT",
        ] {
            assert_eq!(AmzDate::parse_http_date(bad), Err(InvalidDate), "{bad:?}");
        }
    }

    #[test]
    fn civil_round_trip_over_a_wide_range() {
        // Every day from 0000-03-01 to 9999-12-31 maps back to itself.
        let first = days_from_civil(0, 3, 1);
        let last = days_from_civil(9999, 12, 31);
        let mut prev = civil_from_days(first - 1);
        for z in first..=last {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            // Consecutive days advance the calendar by exactly one day.
            if d != 1 {
                assert_eq!((y, m, d - 1), prev);
            }
            prev = (y, m, d);
        }
    }
}
