//! Notification channels: e-mail through an SMTP relay and webhooks (a
//! JSON POST signed with HMAC-SHA256 of a shared secret). What a channel
//! holds, how it is checked, what each message says, how a webhook is
//! signed, and when a failed delivery is tried again. Sending is the
//! `alert.notify` job's (`jobs::kinds::notify`).

use chrono::{Duration, NaiveDateTime};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::alert::Severity;

/// How an SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the
    /// server does not offer it.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on a trusted network, and never
    /// with a password.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub to: Vec<String>,
    pub from: String,
    pub host: String,
    pub port: u16,
    pub security: Security,
    #[serde(default)]
    pub username: Option<String>,
    /// A CA certificate (PEM) to trust besides the public ones, for a
    /// relay with a certificate of the site's own CA.
    #[serde(default)]
    pub ca_pem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    #[serde(default)]
    pub ca_pem: Option<String>,
}

/// A channel's settings; its secret (SMTP password, webhook signing
/// secret) is kept apart and never shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ChannelSettings {
    Email(EmailSettings),
    Webhook(WebhookSettings),
}

impl ChannelSettings {
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelSettings::Email(_) => "email",
            ChannelSettings::Webhook(_) => "webhook",
        }
    }

    /// Where it sends, in words: "mail to ops@example.com through
    /// smtp.example.com:587".
    pub fn target(&self) -> String {
        match self {
            ChannelSettings::Email(e) => {
                format!("mail to {} through {}:{}", e.to.join(", "), e.host, e.port)
            }
            ChannelSettings::Webhook(w) => format!("POST to {}", w.url),
        }
    }
}

/// Why a channel cannot be kept: the field, and what is wrong, in words.
pub type Refusal = (&'static str, String);

fn plain_text(field: &'static str, what: &str, v: &str, max: usize) -> Result<(), Refusal> {
    if v.is_empty()
        || v.chars().count() > max
        || v.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err((
            field,
            format!("{what} must be 1 to {max} characters without spaces"),
        ));
    }
    Ok(())
}

fn address(field: &'static str, v: &str) -> Result<(), Refusal> {
    plain_text(field, "an e-mail address", v, 254)?;
    match v.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.contains('@') =>
        {
            Ok(())
        }
        _ => Err((
            field,
            format!("{v:?} is not an e-mail address (name@example.com)"),
        )),
    }
}

fn ca(field: &'static str, pem: &Option<String>) -> Result<(), Refusal> {
    match pem {
        Some(p) if !p.contains("-----BEGIN CERTIFICATE-----") || p.len() > 64 * 1024 => Err((
            field,
            "the CA certificate must be a PEM certificate (-----BEGIN CERTIFICATE-----) of at most 64 KiB".into(),
        )),
        _ => Ok(()),
    }
}

/// Checks a channel before it is kept. `secret`: the SMTP password or the
/// webhook's signing secret.
pub fn validate(s: &ChannelSettings, secret: Option<&str>) -> Result<(), Refusal> {
    match s {
        ChannelSettings::Email(e) => {
            if e.to.is_empty() || e.to.len() > 20 {
                return Err(("email.to", "name 1 to 20 addresses to send to".into()));
            }
            for a in &e.to {
                address("email.to", a)?;
            }
            address("email.from", &e.from)?;
            plain_text("email.host", "the SMTP server's name", &e.host, 253)?;
            if e.port == 0 {
                return Err(("email.port", "the port must be 1 to 65535".into()));
            }
            match (&e.username, secret) {
                (Some(u), Some(_)) => plain_text("email.username", "the user name", u, 256)?,
                (None, None) => {}
                (Some(_), None) => {
                    return Err(("email.password", "a user name needs its password".into()));
                }
                (None, Some(_)) => {
                    return Err(("email.username", "a password needs its user name".into()));
                }
            }
            if let Some(p) = secret
                && (p.is_empty() || p.len() > 256 || p.chars().any(char::is_control))
            {
                return Err((
                    "email.password",
                    "the password must be 1 to 256 characters".into(),
                ));
            }
            if e.security == Security::None && secret.is_some() {
                return Err((
                    "email.security",
                    "a password is never sent over an unencrypted connection: choose starttls or tls"
                        .into(),
                ));
            }
            ca("email.ca_pem", &e.ca_pem)
        }
        ChannelSettings::Webhook(w) => {
            let rest = w
                .url
                .strip_prefix("https://")
                .or_else(|| w.url.strip_prefix("http://"));
            let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
            if w.url.len() > 2048
                || host.is_none_or(str::is_empty)
                || w.url.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                return Err((
                    "webhook.url",
                    "the URL must be http:// or https:// with a host, at most 2048 characters"
                        .into(),
                ));
            }
            match secret {
                Some(s) if (16..=256).contains(&s.len()) && !s.chars().any(char::is_control) => {}
                _ => {
                    return Err((
                        "webhook.secret",
                        "the signing secret must be 16 to 256 characters".into(),
                    ));
                }
            }
            ca("webhook.ca_pem", &w.ca_pem)
        }
    }
}

