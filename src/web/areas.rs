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
