//! The web console: server-rendered pages (askama, htmx) and the JSON API.
//!
//! Every route is declared once, in [`ROUTES`], with the access it needs.
//! The [`gate`] middleware looks each request up there before any handler
//! runs: a route missing from the table is refused for everyone, so nothing
//! is reachable by accident.

pub mod account;
pub mod action;
pub mod alerts;
pub mod api;
pub mod assets;
pub mod audit;
pub mod bays;
pub mod dashboard;
pub mod drawn;
pub mod drives;
pub mod errors;
pub mod forwarded;
pub mod gate;
pub mod jobs;
pub mod login;
pub mod metrics;
pub mod noc;
pub mod notifications;
pub mod page;
pub mod peers;
pub mod pool_drives;
pub mod pools;
pub mod replication;
pub mod server;
pub mod settings;
pub mod setup;
pub mod users;
pub mod volumes;
pub mod wall_links;

use std::sync::{Arc, RwLock};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, guard, web};

use crate::auth::{HashPool, Role};
use crate::config::Settings;
use crate::db::Db;
use crate::db::appliance::{self, Appliance};
use crate::db::fleet::Fleet;
use crate::error::AppError;
use crate::jobs::Wake;

pub use errors::{ApiError, PageError};
pub use forwarded::client_address;
pub use gate::Identity;

/// How long a console trusts the appliance's identity it read.
pub const APPLIANCE_FRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// Shared by every request.
pub struct AppState {
    pub db: Db,
    /// The registry of appliances the wall shows ([`crate::db::fleet`]).
    pub fleet: Fleet,
    pub settings: Arc<Settings>,
    /// The appliance's identity once set up (it never goes back to unset),
    /// with when it was read: the settings page can change it, here or on
    /// another console sharing the database, so it is read again after
    /// [`APPLIANCE_FRESH`]. While `None` the database is asked.
    appliance: RwLock<Option<(std::time::Instant, Appliance)>>,
    /// Two threads that run every password hash (19 MiB each while it
    /// runs), so a login flood cannot grow memory.
    pub hashing: HashPool,
    /// Wakes this process's job runner when a job is enqueued; a runner in
    /// another process finds it by polling.
    pub wake: Arc<Wake>,
    /// The machine's own names and addresses, which requests may name as
    /// their host.
    pub machine_names: forwarded::MachineNames,
    /// The NOC wall's drawn board and live links.
    pub wall: noc::Wall,
    /// `/metrics`' job duration histogram.
    pub job_durations: std::sync::Mutex<metrics::JobDurations>,
    /// The big pages, drawn once per change.
    pub pages: drawn::Pages,
    /// Who GETs were recently made by, read at most once per
    /// [`gate::SEEN_FRESH`].
    pub seen: gate::Seen,
}

impl AppState {
    pub fn new(db: Db, settings: Settings) -> Self {
        AppState {
            fleet: Fleet::new(&db, settings.fleet_database.clone()),
            db,
            settings: Arc::new(settings),
            appliance: RwLock::new(None),
            hashing: HashPool::new(2),
            wake: Arc::new(Wake::default()),
            machine_names: forwarded::MachineNames::default(),
            job_durations: Default::default(),
            wall: noc::Wall::default(),
            pages: drawn::Pages::default(),
            seen: gate::Seen::default(),
        }
    }

    /// How many things this process did that may have changed what the
    /// pages show: requests other than GET and HEAD, and where the agent
    /// runs in the console, its looks and jobs. A page drawn before one is
    /// drawn again.
    pub fn changes(&self) -> u64 {
        self.wake.changes()
    }

    pub fn note_change(&self) {
        self.wake.note_change();
    }

    /// Answers `req` with the page `draw` makes, drawn once per change and
    /// shared by role ([`drawn::Pages::serve`]).
    pub async fn drawn<F, Fut>(
        &self,
        req: &actix_web::HttpRequest,
        who: &Identity,
        draw: F,
    ) -> Result<actix_web::HttpResponse, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<String, AppError>>,
    {
        self.pages.serve(req, who, self.changes(), draw).await
    }

    /// Shares `fleet` with the agent in this process.
    pub fn with_fleet(mut self, fleet: Fleet) -> Self {
        self.fleet = fleet;
        self
    }

    pub fn with_wake(mut self, wake: Arc<Wake>) -> Self {
        self.wake = wake;
        self
    }

    /// Whether the first-boot wizard has been completed.
    pub async fn is_set_up(&self) -> Result<bool, AppError> {
        Ok(self.appliance().await?.is_some())
    }

