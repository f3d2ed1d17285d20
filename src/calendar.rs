//! The calendar users count in: the configured time zone, the first day of the week and the ISP's
//! billing day; named periods (today, this month, the billing cycle…) as ranges of local days; and
//! the times the API accepts. DST and month lengths are jiff's business, not ours.

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

/// A local calendar day, numbered from 1970-01-01 (whatever the zone: a day number names a date,
/// so it keeps its meaning if the zone changes).
pub type Day = i32;

/// The named periods, each a range of whole local days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Today,
    Yesterday,
    Week,
    LastWeek,
    Month,
    LastMonth,
    Cycle,
    LastCycle,
}

impl Period {
    pub const ALL: [Period; 8] = [
        Period::Today,
        Period::Yesterday,
        Period::Week,
        Period::LastWeek,
        Period::Month,
        Period::LastMonth,
        Period::Cycle,
        Period::LastCycle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Period::Today => "today",
            Period::Yesterday => "yesterday",
            Period::Week => "week",
            Period::LastWeek => "last_week",
            Period::Month => "month",
            Period::LastMonth => "last_month",
            Period::Cycle => "cycle",
            Period::LastCycle => "last_cycle",
        }
    }

    pub fn parse(s: &str) -> Option<Period> {
        Period::ALL.into_iter().find(|p| p.name() == s)
    }
}

#[derive(Clone, Debug)]
pub struct Calendar {
    tz: TimeZone,
    /// The IANA name, for graphs and answers ("UTC" when the system names none).
    name: String,
    week_start: Weekday,
    /// 1 to 28: the day of the month the ISP's billing cycle starts.
    billing_day: i8,
}

impl Default for Calendar {
    fn default() -> Calendar {
        Calendar::new(TimeZone::UTC, "UTC".into(), Weekday::Monday, 1)
    }
}

/// A weekday from its English name (as the config writes it).
pub fn weekday(s: &str) -> Option<Weekday> {
    use Weekday::*;
    Some(match s.to_ascii_lowercase().as_str() {
        "monday" => Monday,
        "tuesday" => Tuesday,
        "wednesday" => Wednesday,
        "thursday" => Thursday,
        "friday" => Friday,
        "saturday" => Saturday,
        "sunday" => Sunday,
        _ => return None,
    })
}

/// A zone by IANA name from the system's tz database; `None` means the system's own zone.
pub fn zone(name: Option<&str>) -> Result<(TimeZone, String), String> {
    match name {
        Some(n) => TimeZone::get(n)
            .map(|tz| (tz, n.to_string()))
            .map_err(|e| format!("{n:?} is not a time zone in the system's tz database ({e})")),
        None => {
            let tz = TimeZone::system();
            let name = tz.iana_name().unwrap_or("UTC").to_string();
            Ok((tz, name))
        }
    }
}

fn epoch() -> Date {
    Date::constant(1970, 1, 1)
}

impl Calendar {
    pub fn new(tz: TimeZone, name: String, week_start: Weekday, billing_day: i8) -> Calendar {
        Calendar { tz, name, week_start, billing_day: billing_day.clamp(1, 28) }
    }

