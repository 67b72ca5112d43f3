//! One HTTP/1.1 keep-alive connection per user (or open-model slot), plain or TLS: each
//! task's request is built once as bytes and written with one call, the response is read by
//! [`http1`] and classified. The connection is reopened after any failure, and a request that
//! a kept-alive connection closed before answering goes once more on a fresh one. A task's
//! HTTP/2 form is built once too, for [`super::h2`].

use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt as _;

use super::dial::{Dialer, Events, Stream};
use super::http1::{self, ReadError};
use crate::engine::load::{Target, TaskSpec};
use crate::engine::metrics::{Kind, Outcome};

/// Read buffer kept per connection.
const BUFFER: usize = 8 * 1024;

/// Headers HTTP/2 forbids or carries otherwise (`host` is the `:authority`).
const NOT_IN_H2: [&str; 6] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// A task's request, serialized once.
#[derive(Debug, Clone)]
pub struct Prepared {
    bytes: Bytes,
    /// HEAD responses have no body whatever their headers say.
    head: bool,
    /// The same request for HTTP/2: method, absolute URI, headers, body.
    pub(super) h2: http::request::Parts,
    pub(super) body: Bytes,
}

/// Why a task cannot be sent as given, naming the task.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("task `{task}`: path `{path}`: {source}")]
    Path {
        task: String,
        path: String,
        #[source]
        source: hyper::http::uri::InvalidUri,
    },
    #[error("task `{task}`: header `{name}` has a line break or no name")]
    Header { task: String, name: String },
    #[error("task `{task}`: as HTTP/2: {source}")]
    Http2 {
        task: String,
        #[source]
        source: http::Error,
    },
}

impl Prepared {
    /// `METHOD PATH HTTP/1.1`, Host, User-Agent, the task's headers, Content-Length and body.
    pub fn new(target: &Target, task: &TaskSpec) -> Result<Self, PrepareError> {
        let path = target.join(&task.path);
        path.parse::<hyper::Uri>()
            .map_err(|source| PrepareError::Path {
                task: task.name.clone(),
                path: path.clone(),
                source,
            })?;
        let user_agent = concat!("poolstorm/", env!("CARGO_PKG_VERSION"));
        let mut head = format!(
            "{} {path} HTTP/1.1\r\nhost: {}\r\nuser-agent: {user_agent}\r\n",
            task.method, target.authority,
        );
        let scheme = if target.tls { "https" } else { "http" };
        let mut h2 = http::Request::builder()
            .method(task.method.as_str())
            .uri(format!("{scheme}://{}{path}", target.authority))
            .header("user-agent", user_agent);
        for (name, value) in &task.headers {
            if value.contains(['\r', '\n']) || name.is_empty() {
                return Err(PrepareError::Header {
                    task: task.name.clone(),
                    name: name.clone(),
                });
            }
            head.push_str(&format!("{name}: {value}\r\n"));
            if !NOT_IN_H2.contains(&name.to_ascii_lowercase().as_str()) {
                h2 = h2.header(name.to_ascii_lowercase(), value);
            }
        }
        let sends_body =
            !task.body.is_empty() || matches!(task.method.as_str(), "POST" | "PUT" | "PATCH");
        if sends_body {
            head.push_str(&format!("content-length: {}\r\n", task.body.len()));
            h2 = h2.header("content-length", task.body.len());
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&task.body);
        let (h2, ()) = h2
            .body(())
            .map_err(|source| PrepareError::Http2 {
                task: task.name.clone(),
                source,
            })?
            .into_parts();
        Ok(Self {
            bytes: Bytes::from(bytes),
            head: task.method == "HEAD",
            h2,
            body: task.body.clone(),
        })
    }

    /// A fresh HTTP/2 request head for one send.
    pub(super) fn h2_request(&self) -> http::Request<()> {
        let mut request = http::Request::new(());
        *request.method_mut() = self.h2.method.clone();
        *request.uri_mut() = self.h2.uri.clone();
        *request.headers_mut() = self.h2.headers.clone();
        request
    }