    /// The appliance's identity, `None` before setup.
    pub async fn appliance(&self) -> Result<Option<Appliance>, AppError> {
        if let Some((at, a)) = self.appliance.read().expect("appliance lock").clone()
            && at.elapsed() < APPLIANCE_FRESH
        {
            return Ok(Some(a));
        }
        let found = self
            .db
            .run(|conn| -> Result<Option<Appliance>, AppError> {
                Ok(appliance::get(&mut conn.conn())?)
            })
            .await?;
        if let Some(a) = &found {
            self.remember_appliance(a.clone());
        }
        Ok(found)
    }

    pub fn remember_appliance(&self, a: Appliance) {
        *self.appliance.write().expect("appliance lock") = Some((std::time::Instant::now(), a));
    }

    /// Runs a password hash or verification on one of the two hashing
    /// threads.
    pub async fn hash_work<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        self.hashing.run(f).await.map_err(AppError::Internal)
    }
}

/// Who may reach a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, always (health check, static files).
    Public,
    /// Anyone, but only until the first-boot wizard is done; gone afterwards.
    Setup,
    /// Anyone, once the appliance is set up (the login form, token issue).
    Anonymous,
    /// A signed-in user with at least this role.
    Role(Role),
    /// A NOC screen's wall link, the `{key}` in the path: once set up,
    /// and only while the link is live. Nothing else takes a wall link.
    Wall,
}

#[derive(Debug, Clone, Copy)]
pub struct RouteRule {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

const VIEWER: Access = Access::Role(Role::Viewer);
const OPERATOR: Access = Access::Role(Role::Operator);
const ADMIN: Access = Access::Role(Role::Admin);
const WALL: Access = Access::Wall;

macro_rules! routes {
    ($( $method:ident $path:literal $access:expr => $handler:path; )*) => {
        /// Every route the console serves, with the access it needs.
        pub const ROUTES: &[RouteRule] = &[
            $( RouteRule { method: stringify!($method), path: $path, access: $access }, )*
        ];

        fn register(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        .guard(method_guard(actix_web::http::Method::$method))
                        .to($handler),
                );
            )*
        }
    };
}

