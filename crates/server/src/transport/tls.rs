//! The listener's certificate: read from its PEM files at start and again on every
//! [`TlsCerts::reload`] (SIGHUP). A reload that fails keeps the certificate in use; handshakes
//! already under way finish with the certificate they started with.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use tokio_rustls::TlsAcceptor;

/// Why a certificate could not be used; each names the file and the setting that points at it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path} (http.{setting}): {source}")]
    Read {
        setting: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} (http.tls_cert) holds no usable certificate{detail}: expected PEM blocks `-----BEGIN CERTIFICATE-----`, the server's certificate first"
    )]
    NoCertificate { path: PathBuf, detail: String },
    #[error(
        "{path} (http.tls_key) holds no usable private key ({reason}): expected one PEM block `-----BEGIN PRIVATE KEY-----` (PKCS#8), `RSA PRIVATE KEY` or `EC PRIVATE KEY`"
    )]
    NoKey { path: PathBuf, reason: String },
    #[error(
        "the private key {key} (http.tls_key) does not belong to the certificate {cert} (http.tls_cert): {reason}; point both settings at the files of one certificate"
    )]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// The certificate the listener presents, replaceable while it serves.
#[derive(Debug)]
pub struct TlsCerts {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Arc<Current>,
    config: Arc<rustls::ServerConfig>,
}

/// The certificate handed to each new handshake.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner)))
    }
}

impl TlsCerts {
    /// Reads the certificate chain and its key; fails naming the file that is wrong.
    pub fn load(cert_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> Result<Self, TlsError> {
        let (cert_path, key_path) = (cert_path.into(), key_path.into());
        // The provider reqwest and the Redis client use: one TLS backend in the binary.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certified = read_pair(&cert_path, &key_path, &provider)?;
        let current = Arc::new(Current(RwLock::new(Arc::new(certified))));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        // HTTP/1.1 only, as on plain connections.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            cert_path,
            key_path,
            provider,
            current,
            config: Arc::new(config),
        })
    }

    /// Reads both files again and presents the new certificate to the next handshakes. On an
    /// error the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let certified = read_pair(&self.cert_path, &self.key_path, &self.provider)?;
        *self.current.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(certified);
        Ok(())
    }

    /// The certificate chain file (`http.tls_cert`).
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.config))
    }
}

fn read_pair(cert_path: &Path, key_path: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let read = |setting, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            setting,
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read("tls_cert", cert_path)?;
    let key_pem = read("tls_key", key_path)?;
    let no_certificate = |detail: String| TlsError::NoCertificate {
        path: cert_path.to_owned(),
        detail,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| no_certificate(format!(" ({e})")))?;
    if chain.is_empty() {
        return Err(no_certificate(String::new()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::NoKey {
        path: key_path.to_owned(),
        reason: e.to_string(),
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::NoKey {
            path: key_path.to_owned(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // A key type whose public half rustls cannot derive: the handshake will tell.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(e @ rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatch {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
            reason: e.to_string(),
        }),
        // The server's certificate is not a readable X.509 certificate.
        Err(e) => Err(no_certificate(format!(" ({e})"))),
    }
}
