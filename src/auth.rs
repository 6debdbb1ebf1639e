//! Roles, password hashing and the random secrets behind sessions, CSRF
//! tokens and API tokens.

use std::fmt;
use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What a user may do. Ordered: each role can do everything the one before
/// it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads every page.
    Viewer,
    /// Reads, and runs operational actions (blink, scrub, replace).
    Operator,
    /// Everything, including users and deletes.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether a user with this role may do something that needs `required`.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Argon2id with OWASP's recommended minimum: 19 MiB, two passes, one lane.
const ARGON2_M_KIB: u32 = 19 * 1024;
const ARGON2_T: u32 = 2;
const ARGON2_P: u32 = 1;

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_BYTES: usize = 1024;

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None)
        .expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password against the policy; the message is for the user.
pub fn check_new_password(password: &str, username: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password must be at least {MIN_PASSWORD_CHARS} characters long"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "the password must be at most {MAX_PASSWORD_BYTES} bytes long"
        ));
    }
    if password.eq_ignore_ascii_case(username) {
        return Err("the password must not be the user name".into());
    }
    if password.trim() != password {
        return Err("the password must not start or end with spaces".into());
    }
    // zxcvbn estimates how many guesses an attacker who knows the usual
    // tricks needs; 3 is "safely unguessable" for a slow hash (about 10^10
    // guesses). "aaaaaaaaaa" and "Password123" are far below.
    let estimate = zxcvbn::zxcvbn(password, &[username, "baystack", "admin", "storage"]);
    if u8::from(estimate.score()) < MIN_PASSWORD_SCORE {
        let mut message = "the password is too easy to guess".to_string();
        if let Some(feedback) = estimate.feedback() {
            if let Some(warning) = feedback.warning() {
                message.push_str(&format!(" ({})", warning.to_string().trim_end_matches('.')));
            }
            if let Some(hint) = feedback.suggestions().first() {
                message.push_str(&format!("; {}", lowercase_first(&hint.to_string())));
            }
        }
        message.push_str("; a few unrelated words make a good one");
        return Err(message);
    }
    Ok(())
}

/// zxcvbn's score (0 to 4) a new password needs.
pub const MIN_PASSWORD_SCORE: u8 = 3;

fn lowercase_first(text: &str) -> String {
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Runs `f` with `blocks` of argon2 working memory (19 MiB for ours). It is
/// mapped for the hash and unmapped after (`main` makes malloc map every
/// big block apart), so an idle console holds none of it, and the hashing
/// pool's few threads bound how much a burst of sign-ins takes.
fn with_memory<R>(blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    f(&mut vec![Block::default(); blocks])
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    fill_random(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    let mut raw_salt = [0u8; 16];
    let raw_salt = salt
        .decode_b64(&mut raw_salt)
        .expect("a salt we encoded decodes");
    let argon2 = argon2();
    let mut out = [0u8; 32];
    with_memory(argon2.params().block_count(), |m| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), raw_salt, &mut out, m)
            .expect("argon2 hashing of a bounded password cannot fail")
    });
    let hash = Output::new(&out).expect("32 bytes are a valid output");
    format!(
        "$argon2id$v=19$m={ARGON2_M_KIB},t={ARGON2_T},p={ARGON2_P}${}${hash}",
        salt.as_str()
    )
}

/// Verifies a password against a stored PHC string. A malformed hash never
/// verifies.
pub fn verify_password(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Some(salt), Some(expected)) = (
        Algorithm::new(parsed.algorithm.as_str()),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(stored) = Params::try_from(&parsed) else {
        return false;
    };
    let expected = expected.as_bytes();
    let Ok(params) = Params::new(
        stored.m_cost(),
        stored.t_cost(),
        stored.p_cost(),
        Some(expected.len()),
    ) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let hashed = with_memory(argon2.params().block_count(), |m| {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, m)
    });
    hashed.is_ok() && constant_time_eq_bytes(&out, expected)
}

/// A few threads that run every password hash and check, each reusing its
/// own working memory, so a burst of sign-ins costs at most that many
/// hashes' memory however long the queue grows.
pub struct HashPool {
    queue: Mutex<mpsc::Sender<Box<dyn FnOnce() + Send>>>,
}

impl HashPool {
    pub fn new(threads: usize) -> HashPool {
        let (tx, rx) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("baystack-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = rx
                            .lock()
                            .map_err(|_| ())
                            .and_then(|r| r.recv().map_err(|_| ()));
                        match job {
                            Ok(job) => job(),
                            Err(()) => return,
                        }
                    }
                })
                .expect("a hashing thread can be started");
        }
        HashPool {
            queue: Mutex::new(tx),
        }
    }

    /// Runs `f` (a hash or a check) on one of the pool's threads.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Box<dyn FnOnce() + Send> = Box::new(move || {
            let _ = tx.send(f());
        });
        self.queue
            .lock()
            .map_err(|_| "the hashing threads are gone".to_string())?
            .send(job)
            .map_err(|_| "the hashing threads are gone".to_string())?;
        rx.await.map_err(|_| "a hashing thread failed".to_string())
    }
}

