//! Day totals per host, interface and application, in the configured calendar: what "today",
//! "this month" and "this billing cycle" add up from. Owned by the archive thread, journaled with
//! the steps (only the days that changed) and restored at start, so they survive restarts.
//!
//! A period is a range of whole local days, so keeping one row per subject and day (only days
//! with traffic, only as far back as the oldest period needs: at most about 62) answers every
//! period exactly and rolls over at local midnight by itself: a new day is a new row.

use std::collections::{HashMap, HashSet};

use crate::calendar::{Calendar, Day, Period};
use crate::journal::Entry;
use crate::views::{AppName, Counts, HostId, IfaceId, Subject};

pub struct DayTotals {
    /// Subjects with rows at most; a new one beyond it counts into its kind's `other`.
    max: usize,
    rows: HashMap<Subject, Vec<(Day, Counts)>>,
    /// (subject, day) changed since the journal last took them.
    dirty: HashSet<(Subject, Day)>,
    /// Additions that went to `other` because the table was full.
    pub folded: u64,
}

/// Each period's totals for one subject, in [`Period::ALL`] order.
pub type PeriodCounts = [Counts; 8];

/// The periods' totals as of `now`, published for the API.
#[derive(Clone, Debug, Default)]
pub struct Periods {
    pub now: i64,
    /// When counting began (Unix seconds; 0 before the first step is published): no period has
    /// counts from before it.
    pub since: i64,
    /// Each period's `[from, to)`, Unix seconds, in [`Period::ALL`] order.
    pub bounds: [(i64, i64); 8],
    pub rows: Vec<(Subject, PeriodCounts)>,
}

impl Periods {
    pub fn bounds(&self, p: Period) -> (i64, i64) {
        self.bounds[index(p)]
    }

    /// From when period `p` has counts: its start, or when counting began if later; `None` when
    /// counting began after it ended (or is not known yet).
    pub fn data_from(&self, p: Period) -> Option<i64> {
        let (from, to) = self.bounds(p);
        (self.since > 0 && self.since < to).then_some(from.max(self.since))
    }

    /// Subjects with traffic in `p`.
    pub fn of(&self, p: Period) -> impl Iterator<Item = (&Subject, &Counts)> {
        let i = index(p);
        self.rows.iter().map(move |(s, c)| (s, &c[i])).filter(|(_, c)| !c.is_zero())
    }
}

fn index(p: Period) -> usize {
    Period::ALL.iter().position(|q| *q == p).expect("every period is in ALL")
}

fn other_of(s: &Subject) -> Subject {
    match s {
        Subject::Host(_) => Subject::Host(HostId::Other),
        Subject::Interface(_) => Subject::Interface(IfaceId::Other),
        Subject::Application(_) => Subject::Application(AppName::new("other").expect("a valid name")),
    }
}

impl DayTotals {
    pub fn new(max: usize) -> DayTotals {
        DayTotals { max: max.max(3), rows: HashMap::new(), dirty: HashSet::new(), folded: 0 }
    }

    /// The earliest day with a total.
    pub fn first_day(&self) -> Option<Day> {
        self.rows.values().filter_map(|days| days.first().map(|(d, _)| *d)).min()
    }

