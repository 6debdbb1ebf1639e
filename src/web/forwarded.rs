//! Who a request really comes from, over which scheme and to which host.
//!
//! A proxy's `X-Forwarded-For`, `-Proto` and `-Host` are believed only when
//! the connection comes from one of `security.trusted_proxies`; anyone else
//! could set them. The host a request names must be one of this console's:
//! a name in `security.allowed_hosts`, the machine's or the appliance's own
//! name, one of the machine's addresses, or loopback. Anything else is a
//! page on another site reaching the console through DNS rebinding.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;

use crate::config::{IpRange, SecuritySettings};

fn trusted(ranges: &[IpRange], ip: IpAddr) -> bool {
    ranges.iter().any(|r| r.contains(ip))
}

/// One address of an `X-Forwarded-For` list: `1.2.3.4`, `1.2.3.4:5678`,
/// `2001:db8::1` or `[2001:db8::1]:5678`.
fn forwarded_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    text.rsplit_once(':')?.0.parse().ok()
}

fn header_values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// The client's address: the connection's, or, when that is a trusted
/// proxy, the nearest address in `X-Forwarded-For` that is not one.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, proxies: &[IpRange]) -> Option<IpAddr> {
    let mut ip = peer?;
    if !trusted(proxies, ip) {
        return Some(ip);
    }
    for hop in header_values(headers, "x-forwarded-for").iter().rev() {
        match forwarded_ip(hop) {
            Some(next) => {
                ip = next;
                if !trusted(proxies, ip) {
                    break;
                }
            }
            // A hop that is not an address: believe nothing beyond it.
            None => break,
        }
    }
    Some(ip)
}

fn from_proxy(req: &HttpRequest, proxies: &[IpRange]) -> bool {
    req.peer_addr().is_some_and(|a| trusted(proxies, a.ip()))
}

fn security(req: &HttpRequest) -> Option<&SecuritySettings> {
    req.app_data::<actix_web::web::Data<super::AppState>>()
        .map(|s| &s.settings.security)
}

/// The client's address as the audit log and throttling see it.
pub fn client_address(req: &HttpRequest) -> String {
    let proxies = security(req).map_or(&[][..], |s| &s.trusted_proxies[..]);
    client_ip(req.peer_addr().map(|a| a.ip()), req.headers(), proxies)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether the request came over TLS: only a trusted proxy can say so.
pub fn is_https(req: &HttpRequest) -> bool {
    let proxies = security(req).map_or(&[][..], |s| &s.trusted_proxies[..]);
    if from_proxy(req, proxies) {
        // The proxy nearest to us appended the last value.
        if let Some(proto) = header_values(req.headers(), "x-forwarded-proto").last() {
            return proto.eq_ignore_ascii_case("https");
        }
    }
    req.uri().scheme_str() == Some("https")
}

/// The host the client asked for, as `name` or `name:port`, lower case:
/// `X-Forwarded-Host` from a trusted proxy, else `Host` (or the request
/// line's authority). `None` when the request names none.
pub fn requested_host(req: &HttpRequest) -> Option<String> {
    let proxies = security(req).map_or(&[][..], |s| &s.trusted_proxies[..]);
    let forwarded = from_proxy(req, proxies)
        .then(|| {
            header_values(req.headers(), "x-forwarded-host")
                .last()
                .map(|h| h.to_string())
        })
        .flatten();
    forwarded
        .or_else(|| {
            req.headers()
                .get(actix_web::http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_string()))
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
}

/// The name part of `host[:port]`, brackets kept for IPv6 (`[::1]`) and a
/// final dot dropped.
pub fn host_name(host: &str) -> &str {
    let name = if host.starts_with('[') {
        host.split_once(']')
            .map_or(host, |(n, _)| &host[..n.len() + 1])
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(n, _)| n)
    };
    name.strip_suffix('.').unwrap_or(name)
}

fn address_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// The names this machine answers to on its own: its host name and every
/// address of its interfaces, re-read at most once a minute.
pub struct MachineNames {
    cached: Mutex<Option<(Instant, Vec<String>)>>,
}

impl Default for MachineNames {
    fn default() -> Self {
        MachineNames {
            cached: Mutex::new(None),
        }
    }
}

impl MachineNames {
    pub fn get(&self) -> Vec<String> {
        let mut cached = self.cached.lock().expect("machine names lock");
        if let Some((at, names)) = cached.as_ref()
            && at.elapsed() < Duration::from_secs(60)
        {
            return names.clone();
        }
        let names = read_machine_names();
        *cached = Some((Instant::now(), names.clone()));
        names
    }
}

fn read_machine_names() -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "[::1]".to_string(),
    ];
    if let Ok(h) = nix::unistd::gethostname()
        && let Some(h) = h.to_str()
    {
        names.push(h.to_ascii_lowercase());
    }
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for ifa in addrs {
            let Some(addr) = ifa.address else { continue };
            if let Some(v4) = addr.as_sockaddr_in() {
                names.push(address_name(IpAddr::V4(v4.ip())));
            } else if let Some(v6) = addr.as_sockaddr_in6() {
                names.push(address_name(IpAddr::V6(v6.ip())));
            }
        }
    }
    names
}

