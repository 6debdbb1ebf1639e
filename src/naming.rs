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
    if name.ends_with("-journal") {
        return Err(format!(
            "a pool's name does not end with \"-journal\", which names a pool's mirrored journal: {name:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