    /// Subjects with rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn row(&mut self, s: Subject) -> (Subject, &mut Vec<(Day, Counts)>) {
        // The `other` rows always have room: the bound leaves space for the three of them.
        let s = if self.rows.contains_key(&s) || self.rows.len() + 3 < self.max || other_of(&s) == s {
            s
        } else {
            self.folded += 1;
            other_of(&s)
        };
        (s, self.rows.entry(s).or_default())
    }

    pub fn add(&mut self, s: Subject, day: Day, c: &Counts) {
        if c.is_zero() {
            return;
        }
        let (s, days) = self.row(s);
        match days.binary_search_by_key(&day, |(d, _)| *d) {
            Ok(i) => days[i].1.add(c),
            Err(i) => days.insert(i, (day, *c)),
        }
        self.dirty.insert((s, day));
    }

    /// Counts booked to day `from` belong to day `to` (the archive moved their step: counted
    /// under a wrong clock, or after a file's last update). The emptied row stays, at its new
    /// value, so the journal replaces what it had for that day.
    pub fn moved(&mut self, s: Subject, from: Day, to: Day, c: &Counts) {
        if from == to || c.is_zero() {
            return;
        }
        let (s_row, days) = self.row(s);
        if let Ok(i) = days.binary_search_by_key(&from, |(d, _)| *d) {
            days[i].1.sub(c);
            self.dirty.insert((s_row, from));
        }
        self.add(s, to, c);
    }

    /// A day's total as the journal had it (replacing, not adding: later entries win).
    pub fn restore(&mut self, s: Subject, day: Day, c: Counts) {
        let (_, days) = self.row(s);
        match days.binary_search_by_key(&day, |(d, _)| *d) {
            Ok(i) => days[i].1 = c,
            Err(i) => days.insert(i, (day, c)),
        }
    }

    /// Forget days before `oldest` (no period reaches them any more).
    pub fn prune(&mut self, oldest: Day) {
        self.rows.retain(|_, days| {
            days.retain(|(d, _)| *d >= oldest);
            !days.is_empty()
        });
        self.dirty.retain(|(_, d)| *d >= oldest);
    }

    /// The days changed since the last call, as journal entries; call [`Self::mark_dirty`] with
    /// them if writing them failed.
    pub fn take_dirty(&mut self) -> Vec<Entry> {
        let mut out = Vec::with_capacity(self.dirty.len());
        for (s, day) in self.dirty.drain() {
            if let Some(days) = self.rows.get(&s) {
                if let Ok(i) = days.binary_search_by_key(&day, |(d, _)| *d) {
                    out.push((s, i64::from(day), days[i].1));
                }
            }
        }
        out
    }

    pub fn mark_dirty(&mut self, entries: &[Entry]) {
        self.dirty.extend(entries.iter().map(|(s, d, _)| (*s, *d as Day)));
    }

    /// Every day total, for a new journal segment.
    pub fn all(&self) -> Vec<Entry> {
        self.rows.iter().flat_map(|(s, days)| days.iter().map(move |(d, c)| (*s, i64::from(*d), *c))).collect()
    }

    /// Sum of each subject's days in `[from, to)`.
    pub fn sums(&self, from: Day, to: Day) -> Vec<(Subject, Counts)> {
        let mut out = Vec::new();
        for (s, days) in &self.rows {
            let mut c = Counts::default();
            for (_, v) in days.iter().filter(|(d, _)| (from..to).contains(d)) {
                c.add(v);
            }
            if !c.is_zero() {
                out.push((*s, c));
            }
        }
        out
    }

    /// Every period's totals as of `now`.
    pub fn periods(&self, cal: &Calendar, now: i64) -> Periods {
        let days: Vec<(Day, Day)> = Period::ALL.iter().map(|p| cal.days(*p, now)).collect();
        let mut bounds = [(0, 0); 8];
        for (b, (a, z)) in bounds.iter_mut().zip(&days) {
            *b = (cal.day_start(*a), cal.day_start(*z));
        }
        let mut rows = Vec::with_capacity(self.rows.len());
        for (s, list) in &self.rows {
            let mut c = [Counts::default(); 8];
            for (d, v) in list {
                for (i, (a, z)) in days.iter().enumerate() {
                    if (*a..*z).contains(d) {
                        c[i].add(v);
                    }
                }
            }
            if c.iter().any(|x| !x.is_zero()) {
                rows.push((*s, c));
            }
        }
        rows.sort_by_key(|(s, _)| *s);
        Periods { now, since: 0, bounds, rows }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::Weekday;

    fn host(n: u8) -> Subject {
        Subject::Host(HostId::Ip(std::net::IpAddr::from([192, 168, 1, n])))
    }

    fn c(n: u64) -> Counts {
        Counts { in_bytes: n, out_bytes: 2 * n, in_packets: 1, out_packets: 1 }
    }

    fn cal() -> Calendar {
        let (tz, name) = crate::calendar::zone(Some("Europe/Berlin")).unwrap();
        Calendar::new(tz, name, Weekday::Monday, 10)
    }

    #[test]
    fn periods_roll_over_at_local_midnight() {
        let cal = cal();
        let mut t = DayTotals::new(100);
        // 23:59:59 and 00:00:00 Berlin time on 2024-05-09 / 2024-05-10 (a billing day).
        let before = cal.parse_time("2024-05-09T23:59:59").unwrap();
        let after = before + 1;
        t.add(host(1), cal.day(before), &c(100));
        let p = t.periods(&cal, before);
        assert_eq!(p.of(Period::Today).next().map(|(_, c)| c.in_bytes), Some(100));
        assert_eq!(p.of(Period::Cycle).next().map(|(_, c)| c.in_bytes), Some(100));
        t.add(host(1), cal.day(after), &c(5));
        let p = t.periods(&cal, after);
        let get = |per| p.of(per).map(|(_, c)| c.in_bytes).next().unwrap_or(0);
        assert_eq!(get(Period::Today), 5);
        assert_eq!(get(Period::Yesterday), 100);
        assert_eq!(get(Period::Month), 105);
        // The cycle starts on the 10th: yesterday's 100 belong to the last one.
        assert_eq!((get(Period::Cycle), get(Period::LastCycle)), (5, 100));
        assert_eq!(p.bounds(Period::Today).0, after);
    }

    #[test]
    fn periods_have_data_from_when_counting_began() {
        let cal = cal();
        let now = cal.parse_time("2024-05-20T12:00").unwrap();
        let mut t = DayTotals::new(100);
        assert_eq!(t.first_day(), None);
        t.add(host(1), cal.day(now) - 3, &c(1));
        t.add(host(2), cal.day(now), &c(1));
        assert_eq!(t.first_day(), Some(cal.day(now) - 3));
        let mut p = t.periods(&cal, now);
        // Not published yet: nothing is said.
        assert_eq!(p.data_from(Period::Month), None);
        // Counting began on the 17th at 09:30: this month has data from then, today from
        // midnight, last month none.
        p.since = cal.parse_time("2024-05-17T09:30").unwrap();
        assert_eq!(p.data_from(Period::Month), Some(p.since));
        assert_eq!(p.data_from(Period::Today), Some(p.bounds(Period::Today).0));
        assert_eq!(p.data_from(Period::LastMonth), None);
    }

    #[test]
    fn journal_entries_restore_the_same_totals() {
        let cal = cal();
        let now = cal.parse_time("2024-05-20T12:00").unwrap();
        let mut t = DayTotals::new(100);
        t.add(host(1), cal.day(now), &c(7));
        t.add(host(1), cal.day(now) - 3, &c(9));
        t.add(host(2), cal.day(now), &c(1));
        let dirty = t.take_dirty();
        assert_eq!(dirty.len(), 3);
        assert!(t.take_dirty().is_empty());
        t.add(host(2), cal.day(now), &c(1));
        let mut twice = c(1);
        twice.add(&c(1));
        assert_eq!(t.take_dirty(), vec![(host(2), i64::from(cal.day(now)), twice)]);
        let mut r = DayTotals::new(100);
        for (s, d, v) in t.all() {
            r.restore(s, d as Day, v);
        }
        assert_eq!(r.periods(&cal, now).rows, t.periods(&cal, now).rows);
        // Old days go once no period reaches them.
        t.prune(cal.day(now) - 1);
        assert_eq!(t.sums(0, Day::MAX).iter().map(|(_, c)| c.in_bytes).sum::<u64>(), 9);
    }

    #[test]
    fn a_full_table_counts_new_subjects_into_other() {
        let mut t = DayTotals::new(5);
        for n in 1..=4 {
            t.add(host(n), 1, &c(10));
        }
        assert_eq!(t.len(), 3);
        assert_eq!(t.folded, 2);
        let sums = t.sums(0, 2);
        let other = sums.iter().find(|(s, _)| *s == Subject::Host(HostId::Other)).unwrap();
        assert_eq!(other.1.in_bytes, 20);
        assert_eq!(sums.iter().map(|(_, c)| c.in_bytes).sum::<u64>(), 40);
    }
}