/// Whether `name` (from [`host_name`]) is one of the console's: configured,
/// the machine's, the appliance's (`hostname`, `hostname.domain`), or any
/// loopback address.
pub fn host_allowed(
    name: &str,
    configured: &[String],
    machine: &[String],
    appliance: &[String],
) -> bool {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return true;
    }
    configured
        .iter()
        .chain(machine)
        .chain(appliance)
        .any(|allowed| {
            allowed == name || allowed.trim_start_matches('[').trim_end_matches(']') == bare
        })
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    fn ranges(list: &[&str]) -> Vec<IpRange> {
        list.iter().map(|t| IpRange::parse(t).unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            client_ip(Some(stranger), &h, &ranges(&["127.0.0.1"])),
            Some(stranger)
        );
        assert_eq!(
            client_ip(Some(proxy), &h, &[]),
            Some(proxy),
            "no proxy trusted by default"
        );
        assert_eq!(
            client_ip(Some(proxy), &h, &ranges(&["127.0.0.0/8"])),
            Some("203.0.113.7".parse().unwrap())
        );
    }

    #[test]
    fn a_client_cannot_hide_behind_an_address_it_wrote_itself() {
        // The client sent "X-Forwarded-For: 10.9.9.9"; the proxy appended
        // the address it saw. Only the proxy's entry is believed.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 203.0.113.7")]);
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            client_ip(Some(proxy), &h, &ranges(&["127.0.0.1"])),
            Some("203.0.113.7".parse().unwrap())
        );
        // Two proxies in a row, both trusted.
        let h = headers(&[("x-forwarded-for", "203.0.113.7, 10.0.0.2")]);
        assert_eq!(
            client_ip(Some(proxy), &h, &ranges(&["127.0.0.1", "10.0.0.0/8"])),
            Some("203.0.113.7".parse().unwrap())
        );
        // Garbage stops the walk at the last address believed.
        let h = headers(&[("x-forwarded-for", "evil, 10.0.0.2")]);
        assert_eq!(
            client_ip(Some(proxy), &h, &ranges(&["127.0.0.1", "10.0.0.0/8"])),
            Some("10.0.0.2".parse().unwrap())
        );
        let h = headers(&[
            ("x-forwarded-for", "[2001:db8::5]:4711"),
            ("x-forwarded-for", "192.0.2.1:80"),
        ]);
        assert_eq!(
            client_ip(Some(proxy), &h, &ranges(&["127.0.0.1", "192.0.2.1"])),
            Some("2001:db8::5".parse().unwrap())
        );
    }

    #[test]
    fn host_names_and_ports() {
        assert_eq!(host_name("bay01:8080"), "bay01");
        assert_eq!(host_name("bay01.example.com."), "bay01.example.com");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("[fe80::1]"), "[fe80::1]");
        assert_eq!(host_name("10.0.0.5"), "10.0.0.5");
    }

    #[test]
    fn only_the_consoles_own_hosts_are_allowed() {
        let machine = vec![
            "bay01".to_string(),
            "192.0.2.10".to_string(),
            "[2001:db8::10]".to_string(),
        ];
        let appliance = vec!["nas".to_string(), "nas.example.com".to_string()];
        let configured = vec!["storage.corp.example".to_string()];
        let ok = |n: &str| host_allowed(n, &configured, &machine, &appliance);
        for name in [
            "bay01",
            "192.0.2.10",
            "[2001:db8::10]",
            "nas",
            "nas.example.com",
            "storage.corp.example",
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
        ] {
            assert!(ok(name), "{name}");
        }
        for name in [
            "evil.example",
            "bay01.evil.example",
            "nas.example.com.evil",
            "192.0.2.11",
            "[::2]",
            "",
        ] {
            assert!(!ok(name), "{name}");
        }
    }
}
