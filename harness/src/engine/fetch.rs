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

/// Why a GET failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GET {url}: {reason}")]
pub struct FetchError {
    pub url: String,
    pub reason: String,
}

/// `GET base_url + path`, waiting at most `timeout` for the status and body.
pub async fn get(
    base_url: &str,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Bytes), FetchError> {
    let url = format!("{}{path}", base_url.trim_end_matches('/'));
    let fail = |reason: String| FetchError {
        url: url.clone(),
        reason,
    };
    let target = Target::parse(&url).map_err(|e| fail(e.to_string()))?;
    let work = async {
        let addr = target.resolve().await.map_err(|e| e.to_string())?;
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        if !target.tls {
            return exchange(stream, &target).await;
        }
        let settings = crate::engine::load::TlsSettings {
            insecure: true,
            ..Default::default()
        };
        let config = crate::engine::driver::tls::client_config(&settings, &[b"http/1.1"])
            .map_err(|e| e.to_string())?;
        let name =
            crate::engine::driver::tls::server_name(&target.host).map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        exchange(tls, &target).await
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result.map_err(fail),
        Err(_) => Err(fail(format!("no answer within {timeout:?}"))),
    }
}

/// One GET on an open connection: the status and the whole body.
async fn exchange<S>(stream: S, target: &Target) -> Result<(u16, Bytes), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::get(&target.path)
        .header(hyper::header::HOST, &target.authority)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
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
            reason: format!("status {status}"),
        });
    }
    serde_json::from_slice(&body).map_err(|e| FetchError {
        url,
        reason: format!("not the expected JSON: {e}"),
    })
}
