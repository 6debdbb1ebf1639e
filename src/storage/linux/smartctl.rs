//! What `smartctl -j -x` reports about a drive, for ATA/SATA, SAS (SCSI)
//! and NVMe drives alike.
//!
//! smartctl's exit status is a bit mask; the JSON carries it too, with
//! messages in words. Data is read wherever the JSON has it, whatever the
//! status says (a QEMU disk answers with exit status 4, "some command
//! failed", and full SMART data); when there is none, the drive's SMART is
//! "not available" with smartctl's own reason.

use serde_json::Value;

use crate::storage::{Counter, Smart, SmartAttribute};

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

/// Reads one `smartctl -j` report.
pub fn parse(text: &str) -> Result<Smart, SmartctlError> {
    let v: Value = serde_json::from_str(text).map_err(|e| SmartctlError::NotJson(e.to_string()))?;
    let tool = v.get("smartctl").ok_or(SmartctlError::NotSmartctl)?;
    if v.get("devices").is_some() {
        return Err(SmartctlError::Scan);
    }
    let attributes = ata_attributes(&v);
    let counters = [scsi_counters(&v), nvme_counters(&v)].concat();
    let nvme_log = v.get("nvme_smart_health_information_log");
    let passed = at(&v, &["smart_status", "passed"]).and_then(Value::as_bool);
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
    .find_map(|p| int(&v, p))
    .filter(|t| *t > 0)
    .map(|t| t as i32);
    Ok(Smart {
        unavailable: None,
        passed,
        // SCSI devices that have no sensor say 0.
        temperature_c: int(&v, &["temperature", "current"])
            .filter(|t| *t != 0)
            .map(|t| t as i32),
        temperature_limit_c,
        power_on_hours: int(&v, &["power_on_time", "hours"]),
        percentage_used: uint(&v, &["scsi_percentage_used_endurance_indicator"])
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
    use crate::storage::health::{Health, verdict};

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/smartctl/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
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
        // An iSCSI LUN has no temperature sensor and says 0.
        assert_eq!(
            parse(&fixture("iscsi-lio-lun-a.json"))
                .unwrap()
                .temperature_c,
            None
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
