//! What `smartctl -j -x` reports about a drive, for ATA/SATA, SAS (SCSI)
//! and NVMe drives alike.
//!
//! smartctl's exit status is a bit mask; the JSON carries it too, with
//! messages in words. Data is read wherever the JSON has it, whatever the
//! status says (a QEMU disk answers with exit status 4, "some command
//! failed", and full SMART data); when there is none, the drive's SMART is
//! "not available" with smartctl's own reason.

use serde_json::Value;

use crate::domain::{Counter, SelfTest, SelfTestKind, Smart, SmartAttribute};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SmartctlError {
    #[error("this is not smartctl JSON output: {0}")]
    NotJson(String),
    #[error("this JSON has no \"smartctl\" section, so it is not `smartctl -j` output")]
    NotSmartctl,
    #[error("this is the device list of `smartctl --scan`, not one drive's report")]
    Scan,
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

fn int(v: &Value, path: &[&str]) -> Option<i64> {
    at(v, path)?.as_i64()
}

fn uint(v: &Value, path: &[&str]) -> Option<u64> {
    at(v, path)?.as_u64()
}

/// A SCSI drive's informational exception, as smartctl words it, with its
/// additional sense code: "FAILURE PREDICTION THRESHOLD EXCEEDED (asc 0x5d,
/// ascq 0x10)". None when the drive reports no exception.
fn scsi_ie(v: &Value) -> Option<String> {
    let ie = at(v, &["smart_status", "scsi"])?;
    let (asc, ascq) = (uint(ie, &["asc"])?, uint(ie, &["ascq"]).unwrap_or(0));
    if asc == 0 {
        return None;
    }
    let words = at(ie, &["ie_string"])
        .and_then(Value::as_str)
        .unwrap_or("informational exception");
    Some(format!("{words} (asc 0x{asc:02x}, ascq 0x{ascq:02x})"))
}

/// The arguments that read a drive's whole report as JSON.
pub fn read_args(node: &std::path::Path) -> Vec<std::ffi::OsString> {
    vec!["-j".into(), "-x".into(), node.into()]
}

/// The arguments that start a `kind` self-test in the background.
pub fn test_args(kind: SelfTestKind, node: &std::path::Path) -> Vec<std::ffi::OsString> {
    vec!["-t".into(), kind.as_str().into(), node.into()]
}

/// The arguments that abort the self-test a drive is running.
pub fn abort_args(node: &std::path::Path) -> Vec<std::ffi::OsString> {
    vec!["-X".into(), node.into()]
}

/// What smartctl said when ordering a drive (`-t`, `-X`), line by line,
/// without its banner (version, copyright, section headings).
pub fn said(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("smartctl ")
                && !l.starts_with("Copyright")
                && !l.starts_with("===")
        })
        .map(str::to_string)
        .collect()
}

/// Reads one `smartctl -j` report.
pub fn parse(text: &str) -> Result<Smart, SmartctlError> {
    parse_noted(text).map(|(smart, _)| smart)
}

/// The sections only a drive's report has: what a report is read from when
/// its `smartctl` section is gone.
const DEVICE_SECTIONS: &[&str] = &[
    "smart_status",
    "ata_smart_attributes",
    "nvme_smart_health_information_log",
    "scsi_error_counter_log",
    "scsi_grown_defect_list",
    "ata_smart_self_test_log",
    "power_on_time",
    "temperature",
];

/// Reads one `smartctl -j` report, with a note when it was read without
/// its `smartctl` section: some tools that collect reports (and public test
/// data made with them) drop it, and the device's sections still say all
/// that Baystack reads.
pub fn parse_noted(text: &str) -> Result<(Smart, Option<String>), SmartctlError> {
    let v: Value = serde_json::from_str(text).map_err(|e| SmartctlError::NotJson(e.to_string()))?;
    let (tool, note) = match v.get("smartctl") {
        Some(tool) => (tool, None),
        None if DEVICE_SECTIONS.iter().any(|k| v.get(k).is_some()) => (
            &Value::Null,
            Some(
                "the report has no smartctl section (another tool dropped it); read from its \
                 device sections"
                    .to_string(),
            ),
        ),
        None => return Err(SmartctlError::NotSmartctl),
    };
    parse_value(&v, tool).map(|smart| (smart, note))
}

