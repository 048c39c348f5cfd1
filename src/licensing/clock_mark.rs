//! The licence's guard against a clock set back. Expiry is checked offline
//! against the system clock, so turning the clock back would keep an expired
//! licence alive. The installation therefore keeps, in its database, the
//! latest time it has seen (a high-water mark): expiry is judged at that
//! time, not at an earlier clock reading, and a clock reading more than a
//! day before it counts as tampering, which is treated like an expiry: 14
//! days of grace, counted as the clock moves on from the moment it was
//! caught (setting it back again gains nothing), then read-only. Putting the
//! clock right ends it.
//!
//! What it does not stop: someone who also edits the database (who can
//! lower the mark). It stops the one-step trick of rolling the clock back.

use super::installation::GRACE_DAYS;
use chrono::{DateTime, Duration, Utc};

/// How far the clock may fall behind the mark (time-zone slips, a clock
/// corrected by NTP) before it counts as set back.
pub const TOLERANCE_DAYS: i64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockMark {
    /// The latest time this installation has seen.
    pub high_water: DateTime<Utc>,
    /// The clock's last reading, to count time passing while it is behind.
    pub last_seen: DateTime<Utc>,
    /// Set while the clock is more than a day behind `high_water`.
    pub behind: Option<Behind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behind {
    /// The high-water mark when the clock was caught behind it.
    pub since: DateTime<Utc>,
    /// Time that has passed on the clock since, in seconds: the grace used.
    pub elapsed_secs: i64,
}

impl ClockMark {
    /// A mark starting at `high_water` (at least the clock's reading).
    pub fn new(high_water: DateTime<Utc>, now: DateTime<Utc>) -> ClockMark {
        let mut mark = ClockMark {
            high_water,
            last_seen: now,
            behind: None,
        };
        mark.observe(now);
        mark
    }

    /// Takes a reading of the clock.
    pub fn observe(&mut self, now: DateTime<Utc>) {
        let step = (now - self.last_seen).num_seconds().max(0);
        self.last_seen = now;
        if now > self.high_water {
            self.high_water = now;
        }
        if now < self.high_water - Duration::days(TOLERANCE_DAYS) {
            match &mut self.behind {
                Some(b) => b.elapsed_secs = b.elapsed_secs.saturating_add(step),
                None => {
                    self.behind = Some(Behind {
                        since: self.high_water,
                        elapsed_secs: 0,
                    })
                }
            }
        } else {
            self.behind = None;
        }
    }

    /// Folds in the mark another server process stored: the later
    /// high-water mark, and the more used grace. The clock's last reading
    /// stays this process's own.
    pub fn merge(&mut self, stored: &ClockMark) {
        self.high_water = self.high_water.max(stored.high_water);
        self.behind = match (self.behind, stored.behind) {
            (Some(a), Some(b)) => Some(Behind {
                since: a.since.min(b.since),
                elapsed_secs: a.elapsed_secs.max(b.elapsed_secs),
            }),
            (a, b) => a.or(b),
        };
    }

    /// While the clock is set back: when writes stop (on the clock as it
    /// reads; in the past once the grace period is over). `None` while the
    /// clock is right.
    pub fn grace_ends_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.behind
            .map(|b| now + Duration::days(GRACE_DAYS) - Duration::seconds(b.elapsed_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).unwrap()
    }

    #[test]
    fn a_clock_moving_forward_only_raises_the_mark() {
        let mut m = ClockMark::new(t(1), t(1));
        m.observe(t(5));
        assert_eq!(m.high_water, t(5));
        assert_eq!(m.grace_ends_at(t(5)), None);
        // Less than a day back is tolerated.
        m.observe(t(5) - Duration::hours(23));
        assert_eq!(m.grace_ends_at(t(5)), None);
        assert_eq!(m.high_water, t(5));
    }

    #[test]
    fn a_clock_set_back_has_grace_then_expires_and_setting_it_back_again_gains_nothing() {
        let mut m = ClockMark::new(t(20), t(20));
        m.observe(t(2));
        assert_eq!(m.grace_ends_at(t(2)), Some(t(16)));
        m.observe(t(9));
        // Set back again: the grace already used stays used.
        m.observe(t(1));
        m.observe(t(8));
        assert_eq!(m.grace_ends_at(t(8)), Some(t(8)), "7 + 7 days used");
        let mut m = ClockMark::new(t(20), t(20));
        m.observe(t(2));
        m.observe(t(15));
        assert_eq!(m.grace_ends_at(t(15)), Some(t(16)));
        m.observe(t(17));
        assert_eq!(m.grace_ends_at(t(17)), Some(t(16)), "over");
        // Putting the clock right ends it.
        m.observe(t(20));
        assert_eq!(m.grace_ends_at(t(20)), None);
        assert!(m.behind.is_none());
    }

    #[test]
    fn a_stored_mark_merges_with_the_later_high_water_and_the_more_used_grace() {
        let mut mine = ClockMark::new(t(10), t(10));
        let mut theirs = ClockMark::new(t(12), t(12));
        theirs.observe(t(3));
        theirs.observe(t(5));
        mine.merge(&theirs);
        assert_eq!(mine.high_water, t(12));
        assert_eq!(mine.last_seen, t(10));
        assert_eq!(mine.behind.map(|b| b.elapsed_secs), Some(2 * 86_400));
        mine.observe(t(6));
        assert_eq!(mine.behind.map(|b| b.elapsed_secs), Some(2 * 86_400));
    }
}
