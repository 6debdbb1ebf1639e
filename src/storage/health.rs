//! A drive's health verdict from its SMART data, with the reason in words.

use serde::Serialize;

use super::Smart;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Warning,
    Failing,
    /// SMART could not be read; not a judgement on the drive.
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Warning => "warning",
            Health::Failing => "failing",
            Health::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Health {
        match text {
            "healthy" => Health::Healthy,
            "warning" => Health::Warning,
            "failing" => Health::Failing,
            _ => Health::Unknown,
        }
    }
}

/// ATA counters that should stay at zero on a sound drive.
const WATCHED_COUNTERS: &[(u8, &str)] = &[
    (5, "reallocated sectors"),
    (187, "reported uncorrectable errors"),
    (188, "command timeouts"),
    (197, "sectors pending reallocation"),
    (198, "offline uncorrectable sectors"),
    (199, "UDMA CRC errors"),
];

/// Failing when the drive's own health check failed or a pre-failure
/// attribute is at or below its threshold; warning when a watched error
/// counter is above zero; healthy otherwise.
pub fn verdict(smart: &Smart) -> (Health, String) {
    if let Some(reason) = &smart.unavailable {
        return (Health::Unknown, format!("SMART not available: {reason}"));
    }
    if smart.passed == Some(false) {
        return (
            Health::Failing,
            "the drive's own SMART health check failed".into(),
        );
    }
    let tripped: Vec<String> = smart
        .attributes
        .iter()
        .filter(|a| a.prefail && a.thresh > 0 && a.value <= a.thresh)
        .map(|a| {
            format!(
                "{} (attribute {}) is at {} against a threshold of {}",
                a.name, a.id, a.value, a.thresh
            )
        })
        .collect();
    if !tripped.is_empty() {
        return (Health::Failing, tripped.join("; "));
    }
    let warnings: Vec<String> = WATCHED_COUNTERS
        .iter()
        .filter_map(|(id, words)| {
            smart
                .attributes
                .iter()
                .find(|a| a.id == *id && a.raw > 0)
                .map(|a| format!("{} {words}", a.raw))
        })
        .collect();
    if !warnings.is_empty() {
        return (Health::Warning, warnings.join(", "));
    }
    (Health::Healthy, "no SMART errors".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SmartAttribute;

    fn attr(id: u8, value: u8, thresh: u8, raw: u64, prefail: bool) -> SmartAttribute {
        SmartAttribute {
            id,
            name: format!("Attr_{id}"),
            value,
            worst: value,
            thresh,
            raw,
            prefail,
        }
    }

    fn smart(attributes: Vec<SmartAttribute>) -> Smart {
        Smart {
            unavailable: None,
            passed: Some(true),
            temperature_c: Some(34),
            power_on_hours: Some(100),
            attributes,
        }
    }

    #[test]
    fn healthy_when_counters_are_zero() {
        let (h, why) = verdict(&smart(vec![
            attr(5, 100, 10, 0, true),
            attr(197, 100, 0, 0, false),
        ]));
        assert_eq!(h, Health::Healthy);
        assert_eq!(why, "no SMART errors");
    }

    #[test]
    fn warning_names_each_counter() {
        let (h, why) = verdict(&smart(vec![
            attr(5, 100, 10, 8, true),
            attr(197, 100, 0, 2, false),
        ]));
        assert_eq!(h, Health::Warning);
        assert_eq!(why, "8 reallocated sectors, 2 sectors pending reallocation");
    }

    #[test]
    fn failing_on_threshold_or_failed_check() {
        let (h, why) = verdict(&smart(vec![attr(5, 9, 10, 3000, true)]));
        assert_eq!(h, Health::Failing);
        assert!(why.contains("threshold of 10"), "{why}");
        let mut s = smart(vec![]);
        s.passed = Some(false);
        assert_eq!(verdict(&s).0, Health::Failing);
        // A non-prefail attribute under threshold is not a failure.
        assert_eq!(
            verdict(&smart(vec![attr(194, 20, 30, 0, false)])).0,
            Health::Healthy
        );
    }

    #[test]
    fn unknown_says_why() {
        let (h, why) = verdict(&Smart::unavailable("virtio disks have no SMART"));
        assert_eq!(h, Health::Unknown);
        assert!(why.contains("virtio"));
    }
}