routes! {
    GET "/healthz" Access::Public => api::healthz;
    // The pages asked for most, first: the router tries routes in order,
    // and these are literal paths no route above them matches.
    GET "/" VIEWER => dashboard::page;
    GET "/dashboard/summary" VIEWER => dashboard::summary_partial;
    GET "/bays" VIEWER => bays::page;
    GET "/bays/map" VIEWER => bays::map_partial;
    GET "/drives" VIEWER => drives::page;
    GET "/pools" VIEWER => pools::list_page;
    GET "/noc/board" VIEWER => noc::board;

    GET "/static/{file}" Access::Public => assets::serve;
    GET "/static/vendor/{file}" Access::Public => assets::serve_vendor;
    GET "/metrics" VIEWER => metrics::serve;

    GET "/setup" Access::Setup => setup::page;
    POST "/setup" Access::Setup => setup::submit;
    POST "/api/v1/setup" Access::Setup => setup::api;

    GET "/login" Access::Anonymous => login::page;
    POST "/login" Access::Anonymous => login::submit;
    POST "/api/v1/tokens" Access::Anonymous => api::issue_token;
    POST "/logout" VIEWER => login::logout;

    GET "/drives/{id}" VIEWER => drives::drive_page;
    POST "/drives/{id}/selftest" OPERATOR => drives::self_test;
    POST "/drives/{id}/selftest/abort" OPERATOR => drives::abort_self_test;
    POST "/drives/{id}/smart" OPERATOR => drives::read_smart;
    POST "/drives/{id}/locate" OPERATOR => drives::drive_locate;
    POST "/drives/{id}/requalify" OPERATOR => pool_drives::requalify;
    POST "/bays/{enclosure}/{slot}/locate" OPERATOR => bays::locate;
    POST "/bays/{enclosure}/{slot}/fault" OPERATOR => bays::fault;
    POST "/bays/{enclosure}/forget" ADMIN => bays::forget_page;
    GET "/pools/new" ADMIN => pools::new_page;
    POST "/pools" ADMIN => pools::create_form;
    GET "/pools/{name}" VIEWER => pool_drives::pool_page;
    POST "/pools/{name}/scrub" OPERATOR => pools::scrub;
    POST "/pools/{name}/spares" OPERATOR => pool_drives::add_spare;
    POST "/pools/{name}/spares/{serial}/remove" OPERATOR => pool_drives::remove_spare;
    POST "/pools/{name}/replace" OPERATOR => pool_drives::replace;
    POST "/pools/{name}/grow" ADMIN => pool_drives::grow_form;
    POST "/pools/{name}/delete" ADMIN => pool_drives::delete;
    GET "/volumes" VIEWER => volumes::list_page;
    POST "/volumes" ADMIN => volumes::create_volume;
    GET "/volumes/{name}" VIEWER => volumes::volume_page;
    POST "/volumes/{name}/resize" ADMIN => volumes::resize;
    POST "/volumes/{name}/delete" ADMIN => volumes::delete;
    POST "/volumes/{name}/snapshots" OPERATOR => volumes::create_snapshot;
    POST "/volumes/{name}/snapshots/{snap}/delete" ADMIN => volumes::delete_snapshot;
    POST "/volumes/{name}/snapshots/{snap}/rollback" ADMIN => volumes::rollback;
    POST "/volumes/{name}/export" ADMIN => volumes::export;
    POST "/volumes/{name}/unexport" ADMIN => volumes::unexport;
    POST "/volumes/{name}/access" ADMIN => volumes::change_access;
    POST "/volumes/{name}/replication" ADMIN => replication::enable;
    POST "/volumes/{name}/replication/stop" ADMIN => replication::disable;
    POST "/volumes/{name}/replication/failover" ADMIN => replication::failover;
    POST "/volumes/{name}/replication/failback" ADMIN => replication::failback;
    GET "/targets" VIEWER => volumes::targets_page;
    POST "/targets/reconcile" ADMIN => volumes::reconcile;
    POST "/targets/adopt" ADMIN => volumes::adopt;
    GET "/targets/{name}" VIEWER => volumes::target_page;
    GET "/replication" VIEWER => peers::page;
    POST "/replication/pairing-code" ADMIN => peers::create_code;
    POST "/replication/peers" ADMIN => peers::create_peer;
    POST "/replication/peers/{name}/remove" ADMIN => peers::remove_peer;
    GET "/jobs" VIEWER => jobs::list_page;
    GET "/jobs/{id}" VIEWER => jobs::detail_page;
    GET "/jobs/{id}/live" VIEWER => jobs::live_partial;
    POST "/jobs/{id}/cancel" OPERATOR => jobs::cancel_page;
    POST "/jobs/{id}/retry" ADMIN => jobs::retry;
    POST "/jobs/{id}/unblock" ADMIN => jobs::unblock;

    GET "/alerts" VIEWER => alerts::page;
    POST "/alerts/{id}/ack" OPERATOR => alerts::ack;

    GET "/notifications" ADMIN => notifications::page;
    POST "/notifications" ADMIN => notifications::create_form;
    POST "/notifications/{id}/test" OPERATOR => notifications::test;
    POST "/notifications/{id}/delete" ADMIN => notifications::delete;
    GET "/noc" VIEWER => noc::page;
    GET "/noc/w/{key}" WALL => noc::wall_page;
    GET "/noc/w/{key}/board" WALL => noc::wall_board;
    GET "/noc/links" ADMIN => wall_links::page;
    POST "/noc/links" ADMIN => wall_links::create_form;
    POST "/noc/links/{id}/revoke" ADMIN => wall_links::revoke_link;

    GET "/account" VIEWER => account::page;
    POST "/account/password" VIEWER => account::change_password;
    POST "/account/tokens" VIEWER => account::create_token;
    POST "/account/tokens/{id}/revoke" VIEWER => account::revoke_token;

    GET "/users" ADMIN => users::page;
    POST "/users" ADMIN => users::create;
    POST "/users/{name}/role" ADMIN => users::set_role;
    POST "/users/{name}/password" ADMIN => users::reset_password;
    POST "/users/{name}/delete" ADMIN => users::delete;
    POST "/users/{name}/tokens/{id}/revoke" ADMIN => users::revoke_token_page;

    GET "/audit" ADMIN => audit::page;
    GET "/settings" ADMIN => settings::page;
    POST "/settings" ADMIN => settings::submit;

    GET "/api/v1/system" VIEWER => api::system;
    GET "/api/v1/settings" VIEWER => settings::api_get;
    PUT "/api/v1/settings" ADMIN => settings::api_put;
    GET "/api/v1/users" ADMIN => api::list_users;
    POST "/api/v1/users" ADMIN => api::create_user;
    DELETE "/api/v1/users/{name}" ADMIN => api::delete_user;
    GET "/api/v1/audit" ADMIN => api::audit;
    GET "/api/v1/tokens" VIEWER => api::list_tokens;
    DELETE "/api/v1/tokens/{id}" VIEWER => api::revoke_token;

    GET "/api/v1/jobs" VIEWER => jobs::api_list;
    GET "/api/v1/jobs/{id}" VIEWER => jobs::api_get;
    POST "/api/v1/jobs/{id}/cancel" OPERATOR => jobs::api_cancel;
    POST "/api/v1/jobs/{id}/retry" ADMIN => jobs::retry;
    POST "/api/v1/jobs/{id}/unblock" ADMIN => jobs::unblock;
    GET "/api/v1/pools" VIEWER => pools::api_list;
    POST "/api/v1/pools" ADMIN => pools::api_create;
    GET "/api/v1/pools/{name}" VIEWER => pools::api_get;
    POST "/api/v1/pools/{name}/scrub" OPERATOR => pools::scrub;
    POST "/api/v1/pools/{name}/spares" OPERATOR => pool_drives::add_spare;
    DELETE "/api/v1/pools/{name}/spares/{serial}" OPERATOR => pool_drives::remove_spare;
    POST "/api/v1/pools/{name}/replace" OPERATOR => pool_drives::replace;
    POST "/api/v1/pools/{name}/grow" ADMIN => pool_drives::api_grow;
    DELETE "/api/v1/pools/{name}" ADMIN => pool_drives::delete;
    GET "/api/v1/volumes" VIEWER => volumes::api_list;
    POST "/api/v1/volumes" ADMIN => volumes::create_volume;
    GET "/api/v1/volumes/{name}" VIEWER => volumes::api_get;
    DELETE "/api/v1/volumes/{name}" ADMIN => volumes::delete;
    POST "/api/v1/volumes/{name}/resize" ADMIN => volumes::resize;
    GET "/api/v1/volumes/{name}/snapshots" VIEWER => volumes::api_snapshots;
    POST "/api/v1/volumes/{name}/snapshots" OPERATOR => volumes::create_snapshot;
    DELETE "/api/v1/volumes/{name}/snapshots/{snap}" ADMIN => volumes::delete_snapshot;
    POST "/api/v1/volumes/{name}/snapshots/{snap}/rollback" ADMIN => volumes::rollback;
    POST "/api/v1/volumes/{name}/export" ADMIN => volumes::export;
    PUT "/api/v1/volumes/{name}/export" ADMIN => volumes::change_access;
    DELETE "/api/v1/volumes/{name}/export" ADMIN => volumes::unexport;
    GET "/api/v1/targets" VIEWER => volumes::api_targets;
    POST "/api/v1/reconcile" ADMIN => volumes::reconcile;
    POST "/api/v1/targets/adopt" ADMIN => volumes::adopt;
    GET "/api/v1/alerts" VIEWER => alerts::api_list;
    POST "/api/v1/alerts/{id}/ack" OPERATOR => alerts::ack;
    GET "/api/v1/notifications" ADMIN => notifications::api_list;
    POST "/api/v1/notifications" ADMIN => notifications::api_create;
    POST "/api/v1/notifications/{id}/test" OPERATOR => notifications::test;
    DELETE "/api/v1/notifications/{id}" ADMIN => notifications::delete;
    GET "/api/v1/noc-links" ADMIN => wall_links::api_list;
    POST "/api/v1/noc-links" ADMIN => wall_links::api_create;
    DELETE "/api/v1/noc-links/{id}" ADMIN => wall_links::revoke_link;
    GET "/api/v1/appliances" VIEWER => wall_links::api_appliances;
    POST "/api/v1/peers/pairing-code" ADMIN => peers::create_code;
    GET "/api/v1/peers" VIEWER => peers::api_list;
    POST "/api/v1/peers" ADMIN => peers::create_peer;
    DELETE "/api/v1/peers/{name}" ADMIN => peers::remove_peer;
    GET "/api/v1/replication" VIEWER => replication::api_list;
    POST "/api/v1/volumes/{name}/replication" ADMIN => replication::enable;
    DELETE "/api/v1/volumes/{name}/replication" ADMIN => replication::disable;
    POST "/api/v1/volumes/{name}/replication/failover" ADMIN => replication::failover;
    POST "/api/v1/volumes/{name}/replication/failback" ADMIN => replication::failback;
    GET "/api/v1/bays" VIEWER => bays::api_list;
    GET "/api/v1/enclosures" VIEWER => bays::api_enclosures;
    DELETE "/api/v1/enclosures/{ident}" ADMIN => bays::api_forget;
    GET "/api/v1/drives" VIEWER => drives::api_drives;
    GET "/api/v1/drives/{id}" VIEWER => drives::api_drive;
    POST "/api/v1/drives/{id}/selftest" OPERATOR => drives::self_test;
    POST "/api/v1/drives/{id}/selftest/abort" OPERATOR => drives::abort_self_test;
    POST "/api/v1/drives/{id}/smart" OPERATOR => drives::read_smart;
    POST "/api/v1/drives/{id}/locate" OPERATOR => drives::drive_locate;
    POST "/api/v1/drives/{id}/requalify" OPERATOR => pool_drives::requalify;
    POST "/api/v1/bays/{enclosure}/{slot}/locate" OPERATOR => bays::locate;
    POST "/api/v1/bays/{enclosure}/{slot}/fault" OPERATOR => bays::fault;
}