fn parse_value(v: &Value, tool: &Value) -> Result<Smart, SmartctlError> {
    if v.get("devices").is_some() {
        return Err(SmartctlError::Scan);
    }
    let attributes = ata_attributes(v);
    let counters = [scsi_counters(v), nvme_counters(v)].concat();
    let nvme_log = v.get("nvme_smart_health_information_log");
    let passed = at(v, &["smart_status", "passed"]).and_then(Value::as_bool);
    if passed.is_none() && attributes.is_empty() && counters.is_empty() {
        return Ok(Smart::unavailable(unavailable_reason(tool)));
    }
    // NVMe drives signal heat through the critical warning bits instead.
    let temperature_limit_c = [
        // ATA (SCT status), SCSI: the drive's own operating limit.
        &["temperature", "op_limit_max"][..],
        &["temperature", "limit_max"],
        &["temperature", "drive_trip"],
    ]
    .iter()
    .find_map(|p| int(v, p))
    .filter(|t| *t > 0)
    .map(|t| t as i32);
    let log = self_tests(v);
    let (short_test_minutes, long_test_minutes) = test_minutes(v);
    Ok(Smart {
        unavailable: None,
        self_test_running: log.running,
        self_test_running_kind: log.running_kind,
        self_test_remaining_percent: log.remaining_percent,
        self_tests: log.tests,
        short_test_minutes,
        long_test_minutes,
        passed,
        health_report: scsi_ie(v),
        // SCSI devices that have no sensor say 0. With -x, smartctl 7.3
        // reports a SCSI drive that has the environmental reporting log
        // subpage there instead of under "temperature".
        temperature_c: [
            &["temperature", "current"][..],
            &["scsi_environmental_reports", "temperature_1", "current"],
        ]
        .iter()
        .find_map(|p| int(v, p).filter(|t| *t != 0))
        .map(|t| t as i32),
        temperature_limit_c,
        power_on_hours: int(v, &["power_on_time", "hours"]),
        percentage_used: uint(v, &["scsi_percentage_used_endurance_indicator"])
            .or_else(|| nvme_log.and_then(|l| uint(l, &["percentage_used"])))
            .map(|p| p.min(255) as u8),
        critical_warning: nvme_log.and_then(|l| uint(l, &["critical_warning"])),
        attributes,
        counters,
    })
}

fn unavailable_reason(tool: &Value) -> String {
    let messages: Vec<&str> = tool
        .get("messages")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|m| m.get("string").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if messages.is_empty() {
        "the drive reported no SMART data".into()
    } else {
        format!("smartctl: {}", messages.join("; "))
    }
}

fn ata_attributes(v: &Value) -> Vec<SmartAttribute> {
    let Some(table) = at(v, &["ata_smart_attributes", "table"]).and_then(Value::as_array) else {
        return Vec::new();
    };
    table
        .iter()
        .filter_map(|a| {
            let small = |k: &str| uint(a, &[k]).map(|n| n.min(255) as u8);
            Some(SmartAttribute {
                id: small("id")?,
                name: a.get("name").and_then(Value::as_str).unwrap_or("").into(),
                value: small("value")?,
                worst: small("worst").unwrap_or(0),
                thresh: small("thresh").unwrap_or(0),
                raw: uint(a, &["raw", "value"]).unwrap_or(0),
                prefail: at(a, &["flags", "prefailure"])
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        })
        .collect()
}

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).and_then(Value::as_str).unwrap_or("")
}

/// How long the drive says its short and long self-tests take, in
/// minutes: an ATA drive's polling times; a SCSI drive's extended test
/// duration, in seconds, rounded up (SCSI gives no short time; NVMe gives
/// neither through smartctl). A time of 0 says nothing.
fn test_minutes(v: &Value) -> (Option<u32>, Option<u32>) {
    let minutes = |n: u64| u32::try_from(n).ok().filter(|m| *m > 0);
    let ata = |which: &str| {
        uint(
            v,
            &["ata_smart_data", "self_test", "polling_minutes", which],
        )
        .and_then(minutes)
    };
    let scsi_long = uint(v, &["scsi_extended_self_test_seconds"])
        .map(|s| s.div_ceil(60))
        .and_then(minutes);
    (ata("short"), ata("extended").or(scsi_long))
}

/// A drive's self-test log as smartctl reports it.
#[derive(Debug, Default)]
struct TestLog {
    /// The test running now, in words with its progress.
    running: Option<String>,
    running_kind: Option<SelfTestKind>,
    remaining_percent: Option<u8>,
    /// Newest first.
    tests: Vec<SelfTest>,
}

