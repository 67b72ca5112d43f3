//! Reading one HTTP/1.1 response off a stream: the head parsed with `httparse`, the body
//! framed by Content-Length, chunked encoding or the end of the connection, and only the
//! first few KiB of an error body kept (to find target-app's `"error": "pool_timeout"`).

use tokio::io::{AsyncRead, AsyncReadExt as _};

/// Most bytes a response head may take.
const MAX_HEAD: usize = 64 * 1024;
/// Headers parsed per response.
const MAX_HEADERS: usize = 64;
/// How much of an error body is kept.
pub(super) const ERROR_BODY_HEAD: usize = 4096;

/// A response read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Response {
    pub(super) status: u16,
    /// The first [`ERROR_BODY_HEAD`] bytes of the body when the status is not 2xx.
    pub(super) body_head: Vec<u8>,
    /// Whether the connection may carry another request.
    pub(super) keep_alive: bool,
}

/// Why no complete response was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadError {
    /// The peer closed the connection before sending a byte (a kept-alive connection it
    /// closed while idle: the request can go again on a fresh one).
    ClosedBeforeResponse,
    /// The connection broke or closed part way.
    Io,
    /// Not HTTP/1.x, or a head or chunk that does not parse.
    Malformed,
}

enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Reads one response to `request_method`; `buf` is scratch space kept between calls.
pub(super) async fn read_response<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    head_request: bool,
) -> Result<Response, ReadError> {
    buf.clear();
    let (status, head_len, framing, keep_alive) = loop {
        if stream.read_buf(buf).await.map_err(|_| ReadError::Io)? == 0 {
            return Err(if buf.is_empty() {
                ReadError::ClosedBeforeResponse
            } else {
                ReadError::Io
            });
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        match parsed.parse(buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let status = parsed.code.ok_or(ReadError::Malformed)?;
                if (100..200).contains(&status) && status != 101 {
                    // An interim response (100 Continue): the real one follows.
                    buf.drain(..head_len);
                    continue;
                }
                let (framing, keep_alive) = framing_of(&parsed, head_request)?;
                break (status, head_len, framing, keep_alive);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            _ => return Err(ReadError::Malformed),
        }
    };
    let mut body = Body {
        keep: !(200..300).contains(&status),
        head: Vec::new(),
    };
    let keep_alive = match framing {
        Framing::None => keep_alive,
        Framing::Length(total) => {
            let left = total - body.take(&buf[head_len..], total);
            read_exact_len(stream, buf, &mut body, left).await?;
            keep_alive
        }
        Framing::Chunked => {
            let mut decoder = Chunked::default();
            let mut done = decoder.feed(&buf[head_len..], &mut body)?;
            while !done {
                buf.clear();
                if stream.read_buf(buf).await.map_err(|_| ReadError::Io)? == 0 {
                    return Err(ReadError::Io);
                }
                done = decoder.feed(buf, &mut body)?;
            }
            keep_alive
        }
        Framing::UntilClose => {
            body.take(&buf[head_len..], u64::MAX);
            loop {
                buf.clear();
                if stream.read_buf(buf).await.map_err(|_| ReadError::Io)? == 0 {
                    break;
                }
                body.take(buf, u64::MAX);
            }
            false
        }
    };
    Ok(Response {
        status,
        body_head: body.head,
        keep_alive,
    })
}

/// Body bytes passing through: counted by the caller, the first few KiB kept when wanted.
struct Body {
    keep: bool,
    head: Vec<u8>,
}

impl Body {
    /// Takes up to `limit` bytes from `bytes`; returns how many.
    fn take(&mut self, bytes: &[u8], limit: u64) -> u64 {
        let n = bytes
            .len()
            .min(usize::try_from(limit).unwrap_or(usize::MAX));
        if self.keep {
            let room = ERROR_BODY_HEAD.saturating_sub(self.head.len());
            self.head.extend_from_slice(&bytes[..n.min(room)]);
        }
        n as u64
    }
}

async fn read_exact_len<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    body: &mut Body,
    mut left: u64,
) -> Result<(), ReadError> {
    while left > 0 {
        buf.clear();
        if stream.read_buf(buf).await.map_err(|_| ReadError::Io)? == 0 {
            return Err(ReadError::Io);
        }
        let took = body.take(buf, left);
        if (took as usize) < buf.len() {
            return Err(ReadError::Malformed);
        }
        left -= took;
    }
    Ok(())
}