/// A GET route answers HEAD too (the same handler; actix sends no body).
fn method_guard(method: actix_web::http::Method) -> impl guard::Guard {
    let head = method == actix_web::http::Method::GET;
    guard::fn_guard(move |ctx| {
        ctx.head().method == method || (head && ctx.head().method == actix_web::http::Method::HEAD)
    })
}

/// Whether `path` matches the route `pattern` as actix's router does:
/// literal segments exactly, each `{name}` a non-empty segment.
pub fn route_matches(pattern: &str, path: &str) -> bool {
    let (mut p, mut q) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), q.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b || (a.starts_with('{') && !b.is_empty()) => {}
            _ => return false,
        }
    }
}

/// The pattern of the first route whose path matches, whatever its
/// method: what `HttpRequest::match_pattern` answers, without running the
/// router's regular expressions over every route (a tenth of the time of a
/// drawn page).
pub fn pattern_for(path: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .find(|r| route_matches(r.path, path))
        .map(|r| r.path)
}

/// The rule for a request, by method and matched route pattern; HEAD has
/// GET's.
pub fn rule_for(method: &str, pattern: &str) -> Option<&'static RouteRule> {
    let method = if method == "HEAD" { "GET" } else { method };
    ROUTES
        .iter()
        .find(|r| r.method == method && r.path == pattern)
}