/// Whether a stored hash uses other parameters than the current ones, so it
/// should be replaced after the next successful login.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    parsed.algorithm.as_str() != "argon2id"
        || params.m_cost() != ARGON2_M_KIB
        || params.t_cost() != ARGON2_T
        || params.p_cost() != ARGON2_P
}

/// A hash that no password matches, verified when a user does not exist so
/// that a missing user costs as much time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no user has this password, it is random-free padding"))
}

pub fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random source is available");
}

/// 256 random bits, URL-safe base64 (43 characters), with a prefix that says
/// what the secret is for.
pub fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// How secrets are stored: SHA-256, hex. The secrets are 256-bit random, so a
/// fast hash is enough; only the holder of the secret can present it.
pub fn secret_hash(secret: &str) -> String {
    crate::domain::hex(&Sha256::digest(secret.as_bytes()))
}

/// Compares two strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    constant_time_eq_bytes(a.as_bytes(), b.as_bytes())
}

fn constant_time_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.allows(Role::Operator));
        assert!(Role::Admin.allows(Role::Viewer));
        assert!(Role::Operator.allows(Role::Viewer));
        assert!(Role::Operator.allows(Role::Operator));
        assert!(!Role::Operator.allows(Role::Admin));
        assert!(!Role::Viewer.allows(Role::Operator));
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::parse("Admin"), None);
    }

    #[test]
    fn password_hash_round_trip_uses_argon2id_owasp_parameters() {
        let phc = hash_password("correct horse battery");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterx", &phc));
        assert!(!verify_password("", &phc));
        assert!(!needs_rehash(&phc));
        // Two hashes of one password differ: the salt is random.
        assert_ne!(phc, hash_password("correct horse battery"));
        // The argon2 crate's own verifier agrees with ours, both ways.
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            argon2()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        let theirs = argon2()
            .hash_password(
                b"correct horse battery",
                &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
            )
            .unwrap()
            .to_string();
        assert!(verify_password("correct horse battery", &theirs));
        assert!(!verify_password("correct horse batterY", &theirs));
    }

    #[test]
    fn the_pool_hashes_on_its_own_threads() {
        let pool = HashPool::new(2);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (name, phc) = rt.block_on(async {
            pool.run(|| {
                (
                    std::thread::current().name().unwrap_or("").to_string(),
                    hash_password("a long enough one"),
                )
            })
            .await
            .unwrap()
        });
        assert!(name.starts_with("baystack-hash-"), "{name}");
        let ok = rt.block_on(pool.run(move || verify_password("a long enough one", &phc)));
        assert_eq!(ok, Ok(true));
    }

    #[test]
    fn malformed_or_weaker_hashes() {
        assert!(!verify_password("x", "not a hash"));
        assert!(needs_rehash("not a hash"));
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(
            b"correct horse battery",
            &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
        )
        .unwrap()
        .to_string();
        assert!(verify_password("correct horse battery", &weak));
        assert!(needs_rehash(&weak));
        assert!(!verify_password("anything at all", dummy_hash()));
    }

    #[test]
    fn password_policy() {
        assert!(check_new_password("short", "admin").is_err());
        assert!(check_new_password("adminadmin", "adminadmin").is_err());
        assert!(check_new_password(" leading space pw", "admin").is_err());
        assert!(check_new_password(&"x".repeat(2000), "admin").is_err());
        assert!(check_new_password("a long enough one", "admin").is_ok());
        for weak in [
            "aaaaaaaaaa",
            "Password123",
            "1234567890",
            "qwertyuiop",
            "admin12345",
            "baystack2026",
        ] {
            let e = check_new_password(weak, "admin").unwrap_err();
            assert!(e.contains("too easy to guess"), "{weak}: {e}");
        }
        for strong in [
            "correct horse battery",
            "viewer password",
            "operator password",
        ] {
            assert!(check_new_password(strong, "someone").is_ok(), "{strong}");
        }
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = random_secret("bst_");
        let b = random_secret("bst_");
        assert_ne!(a, b);
        assert!(a.starts_with("bst_"));
        assert_eq!(a.len(), 4 + 43);
        assert_eq!(secret_hash(&a).len(), 64);
        assert_eq!(secret_hash(&a), secret_hash(&a));
        assert_ne!(secret_hash(&a), secret_hash(&b));
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(!constant_time_eq(&a, &b));
        assert!(!constant_time_eq("a", "ab"));
    }
}
