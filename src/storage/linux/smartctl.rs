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
    let attributes = ata_attributes(&v);
    let counters = [scsi_counters(&v), nvme_counters(&v)].concat();
    let nvme_log = v.get("nvme_smart_health_information_log");
    let passed = at(&v, &["smart_status", "passed"]).and_then(Value::as_bool);
    if passed.is_none() && attributes.is_empty() && counters.is_empty() {
        return Ok(Smart::unavailable(unavailable_reason(tool)));
    }
    let temperature_limit_c = [
        // ATA (SCT status), SCSI, NVMe: the drive's own operating limit.
        &["temperature", "op_limit_max"][..],
        &["temperature", "limit_max"],
        &["temperature", "drive_trip"],
        &["nvme_composite_temperature_threshold", "warning"],
    ]
    .iter()
    .find_map(|p| int(&v, p))
    .filter(|t| *t > 0)
    .map(|t| t as i32);
    Ok(Smart {
        unavailable: None,
        passed,
        temperature_c: int(&v, &["temperature", "current"]).map(|t| t as i32),
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
