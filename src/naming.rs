//! Names that users type and that later reach commands, configfs paths and
//! IQNs: validated once, here, with messages in words.

use chrono::Datelike;

/// A user name: 1 to 32 characters, lowercase letters, digits, `.`, `_`, `-`,
/// starting with a letter.
pub fn validate_username(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 32 {
        return Err("a user name must be 1 to 32 characters long".into());
    }
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
        return Err("a user name must start with a lowercase letter".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
    {
        return Err(
            "a user name may contain only lowercase letters, digits, '.', '_' and '-'".into(),
        );
    }
    Ok(())
}

/// How a bay is named everywhere, as the bay map shows it: the enclosure's
/// label and the slot number the enclosure gives it.
pub fn bay_name(enclosure_label: &str, slot: impl std::fmt::Display) -> String {
    format!("{enclosure_label}, slot {slot}")
}

/// A character that cannot be seen or that changes how the text around it
/// is shown: control characters, and the invisible format characters that
/// reorder text (U+202E turns `gpj.exe` into `exe.jpg`) or hide in it.
pub fn is_hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// A free-text name (an API token's, later a wall link's): 1 to `max`
/// characters, none of them hidden ones.
pub fn validate_label(text: &str, max: usize) -> Result<(), String> {
    if text.is_empty() || text.chars().count() > max {
        return Err(format!("must be 1 to {max} characters long"));
    }
    if text.chars().any(is_hidden_char) {
        return Err(
            "must not contain control characters or invisible characters that reorder text".into(),
        );
    }
    Ok(())
}

/// Text as the audit log keeps it: at most `max` characters, hidden
/// characters shown as U+FFFD, so a stored entry cannot be made huge or
/// read differently from what was sent.
pub fn for_record(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if is_hidden_char(c) { '\u{FFFD}' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

fn validate_dns_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.len() > 63 {
        return Err(format!("{label:?} must be 1 to 63 characters long"));
    }
    if !label
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "{label:?} may contain only lowercase letters, digits and '-'"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("{label:?} must not start or end with '-'"));
    }
    Ok(())
}

/// The appliance's short host name (one DNS label). It becomes part of every
/// target's IQN (`…:<host>.<volume>`), so it cannot contain dots.
pub fn validate_hostname(name: &str) -> Result<(), String> {
    if name.contains('.') {
        return Err(
            "the host name is the short name without the domain (for example \"bay01\"), so it cannot contain '.'"
                .into(),
        );
    }
    validate_dns_label(name).map_err(|e| format!("the host name {e}"))
}

/// A peer's channel address: `host:port`, the host a DNS name, an IPv4
/// address or a bracketed IPv6 address, the port 1 to 65535.
pub fn validate_address(text: &str) -> Result<(), String> {
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "{text:?} needs a port: host:port, for example bay02.example.com:7790"
        ));
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.chars().all(|c| c.is_ascii_digit()) => {}
        _ => return Err(format!("{text:?} has no port from 1 to 65535")),
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| format!("{text:?} has no IPv6 address between its brackets"));
    }
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(());
    }
    if host.is_empty() || host.len() > 253 {
        return Err(format!("{text:?} has no host name"));
    }
    for label in host.split('.') {
        let fine = !label.is_empty()
            && label.len() <= 63
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !fine {
            return Err(format!(
                "{text:?}: the host is a DNS name of letters, digits, '-' and '.', or an IP address"
            ));
        }
    }
    Ok(())
}

/// A DNS domain the appliance's owner controls, such as `example.com`.
pub fn validate_domain(domain: &str) -> Result<(), String> {
    if domain.len() > 253 {
        return Err("the domain must be at most 253 characters long".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(
            "the naming authority must be a domain with at least two parts, such as \"example.com\""
                .into(),
        );
    }
    for label in labels {
        validate_dns_label(label).map_err(|e| format!("in the domain, {e}"))?;
    }
    if domain
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("the domain must be a name, not an IP address".into());
    }
    Ok(())
}

