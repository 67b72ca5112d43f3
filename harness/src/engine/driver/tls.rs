//! TLS for `https://` targets, through rustls (ring): the client configuration from the run's
//! settings (the system's roots or `cacert`, `insecure`, a client certificate for mutual TLS,
//! ALPN for HTTP/2), and what a TLS failure was, as an outcome and in plain words.
//!
//! A server certificate that is itself one of `--cacert`'s certificates is accepted when its
//! name fits, as curl, Go and Python accept it: the common test recipe (`openssl req -x509`)
//! makes a self-signed certificate with `CA:TRUE`, which webpki alone refuses as a CA used as
//! an end entity. The handshake's signatures are checked either way.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::engine::load::TlsSettings;
use crate::engine::metrics::Kind;

/// Why the TLS settings cannot be used: the setting, what about it, and the error beneath.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {}", self.detail())]
pub struct TlsError {
    pub setting: &'static str,
    pub what: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TlsError {
    /// What went wrong, without the setting's name: for a message that names its flag.
    pub fn detail(&self) -> String {
        match &self.source {
            Some(source) => format!("{}: {source}", self.what),
            None => self.what.clone(),
        }
    }
}

/// `setting`'s `what` failed with `source`.
pub fn fail(
    setting: &'static str,
    what: impl Into<String>,
    source: impl std::error::Error + Send + Sync + 'static,
) -> TlsError {
    TlsError {
        setting,
        what: what.into(),
        source: Some(Box::new(source)),
    }
}

/// `setting` cannot be used, for the reason `what`.
fn refuse(setting: &'static str, what: impl Into<String>) -> TlsError {
    TlsError {
        setting,
        what: what.into(),
        source: None,
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
        .map_err(|e| fail("tls", "the protocol versions", e))?;
    let builder = if settings.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(
                provider.signature_verification_algorithms,
            )))
    } else if let Some(cacert) = settings.cacert.as_deref() {
        let pinned = certificates("cacert", cacert)?;
        let mut store = RootCertStore::empty();
        for cert in &pinned {
            store
                .add(cert.clone())
                .map_err(|e| fail("cacert", cacert.display().to_string(), e))?;
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
            .build()
            .map_err(|e| fail("cacert", cacert.display().to_string(), e))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedOrSigned { webpki, pinned }))
    } else {
        builder.with_root_certificates(system_roots()?)
    };
    let mut config = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => {
            let chain = certificates("cert", cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| fail("key", key.display().to_string(), e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| fail("key", "the client certificate and its key", e))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The system's trusted roots.
fn system_roots() -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    store.add_parsable_certificates(found.certs);
    if store.is_empty() {
        return Err(refuse(
            "cacert",
            "the system has no CA certificates (install ca-certificates), so no server can be verified; give --cacert FILE, or --insecure",
        ));
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
        .map_err(|e| fail(setting, path.display().to_string(), e))?;
    if certs.is_empty() {
        return Err(refuse(
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
    ServerName::try_from(text.clone()).map_err(|e| fail("url", format!("`{text}`"), e))
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
            // A self-signed CA:TRUE certificate that is not --cacert's: untrusted, as above.
            CertificateError::Other(other) if ca_as_end_entity(other) => Kind::CertUnknownIssuer,
            _ => Kind::Tls,
        },
        _ => Kind::Tls,
    })
}

/// Why a TLS handshake failed, in plain words, with rustls' own words after them.
pub(crate) fn words(error: &std::io::Error) -> String {
    let Some(tls) = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return error.to_string();
    };
    let plain = match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => {
                "the server's certificate is not signed by a CA poolstorm trusts (the system's, or --cacert's)".to_owned()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server's certificate has expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet".to_owned()
            }
            CertificateError::NotValidForName
            | CertificateError::NotValidForNameContext { .. } => {
                "the server's certificate is for other names than the URL's host".to_owned()
            }
            CertificateError::BadSignature => {
                "the server's certificate has a signature that does not verify".to_owned()
            }
            CertificateError::Other(other) if ca_as_end_entity(other) => {
                "the server's certificate is a CA certificate (CA:TRUE) that is not one of \
                 --cacert's; give that very certificate to --cacert to trust it"
                    .to_owned()
            }
            _ => "the server's certificate was refused".to_owned(),
        },
        rustls::Error::AlertReceived(alert) => {
            format!("the server ended the handshake with the alert {alert:?}")
        }
        rustls::Error::NoCertificatesPresented => "the server sent no certificate".to_owned(),
        _ => return tls.to_string(),
    };
    format!("{plain} ({tls})")
}

/// webpki's refusal of a CA certificate sent as the server's own.
fn ca_as_end_entity(other: &rustls::OtherError) -> bool {
    matches!(
        other.0.downcast_ref::<webpki::Error>(),
        Some(webpki::Error::CaUsedAsEndEntity)
    )
}

/// `--cacert`: a server certificate that is one of the file's certificates (pinned) is taken
/// if its name fits; any other must chain to one of them, as webpki checks.
#[derive(Debug)]
struct PinnedOrSigned {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for PinnedOrSigned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refused = match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(e) => e,
        };
        if !self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return Err(refused);
        }
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|_| refused)?;
        cert.verify_is_valid_for_subject_name(server_name)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::NotValidForName))?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_cacert_names_the_setting_and_keeps_the_io_error() {
        let settings = TlsSettings {
            cacert: Some("/no/such/ca.pem".into()),
            ..TlsSettings::default()
        };
        let err = client_config(&settings, &[b"http/1.1"]).unwrap_err();
        assert_eq!(err.setting, "cacert");
        assert!(
            err.to_string().starts_with("cacert: /no/such/ca.pem: "),
            "{err}"
        );
        // The PEM reader's error is kept as the source, and the I/O error beneath it.
        let source = std::error::Error::source(&err).expect("a source");
        let pem = source.downcast_ref::<rustls::pki_types::pem::Error>();
        assert!(
            matches!(pem, Some(rustls::pki_types::pem::Error::Io(io)) if io.kind() == std::io::ErrorKind::NotFound),
            "{err:?}"
        );
    }
}
