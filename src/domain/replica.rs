//! Replication's nouns: a replicated volume's role and state, the runs of
//! bytes that changed between two points of a thin volume, and the names
//! of the snapshots replication keeps.

use serde::{Deserialize, Serialize};

/// A run of a volume's bytes, `[offset, offset + length)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub length: u64,
}

/// What changed between two points of a volume: extents that hold data
/// in the newer point and differ from the older (`changed`), and extents
/// mapped in the older but not in the newer (`unmapped`: they read as
/// zeroes now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    pub changed: Vec<Extent>,
    pub unmapped: Vec<Extent>,
}

/// The logical volume of replication point `seq` of `volume`: `_` cannot
/// be in a volume's name, so it never meets a volume or a snapshot of one.
pub fn point_lv(volume: &str, seq: i64) -> String {
    format!("{volume}_r{seq}")
}

/// The point a logical volume's name says it is of `volume`, if it is one.
pub fn point_of(volume: &str, lv: &str) -> Option<i64> {
    lv.strip_prefix(volume)?
        .strip_prefix("_r")?
        .parse()
        .ok()
        .filter(|s: &i64| *s > 0)
}

/// Which side of a replication this appliance is for a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Its volume is the one in use; it ships its changes.
    Source,
    /// It holds the copy, not exported while it is one.
    Replica,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Replica => "replica",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "source" => Some(Role::Source),
            "replica" => Some(Role::Replica),
            _ => None,
        }
    }
}

/// A replicated volume's state, as the API and the pages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Being set up: the replica is being made on the peer.
    Preparing,
    /// The first, full copy has not been confirmed yet.
    InitialSync,
    /// The last consistent point is within the recovery point objective.
    InSync,
    /// The last consistent point is older than the objective.
    Lagging,
    /// The last transfer failed; it is tried again.
    Broken,
    /// A replica made a writable, exported volume by a failover.
    Promoted,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Preparing,
        State::InitialSync,
        State::InSync,
        State::Lagging,
        State::Broken,
        State::Promoted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Preparing => "preparing",
            State::InitialSync => "initial_sync",
            State::InSync => "in_sync",
            State::Lagging => "lagging",
            State::Broken => "broken",
            State::Promoted => "promoted",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// In words, for a page.
    pub fn words(self) -> &'static str {
        match self {
            State::Preparing => "preparing",
            State::InitialSync => "initial sync",
            State::InSync => "in sync",
            State::Lagging => "lagging",
            State::Broken => "broken",
            State::Promoted => "promoted",
        }
    }
}

/// The source's export, carried to the replica with every point so that
/// a failover exports the promoted replica as the source was: the same
/// target name, who may log in, and CHAP (secrets included: the channel
/// is TLS between two pinned peers, and they are never shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTarget {
    pub iqn: String,
    pub access: crate::domain::target::Access,
    /// CHAP user and secret.
    pub chap: Option<(String, String)>,
    pub mutual_chap: Option<(String, String)>,
}

/// The shortest interval between points.
pub const MIN_INTERVAL_S: i64 = 10;
/// The interval unless asked otherwise.
pub const DEFAULT_INTERVAL_S: i64 = 60;
/// The longest interval: a day.
pub const MAX_INTERVAL_S: i64 = 86_400;