/// The year and month (`YYYY-MM`) from which the owner held the domain, as
/// RFC 3720 asks for the IQN's date. Not before DNS existed, not in the future.
pub fn validate_iqn_date(text: &str, today: chrono::NaiveDate) -> Result<(), String> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 7
        && bytes[4] == b'-'
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[5..].iter().all(u8::is_ascii_digit);
    if !shape_ok {
        return Err(format!(
            "the date must be a year and month written YYYY-MM, such as 2024-01, not {text:?}"
        ));
    }
    let year: i32 = text[..4].parse().map_err(|_| "bad year".to_string())?;
    let month: u32 = text[5..].parse().map_err(|_| "bad month".to_string())?;
    if !(1..=12).contains(&month) {
        return Err(format!("the month must be 01 to 12, not {:02}", month));
    }
    if year < 1985 {
        return Err("the date must be 1985 or later (domains did not exist before)".into());
    }
    if (year, month) > (today.year(), today.month()) {
        return Err("the date must not be in the future".into());
    }
    Ok(())
}

/// An IANA time zone name such as `Europe/Berlin` or `UTC`.
pub fn validate_timezone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.parse::<chrono_tz::Tz>().map_err(|_| {
        format!("{name:?} is not a known time zone such as \"Europe/Berlin\" or \"UTC\"")
    })
}

/// `iqn.2024-01.com.example`: the prefix of every target IQN this appliance
/// makes.
pub fn iqn_prefix(domain: &str, date: &str) -> String {
    let reversed: Vec<&str> = domain.split('.').rev().collect();
    format!("iqn.{date}.{}", reversed.join("."))
}

/// A target IQN as the appliance will name it.
pub fn target_iqn(domain: &str, date: &str, host: &str, volume: &str) -> String {
    format!("{}:{host}.{volume}", iqn_prefix(domain, date))
}