fn percent(n: u64) -> u8 {
    n.min(100) as u8
}

/// The self-test running now and the self-test log, newest first, from
/// whichever of the ATA, NVMe and SCSI logs the report holds. Each log
/// codes its results differently; a failure is a result that found a
/// fault, not one aborted or interrupted.
fn self_tests(v: &Value) -> TestLog {
    let mut out = TestLog::default();
    // ATA: the status byte's high nibble is the result, 15 = running; the
    // low nibble the tenths remaining.
    if let Some(status) = at(v, &["ata_smart_data", "self_test", "status"])
        && let Some(value) = uint(status, &["value"]).filter(|s| s >> 4 == 15)
    {
        out.running = Some(format!("self-test {}", text(status, &["string"])));
        out.remaining_percent = Some(percent(
            uint(status, &["remaining_percent"]).unwrap_or((value & 0xf) * 10),
        ));
    }
    // `-x` gives the extended (GP) log where the drive has one, else the
    // standard (SMART) log.
    let ata_log = ["extended", "standard"]
        .iter()
        .find_map(|which| at(v, &["ata_smart_self_test_log", which, "table"]))
        .and_then(Value::as_array);
    for t in ata_log.into_iter().flatten() {
        let code = uint(t, &["status", "value"]).unwrap_or(0) >> 4;
        if code == 15 {
            // The running test's entry names its kind: off-line or
            // captive, short (1, 129) or extended (2, 130).
            if out.running.is_some() && out.running_kind.is_none() {
                out.running_kind = match uint(t, &["type", "value"]) {
                    Some(1 | 129) => Some(SelfTestKind::Short),
                    Some(2 | 130) => Some(SelfTestKind::Long),
                    _ => None,
                };
            }
            continue;
        }
        out.tests.push(SelfTest {
            kind: text(t, &["type", "string"]).into(),
            result: text(t, &["status", "string"]).into(),
            failed: (3..=8).contains(&code),
            aborted: (1..=2).contains(&code),
            hours: int(t, &["lifetime_hours"]),
            lba: uint(t, &["lba"]),
        });
    }
    // NVMe: result 5 (fatal), 6 and 7 (segments failed) found a fault.
    if let Some(nvme) = v.get("nvme_self_test_log") {
        let op = uint(nvme, &["current_self_test_operation", "value"]).unwrap_or(0);
        if op != 0 {
            let done = uint(nvme, &["current_self_test_completion_percent"]).unwrap_or(0);
            out.running = Some(format!(
                "{}: {}% done",
                text(nvme, &["current_self_test_operation", "string"]),
                done
            ));
            out.running_kind = match op {
                1 => Some(SelfTestKind::Short),
                2 => Some(SelfTestKind::Long),
                _ => None,
            };
            out.remaining_percent = Some(100 - percent(done));
        }
        for t in at(nvme, &["table"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let code = uint(t, &["self_test_result", "value"]).unwrap_or(0);
            out.tests.push(SelfTest {
                kind: text(t, &["self_test_code", "string"]).into(),
                result: text(t, &["self_test_result", "string"]).into(),
                failed: (5..=7).contains(&code),
                aborted: !(5..=7).contains(&code) && code != 0,
                hours: int(t, &["power_on_hours"]),
                lba: uint(t, &["lba"]),
            });
        }
    }
    // SCSI: scsi_self_test_0 is the newest; result 3 to 7 found a fault
    // (7: failed in a segment), 1 and 2 were aborted, 15 is running. Its
    // code says the kind: background (1, 2) or foreground (5, 6), short
    // or long. Newer smartctl also says how far the running test is.
    for n in 0..20 {
        let Some(t) = v.get(format!("scsi_self_test_{n}")) else {
            break;
        };
        let code = uint(t, &["result", "value"]).unwrap_or(0);
        if code == 15 {
            out.running = Some(format!(
                "{} self-test in progress",
                text(t, &["code", "string"])
            ));
            out.running_kind = match uint(t, &["code", "value"]) {
                Some(1 | 5) => Some(SelfTestKind::Short),
                Some(2 | 6) => Some(SelfTestKind::Long),
                _ => None,
            };
            continue;
        }
        out.tests.push(SelfTest {
            kind: text(t, &["code", "string"]).into(),
            result: text(t, &["result", "string"]).into(),
            failed: (3..=7).contains(&code),
            aborted: (1..=2).contains(&code),
            hours: int(t, &["power_on_time", "hours"]),
            lba: uint(t, &["lba_first_failure", "value"]),
        });
    }
    if let Some(status) = v.get("scsi_self_test_status")
        && at(status, &["in_progress"]).and_then(Value::as_bool) == Some(true)
    {
        let done = percent(uint(status, &["completion_percent"]).unwrap_or(0));
        out.remaining_percent = Some(100 - done);
        out.running = Some(format!(
            "{}, {}% remaining",
            out.running.as_deref().unwrap_or("self-test in progress"),
            100 - done
        ));
    }
    out
}

fn counter(key: &str, label: &str, value: Option<u64>) -> Option<Counter> {
    Some(Counter {
        key: key.into(),
        label: label.into(),
        value: value?,
    })
}

fn scsi_counters(v: &Value) -> Vec<Counter> {
    let log = |op: &str| {
        uint(
            v,
            &["scsi_error_counter_log", op, "total_uncorrected_errors"],
        )
    };
    [
        counter(
            "scsi.grown_defects",
            "grown defects",
            uint(v, &["scsi_grown_defect_list"]),
        ),
        counter(
            "scsi.read_uncorrected",
            "uncorrected read errors",
            log("read"),
        ),
        counter(
            "scsi.write_uncorrected",
            "uncorrected write errors",
            log("write"),
        ),
        counter(
            "scsi.verify_uncorrected",
            "uncorrected verify errors",
            log("verify"),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn nvme_counters(v: &Value) -> Vec<Counter> {
    let Some(log) = v.get("nvme_smart_health_information_log") else {
        return Vec::new();
    };
    [counter(
        "nvme.media_errors",
        "media and data integrity errors",
        uint(log, &["media_errors"]),
    )]
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::health::{Health, verdict};

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/smartctl/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Self-test logs of each kind of drive, newest first.
    #[test]
    fn self_test_logs_of_ata_and_scsi_drives() {
        let ata = parse(&fixture("sata-hdd-failing.json")).unwrap();
        assert_eq!(ata.self_test_running, None);
        assert_eq!(ata.self_tests[0].kind, "Short offline");
        assert!(!ata.self_tests[0].failed);
        let read_failure = &ata.self_tests[2];
        assert_eq!(
            (
                read_failure.result.as_str(),
                read_failure.failed,
                read_failure.hours,
                read_failure.lba
            ),
            ("Completed: read failure", true, Some(4), Some(104870168))
        );
        let sas = parse(&fixture("sas-hdd-healthy.json")).unwrap();
        assert_eq!(sas.self_tests.len(), 2);
        assert_eq!(sas.self_tests[1].kind, "Background short");
        assert_eq!(sas.self_tests[1].hours, Some(1));
        assert!(sas.self_tests.iter().all(|t| !t.failed));
        let qemu = parse(&fixture("qemu-sata-x.json")).unwrap();
        assert!(qemu.self_tests.is_empty(), "an empty log");
        // `-x` on a drive with the extended log: the log is there.
        let extended = parse(&fixture("sata-ssd-healthy-x.json")).unwrap();
        assert!(extended.self_tests.len() > 3, "{:?}", extended.self_tests);
        assert_eq!(extended.self_tests[0].hours, Some(14417));
    }

    /// A capture whose `smartctl` section another tool dropped is read from
    /// its device sections, with a note; one with neither is refused.
    #[test]
    fn a_report_without_its_smartctl_section_is_read_with_a_note() {
        for name in [
            "sata-hdd-failing.json",
            "sas-hdd-healthy.json",
            "qemu-sata-x.json",
        ] {
            let whole = parse(&fixture(name)).unwrap();
            let mut v: Value = serde_json::from_str(&fixture(name)).unwrap();
            v.as_object_mut().unwrap().remove("smartctl");
            let (headless, note) = parse_noted(&v.to_string()).unwrap();
            assert_eq!(
                serde_json::to_value(&headless).unwrap(),
                serde_json::to_value(&whole).unwrap(),
                "{name}"
            );
            assert!(note.unwrap().contains("no smartctl section"), "{name}");
            assert_eq!(parse_noted(&fixture(name)).unwrap().1, None, "{name}");
        }
        assert!(matches!(
            parse(r#"{"json_format_version": [1, 0], "local_time": {"time_t": 1}}"#),
            Err(SmartctlError::NotSmartctl)
        ));
    }

    /// A SAS drive's failed self-test names the first sector it could not
    /// read (captured in the lab: an emulated drive given a bad LBA).
    #[test]
    fn a_sas_self_test_names_its_unreadable_sector() {
        let s = parse(&fixture("lab-emulated-sas-selftest-lba-x.json")).unwrap();
        let t = &s.self_tests[0];
        assert!(t.failed, "{t:?}");
        assert_eq!(t.lba, Some(12345));
        assert_eq!(t.result, "Failed in segment");
    }

    /// A test running now, as smartctl 7.3 reports it for ATA and NVMe.
    #[test]
    fn a_running_self_test_shows_its_progress() {
        let mut v: Value = serde_json::from_str(&fixture("qemu-sata-x.json")).unwrap();
        v["ata_smart_data"]["self_test"]["status"] = serde_json::json!(
            {"value": 249, "string": "in progress, 90% remaining", "remaining_percent": 90}
        );
        let s = parse(&v.to_string()).unwrap();
        assert_eq!(
            s.self_test_running.as_deref(),
            Some("self-test in progress, 90% remaining")
        );
        assert_eq!(s.self_test_remaining_percent, Some(90));
        // The log's entry for the running test names its kind.
        v["ata_smart_self_test_log"] = serde_json::json!({"standard": {"revision": 1, "table": [
            {"type": {"value": 2, "string": "Extended offline"},
             "status": {"value": 249, "string": "Self-test routine in progress", "remaining_percent": 90},
             "lifetime_hours": 20}]}});
        let s = parse(&v.to_string()).unwrap();
        assert_eq!(s.self_test_running_kind, Some(SelfTestKind::Long));
        assert!(s.self_tests.is_empty(), "the running test is not a result");
        let mut v: Value = serde_json::from_str(&fixture("nvme-healthy-7.3.json")).unwrap();
        v["nvme_self_test_log"] = serde_json::json!({
            "current_self_test_operation": {"value": 2, "string": "Extended self-test"},
            "current_self_test_completion_percent": 35,
            "table": [{"self_test_code": {"value": 1, "string": "Short self-test"},
                       "self_test_result": {"value": 7, "string": "Completed: failed segments"},
                       "power_on_hours": 120, "lba": 4096}]
        });
        let s = parse(&v.to_string()).unwrap();
        assert_eq!(
            s.self_test_running.as_deref(),
            Some("Extended self-test: 35% done")
        );
        assert_eq!(
            (s.self_test_running_kind, s.self_test_remaining_percent),
            (Some(SelfTestKind::Long), Some(65))
        );
        assert!(s.self_tests[0].failed);
        assert_eq!(s.self_tests[0].lba, Some(4096));
    }

    /// How long each kind of drive says its tests take: ATA's polling
    /// minutes, SCSI's extended test seconds rounded up to minutes, and
    /// nothing from NVMe or a drive that says nothing.
    #[test]
    fn self_test_times_as_each_kind_of_drive_says_them() {
        let cases: &[(&str, Option<u32>, Option<u32>)] = &[
            ("lab-sata-x.json", Some(2), Some(54)),
            ("sata-hdd-healthy.json", Some(2), Some(1479)),
            ("sata-hdd-failing.json", Some(1), Some(79)),
            ("sas-hdd-healthy.json", None, Some(56)),
            ("sas-ssd-healthy.json", None, Some(5)),
            ("nvme-healthy-7.3.json", None, None),
            ("lab-scsi-debug-x.json", None, None),
            ("qemu-sata-health-only.json", None, None),
        ];
        for (file, short, long) in cases {
            let s = parse(&fixture(file)).unwrap();
            assert_eq!(
                (s.short_test_minutes, s.long_test_minutes),
                (*short, *long),
                "{file}"
            );
        }
        // What Baystack plans with: a short test that does not say takes
        // two minutes; a long one is not guessed.
        let sas = parse(&fixture("sas-hdd-healthy.json")).unwrap();
        assert_eq!(sas.test_minutes(SelfTestKind::Short), Some(2));
        assert_eq!(sas.test_minutes(SelfTestKind::Long), Some(56));
        let nvme = parse(&fixture("nvme-healthy-7.3.json")).unwrap();
        assert_eq!(nvme.test_minutes(SelfTestKind::Long), None);
    }

    /// A WD140EDFZ captured with its extended test 90% done: running, 10%
    /// remaining; which kind, the drive does not say.
    #[test]
    fn a_captured_running_ata_test_says_what_is_left() {
        let s = parse(&fixture("sata-hdd-healthy.json")).unwrap();
        assert_eq!(
            s.self_test_running.as_deref(),
            Some("self-test in progress, 10% remaining")
        );
        assert_eq!(s.self_test_remaining_percent, Some(10));
        assert_eq!(s.self_test_running_kind, None);
        assert_eq!(s.self_tests[0].hours, Some(1708), "the log stays");
    }

    /// Each field the self-test follow-up reads, replaced in turn by each
    /// thing a report could hold there instead: the parser never fails on
    /// it, and reads a time or a percent only from a number that is one.
    #[test]
    fn self_test_fields_replaced_by_anything_read_as_nothing_or_in_range() {
        let odd = [
            serde_json::json!(null),
            serde_json::json!(-1),
            serde_json::json!(0),
            serde_json::json!(1.5),
            serde_json::json!("54"),
            serde_json::json!(true),
            serde_json::json!({}),
            serde_json::json!([7]),
            serde_json::json!(4294967296u64),
            serde_json::json!(u64::MAX),
            serde_json::json!(250),
        ];
        let paths: &[(&str, &[&str])] = &[
            (
                "qemu-sata-x.json",
                &["ata_smart_data", "self_test", "polling_minutes", "short"],
            ),
            (
                "qemu-sata-x.json",
                &["ata_smart_data", "self_test", "polling_minutes", "extended"],
            ),
            (
                "qemu-sata-x.json",
                &["ata_smart_data", "self_test", "polling_minutes"],
            ),
            (
                "sata-hdd-healthy.json",
                &["ata_smart_data", "self_test", "status", "value"],
            ),
            (
                "sata-hdd-healthy.json",
                &["ata_smart_data", "self_test", "status", "remaining_percent"],
            ),
            (
                "sata-hdd-healthy.json",
                &["ata_smart_data", "self_test", "status"],
            ),
            ("sas-hdd-healthy.json", &["scsi_extended_self_test_seconds"]),
            (
                "sas-hdd-healthy.json",
                &["scsi_self_test_status", "in_progress"],
            ),
            (
                "sas-hdd-healthy.json",
                &["scsi_self_test_status", "completion_percent"],
            ),
            (
                "sas-hdd-healthy.json",
                &["scsi_self_test_0", "result", "value"],
            ),
            (
                "sas-hdd-healthy.json",
                &["scsi_self_test_0", "code", "value"],
            ),
            (
                "nvme-healthy-7.3.json",
                &["nvme_self_test_log", "current_self_test_operation", "value"],
            ),
            (
                "nvme-healthy-7.3.json",
                &["nvme_self_test_log", "current_self_test_completion_percent"],
            ),
        ];
        for (file, path) in paths {
            let base: Value = serde_json::from_str(&fixture(file)).unwrap();
            for value in &odd {
                let mut v = base.clone();
                // Make the running test's fields exist where they would.
                if path[0] == "scsi_self_test_status" {
                    v["scsi_self_test_status"] =
                        serde_json::json!({"in_progress": true, "completion_percent": 40});
                }
                if path[0] == "nvme_self_test_log" {
                    v["nvme_self_test_log"] = serde_json::json!({
                        "current_self_test_operation": {"value": 1, "string": "Short self-test in progress"},
                        "current_self_test_completion_percent": 60});
                }
                let (last, parents) = path.split_last().unwrap();
                let mut at = &mut v;
                for p in parents {
                    at = &mut at[*p];
                }
                at[*last] = value.clone();
                let what = format!("{file} {path:?} = {value}");
                let s = parse(&v.to_string()).unwrap_or_else(|e| panic!("{what}: {e}"));
                for m in [s.short_test_minutes, s.long_test_minutes]
                    .into_iter()
                    .flatten()
                {
                    assert!(m > 0, "{what}: {m} minutes");
                }
                if let Some(p) = s.self_test_remaining_percent {
                    assert!(p <= 100, "{what}: {p}%");
                    assert!(
                        s.self_test_running.is_some(),
                        "{what}: a percent of no test"
                    );
                }
                assert!(
                    s.self_test_running_kind.is_none() || s.self_test_running.is_some(),
                    "{what}: a kind of no test"
                );
            }
        }
    }

    /// A SCSI test running, as the log's in-progress entry and (smartctl
    /// after 7.5) the sense data's progress say it.
    #[test]
    fn a_running_scsi_test_says_its_kind_and_what_is_left() {
        let mut v: Value = serde_json::from_str(&fixture("sas-hdd-healthy.json")).unwrap();
        v["scsi_self_test_0"] = serde_json::json!({
            "code": {"value": 2, "string": "Background long"},
            "result": {"value": 15, "string": "Self test in progress ..."},
            "failed_segment": {"value": 0, "aka": "self_test_number"},
            "self_test_in_progress": true
        });
        let s = parse(&v.to_string()).unwrap();
        assert_eq!(s.self_test_running_kind, Some(SelfTestKind::Long));
        assert_eq!(
            s.self_test_remaining_percent, None,
            "smartctl 7.3 says no more"
        );
        assert_eq!(s.self_tests.len(), 1, "the running one is not in the log");
        v["scsi_self_test_status"] =
            serde_json::json!({"in_progress": true, "completion_percent": 60});
        let s = parse(&v.to_string()).unwrap();
        assert_eq!(s.self_test_remaining_percent, Some(40));
        assert_eq!(
            s.self_test_running.as_deref(),
            Some("Background long self-test in progress, 40% remaining")
        );
    }

    /// Real outputs (see tests/fixtures/smartctl/README.md): the verdict and
    /// the words that must be in its reason.
    #[test]
    fn real_outputs_get_the_right_verdict() {
        let cases: &[(&str, Health, &[&str])] = &[
            ("qemu-sata-x.json", Health::Healthy, &["no SMART errors"]),
            ("sata-hdd-healthy.json", Health::Healthy, &[]),
            ("sata-ssd-healthy-x.json", Health::Healthy, &[]),
            ("sas-hdd-healthy.json", Health::Healthy, &[]),
            ("sas-ssd-healthy.json", Health::Healthy, &[]),
            ("nvme-healthy.json", Health::Healthy, &[]),
            ("nvme-healthy-7.3.json", Health::Healthy, &[]),
            ("nvme-wear-75pct.json", Health::Healthy, &[]),
            (
                "sata-ssd-crc-errors-x.json",
                Health::Warning,
                &["108 UDMA CRC errors"],
            ),
            (
                "sata-hdd-reallocated-pending.json",
                Health::Warning,
                &[
                    "1040 reallocated sectors",
                    "878 sectors pending reallocation",
                    "1272 offline uncorrectable sectors",
                ],
            ),
            (
                "scsi-spi-grown-defects.json",
                Health::Warning,
                &[
                    "260 grown defects",
                    "1 uncorrected read errors",
                    "535 uncorrected write errors",
                ],
            ),
            (
                "nvme-media-errors-x.json",
                Health::Warning,
                &["7 media and data integrity errors"],
            ),
            (
                "sata-hdd-failing.json",
                Health::Failing,
                &[
                    "health check failed",
                    "(attribute 5) is at 1 against a threshold of 5",
                ],
            ),
            (
                "nvme-critical-warning.json",
                Health::Failing,
                &[
                    "health check failed",
                    "critical warning 0x10: volatile memory backup failed",
                ],
            ),
            (
                "virtio-unable-to-detect.json",
                Health::Unknown,
                &["Unable to detect device type"],
            ),
            // From the lab guest (tests/lab/guest/capture.sh).
            ("lab-sata-x.json", Health::Healthy, &["no SMART errors"]),
            ("lab-sata-x-after-short-test.json", Health::Healthy, &[]),
            ("lab-scsi-debug-x.json", Health::Healthy, &[]),
            (
                "lab-scsi-debug-ie-test-x.json",
                Health::Failing,
                &[
                    "health check failed: FAILURE PREDICTION THRESHOLD EXCEEDED (FALSE) (asc 0x5d, ascq 0xff)",
                ],
            ),
            (
                "lab-virtio-x.json",
                Health::Unknown,
                &["Unable to detect device type"],
            ),
            // A drive of the lab's emulated SAS enclosures (tests/lab/ses),
            // well and then reporting ASC 0x5D in its informational
            // exceptions log page.
            ("lab-emulated-sas-x.json", Health::Healthy, &[]),
            (
                "lab-emulated-sas-failing-x.json",
                Health::Failing,
                &[
                    "health check failed: FAILURE PREDICTION THRESHOLD EXCEEDED (asc 0x5d, ascq 0x00)",
                ],
            ),
        ];
        for (file, health, words) in cases {
            let smart = parse(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let (h, why) = verdict(&smart, None);
            assert_eq!(h, *health, "{file}: {why}");
            for w in *words {
                assert!(why.contains(w), "{file}: {why:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn what_each_kind_of_drive_reports() {
        let ata = parse(&fixture("sata-ssd-crc-errors-x.json")).unwrap();
        assert_eq!(ata.temperature_c, Some(33));
        assert_eq!(ata.temperature_limit_c, Some(70));
        let crc = ata.attributes.iter().find(|a| a.id == 199).unwrap();
        assert_eq!((crc.raw, crc.prefail), (108, false));
        let sas = parse(&fixture("sas-ssd-healthy.json")).unwrap();
        assert_eq!(sas.percentage_used, Some(0));
        assert!(
            sas.counters
                .iter()
                .any(|c| c.key == "scsi.grown_defects" && c.value == 0)
        );
        let nvme = parse(&fixture("nvme-wear-75pct.json")).unwrap();
        assert_eq!(nvme.percentage_used, Some(75));
        assert_eq!(nvme.critical_warning, Some(0));
        // scsi_debug under -x: from the environmental reporting subpage.
        assert_eq!(
            parse(&fixture("lab-scsi-debug-x.json"))
                .unwrap()
                .temperature_c,
            Some(40)
        );
        // An iSCSI LUN has no temperature sensor and says 0.
        assert_eq!(
            parse(&fixture("iscsi-lio-lun-a.json"))
                .unwrap()
                .temperature_c,
            None
        );
    }

    /// The lab's SATA disk ran a short self-test between two captures.
    #[test]
    fn a_lab_self_test_shows_in_the_log() {
        assert!(
            parse(&fixture("lab-sata-x.json"))
                .unwrap()
                .self_tests
                .is_empty()
        );
        let after = parse(&fixture("lab-sata-x-after-short-test.json")).unwrap();
        let t = &after.self_tests[0];
        assert_eq!(
            (t.kind.as_str(), t.result.as_str(), t.failed),
            ("Short offline", "Completed without error", false)
        );
        assert_eq!(after.self_test_running, None);
    }

    /// The argument vectors the backend runs smartctl with, and what it
    /// reads of smartctl's words after an order (the lab's `-t short`).
    #[test]
    fn argument_vectors_and_what_an_order_said() {
        let node = std::path::Path::new("/dev/sdc");
        let strs = |v: Vec<std::ffi::OsString>| -> Vec<String> {
            v.into_iter().map(|a| a.into_string().unwrap()).collect()
        };
        assert_eq!(strs(read_args(node)), ["-j", "-x", "/dev/sdc"]);
        assert_eq!(
            strs(test_args(SelfTestKind::Long, node)),
            ["-t", "long", "/dev/sdc"]
        );
        assert_eq!(strs(abort_args(node)), ["-X", "/dev/sdc"]);
        assert_eq!(
            said(&fixture("lab-sata-t-short.txt")),
            [
                "Sending command: \"Execute SMART Short self-test routine immediately in off-line mode\".",
                "Drive command \"Execute SMART Short self-test routine immediately in off-line mode\" successful.",
                "Testing has begun.",
                "Please wait 2 minutes for test to complete.",
                "Test will complete after Tue Dec  1 08:54:06 2026 UTC",
                "Use smartctl -X to abort test.",
            ]
        );
    }

    #[test]
    fn input_that_is_not_a_drive_report_is_refused_in_words() {
        assert_eq!(parse(&fixture("scan-open.json")), Err(SmartctlError::Scan));
        assert!(matches!(
            parse("smartctl 7.3"),
            Err(SmartctlError::NotJson(_))
        ));
        assert_eq!(parse(r#"{"device": {}}"#), Err(SmartctlError::NotSmartctl));
        let whole = fixture("qemu-sata-x.json");
        let cut = &whole[..whole.len() / 2];
        assert!(matches!(parse(cut), Err(SmartctlError::NotJson(_))));
    }
}