/// What a delivery is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    Raised,
    /// An open alert became worse.
    Escalated,
    Cleared,
    /// Still open and unacknowledged.
    Reminder,
    /// "Send a test" from the channel's page.
    Test,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Raised => "raised",
            Event::Escalated => "escalated",
            Event::Cleared => "cleared",
            Event::Reminder => "reminder",
            Event::Test => "test",
        }
    }

    pub fn parse(text: &str) -> Option<Event> {
        [
            Event::Raised,
            Event::Escalated,
            Event::Cleared,
            Event::Reminder,
            Event::Test,
        ]
        .into_iter()
        .find(|e| e.as_str() == text)
    }
}

/// An alert as a message tells of it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertNote {
    pub id: i64,
    pub rule: String,
    pub subject: String,
    pub severity: Severity,
    pub state: String,
    pub summary: String,
    pub detail: String,
    /// The console page that shows it (absolute where the console's
    /// address is known).
    pub link: Option<String>,
    pub raised_at: String,
    pub cleared_at: Option<String>,
    pub acknowledged_by: Option<String>,
}

/// One message, as mail and as a webhook's body.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub subject: String,
    pub text: String,
    pub json: serde_json::Value,
}

/// What a delivery says.
pub fn message(
    event: Event,
    appliance: &str,
    alert: Option<&AlertNote>,
    delivery: i64,
    sent_at: &str,
) -> Message {
    let json = serde_json::json!({
        "event": event.as_str(),
        "appliance": appliance,
        "alert": alert,
        "delivery": delivery,
        "sent_at": sent_at,
    });
    let Some(a) = alert else {
        return Message {
            subject: format!("[{appliance}] Test from Baystack"),
            text: format!(
                "This is a test from the Baystack console of {appliance}, sent at {sent_at}.\n\
                 Alerts will reach you here.\n"
            ),
            json,
        };
    };
    let what = match event {
        Event::Raised | Event::Test => a.severity.as_str().to_uppercase(),
        Event::Escalated => format!("now {}", a.severity.as_str().to_uppercase()),
        Event::Cleared => "cleared".into(),
        Event::Reminder => format!("still {}", a.severity.as_str().to_uppercase()),
    };
    let mut text = format!("{}\n\n{}\n\n", a.summary, a.detail);
    text.push_str(&format!(
        "Appliance: {appliance}\nSeverity: {}\n",
        a.severity
    ));
    text.push_str(&format!("Raised: {}\n", a.raised_at));
    if let Some(c) = &a.cleared_at {
        text.push_str(&format!("Cleared: {c}\n"));
    }
    if event == Event::Reminder {
        text.push_str("Nobody has acknowledged it yet.\n");
    }
    if let Some(l) = &a.link {
        text.push_str(&format!("See: {l}\n"));
    }
    text.push_str(&format!(
        "Rule: {} on {}\nAlert: {}\n",
        a.rule, a.subject, a.id
    ));
    Message {
        subject: format!("[{appliance}] {what}: {}", a.summary),
        text,
        json,
    }
}

/// The header a webhook's signature travels in.
pub const SIGNATURE_HEADER: &str = "X-Baystack-Signature-256";

/// `sha256=<hex>`: HMAC-SHA256 of the body with the shared secret, as the
/// receiver recomputes it.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!("sha256={}", super::hex(&bytes))
}

