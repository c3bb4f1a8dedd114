//! Times as people read them, the same in every daemon: local time in the system's zone
//! (`TZ` if set, else `/etc/localtime`), `14:02:31` for today and `Tue 2 Dec 14:02` for any
//! other day. Records and the bus keep microseconds since the epoch; only what a person reads
//! goes through here.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// `at` (µs since the epoch) as a person reads it at `now`, in the system's time zone.
pub fn local(at: u64, now: u64) -> String {
    in_zone(&TimeZone::system(), at, now)
}

/// `at` as a person reads it at `now` in `tz`: the time to the second on the same local day,
/// else weekday, date and time to the minute.
pub fn in_zone(tz: &TimeZone, at: u64, now: u64) -> String {
    let Some(then) = zoned(tz, at) else {
        return out_of_range(at);
    };
    let today = zoned(tz, now).is_some_and(|n| n.date() == then.date());
    let format = if today { "%H:%M:%S" } else { "%a %-d %b %H:%M" };
    jiff::fmt::strtime::format(format, &then).unwrap_or_else(|_| out_of_range(at))
}

/// The date, time and zone offset for a photo overlay (`2026-12-02 14:02:31 +01:00`): digits
/// and signs only, in the system's time zone.
pub fn stamp(at: u64) -> String {
    stamp_in(&TimeZone::system(), at)
}

/// [`stamp`] in `tz`.
pub fn stamp_in(tz: &TimeZone, at: u64) -> String {
    zoned(tz, at)
        .and_then(|t| jiff::fmt::strtime::format("%Y-%m-%d %H:%M:%S %:z", &t).ok())
        .unwrap_or_else(|| out_of_range(at))
}

fn zoned(tz: &TimeZone, at: u64) -> Option<jiff::ZonedDateTime> {
    let us = i64::try_from(at).ok()?;
    Some(
        Timestamp::from_microsecond(us)
            .ok()?
            .to_zoned_datetime(tz.clone()),
    )
}

fn out_of_range(at: u64) -> String {
    format!("{at} µs after 1970")
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;
    /// Central European time with its DST rule, without needing the zone database.
    const BERLIN: &str = "CET-1CEST,M3.5.0,M10.5.0/3";

    fn berlin() -> TimeZone {
        TimeZone::posix(BERLIN).unwrap()
    }

    fn at(rfc3339: &str) -> u64 {
        let t: Timestamp = rfc3339.parse().unwrap();
        u64::try_from(t.as_microsecond()).unwrap()
    }

    #[test]
    fn today_shows_the_local_time_to_the_second() {
        let now = at("2026-12-02T15:00:00Z");
        assert_eq!(
            in_zone(&berlin(), at("2026-12-02T13:02:31Z"), now),
            "14:02:31"
        );
    }

    #[test]
    fn another_day_shows_weekday_date_and_minute() {
        let now = at("2026-12-03T09:00:00Z");
        assert_eq!(
            in_zone(&berlin(), at("2026-12-02T13:02:31Z"), now),
            "Wed 2 Dec 14:02"
        );
    }

    #[test]
    fn today_is_the_local_day_not_the_utc_day() {
        // 23:30 UTC on the 1st is already the 2nd in Berlin.
        let now = at("2026-12-02T08:00:00Z");
        assert_eq!(
            in_zone(&berlin(), at("2026-12-01T23:30:00Z"), now),
            "00:30:00"
        );
        assert_eq!(
            in_zone(&TimeZone::UTC, at("2026-12-01T23:30:00Z"), now),
            "Tue 1 Dec 23:30"
        );
    }

    #[test]
    fn berlin_times_follow_the_dst_change_on_both_sides() {
        // Summer time ends at 01:00 UTC on 25 October 2026: 03:00 CEST becomes 02:00 CET.
        let tz = berlin();
        let now = at("2026-10-25T12:00:00Z");
        assert_eq!(in_zone(&tz, at("2026-10-25T00:30:00Z"), now), "02:30:00");
        assert_eq!(in_zone(&tz, at("2026-10-25T01:30:00Z"), now), "02:30:00");
        assert_eq!(
            stamp_in(&tz, at("2026-10-25T00:30:00Z")),
            "2026-10-25 02:30:00 +02:00"
        );
        assert_eq!(
            stamp_in(&tz, at("2026-10-25T01:30:00Z")),
            "2026-10-25 02:30:00 +01:00"
        );
        // Summer time starts at 01:00 UTC on 29 March 2026: 02:00 CET becomes 03:00 CEST.
        let now = at("2026-03-29T12:00:00Z");
        assert_eq!(in_zone(&tz, at("2026-03-29T00:59:59Z"), now), "01:59:59");
        assert_eq!(in_zone(&tz, at("2026-03-29T01:00:00Z"), now), "03:00:00");
        assert_eq!(
            in_zone(&tz, at("2026-03-28T13:05:00Z"), now),
            "Sat 28 Mar 14:05"
        );
    }

    #[test]
    fn the_zone_database_s_berlin_agrees_with_its_rule() {
        // Needs the system's zone database (Debian: tzdata), as the daemons do.
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let now = at("2026-10-25T12:00:00Z");
        assert_eq!(in_zone(&tz, at("2026-10-25T00:30:00Z"), now), "02:30:00");
        assert_eq!(
            stamp_in(&tz, at("2026-10-25T01:30:00Z")),
            "2026-10-25 02:30:00 +01:00"
        );
        assert_eq!(
            stamp_in(&tz, at("2026-07-01T12:00:00Z")),
            "2026-07-01 14:00:00 +02:00"
        );
    }

    #[test]
    fn times_out_of_range_are_shown_not_panicked_on() {
        assert_eq!(
            in_zone(&berlin(), u64::MAX, 0),
            "18446744073709551615 µs after 1970"
        );
        assert_eq!(
            stamp_in(&berlin(), u64::MAX),
            "18446744073709551615 µs after 1970"
        );
        assert!(!local(5 * S, 5 * S).is_empty());
    }
}