/// A pool's name. It names the md array (`/dev/md/<name>`), the LVM
/// volume group on it and, through the volumes on it, targets' IQNs, so it
/// is kept to what all of them accept and a person reads: 1 to 32
/// characters, lowercase letters, digits and '-', starting with a letter,
/// not ending with '-'. `-journal` at the end is kept for a pool's
/// mirrored journal.
pub fn validate_pool_name(name: &str) -> Result<(), String> {
    const MAX: usize = 32;
    if name.is_empty() {
        return Err("a pool needs a name".into());
    }
    if name.len() > MAX {
        return Err(format!(
            "a pool's name is at most {MAX} characters; {:?} has {}",
            name.chars().take(40).collect::<String>(),
            name.chars().count()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "a pool's name uses lowercase letters, digits and '-' only; {name:?} has {c:?}"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!("a pool's name starts with a letter, not {name:?}"));
    }
    if name.ends_with('-') {
        return Err(format!("a pool's name does not end with '-': {name:?}"));
    }
    if name == "baystack" {
        return Err(
            "a pool cannot be called \"baystack\": LVM would name its volumes' devices \
             baystack-<volume>, which are the console's own front devices"
                .into(),
        );
    }
    if name.ends_with("-journal") {
        return Err(format!(
            "a pool's name does not end with \"-journal\", which names a pool's mirrored journal: {name:?}"
        ));
    }
    Ok(())
}

/// A volume's (or a snapshot's) name: `what` is "volume" or "snapshot".
/// It names the logical volume, the front device `baystack-<volume>`, the
/// backstore, the target's alias and the end of its IQN, so it is kept to
/// what every one of them accepts: 1 to 32 characters, lowercase letters,
/// digits and '-', starting with a letter, not ending with '-', no "--"
/// (LVM doubles a '-' in device names). No '_' and no '.': those are kept
/// for the thin pool and for snapshots' logical volumes.
pub fn validate_volume_name(what: &str, name: &str) -> Result<(), String> {
    const MAX: usize = 32;
    if name.is_empty() {
        return Err(format!("a {what} needs a name"));
    }
    if name.chars().count() > MAX {
        return Err(format!(
            "a {what}'s name is at most {MAX} characters; {:?} has {}",
            name.chars().take(40).collect::<String>(),
            name.chars().count()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "a {what}'s name uses lowercase letters, digits and '-' only; {name:?} has {c:?}"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!(
            "a {what}'s name starts with a letter, not {name:?}"
        ));
    }
    if name.ends_with('-') {
        return Err(format!("a {what}'s name does not end with '-': {name:?}"));
    }
    if name.contains("--") {
        return Err(format!("a {what}'s name has no \"--\": {name:?}"));
    }
    if what == "volume" && (name.starts_with("snapshot") || name.starts_with("pvmove")) {
        return Err(format!(
            "a volume's name does not start with \"snapshot\" or \"pvmove\", which LVM keeps for itself: {name:?}"
        ));
    }
    Ok(())
}

/// The name of a logical volume made by hand that a volume is adopted
/// under: what [`validate_volume_name`] allows, and '_' too (targetcli
/// setups often use it), but not the names Baystack keeps for itself (its
/// thin pool, a rollback's `<volume>_old`).
pub fn validate_adopted_name(name: &str) -> Result<(), String> {
    if name == crate::domain::volume::THIN_POOL || name.ends_with("_old") {
        return Err(format!(
            "{name:?} is a name Baystack keeps for its own logical volumes"
        ));
    }
    validate_volume_name("volume", &name.replace('_', "-"))
}

/// The most bytes an iSCSI name may have (RFC 3720, 3.2.6.1).
pub const IQN_MAX_BYTES: usize = 223;

/// An iSCSI name as an initiator gives it: `iqn.YYYY-MM.reversed.domain`
/// with an optional `:anything` after, or `eui.` and 16 hex digits, or
/// `naa.` and 16 or 32 hex digits (RFC 3720 and 3721). Lowercase (Windows
/// and open-iscsi both lowercase their names; LIO compares them as bytes),
/// at most 223 bytes, of the characters stringprep leaves: letters, digits,
/// '-', '.', ':'.
pub fn validate_iscsi_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an iSCSI name is needed, such as iqn.1991-05.com.microsoft:host1".into());
    }
    if name.len() > IQN_MAX_BYTES {
        return Err(format!(
            "an iSCSI name is at most {IQN_MAX_BYTES} bytes; this one has {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | ':')))
    {
        return Err(format!(
            "an iSCSI name uses lowercase letters, digits, '-', '.' and ':' only; {:?} has {c:?}",
            for_record(name, 64)
        ));
    }
    let hex =
        |t: &str, n: &[usize]| n.contains(&t.len()) && t.chars().all(|c| c.is_ascii_hexdigit());
    if let Some(rest) = name.strip_prefix("eui.") {
        return if hex(rest, &[16]) {
            Ok(())
        } else {
            Err(format!(
                "an eui. name is \"eui.\" and 16 hex digits, not {name:?}"
            ))
        };
    }
    if let Some(rest) = name.strip_prefix("naa.") {
        return if hex(rest, &[16, 32]) {
            Ok(())
        } else {
            Err(format!(
                "an naa. name is \"naa.\" and 16 or 32 hex digits, not {name:?}"
            ))
        };
    }
    let Some(rest) = name.strip_prefix("iqn.") else {
        return Err(format!(
            "an iSCSI name starts with \"iqn.\", \"eui.\" or \"naa.\", not {:?}",
            for_record(name, 64)
        ));
    };
    let (date, rest) = rest.split_at(rest.len().min(7));
    let date_ok = date.len() == 7
        && date[..4].chars().all(|c| c.is_ascii_digit())
        && &date[4..5] == "-"
        && date[5..].chars().all(|c| c.is_ascii_digit())
        && (1..=12).contains(&date[5..].parse::<u32>().unwrap_or(0));
    if !date_ok {
        return Err(format!(
            "an iqn. name has a date YYYY-MM after \"iqn.\" (iqn.1991-05.com.microsoft:host1), not {:?}",
            for_record(name, 64)
        ));
    }
    let authority = rest
        .strip_prefix('.')
        .map(|r| r.split(':').next().unwrap_or(""));
    match authority {
        Some(a) if !a.is_empty() && a.split('.').all(|l| !l.is_empty()) => Ok(()),
        _ => Err(format!(
            "an iqn. name has a reversed domain after its date (iqn.1991-05.com.microsoft), not {:?}",
            for_record(name, 64)
        )),
    }
}

/// A CHAP secret the Windows initiator accepts: 12 to 16 characters,
/// printable ASCII with no spaces (open-iscsi and LIO accept longer, but a
/// Windows host cannot log in with them).
pub fn validate_chap_secret(secret: &str) -> Result<(), String> {
    let n = secret.chars().count();
    if !(12..=16).contains(&n) {
        return Err(format!(
            "a CHAP secret is 12 to 16 characters (the Windows initiator refuses others); this one has {n}"
        ));
    }
    if !secret.chars().all(|c| c.is_ascii_graphic()) {
        return Err(
            "a CHAP secret uses printable characters with no spaces (letters, digits, punctuation)"
                .into(),
        );
    }
    Ok(())
}

/// A CHAP user name: 1 to 64 printable ASCII characters, no spaces.
pub fn validate_chap_user(user: &str) -> Result<(), String> {
    if user.is_empty() || user.len() > 64 || !user.chars().all(|c| c.is_ascii_graphic()) {
        return Err("a CHAP user name is 1 to 64 printable characters with no spaces".into());
    }
    Ok(())
}

/// A size as typed: a number (decimals allowed) with a unit, MiB, GiB or TiB (powers of two; `M`, `G`, `T`,
/// `MB`, `GB`, `TB` are read the same, since a storage form is not the
/// place for powers of ten), rounded up to a whole MiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    const MIB: u64 = 1 << 20;
    let t = text.trim();
    if t.is_empty() {
        return Err("a size is needed, such as 100 GiB".into());
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    if number.is_empty() {
        return Err(format!(
            "a size is a number above 0 with a unit, such as 100 GiB, not {:?}",
            for_record(t, 40)
        ));
    }
    let unit = unit.trim().to_ascii_lowercase();
    let shift = match unit.as_str() {
        "" => {
            return Err(format!(
                "a size needs a unit (MiB, GiB or TiB, powers of two), such as 100 GiB, not {:?}",
                for_record(t, 40)
            ));
        }
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "a size's unit is MiB, GiB or TiB, not {:?}",
                for_record(&unit, 20)
            ));
        }
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
        .ok_or_else(|| {
            format!(
                "a size is a number above 0 with a unit, not {:?}",
                for_record(t, 40)
            )
        })?;
    let bytes = value * (1u64 << shift) as f64;
    if bytes > (1u64 << 60) as f64 {
        return Err("a size is at most 1024 PiB".into());
    }
    Ok(((bytes as u64).div_ceil(MIB)).max(1) * MIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_a_host_and_a_port() {
        for good in [
            "bay02:7790",
            "bay02.example.com:1",
            "10.0.0.2:65535",
            "[::1]:7790",
        ] {
            assert_eq!(validate_address(good), Ok(()), "{good}");
        }
        for bad in [
            "bay02",
            "bay02:0",
            "bay02:65536",
            "bay02:+7",
            ":7790",
            "[::1:7790",
            "[zz]:7790",
            "bay_02:7790",
            "-bay:7790",
            "a..b:7790",
            "bay02:77 90",
        ] {
            assert!(validate_address(bad).is_err(), "{bad}");
        }
    }

    fn today() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
    }

    #[test]
    fn usernames() {
        assert!(validate_username("admin").is_ok());
        assert!(validate_username("noc.wall-2").is_ok());
        assert!(validate_username("").is_err());
        assert!(validate_username("Admin").is_err());
        assert!(validate_username("1admin").is_err());
        assert!(validate_username("a b").is_err());
        assert!(validate_username("a/../b").is_err());
        assert!(validate_username(&"a".repeat(33)).is_err());
    }

    #[test]
    fn hostnames() {
        assert!(validate_hostname("bay01").is_ok());
        assert!(validate_hostname("store-a").is_ok());
        assert!(validate_hostname("bay01.example.com").is_err());
        assert!(validate_hostname("-bay").is_err());
        assert!(validate_hostname("Bay01").is_err());
        assert!(validate_hostname("").is_err());
        assert!(validate_hostname("a;rm").is_err());
        assert!(validate_hostname(&"a".repeat(64)).is_err());
    }

    #[test]
    fn domains() {
        assert!(validate_domain("example.com").is_ok());
        assert!(validate_domain("storage.corp.example").is_ok());
        assert!(validate_domain("example").is_err());
        assert!(validate_domain("example..com").is_err());
        assert!(validate_domain("10.0.0.1").is_err());
        assert!(validate_domain("Example.com").is_err());
        assert!(validate_domain("exa_mple.com").is_err());
    }

    #[test]
    fn iqn_dates() {
        assert!(validate_iqn_date("2024-01", today()).is_ok());
        assert!(validate_iqn_date("2026-11", today()).is_ok());
        assert!(validate_iqn_date("2026-12", today()).is_err());
        assert!(validate_iqn_date("2024-13", today()).is_err());
        assert!(validate_iqn_date("2024-00", today()).is_err());
        assert!(validate_iqn_date("1970-01", today()).is_err());
        assert!(validate_iqn_date("2024-1", today()).is_err());
        assert!(validate_iqn_date("24-01", today()).is_err());
        assert!(validate_iqn_date("2024/01", today()).is_err());
    }

    #[test]
    fn timezones() {
        assert!(validate_timezone("UTC").is_ok());
        assert!(validate_timezone("Europe/Berlin").is_ok());
        assert!(validate_timezone("America/Los_Angeles").is_ok());
        assert!(validate_timezone("Mars/Olympus").is_err());
        assert!(validate_timezone("../../etc/passwd").is_err());
    }

    #[test]
    fn iqns_read_like_the_volume() {
        assert_eq!(
            iqn_prefix("example.com", "2024-01"),
            "iqn.2024-01.com.example"
        );
        assert_eq!(
            target_iqn("storage.example.com", "2019-06", "bay01", "db01"),
            "iqn.2019-06.com.example.storage:bay01.db01"
        );
    }

    #[test]
    fn pool_names() {
        for good in ["tank", "p1", "fast-ssd", "a"] {
            assert_eq!(validate_pool_name(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("", "needs a name"),
            ("Tank", "lowercase letters"),
            ("tank0/../x", "has '/'"),
            ("1tank", "starts with a letter"),
            ("-tank", "starts with a letter"),
            ("tank-", "does not end with '-'"),
            ("tank-journal", "mirrored journal"),
            ("t a", "has ' '"),
            ("tank\u{202e}", "lowercase letters"),
            ("abcdefghijklmnopqrstuvwxyzabcdefg", "at most 32"),
        ] {
            let e = validate_pool_name(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }
}

#[cfg(test)]
mod volume_tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn volume_names() {
        for good in ["db01", "a", "exchange-logs", "v2-a-b"] {
            assert_eq!(validate_volume_name("volume", good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("", "needs a name"),
            ("DB01", "lowercase letters"),
            ("db_01", "has '_'"),
            ("db.01", "has '.'"),
            ("db/../x", "has '/'"),
            ("1db", "starts with a letter"),
            ("db-", "does not end with '-'"),
            ("db--x", "no \"--\""),
            ("snapshot1", "LVM keeps"),
            ("pvmove", "LVM keeps"),
            ("abcdefghijklmnopqrstuvwxyzabcdefg", "at most 32"),
            ("db\u{202e}", "lowercase letters"),
        ] {
            let e = validate_volume_name("volume", bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        assert!(validate_volume_name("snapshot", "snapshot1").is_ok());
        assert!(
            validate_pool_name("baystack")
                .unwrap_err()
                .contains("front devices")
        );
    }

    #[test]
    fn initiator_names() {
        for good in [
            "iqn.1991-05.com.microsoft:win-host1.example.com",
            "iqn.1993-08.org.debian:01:4a3b2c1d0e",
            "iqn.2024-01.lab.storlab:initiator",
            "iqn.2001-04.com.example",
            "eui.02004567a425678d",
            "naa.52004567ba64678d",
        ] {
            assert_eq!(validate_iscsi_name(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("", "is needed"),
            ("IQN.1991-05.com.microsoft:host", "lowercase"),
            ("iqn.1991-05.com.microsoft:Host", "lowercase"),
            ("iqn.1991-5.com.microsoft:host", "date"),
            ("iqn.1991-13.com.microsoft:host", "date"),
            ("iqn.1991-05:host", "reversed domain"),
            ("iqn.1991-05..com:host", "reversed domain"),
            ("iqn.1991-05.com.ms:a b", "has ' '"),
            ("iqn.1991-05.com.ms:a/b", "has '/'"),
            ("eui.12", "16 hex"),
            ("naa.xyz", "hex digits"),
            ("host1", "starts with"),
        ] {
            let e = validate_iscsi_name(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
        let long = format!("iqn.2024-01.com.example:{}", "a".repeat(200));
        assert!(
            validate_iscsi_name(&long)
                .unwrap_err()
                .contains("223 bytes")
        );
    }

    #[test]
    fn chap_secrets_fit_the_windows_initiator() {
        assert!(validate_chap_secret("abcdefghijkl").is_ok());
        assert!(validate_chap_secret("abcdefghijklmnop").is_ok());
        assert!(
            validate_chap_secret("short")
                .unwrap_err()
                .contains("12 to 16")
        );
        assert!(
            validate_chap_secret("abcdefghijklmnopq")
                .unwrap_err()
                .contains("has 17")
        );
        assert!(
            validate_chap_secret("abcdef ghijkl")
                .unwrap_err()
                .contains("no spaces")
        );
        assert!(validate_chap_user("host1").is_ok());
        assert!(validate_chap_user("a b").is_err());
        assert!(validate_chap_user("").is_err());
    }

    #[test]
    fn sizes_take_binary_units() {
        const MIB: u64 = 1 << 20;
        for (text, bytes) in [
            ("100 GiB", 100 << 30),
            ("100GiB", 100 << 30),
            ("1.5 TiB", 3 << 39),
            ("512m", 512 * MIB),
            ("2 G", 2 << 30),
            ("0.1 MiB", MIB),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for (bad, says) in [
            ("", "is needed"),
            ("100", "needs a unit"),
            ("0", "needs a unit"),
            ("10 PB", "unit is"),
            ("1e3 GiB", "unit is"),
            ("-5 GiB", "number above 0"),
            ("0 GiB", "above 0"),
            ("1.2.3 GiB", "above 0"),
            ("99999999 TiB", "at most"),
        ] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    fn volume_name() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9-]{0,31}"
    }

    fn domain() -> impl Strategy<Value = String> {
        proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", 2..5)
            .prop_map(|l| l.join("."))
    }

    proptest! {
        /// Any volume name and naming authority the console accepts make a
        /// valid IQN, and two different volumes never share one.
        #[test]
        fn accepted_names_give_valid_unique_iqns(
            a in volume_name(), b in volume_name(), domain in domain(),
            host in "[a-z]([a-z0-9-]{0,20}[a-z0-9])?", year in 1985u32..2026, month in 1u32..13,
        ) {
            let date = format!("{year}-{month:02}");
            prop_assume!(validate_domain(&domain).is_ok());
            prop_assume!(validate_hostname(&host).is_ok());
            for v in [&a, &b] {
                if validate_volume_name("volume", v).is_ok() {
                    let iqn = target_iqn(&domain, &date, &host, v);
                    prop_assert_eq!(validate_iscsi_name(&iqn), Ok(()), "{}", iqn);
                    prop_assert!(iqn.len() <= IQN_MAX_BYTES);
                }
            }
            if a != b && validate_volume_name("volume", &a).is_ok() && validate_volume_name("volume", &b).is_ok() {
                prop_assert_ne!(target_iqn(&domain, &date, &host, &a), target_iqn(&domain, &date, &host, &b));
            }
        }

        /// A rejected name is rejected with the rule it breaks, in words.
        #[test]
        fn rejected_names_say_the_rule(name in "\\PC{0,40}") {
            if let Err(e) = validate_volume_name("volume", &name) {
                prop_assert!(e.starts_with("a volume"), "{}", e);
                let rule = ["needs a name", "at most 32", "uses lowercase", "starts with",
                    "does not end", "has no", "does not start"];
                prop_assert!(rule.iter().any(|r| e.contains(r)), "{}", e);
            } else {
                prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            }
        }

        /// A size typed with a unit is that many MiB, rounded up.
        #[test]
        fn sizes_round_up_to_mib(n in 1u64..100_000, unit in prop::sample::select(vec![("MiB", 20u32), ("GiB", 30), ("TiB", 40)])) {
            prop_assert_eq!(parse_size(&format!("{n} {}", unit.0)), Ok(n << unit.1));
        }
    }
}
