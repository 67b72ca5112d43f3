//! Reading one HTTP/1.1 response off a stream: the head parsed with `httparse`, the body
//! framed by Content-Length, chunked encoding or the end of the connection, and only the
//! first few KiB of an error body kept (to find target-app's `"error": "pool_timeout"`).
//!
//! Hand-written rather than hyper's client because of a measurement: with hyper's HTTP/1
//! client the driver reached 0.8x wrk's req/s on the stub (a `Request` and `HeaderMap` per
//! request, hyper's dispatch channel, two task wake-ups); reading in place reaches 1.13x
//! (docs/benchmarks.md). A property test below holds it to: no panic on any bytes, memory
//! bounded by `MAX_HEAD` and `ERROR_BODY_HEAD`, and the same result however the bytes are
//! split across reads.

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
    /// TLS failed on the connection (an alert from the server, say): its outcome.
    Tls(crate::engine::metrics::Kind),
}

/// A read or write error as a [`ReadError`]: TLS's own failures by their outcome, anything
/// else as `otherwise`.
pub(super) fn io_error(error: &std::io::Error, otherwise: ReadError) -> ReadError {
    super::tls::kind_of(error).map_or(otherwise, ReadError::Tls)
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
    let mut received = false;
    let (status, head_len, framing, keep_alive) = loop {
        // Parse what has arrived before asking for more: an interim response and the real
        // one can come in one read.
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(buf) {
                Ok(httparse::Status::Complete(head_len)) if head_len <= MAX_HEAD => {
                    let status = parsed.code.ok_or(ReadError::Malformed)?;
                    if (100..200).contains(&status) && status != 101 {
                        // An interim response (100 Continue): the real one follows.
                        buf.drain(..head_len);
                        continue;
                    }
                    let (framing, keep_alive) = framing_of(&parsed, head_request)?;
                    break (status, head_len, framing, keep_alive);
                }
                Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => {}
                _ => return Err(ReadError::Malformed),
            }
        }
        if stream
            .read_buf(buf)
            .await
            .map_err(|e| io_error(&e, ReadError::Io))?
            == 0
        {
            return Err(if received {
                ReadError::Io
            } else {
                ReadError::ClosedBeforeResponse
            });
        }
        received = true;
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
                if stream
                    .read_buf(buf)
                    .await
                    .map_err(|e| io_error(&e, ReadError::Io))?
                    == 0
                {
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
                if stream
                    .read_buf(buf)
                    .await
                    .map_err(|e| io_error(&e, ReadError::Io))?
                    == 0
                {
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

/// Reads the `left` body bytes still to come. Bytes past the body are not this response's:
/// they are left unread, whichever read brought them, so the result never depends on how
/// the bytes were split (a peer that sends garbage after a response fails the next one).
async fn read_exact_len<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    body: &mut Body,
    mut left: u64,
) -> Result<(), ReadError> {
    while left > 0 {
        buf.clear();
        if stream
            .read_buf(buf)
            .await
            .map_err(|e| io_error(&e, ReadError::Io))?
            == 0
        {
            return Err(ReadError::Io);
        }
        left -= body.take(buf, left);
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

    /// A stream that hands out `data` cut at `cuts` (and never more than the reader asks).
    struct Pieces {
        data: Vec<u8>,
        cuts: Vec<usize>,
        pos: usize,
    }

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            out: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let pos = self.pos;
            let cut = self
                .cuts
                .iter()
                .copied()
                .find(|c| *c > pos)
                .unwrap_or(self.data.len());
            let end = cut.min(self.data.len()).min(pos + out.remaining());
            out.put_slice(&self.data[pos..end]);
            self.pos = end;
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// Reads one response from `data` cut at `cuts`; also returns the scratch buffer's
    /// capacity afterwards.
    fn read_cut(data: &[u8], cuts: &[usize], head: bool) -> (Result<Response, ReadError>, usize) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut stream = Pieces {
            data: data.to_vec(),
            cuts: cuts.to_vec(),
            pos: 0,
        };
        let mut buf = Vec::with_capacity(16);
        let result = runtime.block_on(read_response(&mut stream, &mut buf, head));
        (result, buf.capacity())
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// An HTTP/1.x response, mostly well formed: a status line, headers that may frame
        /// the body by length (right or wrong), chunks or the end of the connection, a body,
        /// then maybe trailing bytes, a truncation or a flipped byte.
        fn response() -> impl Strategy<Value = Vec<u8>> {
            let version = prop_oneof![Just("HTTP/1.1"), Just("HTTP/1.0"), Just("HTTP/2")];
            let framing = 0u8..5;
            let body = prop::collection::vec(any::<u8>(), 0..600);
            let chunk_sizes = prop::collection::vec(1usize..200, 0..5);
            let extra = prop::collection::vec(any::<u8>(), 0..40);
            let status = prop_oneof![Just(100u16), Just(200), Just(204), Just(503), 0u16..999];
            (
                version,
                status,
                framing,
                body,
                chunk_sizes,
                extra,
                any::<bool>(),
                any::<prop::sample::Index>(),
                any::<u8>(),
            )
                .prop_map(
                    |(version, status, framing, body, sizes, extra, close, at, flip)| {
                        let mut out = format!("{version} {status} X\r\n").into_bytes();
                        if close {
                            out.extend_from_slice(b"Connection: close\r\n");
                        }
                        match framing {
                            0 => out
                                .extend(format!("Content-Length: {}\r\n\r\n", body.len()).bytes()),
                            1 => out.extend(
                                format!("Content-Length: {}\r\n\r\n", body.len() / 2).bytes(),
                            ),
                            2 => out.extend(
                                format!("Content-Length: {}\r\n\r\n", body.len() + 7).bytes(),
                            ),
                            3 => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n"),
                            _ => out.extend_from_slice(b"\r\n"),
                        }
                        if framing == 3 {
                            let mut rest = &body[..];
                            for size in sizes {
                                let n = size.min(rest.len());
                                out.extend(format!("{n:x}\r\n").bytes());
                                out.extend_from_slice(&rest[..n]);
                                out.extend_from_slice(b"\r\n");
                                rest = &rest[n..];
                            }
                            out.extend_from_slice(b"0\r\n\r\n");
                        } else {
                            out.extend_from_slice(&body);
                        }
                        out.extend_from_slice(&extra);
                        // A third of the cases break it: a truncation or a flipped byte.
                        match flip % 3 {
                            0 => out.truncate(at.index(out.len() + 1)),
                            1 => {
                                let i = at.index(out.len().max(1)).min(out.len().saturating_sub(1));
                                if let Some(b) = out.get_mut(i) {
                                    *b ^= flip | 1;
                                }
                            }
                            _ => {}
                        }
                        out
                    },
                )
        }

        fn input() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                3 => response(),
                1 => prop::collection::vec(any::<u8>(), 0..3000),
            ]
        }

        proptest! {
            #[test]
            fn any_bytes_split_anywhere_give_the_same_result_in_bounded_memory(
                data in input(),
                cuts in prop::collection::btree_set(1usize..3000, 0..40),
                head in any::<bool>(),
            ) {
                let cuts: Vec<usize> = cuts.into_iter().collect();
                let (whole, _) = read_cut(&data, &[], head);
                let (split, capacity) = read_cut(&data, &cuts, head);
                prop_assert_eq!(&split, &whole);
                let one_byte = read_cut(&data, &(1..data.len()).collect::<Vec<_>>(), head).0;
                prop_assert_eq!(&one_byte, &whole);
                prop_assert!(capacity <= 2 * MAX_HEAD + 4096, "buffer grew to {}", capacity);
                if let Ok(r) = &whole {
                    prop_assert!(r.body_head.len() <= ERROR_BODY_HEAD);
                }
            }

            #[test]
            fn a_head_larger_than_the_limit_is_malformed_however_it_arrives(
                filler in 1usize..2000,
                cuts in prop::collection::btree_set(1usize..80_000, 0..20),
            ) {
                let mut data = b"HTTP/1.1 200 OK\r\n".to_vec();
                let header = format!("X-Big: {}\r\n", "a".repeat(1000));
                while data.len() < MAX_HEAD + filler {
                    data.extend_from_slice(header.as_bytes());
                }
                data.extend_from_slice(b"Content-Length: 0\r\n\r\n");
                let cuts: Vec<usize> = cuts.into_iter().collect();
                let (result, capacity) = read_cut(&data, &cuts, false);
                prop_assert_eq!(result, Err(ReadError::Malformed));
                prop_assert!(capacity <= 2 * MAX_HEAD + 4096, "buffer grew to {}", capacity);
            }
        }
    }
}
