//! The linux engine's drives: SMART, self-tests and the kernel log.

use super::*;
use crate::storage::Drives;

impl Drives for LinuxBackend {
    fn read_smart(
        &self,
        _ident: &str,
        dev_name: Option<&str>,
        log: &mut dyn CommandLog,
    ) -> Result<Smart, BackendError> {
        let Some(dev) = dev_name else {
            return Ok(Smart::unavailable("the drive has no device node now"));
        };
        let node = self.block_node(dev)?;
        let spec = self.tool("smartctl")?.args(smartctl::read_args(&node));
        // smartctl's exit status is a bit mask of findings; its JSON says
        // what they are.
        let out = cmd::run(&spec).map_err(|e| BackendError::Failed(e.to_string()))?;
        log.record(&out)?;
        smartctl::parse(&out.stdout_text()).map_err(|e| {
            BackendError::Failed(format!(
                "`{}`: {e} ({})",
                spec.argv().join(" "),
                out.describe_end()
            ))
        })
    }

    fn start_self_test(
        &self,
        _ident: &str,
        dev_name: Option<&str>,
        kind: SelfTestKind,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let node = self.drive_node(dev_name)?;
        let spec = self
            .tool("smartctl")?
            .args(smartctl::test_args(kind, &node));
        let said = self.smartctl_order(&spec, log)?;
        let wait = said
            .iter()
            .find(|l| l.starts_with("Please wait"))
            .map(|l| format!(" {l}"))
            .unwrap_or_default();
        Ok(format!(
            "{} self-test started on {}.{wait}",
            kind.as_str(),
            dev_label(dev_name)
        ))
    }

    fn abort_self_test(
        &self,
        _ident: &str,
        dev_name: Option<&str>,
        log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let node = self.drive_node(dev_name)?;
        let spec = self.tool("smartctl")?.args(smartctl::abort_args(&node));
        let said = self.smartctl_order(&spec, log)?;
        // ATA: "Self-testing aborted!"; NVMe: "Self-test aborted! (NSID
        // 0x1)"; SCSI says nothing when it worked.
        let words = said
            .iter()
            .find(|l| l.to_ascii_lowercase().contains("aborted"))
            .map(|l| format!(": {l}"))
            .unwrap_or_default();
        Ok(format!(
            "the self-test on {} was told to stop{words}",
            dev_label(dev_name)
        ))
    }

    fn boot_id(&self) -> Result<Option<String>, BackendError> {
        let path = self.settings.proc_root.join("sys/kernel/random/boot_id");
        let id = std::fs::read_to_string(&path)
            .map(|b| b.trim().to_string())
            .unwrap_or_default();
        if id.is_empty() {
            return Err(BackendError::Failed(format!(
                "{} gives no boot id, so the kernel's log cannot be read in order",
                path.display()
            )));
        }
        Ok(Some(id))
    }

    fn kernel_io_errors(&self, boot: &str, from: u64) -> Result<KernelLog, BackendError> {
        let path = self.settings.dev_root.join("kmsg");
        let text = read_kmsg(&path).map_err(|e| {
            BackendError::Failed(format!(
                "the kernel's log {} cannot be read: {e}",
                path.display()
            ))
        })?;
        // Read after the boot id: a log that belongs to it.
        if self.boot_id()?.as_deref() != Some(boot) {
            return Err(BackendError::Failed(format!(
                "boot {boot} is no longer running"
            )));
        }
        let records = kmsg::records(&text);
        let errors = kmsg::io_errors(&records, from)
            .into_iter()
            .map(|f| KernelIoError {
                seq: f.record.seq,
                at: logged_at(self.clock.now(), f.record.usec),
                medium: f.error.medium(),
                attached_since: f.attached_since,
                dev: f.error.dev,
                line: f.record.message.clone(),
            })
            .collect();
        Ok(KernelLog {
            next: records.last().map_or(from, |r| (r.seq + 1).max(from)),
            // Only a log read before can have lost records since.
            lost: match (from, records.first()) {
                (1.., Some(r)) => r.seq.saturating_sub(from),
                _ => 0,
            },
            errors,
        })
    }
}
