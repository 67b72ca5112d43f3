//! A plain `GET` for the harness's own questions to the target (`/health`, `/debug/pool`,
//! `/mode2/messages/stats`, a service's readiness path and metrics): one connection per call,
//! a bounded wait, the whole body back. Not on any measured path. Over `https://` it speaks
//! TLS without checking the certificate: these questions go to a service poolstorm started or
//! was pointed at, carry no credentials, and must not fail on a private CA the load's own
//! requests verify with `cacert`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::engine::load::Target;

/// Why a GET failed: the URL, and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("GET {url}: {why}")]
pub struct FetchError {
    pub url: String,
    #[source]
    pub why: Why,
}

/// What went wrong with a GET.
#[derive(Debug, thiserror::Error)]
pub enum Why {
    #[error(transparent)]
    Target(#[from] crate::engine::load::TargetError),
    #[error(transparent)]
    Connect(std::io::Error),
    #[error(transparent)]
    TlsSettings(#[from] crate::engine::driver::TlsError),
    #[error("TLS: {0}")]
    Tls(#[source] std::io::Error),
    #[error(transparent)]
    Http(#[from] hyper::Error),
    #[error(transparent)]
    Request(#[from] hyper::http::Error),
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("status {0}")]
    Status(u16),
    #[error("not the expected JSON: {0}")]
    Json(#[source] serde_json::Error),
}

/// `GET base_url + path`, waiting at most `timeout` for the status and body.
pub async fn get(
    base_url: &str,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Bytes), FetchError> {
    let url = format!("{}{path}", base_url.trim_end_matches('/'));
    let work = async {
        let target = Target::parse(&url)?;
        let addr = target.resolve().await?;
        let stream = TcpStream::connect(addr).await.map_err(Why::Connect)?;
        if !target.tls {
            return exchange(stream, &target).await;
        }
        let settings = crate::engine::load::TlsSettings {
            insecure: true,
            ..Default::default()
        };
        let config = crate::engine::driver::tls::client_config(&settings, &[b"http/1.1"])?;
        let name = crate::engine::driver::tls::server_name(&target.host)?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, stream)
            .await
            .map_err(Why::Tls)?;
        exchange(tls, &target).await
    };
    let result = match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(Why::Timeout(timeout)),
    };
    result.map_err(|why| FetchError { url, why })
}

/// One GET on an open connection: the status and the whole body.
async fn exchange<S>(stream: S, target: &Target) -> Result<(u16, Bytes), Why>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::get(&target.path)
        .header(hyper::header::HOST, &target.authority)
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// `GET` and parse the body as JSON into `T`, requiring a 200.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    base_url: &str,
    path: &str,
    timeout: Duration,
) -> Result<T, FetchError> {
    let (status, body) = get(base_url, path, timeout).await?;
    let url = format!("{}{path}", base_url.trim_end_matches('/'));
    if status != 200 {
        return Err(FetchError {
            url,
            why: Why::Status(status),
        });
    }
    serde_json::from_slice(&body).map_err(|e| FetchError {
        url,
        why: Why::Json(e),
    })
}