/// A query-string filter value, trimmed; empty means "not given".
pub fn filter_value(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Whether a path belongs to the JSON API (errors there are JSON).
pub fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/") || path == "/healthz" || path == "/metrics"
}

/// The whole application, for `serve` and for tests.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(256 * 1024)
                .error_handler(errors::json_error),
        )
        .app_data(web::QueryConfig::default().error_handler(errors::query_error))
        .app_data(web::PathConfig::default().error_handler(errors::path_error))
        .app_data(
            web::FormConfig::default()
                .limit(64 * 1024)
                .error_handler(errors::form_error),
        )
        .configure(register)
        .default_service(web::to(errors::not_found))
        .wrap(actix_web::middleware::from_fn(gate::gate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_paths() {
        assert!(route_matches("/users/{name}/role", "/users/bob/role"));
        assert!(!route_matches("/users/{name}/role", "/users//role"));
        assert!(!route_matches("/users/{name}/role", "/users/bob"));
        assert!(route_matches("/", "/"));
        assert!(!route_matches("/", "/x"));
    }

    /// The gate's rule hangs on this: for every route and paths around it,
    /// the pattern found is the one actix's own matcher finds first.
    #[test]
    fn the_pattern_found_is_actixs() {
        let defs: Vec<(&str, actix_web::dev::ResourceDef)> = ROUTES
            .iter()
            .map(|r| (r.path, actix_web::dev::ResourceDef::new(r.path)))
            .collect();
        let actix = |path: &str| defs.iter().find(|(_, d)| d.is_match(path)).map(|(p, _)| *p);
        let mut paths = vec![
            "".to_string(),
            "/x".into(),
            "//".into(),
            "/pools/".into(),
            "/pools//scrub".into(),
            "/api/v1".into(),
            "/static/vendor/".into(),
            "/static/a/b".into(),
            "/noc/w/k/board/x".into(),
        ];
        for r in ROUTES {
            for fill in [
                "x",
                "new",
                "reconcile",
                "a%2Fb",
                "a.b-c_d",
                "tank spaces",
                "é",
            ] {
                let path = r
                    .path
                    .split('/')
                    .map(|s| if s.starts_with('{') { fill } else { s })
                    .collect::<Vec<_>>()
                    .join("/");
                paths.push(path.clone());
                paths.push(format!("{path}/"));
                paths.push(format!("{path}/more"));
            }
        }
        for path in &paths {
            assert_eq!(pattern_for(path), actix(path), "{path:?}");
        }
    }
}