    /// HEAD responses have no body.
    pub(super) fn is_head(&self) -> bool {
        self.head
    }
}

/// An HTTP/1.1 connection to the target, opened on first use and after every failure.
#[derive(Debug)]
pub(super) struct Connection {
    stream: Option<Stream>,
    buf: Vec<u8>,
    /// Connections opened or refused since the recorder last heard.
    pub(super) events: Events,
}

impl Default for Connection {
    fn default() -> Self {
        Self {
            stream: None,
            buf: Vec::with_capacity(BUFFER),
            events: Events::default(),
        }
    }
}

impl Connection {
    /// Sends one request and waits at most `timeout` for the whole response.
    pub(super) async fn send(
        &mut self,
        dialer: &Dialer,
        task: &Prepared,
        timeout: Duration,
    ) -> Outcome {
        let outcome = match tokio::time::timeout(timeout, self.exchange(dialer, task)).await {
            Ok(Ok(outcome)) => return outcome,
            Ok(Err(kind)) => Outcome::no_response(kind),
            Err(_) => Outcome::no_response(Kind::Timeout),
        };
        self.stream = None;
        outcome
    }

    async fn exchange(&mut self, dialer: &Dialer, task: &Prepared) -> Result<Outcome, Kind> {
        for first_try in [true, false] {
            let reused = self.stream.is_some();
            let stream = match &mut self.stream {
                Some(stream) => stream,
                None => match dialer.dial().await {
                    Ok((stream, setup)) => {
                        self.events.opened(setup);
                        self.stream.insert(stream)
                    }
                    Err(refused) => {
                        self.events.refused(&refused);
                        return Err(refused.kind);
                    }
                },
            };
            let written = match stream.write_all(&task.bytes).await {
                Ok(()) => stream.flush().await,
                Err(e) => Err(e),
            };
            let result = match written {
                Ok(()) => http1::read_response(stream, &mut self.buf, task.head).await,
                Err(e) => Err(http1::io_error(&e, ReadError::ClosedBeforeResponse)),
            };
            match result {
                Ok(response) => {
                    if !response.keep_alive {
                        self.stream = None;
                    }
                    return Ok(Outcome::from_response(response.status, &response.body_head));
                }
                Err(ReadError::ClosedBeforeResponse) if reused && first_try => self.stream = None,
                Err(ReadError::Malformed) => return Err(Kind::Other),
                Err(ReadError::Tls(kind)) => return Err(kind),
                Err(_) => return Err(Kind::Connect),
            }
        }
        Err(Kind::Connect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_serialized_once_with_host_length_and_headers() {
        let target = Target::parse("http://127.0.0.1:8080/api").unwrap();
        let task = TaskSpec::parse(
            r#"POST /m header=X-A:1 body={"a":1}"#,
            std::path::Path::new("."),
        )
        .unwrap();
        let p = Prepared::new(&target, &task).unwrap();
        let text = String::from_utf8(p.bytes.to_vec()).unwrap();
        assert!(
            text.starts_with("POST /api/m HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\r\nX-A: 1\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}"
            ),
            "{text}"
        );
        let get = Prepared::new(
            &target,
            &TaskSpec::parse("GET /h", std::path::Path::new(".")).unwrap(),
        )
        .unwrap();
        assert!(!String::from_utf8_lossy(&get.bytes).contains("content-length"));
    }

    #[test]
    fn header_injection_is_refused() {
        let target = Target::parse("http://127.0.0.1:8080").unwrap();
        let mut task = TaskSpec::parse("GET /h", std::path::Path::new(".")).unwrap();
        task.headers.push(("X-A".into(), "1\r\nX-Evil: 2".into()));
        assert!(Prepared::new(&target, &task).is_err());
    }
}
