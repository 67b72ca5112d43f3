//! TLS for `https://` targets, through rustls (ring): the client configuration from the run's
//! settings (the system's roots or `cacert`, `insecure`, a client certificate for mutual TLS,
//! ALPN for HTTP/2), and what a TLS failure was, as an outcome.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::load::TlsSettings;
use crate::metrics::Kind;

/// Why the TLS settings cannot be used; names the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct TlsError {
    pub setting: &'static str,
    pub reason: String,
}

fn fail(setting: &'static str, reason: impl Into<String>) -> TlsError {
    TlsError {
        setting,
        reason: reason.into(),
    }
}

/// The client configuration; `alpn` lists the protocols offered (`h2`, `http/1.1`).
pub fn client_config(
    settings: &TlsSettings,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("tls", e.to_string()))?;
    let builder = if settings.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(
                provider.signature_verification_algorithms,
            )))
    } else {
        builder.with_root_certificates(roots(settings.cacert.as_deref())?)
    };
    let mut config = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => {
            let chain = certificates("cert", cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| fail("key", format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| fail("key", e.to_string()))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The trusted roots: the CA file's certificates, or the system's.
fn roots(cacert: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    match cacert {
        Some(path) => {
            for cert in certificates("cacert", path)? {
                store
                    .add(cert)
                    .map_err(|e| fail("cacert", format!("{}: {e}", path.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(fail(
                    "cacert",
                    "the system has no CA certificates (install ca-certificates), so no server can be verified; give --cacert FILE, or --insecure",
                ));
            }
        }
    }
    Ok(store)
}

/// Every certificate in a PEM file; none is an error.
fn certificates(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| fail(setting, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(fail(
            setting,
            format!("{}: no PEM certificate in it", path.display()),
        ));
    }
    Ok(certs)
}

/// The name the certificate must carry, and the SNI sent: the URL's host (an IP literal is
/// checked against the certificate's IP addresses and sends no SNI).
pub fn server_name(host: &url::Host<String>) -> Result<ServerName<'static>, TlsError> {
    let text = match host {
        url::Host::Domain(name) => name.clone(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => ip.to_string(),
    };
    ServerName::try_from(text.clone()).map_err(|e| fail("url", format!("`{text}`: {e}")))
}

/// The outcome of a failed TLS handshake or read, when the failure was TLS's: the three
/// certificate failures by name, anything else TLS as `tls`. `None`: not a TLS error.
pub(crate) fn kind_of(error: &std::io::Error) -> Option<Kind> {
    let tls = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => Kind::CertUnknownIssuer,
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => Kind::CertExpired,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Kind::CertWrongName
            }
            _ => Kind::Tls,
        },
        _ => Kind::Tls,
    })
}

/// `--insecure`: any certificate is accepted, but the handshake's signatures are still
/// checked (the peer holds the key of the certificate it sent).
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