/// When a delivery that failed `attempts` times is tried again; `None`:
/// given up. 10 s, 1 min, 5 min, 30 min, 2 h: six attempts over about
/// 2 h 36 min.
pub fn retry_after(attempts: i32) -> Option<Duration> {
    const BACKOFF: [i64; 5] = [10, 60, 300, 1800, 7200];
    let i = usize::try_from(attempts.max(1) - 1).ok()?;
    BACKOFF.get(i).map(|s| Duration::seconds(*s))
}

/// Whether a reminder is due for an alert last told of at `last`.
pub fn reminder_due(last: NaiveDateTime, remind_hours: i32, now: NaiveDateTime) -> bool {
    remind_hours > 0 && now - last >= Duration::hours(i64::from(remind_hours))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> EmailSettings {
        EmailSettings {
            to: vec!["ops@example.com".into()],
            from: "bay01@example.com".into(),
            host: "smtp.example.com".into(),
            port: 587,
            security: Security::Starttls,
            username: Some("bay01".into()),
            ca_pem: None,
        }
    }

    #[test]
    fn channels_are_checked_field_by_field() {
        let ok = ChannelSettings::Email(email());
        assert_eq!(validate(&ok, Some("pw")), Ok(()));
        let field = |s: ChannelSettings, secret: Option<&str>| validate(&s, secret).unwrap_err().0;
        let mut e = email();
        e.to = vec!["ops".into()];
        assert_eq!(field(ChannelSettings::Email(e), Some("pw")), "email.to");
        let mut e = email();
        e.security = Security::None;
        assert_eq!(
            field(ChannelSettings::Email(e), Some("pw")),
            "email.security"
        );
        assert_eq!(
            field(ChannelSettings::Email(email()), None),
            "email.password"
        );
        let mut e = email();
        e.host = "smtp example".into();
        assert_eq!(field(ChannelSettings::Email(e), Some("pw")), "email.host");
        let hook = |url: &str| {
            ChannelSettings::Webhook(WebhookSettings {
                url: url.into(),
                ca_pem: None,
            })
        };
        assert_eq!(
            validate(
                &hook("https://hooks.example.com/x"),
                Some("0123456789abcdef")
            ),
            Ok(())
        );
        assert_eq!(
            field(hook("ftp://x"), Some("0123456789abcdef")),
            "webhook.url"
        );
        assert_eq!(
            field(hook("https:///x"), Some("0123456789abcdef")),
            "webhook.url"
        );
        assert_eq!(
            field(hook("https://x/ y"), Some("0123456789abcdef")),
            "webhook.url"
        );
        assert_eq!(field(hook("https://x/"), Some("short")), "webhook.secret");
        assert_eq!(field(hook("https://x/"), None), "webhook.secret");
    }

    #[test]
    fn a_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retries_back_off_then_give_up() {
        assert_eq!(retry_after(1), Some(Duration::seconds(10)));
        assert_eq!(retry_after(5), Some(Duration::seconds(7200)));
        assert_eq!(retry_after(6), None);
    }

    #[test]
    fn messages_say_what_happened() {
        let a = AlertNote {
            id: 7,
            rule: "drive.health".into(),
            subject: "drive:Z1".into(),
            severity: Severity::Critical,
            state: "open".into(),
            summary: "Drive Z1 is failing".into(),
            detail: "its SMART health check failed.".into(),
            link: Some("https://bay01/drives/3".into()),
            raised_at: "2026-12-07T10:00:00Z".into(),
            cleared_at: None,
            acknowledged_by: None,
        };
        let m = message(Event::Raised, "bay01", Some(&a), 12, "2026-12-07T10:00:01Z");
        assert_eq!(m.subject, "[bay01] CRITICAL: Drive Z1 is failing");
        assert!(m.text.contains("See: https://bay01/drives/3"), "{}", m.text);
        assert_eq!(m.json["alert"]["id"], 7);
        assert_eq!(m.json["event"], "raised");
        assert_eq!(m.json["delivery"], 12);
        let r = message(Event::Reminder, "bay01", Some(&a), 13, "x");
        assert!(
            r.subject.starts_with("[bay01] still CRITICAL"),
            "{}",
            r.subject
        );
        assert!(r.text.contains("Nobody has acknowledged it yet."));
        let t = message(Event::Test, "bay01", None, 14, "x");
        assert_eq!(t.subject, "[bay01] Test from Baystack");
        assert_eq!(t.json["alert"], serde_json::Value::Null);
    }
}