/// A rate in bytes per second from words: a number of bytes per second,
/// or a number with a unit: `bit/s`, `kbit/s`, `Mbit/s`, `Gbit/s` (also
/// `Mbps`...), `B/s`, `kB/s`, `MB/s`, `GB/s`, `KiB/s`, `MiB/s`, `GiB/s`.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (t[..split].trim(), t[split..].trim());
    let value: f64 = number.parse().map_err(|_| {
        format!(
            "{text:?} is not a rate: a number with a unit, such as \"100 Mbit/s\" or \"20 MiB/s\""
        )
    })?;
    let per_second = match unit {
        "" | "B/s" => 1.0,
        "bit/s" | "bps" => 1.0 / 8.0,
        "kbit/s" | "kbps" | "Kbit/s" => 1e3 / 8.0,
        "Mbit/s" | "Mbps" | "mbit/s" => 1e6 / 8.0,
        "Gbit/s" | "Gbps" | "gbit/s" => 1e9 / 8.0,
        "kB/s" | "KB/s" => 1e3,
        "MB/s" => 1e6,
        "GB/s" => 1e9,
        "KiB/s" => 1024.0,
        "MiB/s" => 1024.0 * 1024.0,
        "GiB/s" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "{text:?}: {other:?} is not a unit of rate (bit/s, kbit/s, Mbit/s, Gbit/s, B/s, \
                 kB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s)"
            ));
        }
    };
    let bytes = value * per_second;
    if !bytes.is_finite() || bytes < 64.0 * 1024.0 {
        return Err(format!(
            "{text:?} is below the least rate a transfer may be held to, 64 KiB/s (512 kbit/s)"
        ));
    }
    if bytes > 1e12 {
        return Err(format!("{text:?} is more than any link carries"));
    }
    Ok(bytes as u64)
}

/// A rate in words, in bits per second as links are sold.
pub fn rate_words(bytes_per_second: u64) -> String {
    let bits = bytes_per_second as f64 * 8.0;
    if bits >= 1e9 {
        format!("{:.1} Gbit/s", bits / 1e9)
    } else if bits >= 1e6 {
        format!("{:.1} Mbit/s", bits / 1e6)
    } else {
        format!("{:.0} kbit/s", bits / 1e3)
    }
}

/// A window of the week in which a transfer is held to another rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The days it applies on, Monday first.
    pub days: [bool; 7],
    /// From this minute of the day (local time) ...
    pub from_minute: u16,
    /// ... to this one, not included; past midnight when below `from`.
    pub to_minute: u16,
    pub rate: u64,
}

/// A transfer's bandwidth: a rate it is held to (none: as fast as the
/// link goes) and windows of the week with a rate of their own (office
/// hours, say), the first that holds winning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bandwidth {
    pub rate: Option<u64>,
    pub windows: Vec<Window>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Days from words: `mon-fri`, `sat,sun`, `mon,wed-fri`, `daily`.
pub fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let t = text.trim().to_ascii_lowercase();
    if t == "daily" || t == "all" {
        return Ok([true; 7]);
    }
    let day = |d: &str| {
        DAYS.iter().position(|x| *x == d.trim()).ok_or_else(|| {
            format!(
                "{text:?}: {:?} is not a day (mon, tue, wed, thu, fri, sat, sun)",
                d.trim()
            )
        })
    };
    let mut days = [false; 7];
    for part in t.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut i = a;
                loop {
                    days[i] = true;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }
            None => days[day(part)?] = true,
        }
    }
    Ok(days)
}

