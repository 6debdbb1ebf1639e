//! `alert.notify`: one attempt at one delivery of an alert (or a channel's
//! test) to its channel: a mail through the channel's SMTP relay
//! (STARTTLS or TLS, authenticated), or a JSON POST signed with
//! HMAC-SHA256 of the channel's secret. A failed attempt is recorded with
//! when it is tried again ([`crate::domain::notify::retry_after`]); the
//! agent enqueues the next attempt when it is due ([`enqueue_due`]), so no
//! worker waits out a back-off. Deliveries to one channel go in order
//! (`notify:<channel>`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Kind;
use crate::db::notify::{self as store, ChannelRow, DeliveryRow};
use crate::db::{self, Conn, Db, alerts};
use crate::domain::notify::{self, AlertNote, ChannelSettings, Event, Message, Security};
use crate::error::AppError;
use crate::jobs::JobSpec;
use crate::jobs::runner::{JobError, StepCtx};

/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotifyPayload {
    pub delivery: i64,
    pub channel: i64,
}

pub struct Notify;

fn spec(d: &DeliveryRow, channel: &str) -> JobSpec {
    Notify.spec(
        &NotifyPayload {
            delivery: d.id,
            channel: d.channel_id,
        },
        format!(
            "Notify {channel}: {}{}",
            d.event,
            d.alert_id
                .map(|a| format!(" of alert {a}"))
                .unwrap_or_default()
        ),
        vec![format!("notify:{}", d.channel_id)],
        vec![if d.attempts == 0 {
            "Send".to_string()
        } else {
            format!("Send (attempt {})", d.attempts + 1)
        }],
    )
}

/// Enqueues an attempt for every delivery that is due, each once however
/// many agents look at once, as `actor`; in one transaction. Returns how
/// many.
pub fn enqueue_due(c: &mut Conn<'_>, actor: &str) -> Result<usize, AppError> {
    let now = db::now();
    let due = store::due(c, now)?;
    if due.is_empty() {
        return Ok(0);
    }
    let channels = store::channels(c)?;
    let mut n = 0;
    for d in due {
        let Some(chan) = channels.iter().find(|ch| ch.id == d.channel_id) else {
            continue;
        };
        // Claim it first (another agent may be at it), then enqueue.
        if !store::claim(c, d.id, d.job_id, -1)? {
            continue;
        }
        let job = crate::jobs::enqueue_audited(c, &spec(&d, &chan.name), actor, None, None, None)?;
        store::claim(c, d.id, Some(-1), job)?;
        n += 1;
    }
    Ok(n)
}

/// "Send a test" from a channel's page: a test delivery, its job enqueued
/// at once. Returns the job's id.
pub fn test(
    c: &mut Conn<'_>,
    chan: &ChannelRow,
    actor: &str,
    address: &str,
) -> Result<i64, AppError> {
    let now = db::now();
    let id = store::plan(c, chan.id, None, Event::Test, now)?;
    let d = store::delivery(c, id)?.expect("just planned");
    store::claim(c, id, None, -1)?;
    let job =
        crate::jobs::enqueue_audited(c, &spec(&d, &chan.name), actor, Some(address), None, None)?;
    store::claim(c, id, Some(-1), job)?;
    Ok(job)
}

/// Everything one attempt needs, read in one go.
struct Attempt {
    delivery: DeliveryRow,
    channel: ChannelRow,
    message: Message,
}

fn prepare(c: &mut Conn<'_>, delivery: i64) -> diesel::QueryResult<Option<Attempt>> {
    let Some(d) = store::delivery(c, delivery)? else {
        return Ok(None);
    };
    let Some(chan) = store::channel(c, d.channel_id)? else {
        return Ok(None);
    };
    let appliance = db::appliance::get(c)?.map_or_else(|| "baystack".to_string(), |a| a.hostname);
    // The console's own address, as its agent registered it.
    let base = db::wall::appliances(c)?
        .into_iter()
        .find(|a| a.hostname == appliance)
        .and_then(|a| a.console_url);
    let alert = match d.alert_id {
        Some(id) => alerts::get(c, id)?,
        None => None,
    };
    let note = alert.as_ref().map(|a| AlertNote {
        id: a.id,
        rule: a.rule.clone(),
        subject: a.subject.clone(),
        severity: a.severity(),
        state: a.state().to_string(),
        summary: a.summary.clone(),
        detail: a.detail.clone(),
        link: a.link.as_ref().map(|path| match &base {
            Some(b) => format!("{b}{path}"),
            None => path.clone(),
        }),
        raised_at: db::rfc3339(&a.raised_at),
        cleared_at: a.cleared_at.as_ref().map(db::rfc3339),
        acknowledged_by: a.acked_by.clone(),
    });
    let message = notify::message(
        d.event(),
        &appliance,
        note.as_ref(),
        d.id,
        &db::rfc3339(&db::now()),
    );
    Ok(Some(Attempt {
        delivery: d,
        channel: chan,
        message,
    }))
}

/// Sends one message through a channel; what happened, in words.
pub fn send(chan: &ChannelRow, m: &Message) -> Result<String, String> {
    match chan.settings() {
        Some(ChannelSettings::Email(e)) => send_mail(&e, chan.secret(), m),
        Some(ChannelSettings::Webhook(w)) => send_webhook(&w, chan.secret(), m),
        None => Err(format!(
            "channel {} has settings this version cannot read",
            chan.name
        )),
    }
}