    pub fn zone_name(&self) -> &str {
        &self.name
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    fn date(&self, day: Day) -> Date {
        epoch().checked_add(Span::new().days(i64::from(day))).unwrap_or(epoch())
    }

    fn day_of(date: Date) -> Day {
        date.since((jiff::Unit::Day, epoch())).map_or(0, |s| s.get_days())
    }

    /// The local day a Unix time falls in.
    pub fn day(&self, unix: i64) -> Day {
        match Timestamp::from_second(unix) {
            Ok(t) => Calendar::day_of(t.to_zoned(self.tz.clone()).date()),
            Err(_) => 0,
        }
    }

    /// When a local day begins, Unix seconds (the first instant of the date: DST-correct, and
    /// where a zone skips midnight, the first time that exists).
    pub fn day_start(&self, day: Day) -> i64 {
        self.date(day).to_zoned(self.tz.clone()).map_or(i64::from(day) * 86_400, |z| z.timestamp().as_second())
    }

    /// The days `[first, end)` of a period, as of `now`.
    pub fn days(&self, p: Period, now: i64) -> (Day, Day) {
        let today = self.day(now);
        let d = self.date(today);
        let months = |date: Date, n: i64| Calendar::day_of(date.checked_add(Span::new().months(n)).unwrap_or(date));
        match p {
            Period::Today => (today, today + 1),
            Period::Yesterday => (today - 1, today),
            Period::Week | Period::LastWeek => {
                let back =
                    (d.weekday().to_monday_zero_offset() - self.week_start.to_monday_zero_offset()).rem_euclid(7);
                let start = today - i32::from(back);
                if p == Period::Week {
                    (start, start + 7)
                } else {
                    (start - 7, start)
                }
            }
            Period::Month | Period::LastMonth => {
                let first = d.first_of_month();
                if p == Period::Month {
                    (Calendar::day_of(first), months(first, 1))
                } else {
                    (months(first, -1), Calendar::day_of(first))
                }
            }
            Period::Cycle | Period::LastCycle => {
                let this = Date::new(d.year(), d.month(), self.billing_day).unwrap_or(d);
                let start = if d.day() >= self.billing_day {
                    this
                } else {
                    this.checked_add(Span::new().months(-1)).unwrap_or(this)
                };
                if p == Period::Cycle {
                    (Calendar::day_of(start), months(start, 1))
                } else {
                    (months(start, -1), Calendar::day_of(start))
                }
            }
        }
    }

    /// A period as Unix seconds `[from, to)`.
    pub fn bounds(&self, p: Period, now: i64) -> (i64, i64) {
        let (a, b) = self.days(p, now);
        (self.day_start(a), self.day_start(b))
    }

    /// The oldest day any period needs as of `now`: day totals before it can go.
    pub fn oldest_needed(&self, now: i64) -> Day {
        Period::ALL.iter().map(|p| self.days(*p, now).0).min().unwrap_or(0)
    }

    /// A time as the API accepts it: Unix seconds, RFC 3339 (`2024-04-10T12:00:00Z`, with an
    /// offset), or a local date or date-time (`2024-04-10`, `2024-04-10T12:00`) in this zone.
    pub fn parse_time(&self, s: &str) -> Result<i64, String> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse::<i64>().map_err(|_| format!("{s:?} is too large"));
        }
        if let Ok(t) = s.parse::<Timestamp>() {
            return Ok(t.as_second());
        }
        let local = if s.len() == 10 { s.parse::<Date>().map(|d| d.at(0, 0, 0, 0)) } else { s.parse::<DateTime>() };
        match local {
            Ok(dt) => dt
                .to_zoned(self.tz.clone())
                .map(|z| z.timestamp().as_second())
                .map_err(|e| format!("{s:?} does not exist in {}: {e}", self.name)),
            Err(_) => Err(format!(
                "{s:?} is not a time: use Unix seconds, RFC 3339 (2024-04-10T12:00:00+02:00) or a local date (2024-04-10, 2024-04-10T12:00)"
            )),
        }
    }

    /// A Unix time as RFC 3339 in this zone, for answers.
    pub fn format(&self, unix: i64) -> String {
        match Timestamp::from_second(unix) {
            Ok(t) => t.to_zoned(self.tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            Err(_) => unix.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(zone_name: &str, week: Weekday, billing: i8) -> Calendar {
        let (tz, name) = zone(Some(zone_name)).unwrap();
        Calendar::new(tz, name, week, billing)
    }

    fn at(c: &Calendar, s: &str) -> i64 {
        c.parse_time(s).unwrap()
    }

    fn show(c: &Calendar, p: Period, now: i64) -> (String, String) {
        let (a, b) = c.bounds(p, now);
        (c.format(a), c.format(b))
    }

    #[test]
    fn periods_in_berlin_across_dst() {
        let c = cal("Europe/Berlin", Weekday::Monday, 15);
        // Sunday 2024-03-31, the day clocks go forward: 23 hours long.
        let now = at(&c, "2024-03-31T12:00");
        let (a, b) = c.bounds(Period::Today, now);
        assert_eq!(b - a, 23 * 3600);
        assert_eq!(show(&c, Period::Today, now).0, "2024-03-31T00:00:00+01:00");
        assert_eq!(
            show(&c, Period::Yesterday, now),
            ("2024-03-30T00:00:00+01:00".into(), "2024-03-31T00:00:00+01:00".into())
        );
        assert_eq!(
            show(&c, Period::Week, now),
            ("2024-03-25T00:00:00+01:00".into(), "2024-04-01T00:00:00+02:00".into())
        );
        assert_eq!(show(&c, Period::LastWeek, now).0, "2024-03-18T00:00:00+01:00");
        assert_eq!(
            show(&c, Period::Month, now),
            ("2024-03-01T00:00:00+01:00".into(), "2024-04-01T00:00:00+02:00".into())
        );
        assert_eq!(
            show(&c, Period::LastMonth, now),
            ("2024-02-01T00:00:00+01:00".into(), "2024-03-01T00:00:00+01:00".into())
        );
        assert_eq!(
            show(&c, Period::Cycle, now),
            ("2024-03-15T00:00:00+01:00".into(), "2024-04-15T00:00:00+02:00".into())
        );
        assert_eq!(show(&c, Period::LastCycle, now).0, "2024-02-15T00:00:00+01:00");
        // Before the billing day the cycle began last month.
        let early = at(&c, "2024-03-14T23:59");
        assert_eq!(show(&c, Period::Cycle, early).0, "2024-02-15T00:00:00+01:00");
        // The autumn change: a 25-hour day.
        let (a, b) = c.bounds(Period::Today, at(&c, "2024-10-27T08:00"));
        assert_eq!(b - a, 25 * 3600);
    }

    #[test]
    fn days_roll_over_at_local_midnight() {
        let c = cal("America/New_York", Weekday::Sunday, 1);
        let before = at(&c, "2024-07-04T23:59:59-04:00");
        assert_eq!(c.day(before) + 1, c.day(before + 1));
        assert_eq!(c.day_start(c.day(before + 1)), before + 1);
        // The week starts on Sunday here: Thursday 4 July belongs to the week of 30 June.
        assert_eq!(show(&c, Period::Week, before).0, "2024-06-30T00:00:00-04:00");
        // UTC midnight is not New York midnight.
        let utc = cal("UTC", Weekday::Monday, 1);
        assert_ne!(utc.day(before + 1), c.day(before + 1) + 1);
        assert!(c.oldest_needed(before) <= c.days(Period::LastMonth, before).0);
    }

    #[test]
    fn times_the_api_accepts() {
        let c = cal("Europe/Berlin", Weekday::Monday, 1);
        assert_eq!(c.parse_time("1712743200"), Ok(1_712_743_200));
        assert_eq!(c.parse_time("2024-04-10T12:00:00Z"), Ok(1_712_750_400));
        assert_eq!(c.parse_time("2024-04-10T12:00"), Ok(1_712_743_200));
        assert_eq!(c.parse_time("2024-04-10"), Ok(1_712_700_000));
        for bad in ["", "yesterday", "2024-13-01", "2024-04-10T25:00", "12:00", "99999999999999999999999"] {
            assert!(c.parse_time(bad).is_err(), "{bad}");
        }
        assert!(zone(Some("Mars/Olympus")).is_err());
    }
}
