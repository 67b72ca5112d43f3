//! One HTTP/1.1 keep-alive connection per user (or open-model slot): each task's request is
//! built once as bytes and written with one call, the response is read by [`http1`] and
//! classified. The connection is reopened after any failure, and a request that a kept-alive
//! connection closed before answering goes once more on a fresh one.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use super::http1::{self, ReadError};
use crate::load::{Target, TaskSpec};
use crate::metrics::{Kind, Outcome};

/// Read buffer kept per connection.
const BUFFER: usize = 8 * 1024;

/// A task's request, serialized once.
#[derive(Debug, Clone)]
pub struct Prepared {
    bytes: Bytes,
    /// HEAD responses have no body whatever their headers say.
    head: bool,
}

/// Why a task cannot be sent as given.
#[derive(Debug, thiserror::Error)]
#[error("task `{task}`: {reason}")]
pub struct PrepareError {
    task: String,
    reason: String,
}

impl Prepared {
    /// `METHOD PATH HTTP/1.1`, Host, User-Agent, the task's headers, Content-Length and body.
    pub fn new(target: &Target, task: &TaskSpec) -> Result<Self, PrepareError> {
        let bad = |reason: String| PrepareError {
            task: task.name.clone(),
            reason,
        };
        let path = target.join(&task.path);
        path.parse::<hyper::Uri>()
            .map_err(|e| bad(format!("path `{path}`: {e}")))?;
        let mut head = format!(
            "{} {path} HTTP/1.1\r\nhost: {}\r\nuser-agent: poolstorm/{}\r\n",
            task.method,
            target.authority,
            env!("CARGO_PKG_VERSION")
        );
        for (name, value) in &task.headers {
            if value.contains(['\r', '\n']) || name.is_empty() {
                return Err(bad(format!("header `{name}` has a line break or no name")));
            }
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let sends_body =
            !task.body.is_empty() || matches!(task.method.as_str(), "POST" | "PUT" | "PATCH");
        if sends_body {
            head.push_str(&format!("content-length: {}\r\n", task.body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&task.body);
        Ok(Self {
            bytes: Bytes::from(bytes),
            head: task.method == "HEAD",
        })
    }
}

/// A connection to the target, opened on first use and after every failure.
#[derive(Debug)]
pub struct Connection {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Connection {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            stream: None,
            buf: Vec::with_capacity(BUFFER),
        }
    }

    /// Sends one request and waits at most `timeout` for the whole response.
    pub async fn send(&mut self, task: &Prepared, timeout: Duration) -> Outcome {
        let outcome = match tokio::time::timeout(timeout, self.exchange(task)).await {
            Ok(Ok(outcome)) => return outcome,
            Ok(Err(kind)) => Outcome::no_response(kind),
            Err(_) => Outcome::no_response(Kind::Timeout),
        };
        self.stream = None;
        outcome
    }

    async fn exchange(&mut self, task: &Prepared) -> Result<Outcome, Kind> {
        for first_try in [true, false] {
            let reused = self.stream.is_some();
            let stream = match &mut self.stream {
                Some(stream) => stream,
                None => {
                    let stream = TcpStream::connect(self.addr)
                        .await
                        .map_err(|_| Kind::Connect)?;
                    let _ = stream.set_nodelay(true);
                    self.stream.insert(stream)
                }
            };
            let result = match stream.write_all(&task.bytes).await {
                Ok(()) => http1::read_response(stream, &mut self.buf, task.head).await,
                Err(_) => Err(ReadError::ClosedBeforeResponse),
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
