//! The channel's TLS: each appliance has one self-signed certificate, made
//! once and kept in its database; peers know each other only by the
//! SHA-256 of that certificate. A client accepts a server whose
//! certificate has the fingerprint it pinned and nothing else; a server
//! demands a client certificate (proof of its key) and then checks its
//! fingerprint against its peers, or lets a pairing attempt through to
//! present its one-time code. TLS 1.3 only.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::db::{self, Conn, Db, peers};
use crate::error::AppError;

/// The name a client asks for; certificates are pinned, not named, so it
/// is only a placeholder TLS needs.
const SERVER_NAME: &str = "baystack-peer";

/// The SHA-256 of a certificate (DER), hex: how peers name each other.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    crate::domain::hex(&Sha256::digest(cert.as_ref()))
}

/// A new identity for `hostname`: a P-256 key and a self-signed
/// certificate for it lasting a hundred years (it is pinned, never
/// checked against a date or an authority), as PEM, with its fingerprint.
pub fn make_identity(hostname: &str) -> Result<(String, String, String), String> {
    let key = rcgen::KeyPair::generate().map_err(|e| format!("making a key: {e}"))?;
    let mut params =
        rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()]).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("Baystack {hostname}"));
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2120, 1, 1);
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("signing the certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem(), fingerprint(cert.der())))
}

/// This appliance's identity, made and recorded the first time anything
/// needs it (whichever of two processes is first, both end with the one
/// recorded). In the caller's write transaction.
pub fn identity_on(c: &mut Conn<'_>) -> diesel::QueryResult<peers::Identity> {
    if let Some(i) = peers::identity(c)? {
        return Ok(i);
    }
    let host = db::appliance::get(c)?
        .map(|a| a.hostname)
        .unwrap_or_else(|| "appliance".into());
    let (cert, key, fp) = make_identity(&host).expect("rcgen makes a P-256 certificate");
    peers::keep_identity(c, &cert, &key, &fp, db::now())
}

/// [`identity_on`] in a transaction of its own.
pub fn identity(db: &Db) -> Result<peers::Identity, AppError> {
    let mut conn = db.get()?;
    if let Some(i) = peers::identity(&mut conn.conn())? {
        return Ok(i);
    }
    Ok(conn.write(identity_on)?)
}

/// *ring*, as the rest of Baystack's TLS (mail, webhooks) uses. rustls
/// marks it deprecated for having no post-quantum key exchange, which
/// only its aws-lc-rs provider (a C build) has.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn cert_and_key(
    id: &peers::Identity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let cert = CertificateDer::from_pem_slice(id.cert_pem.as_bytes())
        .map_err(|e| format!("this appliance's certificate does not read: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes())
        .map_err(|e| format!("this appliance's key does not read: {e}"))?;
    Ok((vec![cert], key))
}

/// A client that presents `id` and accepts only a server whose certificate
/// has fingerprint `pinned`.
pub fn client_config(
    id: &peers::Identity,
    pinned: &str,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = provider();
    let (chain, key) = cert_and_key(id)?;
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            fingerprint: pinned.to_ascii_lowercase(),
            algorithms: provider.signature_verification_algorithms,
        }))
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("this appliance's certificate and key: {e}"))?;
    Ok(Arc::new(config))
}

/// The server name a client gives.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).expect("a valid DNS name")
}

/// A server that presents `id` and demands a certificate of every client;
/// which clients are let in is decided after the handshake, by fingerprint.
pub fn server_config(id: &peers::Identity) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = provider();
    let (chain, key) = cert_and_key(id)?;
    let config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(Arc::new(AnyClientKey {
            algorithms: provider.signature_verification_algorithms,
        }))
        .with_single_cert(chain, key)
        .map_err(|e| format!("this appliance's certificate and key: {e}"))?;
    Ok(Arc::new(config))
}

/// Accepts exactly one server certificate, by its SHA-256; the handshake's
/// signature still proves the server holds its key.
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = fingerprint(end_entity);
        if got == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the appliance there is not the one paired with: its certificate's SHA-256 is {}, \
                 not {}",
                crate::domain::peer::fingerprint_words(&got),
                crate::domain::peer::fingerprint_words(&self.fingerprint)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Demands a client certificate and proof of its key, whatever it is: the
/// server checks its fingerprint once the handshake is done.
#[derive(Debug)]
struct AnyClientKey {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientKey {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }
}
