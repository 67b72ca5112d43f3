//! How requests travel: HTTP/1.1, HTTP/2 negotiated by ALPN over TLS, or HTTP/2 with prior
//! knowledge over plain TCP (h2c); and the TLS settings of an `https://` target.

use std::path::PathBuf;

use serde::Serialize;

/// The wire protocol of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Protocol {
    /// One request at a time per keep-alive connection.
    #[serde(rename = "http/1.1")]
    Http1,
    /// HTTP/2 over TLS (ALPN `h2`), `streams` requests at once per connection.
    #[serde(rename = "h2")]
    Http2 { streams: u32 },
    /// HTTP/2 with prior knowledge over plain TCP, `streams` requests at once per connection.
    #[serde(rename = "h2c")]
    H2c { streams: u32 },
}

impl Protocol {
    /// `http/1.1`, `h2` or `h2c`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "http/1.1",
            Protocol::Http2 { .. } => "h2",
            Protocol::H2c { .. } => "h2c",
        }
    }

    /// Requests in flight at once on one connection.
    pub fn streams(self) -> u32 {
        match self {
            Protocol::Http1 => 1,
            Protocol::Http2 { streams } | Protocol::H2c { streams } => streams,
        }
    }
}

/// TLS settings of an `https://` target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsSettings {
    /// CA certificates (PEM) to trust instead of the system's roots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cacert: Option<PathBuf>,
    /// Do not verify the server's certificate.
    pub insecure: bool,
    /// Client certificate chain (PEM) and its key, for mutual TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}
