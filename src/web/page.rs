//! What every signed-in page shares: navigation, the signed-in user, the
//! CSRF token for its forms, and times shown in the appliance's time zone.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use chrono::NaiveDateTime;

use super::{AppState, Identity};
use crate::auth::Role;
use crate::error::AppError;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct NavItem {
    pub key: &'static str,
    pub label: &'static str,
    pub href: &'static str,
    pub role: Role,
}

pub const NAV: &[NavItem] = &[
    NavItem {
        key: "dashboard",
        label: "Dashboard",
        href: "/",
        role: Role::Viewer,
    },
    NavItem {
        key: "bays",
        label: "Bays",
        href: "/bays",
        role: Role::Viewer,
    },
    NavItem {
        key: "drives",
        label: "Drives",
        href: "/drives",
        role: Role::Viewer,
    },
    NavItem {
        key: "pools",
        label: "Pools",
        href: "/pools",
        role: Role::Viewer,
    },
    NavItem {
        key: "volumes",
        label: "Volumes",
        href: "/volumes",
        role: Role::Viewer,
    },
    NavItem {
        key: "targets",
        label: "Targets",
        href: "/targets",
        role: Role::Viewer,
    },
    NavItem {
        key: "replication",
        label: "Replication",
        href: "/replication",
        role: Role::Viewer,
    },
    NavItem {
        key: "jobs",
        label: "Jobs",
        href: "/jobs",
        role: Role::Viewer,
    },
    NavItem {
        key: "alerts",
        label: "Alerts",
        href: "/alerts",
        role: Role::Viewer,
    },
    NavItem {
        key: "users",
        label: "Users",
        href: "/users",
        role: Role::Admin,
    },
    NavItem {
        key: "settings",
        label: "Settings",
        href: "/settings",
        role: Role::Admin,
    },
    NavItem {
        key: "audit",
        label: "Audit",
        href: "/audit",
        role: Role::Admin,
    },
];

/// The page frame: `base.html` reads it.
#[derive(Clone)]
pub struct Frame {
    pub title: String,
    pub nav: &'static str,
    pub username: String,
    pub role: Role,
    pub csrf: String,
    pub hostname: String,
    pub version: &'static str,
    pub timezone: chrono_tz::Tz,
}

impl Frame {
    pub async fn new(
        state: &AppState,
        who: &Identity,
        title: impl Into<String>,
        nav: &'static str,
    ) -> Result<Frame, AppError> {
        let appliance = state.appliance().await?;
        let (hostname, timezone) = match appliance {
            Some(a) => (a.hostname, a.timezone.parse().unwrap_or(chrono_tz::UTC)),
            None => ("baystack".to_string(), chrono_tz::UTC),
        };
        Ok(Frame {
            title: title.into(),
            nav,
            username: who.username.clone(),
            role: who.role,
            csrf: who.csrf().to_string(),
            hostname,
            version: VERSION,
            timezone,
        })
    }

    /// The frame of a page drawn for everyone with `who`'s role
    /// ([`super::drawn`]): marks where the name and CSRF token go.
    pub async fn drawn(
        state: &AppState,
        who: &Identity,
        title: impl Into<String>,
        nav: &'static str,
    ) -> Result<Frame, AppError> {
        Ok(Frame {
            username: super::drawn::USER_MARK.to_string(),
            csrf: super::drawn::CSRF_MARK.to_string(),
            ..Frame::new(state, who, title, nav).await?
        })
    }

    pub fn nav_items(&self) -> impl Iterator<Item = &'static NavItem> + '_ {
        NAV.iter().filter(|n| self.role.allows(n.role))
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn can_operate(&self) -> bool {
        self.role.allows(Role::Operator)
    }

    /// A stored UTC time in the appliance's zone: `2026-11-24 14:03:07 CET`.
    pub fn time(&self, t: &NaiveDateTime) -> String {
        format_time(t, self.timezone)
    }

    /// "1 enclosure", "2 enclosures", "no enclosures".
    pub fn count(&self, n: impl std::borrow::Borrow<usize>, one: &str, many: &str) -> String {
        match *n.borrow() {
            0 => format!("no {many}"),
            1 => format!("1 {one}"),
            n => format!("{n} {many}"),
        }
    }

    pub fn time_opt(&self, t: &Option<NaiveDateTime>) -> String {
        t.as_ref()
            .map(|t| self.time(t))
            .unwrap_or_else(|| "never".into())
    }
}

pub fn format_time(t: &NaiveDateTime, tz: chrono_tz::Tz) -> String {
    t.and_utc()
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// A page with a status other than 200: a form shown again with what was
/// wrong (422), a refusal in words (401, 409, 429).
pub fn html(status: u16, page: &impl Template) -> Result<HttpResponse, AppError> {
    let body = page
        .render()
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(
        HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
            .content_type("text/html; charset=utf-8")
            .body(body),
    )
}

/// Sizes as administrators read them on drive labels: decimal units.
pub fn human_bytes(bytes: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes.max(0) as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 || v >= 100.0 {
        format!("{v:.0} {}", units[u])
    } else {
        format!("{v:.1} {}", units[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_drive_labels() {
        assert_eq!(human_bytes(16_000_900_661_248), "16.0 TB");
        assert_eq!(human_bytes(960_197_124_096), "960 GB");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
    }

    #[test]
    fn times_show_in_the_appliance_zone() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 11, 24)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        assert_eq!(format_time(&t, chrono_tz::UTC), "2026-11-24 12:00:00 UTC");
        assert_eq!(
            format_time(&t, "Europe/Berlin".parse().unwrap()),
            "2026-11-24 13:00:00 CET"
        );
    }
}