fn framing_of(
    r: &httparse::Response<'_, '_>,
    head_request: bool,
) -> Result<(Framing, bool), ReadError> {
    let http11 = r.version == Some(1);
    let mut keep_alive = http11;
    let (mut length, mut chunked) = (None, false);
    for h in r.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| ReadError::Malformed)?
            .trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<u64>().map_err(|_| ReadError::Malformed)?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .to_ascii_lowercase()
                .split(',')
                .any(|v| v.trim() == "chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    let status = r.code.unwrap_or_default();
    let framing = if head_request || status == 204 || status == 304 {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(length) = length {
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    Ok((framing, keep_alive))
}

/// Chunked transfer decoding, fed in pieces.
#[derive(Debug, Default)]
struct Chunked {
    state: ChunkState,
    size: u64,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    /// Chunk extensions, up to the line feed.
    SizeRest,
    Data,
    DataCr,
    DataLf,
    /// After the last chunk: trailer lines until an empty one. `bool`: the line so far is empty.
    Trailer(bool),
}

impl Chunked {
    /// Consumes `bytes`; true once the body is complete.
    fn feed(&mut self, mut bytes: &[u8], body: &mut Body) -> Result<bool, ReadError> {
        while let Some(&b) = bytes.first() {
            match self.state {
                ChunkState::Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let digit = u64::from((b as char).to_digit(16).expect("hex digit"));
                        self.size = self
                            .size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(digit))
                            .ok_or(ReadError::Malformed)?;
                    }
                    b';' | b'\r' | b' ' | b'\t' => self.state = ChunkState::SizeRest,
                    b'\n' => self.end_size_line(),
                    _ => return Err(ReadError::Malformed),
                },
                ChunkState::SizeRest => {
                    if b == b'\n' {
                        self.end_size_line();
                    }
                }
                ChunkState::Data => {
                    let took = body.take(bytes, self.size);
                    self.size -= took;
                    bytes = &bytes[took as usize..];
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                    continue;
                }
                ChunkState::DataCr => {
                    self.state = if b == b'\r' {
                        ChunkState::DataLf
                    } else {
                        return Err(ReadError::Malformed);
                    }
                }
                ChunkState::DataLf => {
                    self.state = if b == b'\n' {
                        ChunkState::Size
                    } else {
                        return Err(ReadError::Malformed);
                    }
                }
                ChunkState::Trailer(empty) => match b {
                    b'\n' if empty => return Ok(true),
                    b'\n' => self.state = ChunkState::Trailer(true),
                    b'\r' => {}
                    _ => self.state = ChunkState::Trailer(false),
                },
            }
            bytes = &bytes[1..];
        }
        Ok(false)
    }

    fn end_size_line(&mut self) {
        self.state = if self.size == 0 {
            ChunkState::Trailer(true)
        } else {
            ChunkState::Data
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a response delivered in pieces of `step` bytes.
    async fn read_in_pieces(raw: &[u8], step: usize, head: bool) -> Result<Response, ReadError> {
        let (mut client, mut server) = tokio::io::duplex(64);
        let raw = raw.to_vec();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt as _;
            for piece in raw.chunks(step) {
                server.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let mut buf = Vec::with_capacity(16);
        let result = read_response(&mut client, &mut buf, head).await;
        writer.await.unwrap();
        result
    }

    #[tokio::test]
    async fn content_length_bodies_are_read_across_pieces() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
        for step in [1, 3, 7, 200] {
            let r = read_in_pieces(raw, step, false).await.unwrap();
            assert_eq!(
                (r.status, r.keep_alive, r.body_head.len()),
                (200, true, 0),
                "step {step}"
            );
        }
    }

    #[tokio::test]
    async fn chunked_error_bodies_keep_their_head() {
        let raw = b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n\
            a;ext=1\r\n{\"error\": \r\n11\r\n\"pool_timeout\"}  \r\n0\r\nX-Trailer: 1\r\n\r\n";
        for step in [1, 5, 500] {
            let r = read_in_pieces(raw, step, false).await.unwrap();
            assert_eq!(r.status, 503);
            assert_eq!(
                String::from_utf8_lossy(&r.body_head),
                "{\"error\": \"pool_timeout\"}  ",
                "step {step}"
            );
            assert!(r.keep_alive);
        }
    }

    #[tokio::test]
    async fn connection_close_and_http_1_0_end_keep_alive() {
        let r = read_in_pieces(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            4,
            false,
        )
        .await;
        assert!(!r.unwrap().keep_alive);
        let r = read_in_pieces(b"HTTP/1.0 500 Oops\r\n\r\nbody until close", 4, false)
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.keep_alive, r.body_head.as_slice()),
            (500, false, &b"body until close"[..])
        );
    }

    #[tokio::test]
    async fn bodiless_responses_and_interim_responses_are_handled() {
        let r = read_in_pieces(b"HTTP/1.1 204 No Content\r\n\r\n", 3, false)
            .await
            .unwrap();
        assert_eq!((r.status, r.keep_alive), (204, true));
        let r = read_in_pieces(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 3, true)
            .await
            .unwrap();
        assert_eq!(
            r.status, 200,
            "a HEAD response has no body whatever its length says"
        );
        let raw =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(read_in_pieces(raw, 5, false).await.unwrap().status, 201);
    }

    #[tokio::test]
    async fn a_closed_or_broken_stream_is_told_apart_from_garbage() {
        assert_eq!(
            read_in_pieces(b"", 1, false).await,
            Err(ReadError::ClosedBeforeResponse)
        );
        assert_eq!(
            read_in_pieces(b"HTTP/1.1 200 OK\r\nContent-Le", 4, false).await,
            Err(ReadError::Io)
        );
        assert_eq!(
            read_in_pieces(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 4, false).await,
            Err(ReadError::Io)
        );
        assert_eq!(
            read_in_pieces(b"SSH-2.0-OpenSSH\r\n\r\n", 50, false).await,
            Err(ReadError::Malformed)
        );
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(
            read_in_pieces(raw, 50, false).await,
            Err(ReadError::Malformed)
        );
    }
}
