//! Peers: another appliance this one replicates with. Two appliances pair
//! once through a one-time pairing code that appliance B makes and an
//! admin on A pastes: it carries B's channel address, the SHA-256 of B's
//! certificate, a secret and an expiry. From then on their agents talk only
//! over TLS with both certificates pinned.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// What every pairing code starts with, so a pasted URL or a token is told
/// apart from a code at once.
pub const CODE_PREFIX: &str = "bspair1_";

/// How long a pairing code lasts unless asked otherwise.
pub const CODE_LIFETIME_MINUTES: i64 = 60;
/// The longest a pairing code may be made to last: a day.
pub const CODE_LIFETIME_MAX_MINUTES: i64 = 24 * 60;

/// A one-time pairing code, as appliance B makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingCode {
    /// Where B's agent listens, `host:port`.
    pub address: String,
    /// The SHA-256 of B's certificate (DER).
    pub fingerprint: [u8; 32],
    /// The one-time secret; B keeps only its hash.
    pub secret: [u8; 24],
    /// When it stops being accepted, in seconds since the epoch.
    pub expires_at: i64,
}

impl PairingCode {
    /// The code as an admin copies it: the prefix, then URL-safe base64 of
    /// the fingerprint, the secret, the expiry, the address and a CRC-32
    /// of all of them, so a code cut short or mistyped is told apart from
    /// a wrong one.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(68 + self.address.len());
        bytes.extend_from_slice(&self.fingerprint);
        bytes.extend_from_slice(&self.secret);
        bytes.extend_from_slice(&self.expires_at.to_be_bytes());
        bytes.extend_from_slice(self.address.as_bytes());
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        format!("{CODE_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Reads a pasted code (surrounding white space and line breaks a mail
    /// or chat put in are ignored); every refusal says why in words.
    pub fn parse(text: &str) -> Result<PairingCode, String> {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if text.is_empty() {
            return Err("paste the pairing code made on the other appliance".into());
        }
        let Some(body) = text.strip_prefix(CODE_PREFIX) else {
            return Err(format!(
                "this is not a Baystack pairing code (one starts with {CODE_PREFIX:?})"
            ));
        };
        let damaged = || {
            "the pairing code is damaged (cut short or changed): copy it again whole".to_string()
        };
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| damaged())?;
        if bytes.len() < 32 + 24 + 8 + 3 + 4 {
            return Err(damaged());
        }
        let (data, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(data).to_be_bytes() != crc {
            return Err(damaged());
        }
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(&data[..32]);
        let mut secret = [0u8; 24];
        secret.copy_from_slice(&data[32..56]);
        let expires_at = i64::from_be_bytes(data[56..64].try_into().expect("eight bytes"));
        let address = std::str::from_utf8(&data[64..])
            .map_err(|_| damaged())?
            .to_string();
        validate_address(&address).map_err(|e| format!("the pairing code's address {e}"))?;
        Ok(PairingCode {
            address,
            fingerprint,
            secret,
            expires_at,
        })
    }

    /// The secret as the code's maker stores its hash.
    pub fn secret_text(&self) -> String {
        super::hex(&self.secret)
    }
}

pub use crate::naming::validate_address;

/// A certificate's fingerprint as it is shown and stored: SHA-256, hex.
pub fn fingerprint_hex(fingerprint: &[u8; 32]) -> String {
    super::hex(fingerprint)
}

/// The fingerprint shown to people: hex in pairs, as `openssl x509
/// -fingerprint` writes it, so it can be compared by eye.
pub fn fingerprint_words(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap_or("??").to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code() -> PairingCode {
        PairingCode {
            address: "bay02.example.com:7790".into(),
            fingerprint: [7; 32],
            secret: [9; 24],
            expires_at: 1_800_000_000,
        }
    }

    #[test]
    fn a_code_reads_back_as_made_with_white_space_around_and_inside() {
        let c = code();
        let text = c.encode();
        assert!(text.starts_with(CODE_PREFIX));
        assert_eq!(PairingCode::parse(&text).unwrap(), c);
        let broken = format!("  {}\n{}  ", &text[..40], &text[40..]);
        assert_eq!(PairingCode::parse(&broken).unwrap(), c);
        let v6 = PairingCode {
            address: "[fd00::2]:7790".into(),
            ..code()
        };
        assert_eq!(PairingCode::parse(&v6.encode()).unwrap(), v6);
    }

    #[test]
    fn a_damaged_or_foreign_code_is_refused_in_words() {
        let text = code().encode();
        assert!(
            PairingCode::parse("")
                .unwrap_err()
                .contains("paste the pairing code")
        );
        assert!(
            PairingCode::parse("bsw_abcdef")
                .unwrap_err()
                .contains("not a Baystack pairing code")
        );
        // Cut short, one character changed, one added.
        for bad in [
            text[..text.len() - 3].to_string(),
            {
                let mut t = text.clone().into_bytes();
                let i = t.len() - 10;
                t[i] = if t[i] == b'A' { b'B' } else { b'A' };
                String::from_utf8(t).unwrap()
            },
            format!("{text}A"),
            format!("{CODE_PREFIX}!!!!"),
        ] {
            let e = PairingCode::parse(&bad).unwrap_err();
            assert!(e.contains("damaged"), "{bad}: {e}");
        }
        // Whole and checksummed, but with an address no one can reach.
        let odd = PairingCode {
            address: "bay 02:7790".into(),
            ..code()
        };
        assert!(
            PairingCode::parse(&odd.encode())
                .unwrap_err()
                .contains("address")
        );
    }

    #[test]
    fn fingerprints_are_shown_in_pairs() {
        assert_eq!(fingerprint_words("0aff10"), "0A:FF:10");
        assert_eq!(fingerprint_hex(&[0xab; 32]).len(), 64);
    }
}
