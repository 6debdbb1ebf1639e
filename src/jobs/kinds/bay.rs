//! `bay.locate`, `bay.fault`: one LED of a bay, on or off.

use serde::{Deserialize, Serialize};

use super::{Kind, capitalized};
use crate::domain::{BayAddr, Led, Slot};
use crate::jobs::JobSpec;
use crate::jobs::runner::{JobError, StepCtx};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedPayload {
    #[serde(flatten)]
    pub bay: BayAddr,
    pub on: bool,
}

/// A job that turns one LED of a bay on or off, then reads the bay back.
pub fn bay_led(led: Led, bay: &BayAddr, enclosure_label: &str, on: bool) -> JobSpec {
    let word = if on { "on" } else { "off" };
    let kind = match led {
        Led::Locate => &BAY_LOCATE,
        Led::Fault => &BAY_FAULT,
    };
    let what = led.words();
    kind.spec(
        &LedPayload {
            bay: bay.clone(),
            on,
        },
        format!(
            "{} {word}: {}",
            capitalized(what),
            crate::naming::bay_name(enclosure_label, bay.slot)
        ),
        vec![bay.resource()],
        vec![
            format!("Turn the {what} {word}"),
            "Read the bay back from the enclosure".into(),
        ],
    )
}

pub fn locate(bay: &BayAddr, enclosure_label: &str, on: bool) -> JobSpec {
    bay_led(Led::Locate, bay, enclosure_label, on)
}

pub struct BayLed {
    led: Led,
    name: &'static str,
}

pub static BAY_LOCATE: BayLed = BayLed {
    led: Led::Locate,
    name: "bay.locate",
};

pub static BAY_FAULT: BayLed = BayLed {
    led: Led::Fault,
    name: "bay.fault",
};

impl Kind for BayLed {
    type Payload = LedPayload;

    fn name(&self) -> &'static str {
        self.name
    }

    fn run_step(
        &self,
        p: &LedPayload,
        position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let backend = ctx.backend;
        match position {
            0 => Ok(backend.set_led(&p.bay, self.led, p.on, ctx)?),
            _ => read_led_back(ctx, self.led, p.on, |inv| {
                inv.enclosures
                    .iter()
                    .find(|e| e.ident == p.bay.enclosure)
                    .and_then(|e| e.slots.iter().find(|s| s.slot == p.bay.slot))
                    .cloned()
                    .ok_or_else(|| {
                        JobError::Failed(format!("the enclosure no longer reports {}", p.bay))
                    })
            }),
        }
    }
}

/// Reads the bay `find` picks until its LED reads as asked, for up to
/// [`READ_BACK_FOR`]: an enclosure's processor may apply a control page a
/// moment after it acknowledged it, so one early read is not called wrong.
pub(super) fn read_led_back(
    ctx: &StepCtx<'_>,
    led: Led,
    on: bool,
    find: impl Fn(&crate::domain::Inventory) -> Result<Slot, JobError>,
) -> Result<String, JobError> {
    let deadline = std::time::Instant::now() + READ_BACK_FOR;
    loop {
        let bay = find(&ctx.backend.inventory()?)?;
        match led_reads(&bay, led, on) {
            Err(_) if std::time::Instant::now() < deadline && !ctx.stop_requested() => {
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
            read => return read,
        }
    }
}

/// How long the read-back waits for an enclosure to show an LED as asked.
const READ_BACK_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether a bay's LED reads as it was asked to be: what it reads, in
/// words, or the failure.
pub(super) fn led_reads(bay: &Slot, led: Led, on: bool) -> Result<String, JobError> {
    let word = |b: bool| if b { "on" } else { "off" };
    let what = led.words();
    if bay.led(led) != on {
        return Err(JobError::Failed(format!(
            "the enclosure reports the {what} {} after it was asked to turn it {}",
            word(bay.led(led)),
            word(on)
        )));
    }
    Ok(format!("the enclosure reports the {what} {}", word(on)))
}
