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

/// The sum of the error counts a verdict watches (ATA attributes 5, 187,
/// 188, 197, 198 and 199, SAS and NVMe counters): zero on a sound drive,
/// and the line a trend chart draws.
pub fn error_count(smart: &Smart) -> u64 {
    let ata: u64 = smart
        .attributes
        .iter()
        .filter(|a| WATCHED_COUNTERS.iter().any(|(id, _)| *id == a.id))
        .map(|a| a.raw)
        .sum();
    ata + smart.counters.iter().map(|c| c.value).sum::<u64>()
}

/// Wear above which an SSD is flagged.
const WORN_PERCENT: u8 = 90;

/// The NVMe critical warning bits, in words.
const CRITICAL_WARNING_BITS: &[&str] = &[
    "spare capacity below its threshold",
    "temperature beyond a threshold",
    "reliability degraded by media or internal errors",
    "media placed in read-only mode",
    "volatile memory backup failed",
    "persistent memory region read-only",
];

/// "8 reallocated sectors", or "8 reallocated sectors (up from 5)" when the
/// count grew since `before`.
fn count(value: u64, words: &str, before: Option<u64>) -> String {
    match before {
        Some(b) if b < value => format!("{value} {words} (up from {b})"),
        _ => format!("{value} {words}"),
    }
}

/// The verdict on a drive from its SMART data, and the previous reading
/// (`before`) so that a count that grew says so.
///
/// Failing when the drive's own health check failed or a pre-failure
/// attribute is at or below its threshold. Warning when an error count that
/// stays at zero on a sound drive is above zero, an NVMe critical warning is
/// raised, an SSD has used more than 90% of its rated endurance, or the
/// drive runs above its temperature limit. Healthy otherwise.
pub fn verdict(smart: &Smart, before: Option<&Smart>) -> (Health, String) {
    if let Some(reason) = &smart.unavailable {
        return (Health::Unknown, format!("SMART not available: {reason}"));
    }
    let mut failing: Vec<String> = Vec::new();
    if smart.passed == Some(false) {
        failing.push(match &smart.health_report {
            Some(words) => format!("the drive's own SMART health check failed: {words}"),
            None => "the drive's own SMART health check failed".into(),
        });
    }
    failing.extend(
        smart
            .attributes
            .iter()
            .filter(|a| a.prefail && a.thresh > 0 && a.value <= a.thresh)
            .map(|a| {
                format!(
                    "{} (attribute {}) is at {} against a threshold of {}",
                    a.name, a.id, a.value, a.thresh
                )
            }),
    );
    let warnings = warnings(smart, before);
    match (failing.is_empty(), warnings.is_empty()) {
        (false, true) => (Health::Failing, failing.join("; ")),
        (false, false) => (
            Health::Failing,
            format!("{}; also {}", failing.join("; "), warnings.join(", ")),
        ),
        (true, false) => (Health::Warning, warnings.join(", ")),
        (true, true) => (Health::Healthy, "no SMART errors".into()),
    }
}

/// A verdict from SMART with the I/O errors the kernel logged against the
/// drive counted in: any makes a sound drive, or one whose SMART cannot be
/// read, a warning; a failing drive stays failing and says so too.
pub fn with_kernel_errors(smart: (Health, String), medium: i64, other: i64) -> (Health, String) {
    let plural = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let counted = match (medium, other) {
        (0, 0) => return smart,
        (m, 0) => plural(m, "medium error", "medium errors"),
        (0, o) => plural(o, "I/O error", "I/O errors"),
        (m, o) => format!(
            "{} and {}",
            plural(m, "medium error", "medium errors"),
            plural(o, "other I/O error", "other I/O errors")
        ),
    };
    let words = format!("the kernel logged {counted} on it");
    let (health, reason) = smart;
    match health {
        Health::Healthy => (Health::Warning, words),
        Health::Warning => (Health::Warning, format!("{reason}, {words}")),
        Health::Failing if reason.contains("; also ") => {
            (Health::Failing, format!("{reason}, {words}"))
        }
        Health::Failing => (Health::Failing, format!("{reason}; also {words}")),
        Health::Unknown => (Health::Warning, format!("{words}; {reason}")),
    }
}

