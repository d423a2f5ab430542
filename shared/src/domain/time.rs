use std::time::Duration;

/// Milliseconds since the Unix epoch: the one time type the domain and the state table share.
/// Handlers read the clock once per event and pass it in; the domain never reads it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    pub fn plus(self, d: Duration) -> Millis {
        Millis(
            self.0
                .saturating_add(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }

    pub fn minus(self, d: Duration) -> Millis {
        Millis(
            self.0
                .saturating_sub(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }

    /// Whole seconds, rounded up: DynamoDB's TTL attribute is in epoch seconds.
    pub fn epoch_seconds_ceil(self) -> i64 {
        self.0.div_euclid(1000) + i64::from(self.0.rem_euclid(1000) != 0)
    }

    /// The time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: Millis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }
}

/// `2026-11-27T14:00:00Z`: how halfhour shows a time to people.
pub fn format_utc(at: Millis) -> String {
    let secs = at.0.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// RFC 3339 timestamps as AWS writes them (`Z`, `+00:00` or `+0000` offsets).
pub fn parse_timestamp(s: &str) -> Result<Millis, String> {
    let bad = || format!("malformed timestamp {s:?}");
    let (date, rest) = s.split_once('T').ok_or_else(bad)?;
    let mut ymd = date.splitn(3, '-').map(|p| p.parse::<i64>());
    let (Some(Ok(y)), Some(Ok(mo)), Some(Ok(d))) = (ymd.next(), ymd.next(), ymd.next()) else {
        return Err(bad());
    };
    let split = rest.find(['Z', '+', '-']).ok_or_else(bad)?;
    let (clock, zone) = rest.split_at(split);
    let mut hms = clock.splitn(3, ':');
    let (Some(h), Some(mi), Some(sec)) = (hms.next(), hms.next(), hms.next()) else {
        return Err(bad());
    };
    let (h, mi): (i64, i64) = (
        h.parse().map_err(|_| bad())?,
        mi.parse().map_err(|_| bad())?,
    );
    let sec: f64 = sec.parse().map_err(|_| bad())?;
    let offset_minutes = match zone {
        "Z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let digits: String = zone[1..].chars().filter(char::is_ascii_digit).collect();
            if digits.len() != 4 {
                return Err(bad());
            }
            let (oh, om): (i64, i64) = (
                digits[..2].parse().map_err(|_| bad())?,
                digits[2..].parse().map_err(|_| bad())?,
            );
            sign * (oh * 60 + om)
        }
    };
    if !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || !(0.0..61.0).contains(&sec)
    {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + h * 3600 + mi * 60 - offset_minutes * 60;
    Ok(Millis(seconds * 1000 + (sec * 1000.0).round() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting_round_trips() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2026-11-27T14:00:00Z",
            "2024-02-29T23:59:59Z",
            "2000-03-01T00:00:00Z",
        ] {
            assert_eq!(format_utc(parse_timestamp(s).unwrap()), s);
        }
    }

    #[test]
    fn epoch_seconds_round_up() {
        assert_eq!(Millis(1000).epoch_seconds_ceil(), 1);
        assert_eq!(Millis(1001).epoch_seconds_ceil(), 2);
    }

    #[test]
    fn since_never_goes_negative() {
        assert_eq!(Millis(5).since(Millis(10)), Duration::ZERO);
        assert_eq!(Millis(1500).since(Millis(500)), Duration::from_secs(1));
    }
}
