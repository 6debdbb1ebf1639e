//! The sim engine's enclosures: where a drive sits, and bay LEDs.

use super::*;
use crate::storage::Enclosures;

impl Enclosures for SimBackend {
    fn drive_bay(&self, ident: &str, _log: &mut dyn CommandLog) -> Result<BayAddr, BackendError> {
        let inv = self.inventory()?;
        inv.bay_of(ident)
            .map(|(e, s)| BayAddr::new(e.ident.clone(), s.slot))
            .ok_or_else(|| BackendError::Gone(format!("no enclosure holds the drive {ident}")))
    }

    fn set_led(
        &self,
        bay: &BayAddr,
        led: Led,
        on: bool,
        _log: &mut dyn CommandLog,
    ) -> Result<String, BackendError> {
        let (enclosure, slot) = (bay.enclosure.as_str(), bay.slot);
        // An SES round trip (RECEIVE DIAGNOSTIC, SEND DIAGNOSTIC) through an
        // expander takes a few hundred milliseconds on real hardware.
        self.pause(Duration::from_millis(300));
        self.change(|state| {
            let (label, bay) = find_bay(&mut state.inventory, enclosure, slot)?;
            let (word, what) = (if on { "on" } else { "off" }, led.words());
            if bay.led(led) == on {
                return Ok(format!(
                    "the {what} of {label} slot {slot} was already {word}"
                ));
            }
            match led {
                Led::Locate => bay.locate = on,
                Led::Fault => bay.fault = on,
            }
            Ok(format!("{what} of {label} slot {slot} turned {word}"))
        })
    }
}
