//! The sim engine's drives: SMART, self-tests and the kernel log.

use super::*;
use crate::storage::Drives;

impl Drives for SimBackend {
    fn read_smart(
        &self,
        ident: &str,
        _dev_name: Option<&str>,
        _log: &mut dyn CommandLog,
    ) -> Result<Smart, BackendError> {
        // A SMART read through an HBA takes a fraction of a second.
        self.pause(Duration::from_millis(150));
        self.inventory()?
            .drives
            .into_iter()
            .find(|d| d.ident == ident)
            .and_then(|d| d.smart)
            .ok_or_else(|| BackendError::Failed(format!("drive {ident} is gone")))
    }

    fn start_self_test(
        &self,
        ident: &str,
        _dev_name: Option<&str>,
        kind: SelfTestKind,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.pause(Duration::from_millis(200));
        let (speed, now_ms) = (self.speed, self.now_ms());
        self.change(|state| {
            let words = state.drive_words(ident)?;
            if let Some((running, done)) = state.running_test(ident, speed, now_ms) {
                return Err(BackendError::Failed(format!(
                    "{words} is running a {} self-test ({}% done); a drive runs one at a time",
                    running.as_str(),
                    (done * 100.0) as u32
                )));
            }
            state
                .self_tests
                .entry(ident.to_string())
                .or_default()
                .push(SimSelfTest {
                    kind,
                    started_ms: now_ms,
                    aborted_ms: None,
                });
            Ok(format!(
                "{words} began its {} self-test; it takes about {} minutes",
                kind.as_str(),
                (self_test_seconds(kind) / speed / 60.0).ceil()
            ))
        })
    }

    fn abort_self_test(
        &self,
        ident: &str,
        _dev_name: Option<&str>,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        self.pause(Duration::from_millis(200));
        let (speed, now_ms) = (self.speed, self.now_ms());
        self.change(|state| {
            let words = state.drive_words(ident)?;
            let Some((kind, done)) = state.running_test(ident, speed, now_ms) else {
                return Ok(format!(
                    "{words} was running no self-test; there was nothing to abort"
                ));
            };
            if let Some(t) = state
                .self_tests
                .get_mut(ident)
                .and_then(|tests| tests.last_mut())
            {
                t.aborted_ms = Some(now_ms);
            }
            Ok(format!(
                "{words} aborted its {} self-test ({}% done)",
                kind.as_str(),
                (done * 100.0) as u32
            ))
        })
    }
}
