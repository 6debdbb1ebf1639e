//! Areas of the console that are designed but not built yet. Each page says
//! so plainly and says what it will hold; none pretends.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use super::page::Frame;
use super::{AppState, Identity, PageError};

#[derive(Template, WebTemplate)]
#[template(path = "areas/not_built.html")]
pub struct NotBuilt {
    pub frame: Frame,
    pub heading: &'static str,
    pub plans: &'static [&'static str],
}

async fn not_built(
    state: &AppState,
    who: &Identity,
    nav: &'static str,
    heading: &'static str,
    plans: &'static [&'static str],
) -> Result<NotBuilt, PageError> {
    Ok(NotBuilt {
        frame: Frame::new(state, who, heading, nav).await?,
        heading,
        plans,
    })
}

pub async fn volumes(state: web::Data<AppState>, who: Identity) -> Result<NotBuilt, PageError> {
    not_built(
        &state,
        &who,
        "volumes",
        "Volumes",
        &["Thick and thin volumes in a pool, online resize, snapshots."],
    )
    .await
}

pub async fn targets(state: web::Data<AppState>, who: Identity) -> Result<NotBuilt, PageError> {
    not_built(&state, &who, "targets", "Targets", &[
        "One LIO iSCSI target per volume, named so that an initiator's list says which volume it is.",
        "Initiator ACLs and CHAP per target.",
    ]).await
}

pub async fn replication(state: web::Data<AppState>, who: Identity) -> Result<NotBuilt, PageError> {
    not_built(
        &state,
        &who,
        "replication",
        "Replication",
        &[
            "Replication to another appliance, switched on for a volume already in use.",
            "Writes shipped in order over a slow WAN, with lag shown in seconds and bytes.",
            "Failover and failback.",
        ],
    )
    .await
}