/// Whether a reading says something the last kept one (`last`) did not,
/// so that a reading taken between the scheduled ones (by the observer, or
/// while a self-test runs) is worth keeping: its verdict (leaving aside
/// what it is compared with: a count that grew and stays is not news
/// again), whether a test runs, how far it is in tenths, or the newest
/// entry of the self-test log. Temperature and hours alone are not.
pub fn says_more(last: &Smart, new: &Smart) -> bool {
    let tenths = |s: &Smart| s.self_test_remaining_percent.map(|p| p / 10);
    verdict(last, None) != verdict(new, None)
        || last.self_test_running.is_some() != new.self_test_running.is_some()
        || tenths(last) != tenths(new)
        || last.self_tests.first() != new.self_tests.first()
}

fn warnings(smart: &Smart, before: Option<&Smart>) -> Vec<String> {
    let before_attr =
        |id: u8| before.and_then(|b| b.attributes.iter().find(|a| a.id == id).map(|a| a.raw));
    let before_counter =
        |key: &str| before.and_then(|b| b.counters.iter().find(|c| c.key == key).map(|c| c.value));
    let mut warnings: Vec<String> = WATCHED_COUNTERS
        .iter()
        .filter_map(|(id, words)| {
            let a = smart.attributes.iter().find(|a| a.id == *id && a.raw > 0)?;
            Some(count(a.raw, words, before_attr(*id)))
        })
        .collect();
    warnings.extend(
        smart
            .counters
            .iter()
            .filter(|c| c.value > 0)
            .map(|c| count(c.value, &c.label, before_counter(&c.key))),
    );
    if let Some(bits) = smart.critical_warning.filter(|b| *b != 0) {
        let named: Vec<&str> = CRITICAL_WARNING_BITS
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, w)| *w)
            .collect();
        warnings.push(format!(
            "NVMe critical warning 0x{bits:02x}: {}",
            if named.is_empty() {
                "a bit this console does not know".into()
            } else {
                named.join(", ")
            }
        ));
    }
    // A SCSI drive may report an exception and still pass: a warning
    // ("WARNING - SPECIFIED TEMPERATURE EXCEEDED").
    if smart.passed != Some(false)
        && let Some(words) = &smart.health_report
    {
        warnings.push(format!("the drive reports {words}"));
    }
    if let Some(used) = smart.percentage_used.filter(|p| *p > WORN_PERCENT) {
        warnings.push(format!("{used}% of its rated endurance used"));
    }
    if let (Some(t), Some(limit)) = (smart.temperature_c, smart.temperature_limit_c)
        && t > limit
    {
        warnings.push(format!("running at {t} °C, above its limit of {limit} °C"));
    }
    // Only the newest finished test counts: a later pass means the fault
    // is gone (a pending sector rewritten, say); an aborted one says
    // nothing.
    if let Some(t) = smart
        .self_tests
        .iter()
        .find(|t| !t.aborted)
        .filter(|t| t.failed)
    {
        warnings.push(format!(
            "its last self-test ({}) failed: {}{}",
            t.kind.to_lowercase(),
            t.result,
            t.lba.map(|l| format!(" at block {l}")).unwrap_or_default()
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Counter, SmartAttribute};

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
            passed: Some(true),
            temperature_c: Some(34),
            power_on_hours: Some(100),
            attributes,
            ..Smart::default()
        }
    }

    #[test]
    fn errors_the_kernel_logged_count_against_a_drive() {
        let ok = (Health::Healthy, "no SMART errors".to_string());
        assert_eq!(with_kernel_errors(ok.clone(), 0, 0), ok);
        assert_eq!(
            with_kernel_errors(ok, 1, 0),
            (
                Health::Warning,
                "the kernel logged 1 medium error on it".into()
            )
        );
        assert_eq!(
            with_kernel_errors((Health::Warning, "8 reallocated sectors".into()), 2, 3),
            (
                Health::Warning,
                "8 reallocated sectors, the kernel logged 2 medium errors and 3 other I/O \
                 errors on it"
                    .into()
            )
        );
        assert_eq!(
            with_kernel_errors(
                (
                    Health::Unknown,
                    "SMART not available: no SMART on virtio".into()
                ),
                0,
                1
            ),
            (
                Health::Warning,
                "the kernel logged 1 I/O error on it; SMART not available: no SMART on virtio"
                    .into()
            )
        );
        let failing = (
            Health::Failing,
            "the drive's own SMART health check failed".to_string(),
        );
        let (h, why) = with_kernel_errors(failing, 1, 0);
        assert_eq!(h, Health::Failing);
        assert_eq!(
            why,
            "the drive's own SMART health check failed; also the kernel logged 1 medium error on it"
        );
        let (_, why) =
            with_kernel_errors((Health::Failing, "A; also 5 grown defects".into()), 1, 0);
        assert_eq!(
            why,
            "A; also 5 grown defects, the kernel logged 1 medium error on it"
        );
    }

    #[test]
    fn a_scsi_exception_is_named_in_the_drive_s_words() {
        let mut s = smart(Vec::new());
        s.health_report =
            Some("WARNING - SPECIFIED TEMPERATURE EXCEEDED (asc 0x0b, ascq 0x01)".into());
        assert_eq!(
            verdict(&s, None),
            (
                Health::Warning,
                "the drive reports WARNING - SPECIFIED TEMPERATURE EXCEEDED (asc 0x0b, ascq 0x01)"
                    .into()
            )
        );
        s.passed = Some(false);
        s.health_report =
            Some("FAILURE PREDICTION THRESHOLD EXCEEDED (asc 0x5d, ascq 0x10)".into());
        assert_eq!(
            verdict(&s, None),
            (
                Health::Failing,
                "the drive's own SMART health check failed: FAILURE PREDICTION THRESHOLD \
                 EXCEEDED (asc 0x5d, ascq 0x10)"
                    .into()
            )
        );
    }

    #[test]
    fn healthy_when_counters_are_zero() {
        let (h, why) = verdict(
            &smart(vec![attr(5, 100, 10, 0, true), attr(197, 100, 0, 0, false)]),
            None,
        );
        assert_eq!(h, Health::Healthy);
        assert_eq!(why, "no SMART errors");
    }

    #[test]
    fn a_failed_last_self_test_warns_and_a_later_pass_clears_it() {
        let test = |result: &str, failed: bool| crate::domain::SelfTest {
            kind: "Extended offline".into(),
            result: result.into(),
            failed,
            aborted: result.starts_with("Aborted"),
            hours: Some(4),
            lba: failed.then_some(104870168),
        };
        let mut s = smart(Vec::new());
        s.self_tests = vec![test("Completed: read failure", true)];
        assert_eq!(
            verdict(&s, None),
            (
                Health::Warning,
                "its last self-test (extended offline) failed: Completed: read failure at block 104870168".into()
            )
        );
        s.self_tests
            .insert(0, test("Completed without error", false));
        assert_eq!(verdict(&s, None).0, Health::Healthy);
        s.self_tests[0] = test("Aborted by host", false);
        assert_eq!(
            verdict(&s, None).0,
            Health::Warning,
            "an abort neither faults nor clears the failure before it"
        );
    }

    #[test]
    fn warning_names_each_counter() {
        let (h, why) = verdict(
            &smart(vec![attr(5, 100, 10, 8, true), attr(197, 100, 0, 2, false)]),
            None,
        );
        assert_eq!(h, Health::Warning);
        assert_eq!(why, "8 reallocated sectors, 2 sectors pending reallocation");
    }

    #[test]
    fn failing_on_threshold_or_failed_check() {
        let (h, why) = verdict(&smart(vec![attr(5, 9, 10, 3000, true)]), None);
        assert_eq!(h, Health::Failing);
        assert!(why.contains("threshold of 10"), "{why}");
        let mut s = smart(vec![]);
        s.passed = Some(false);
        assert_eq!(verdict(&s, None).0, Health::Failing);
        // A non-prefail attribute under threshold is not a failure.
        assert_eq!(
            verdict(&smart(vec![attr(194, 20, 30, 0, false)]), None).0,
            Health::Healthy
        );
    }

    #[test]
    fn a_count_that_grew_says_so() {
        let before = smart(vec![attr(5, 100, 10, 5, true)]);
        let now = smart(vec![attr(5, 100, 10, 8, true)]);
        assert_eq!(
            verdict(&now, Some(&before)).1,
            "8 reallocated sectors (up from 5)"
        );
        assert_eq!(verdict(&now, Some(&now)).1, "8 reallocated sectors");
    }

    #[test]
    fn sas_and_nvme_counts_wear_and_heat_warn() {
        let mut s = smart(vec![]);
        s.counters = vec![
            Counter {
                key: "scsi.grown_defects".into(),
                label: "grown defects".into(),
                value: 3,
            },
            Counter {
                key: "scsi.read_uncorrected".into(),
                label: "uncorrected read errors".into(),
                value: 0,
            },
        ];
        s.critical_warning = Some(0x04);
        s.percentage_used = Some(93);
        s.temperature_c = Some(71);
        s.temperature_limit_c = Some(70);
        let (h, why) = verdict(&s, None);
        assert_eq!(h, Health::Warning);
        assert_eq!(
            why,
            "3 grown defects, NVMe critical warning 0x04: reliability degraded by media or internal errors, \
             93% of its rated endurance used, running at 71 °C, above its limit of 70 °C"
        );
        s.percentage_used = Some(90);
        s.temperature_c = Some(70);
        s.critical_warning = Some(0);
        s.counters[0].value = 0;
        assert_eq!(verdict(&s, None).0, Health::Healthy);
    }

    /// Which readings between the scheduled ones are worth keeping.
    #[test]
    fn a_reading_is_news_when_what_it_says_changed() {
        let last = smart(vec![attr(5, 100, 10, 0, true)]);
        let mut warmer = last.clone();
        warmer.temperature_c = Some(41);
        warmer.power_on_hours = Some(101);
        assert!(
            !says_more(&last, &warmer),
            "temperature and hours are not news"
        );
        let grown = smart(vec![attr(5, 100, 10, 50, true)]);
        assert!(says_more(&last, &grown), "a count grew");
        assert!(!says_more(&grown, &grown.clone()), "and stayed");
        let mut running = last.clone();
        running.self_test_running = Some("self-test in progress, 90% remaining".into());
        running.self_test_remaining_percent = Some(88);
        assert!(says_more(&last, &running), "a test began");
        let mut on = running.clone();
        on.self_test_remaining_percent = Some(81);
        assert!(!says_more(&running, &on), "within the same tenth");
        on.self_test_remaining_percent = Some(70);
        assert!(says_more(&running, &on), "a tenth further");
        let mut done = last.clone();
        done.self_tests = vec![crate::domain::SelfTest {
            kind: "Short offline".into(),
            result: "Completed without error".into(),
            failed: false,
            aborted: false,
            hours: Some(100),
            lba: None,
        }];
        assert!(says_more(&on, &done), "the test ended");
        assert!(says_more(&last, &done), "a result came in");
        assert!(!says_more(&done, &done.clone()));
        assert!(says_more(&last, &Smart::unavailable("gone")));
    }

    #[test]
    fn unknown_says_why() {
        let (h, why) = verdict(&Smart::unavailable("virtio disks have no SMART"), None);
        assert_eq!(h, Health::Unknown);
        assert!(why.contains("virtio"));
    }
}