fn send_mail(
    e: &notify::EmailSettings,
    password: Option<&str>,
    m: &Message,
) -> Result<String, String> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{SmtpTransport, Transport};

    let mut mail = lettre::Message::builder()
        .from(
            e.from
                .parse()
                .map_err(|err| format!("the sender {}: {err}", e.from))?,
        )
        .subject(m.subject.clone())
        .header(ContentType::TEXT_PLAIN);
    for to in &e.to {
        mail = mail.to(to
            .parse()
            .map_err(|err| format!("the address {to}: {err}"))?);
    }
    let mail = mail.body(m.text.clone()).map_err(|err| err.to_string())?;
    let tls = || -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(e.host.clone());
        if let Some(pem) = &e.ca_pem {
            let cert = Certificate::from_pem(pem.as_bytes())
                .map_err(|err| format!("the CA certificate: {err}"))?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls().map_err(|err| format!("TLS: {err}"))
    };
    let mut transport = SmtpTransport::builder_dangerous(&e.host)
        .port(e.port)
        .timeout(Some(TIMEOUT));
    transport = match e.security {
        Security::Starttls => transport.tls(Tls::Required(tls()?)),
        Security::Tls => transport.tls(Tls::Wrapper(tls()?)),
        Security::None => transport.tls(Tls::None),
    };
    if let (Some(user), Some(pw)) = (&e.username, password) {
        transport = transport.credentials(Credentials::new(user.clone(), pw.to_string()));
    }
    let answer = transport
        .build()
        .send(&mail)
        .map_err(|err| format!("{}:{}: {err}", e.host, e.port))?;
    let words: Vec<&str> = answer.message().collect();
    Ok(format!(
        "mail to {} accepted by {}:{} ({}{}): {} {}",
        e.to.join(", "),
        e.host,
        e.port,
        match e.security {
            Security::Starttls => "STARTTLS",
            Security::Tls => "TLS",
            Security::None => "unencrypted",
        },
        if e.username.is_some() {
            ", authenticated"
        } else {
            ""
        },
        answer.code(),
        words.join(" ")
    ))
}

fn send_webhook(
    w: &notify::WebhookSettings,
    secret: Option<&str>,
    m: &Message,
) -> Result<String, String> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let body = serde_json::to_vec(&m.json).map_err(|e| e.to_string())?;
    let signature = notify::sign(secret.unwrap_or_default(), &body);
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .max_redirects(0)
        .http_status_as_error(false);
    if let Some(pem) = &w.ca_pem {
        let cert = Certificate::from_pem(pem.as_bytes())
            .map_err(|e| format!("the CA certificate: {e}"))?;
        config = config.tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&[cert]))
                .build(),
        );
    }
    let agent: ureq::Agent = config.build().into();
    let answer = agent
        .post(&w.url)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("Baystack/", env!("CARGO_PKG_VERSION")),
        )
        .header(notify::SIGNATURE_HEADER, &signature)
        .send(&body[..])
        .map_err(|e| format!("{}: {e}", w.url))?;
    let status = answer.status();
    if !status.is_success() {
        return Err(format!("{} answered {status}", w.url));
    }
    Ok(format!("POST to {} answered {status}", w.url))
}

impl Kind for Notify {
    type Payload = NotifyPayload;

    fn name(&self) -> &'static str {
        "alert.notify"
    }

    fn observed_after(&self) -> bool {
        false
    }

    fn run_step(
        &self,
        p: &NotifyPayload,
        _position: i32,
        ctx: &mut StepCtx<'_>,
    ) -> Result<String, JobError> {
        let delivery = p.delivery;
        let Some(a) = ctx.read(move |c| prepare(c, delivery))? else {
            return Err(JobError::Refused(format!(
                "delivery {delivery} or its channel no longer exists"
            )));
        };
        if a.delivery.delivered_at.is_some() {
            return Ok("delivered already".into());
        }
        match send(&a.channel, &a.message) {
            Ok(words) => {
                ctx.commit_with_step(move |c, now| store::delivered(c, delivery, now));
                Ok(words)
            }
            Err(why) => {
                let d = a.delivery.clone();
                let reason = why.clone();
                // Written on its own: the job fails, and the delivery must
                // say when it is tried again.
                let next = ctx.read(move |c| store::failed(c, &d, &reason, db::now()))?;
                Err(JobError::Refused(match next {
                    Some(t) => format!("{why}; tried again at {} UTC", t.format("%H:%M:%S")),
                    None => format!("{why}; given up after {} attempts", a.delivery.attempts + 1),
                }))
            }
        }
    }
}

/// The console's own attempt at the deliveries of `agent.silent` (the agent
/// that would run the job is the one that has stopped). Returns how many
/// were sent.
pub fn deliver_silence(db: &Db) -> Result<usize, AppError> {
    let mut conn = db.get()?;
    let mine: Vec<Attempt> = conn.write(|c| -> Result<Vec<Attempt>, AppError> {
        let mut out = Vec::new();
        for d in store::due(c, db::now())? {
            let Some(alert) = d
                .alert_id
                .map(|id| alerts::get(c, id))
                .transpose()?
                .flatten()
            else {
                continue;
            };
            if alert.rule != "agent.silent" || !store::claim(c, d.id, d.job_id, -1)? {
                continue;
            }
            if let Some(a) = prepare(c, d.id)? {
                out.push(a);
            }
        }
        Ok(out)
    })?;
    let mut sent = 0;
    for a in mine {
        let result = send(&a.channel, &a.message);
        conn.write(|c| -> Result<(), AppError> {
            match &result {
                Ok(_) => store::delivered(c, a.delivery.id, db::now())?,
                Err(why) => {
                    let mut d = a.delivery.clone();
                    d.job_id = Some(-1);
                    store::failed(c, &d, why, db::now())?;
                }
            }
            Ok(())
        })?;
        match result {
            Ok(words) => {
                tracing::info!("the agent's silence told to {}: {words}", a.channel.name);
                sent += 1;
            }
            Err(why) => tracing::warn!("the agent's silence not told to {}: {why}", a.channel.name),
        }
    }
    Ok(sent)
}