/// A time of day `HH:MM` as minutes since midnight (`24:00` is the end of
/// the day).
pub fn parse_minute(text: &str) -> Result<u16, String> {
    let bad = || format!("{text:?} is not a time of day such as \"08:00\"");
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl Bandwidth {
    /// The rate in force at `weekday` (0 Monday) and `minute` of the day,
    /// local time; `None` for no limit.
    pub fn rate_at(&self, weekday: usize, minute: u16) -> Option<u64> {
        for w in &self.windows {
            let inside = if w.from_minute <= w.to_minute {
                w.days[weekday % 7] && minute >= w.from_minute && minute < w.to_minute
            } else {
                // Past midnight: the evening part on its day, the morning
                // part on the day after.
                (w.days[weekday % 7] && minute >= w.from_minute)
                    || (w.days[(weekday + 6) % 7] && minute < w.to_minute)
            };
            if inside {
                return Some(w.rate);
            }
        }
        self.rate
    }

    /// In words, for a page.
    pub fn words(&self) -> String {
        let mut out = match self.rate {
            Some(r) => rate_words(r),
            None => "no limit".into(),
        };
        for w in &self.windows {
            let days: Vec<&str> = DAYS
                .iter()
                .zip(w.days)
                .filter(|(_, on)| *on)
                .map(|(d, _)| *d)
                .collect();
            out.push_str(&format!(
                "; {} on {} {:02}:{:02}-{:02}:{:02}",
                rate_words(w.rate),
                days.join(","),
                w.from_minute / 60,
                w.from_minute % 60,
                w.to_minute / 60,
                w.to_minute % 60
            ));
        }
        out
    }
}

impl Delta {
    /// The bytes that would be sent: changed extents in full.
    pub fn changed_bytes(&self) -> u64 {
        self.changed.iter().map(|e| e.length).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_named_apart_from_volumes() {
        assert_eq!(point_lv("db", 12), "db_r12");
        assert_eq!(point_of("db", "db_r12"), Some(12));
        for other in [
            "db", "db.snap", "db_old", "db_r", "db_r0", "db_rx", "dbx_r1", "db_r-1",
        ] {
            assert_eq!(point_of("db", other), None, "{other}");
        }
        assert!(crate::naming::validate_volume_name("volume", "db_r12").is_err());
    }

    #[test]
    fn rates_read_in_the_units_links_are_sold_in() {
        assert_eq!(parse_rate("100 Mbit/s"), Ok(12_500_000));
        assert_eq!(parse_rate("100Mbps"), Ok(12_500_000));
        assert_eq!(parse_rate("1 Gbit/s"), Ok(125_000_000));
        assert_eq!(parse_rate("20 MiB/s"), Ok(20 << 20));
        assert_eq!(parse_rate("5 MB/s"), Ok(5_000_000));
        assert_eq!(parse_rate("1048576"), Ok(1 << 20));
        assert_eq!(parse_rate("0.5 GB/s"), Ok(500_000_000));
        for (bad, words) in [
            ("fast", "not a rate"),
            ("100 furlongs", "not a unit of rate"),
            ("1 kbit/s", "below the least rate"),
            ("0", "below the least rate"),
            ("9999 GB/s", "more than any link"),
            ("", "not a rate"),
        ] {
            let e = parse_rate(bad).unwrap_err();
            assert!(e.contains(words), "{bad}: {e}");
        }
        assert_eq!(rate_words(12_500_000), "100.0 Mbit/s");
    }

    #[test]
    fn office_hours_hold_their_rate_and_the_rest_of_the_week_the_other() {
        let office = Window {
            days: parse_days("mon-fri").unwrap(),
            from_minute: parse_minute("08:00").unwrap(),
            to_minute: parse_minute("18:00").unwrap(),
            rate: 1_000_000,
        };
        let night = Window {
            days: parse_days("sun").unwrap(),
            from_minute: parse_minute("22:00").unwrap(),
            to_minute: parse_minute("02:00").unwrap(),
            rate: 2_000_000,
        };
        let b = Bandwidth {
            rate: Some(10_000_000),
            windows: vec![office, night],
        };
        assert_eq!(b.rate_at(0, 8 * 60), Some(1_000_000));
        assert_eq!(b.rate_at(4, 18 * 60 - 1), Some(1_000_000));
        assert_eq!(b.rate_at(4, 18 * 60), Some(10_000_000));
        assert_eq!(b.rate_at(5, 9 * 60), Some(10_000_000), "Saturday");
        assert_eq!(b.rate_at(6, 23 * 60), Some(2_000_000), "Sunday night");
        assert_eq!(
            b.rate_at(0, 60),
            Some(2_000_000),
            "past midnight into Monday"
        );
        assert_eq!(b.rate_at(0, 3 * 60), Some(10_000_000));
        assert_eq!(Bandwidth::default().rate_at(2, 600), None);
        assert_eq!(
            parse_days("sat-mon").unwrap(),
            [true, false, false, false, false, true, true]
        );
        assert_eq!(parse_days("daily").unwrap(), [true; 7]);
        assert!(parse_days("mon-xyz").unwrap_err().contains("not a day"));
        assert_eq!(parse_minute("24:00"), Ok(1440));
        for bad in ["8", "25:00", "08:60", "24:01", "ab:cd"] {
            assert!(parse_minute(bad).is_err(), "{bad}");
        }
        assert_eq!(
            b.words(),
            "80.0 Mbit/s; 8.0 Mbit/s on mon,tue,wed,thu,fri 08:00-18:00; 16.0 Mbit/s on sun 22:00-02:00"
        );
    }
}
