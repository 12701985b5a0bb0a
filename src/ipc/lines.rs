//! A bounded, cancel-safe newline reader for both ends of the socket.
//!
//! Owns the line framing: a peer that never sends a newline cannot make us buffer
//! more than `max` bytes.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// What one call to [`LineReader::next_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadLine {
    /// One complete line, without its `\n`.
    Line(Vec<u8>),
    /// The peer closed the connection between lines.
    Closed,
    /// The peer closed the connection in the middle of a line of `len` bytes.
    ClosedMidLine { len: usize },
    /// The line grew past the limit; at least `len` bytes were seen. The reader is
    /// now somewhere inside that line: close the connection.
    TooLong { len: usize },
}

/// Reads `\n`-terminated lines of at most `max` bytes (newline excluded).
pub(crate) struct LineReader<R> {
    inner: BufReader<R>,
    buf: Vec<u8>,
    max: usize,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        Self {
            inner: BufReader::new(inner),
            buf: Vec::new(),
            max,
        }
    }

    /// The next line. Cancel-safe: a partial line stays buffered in `self`, so the
    /// call can sit in a `tokio::select!` and be resumed later.
    pub(crate) async fn next_line(&mut self) -> std::io::Result<ReadLine> {
        loop {
            let avail = self.inner.fill_buf().await?;
            if avail.is_empty() {
                let len = self.buf.len();
                self.buf = Vec::new();
                return Ok(if len == 0 {
                    ReadLine::Closed
                } else {
                    ReadLine::ClosedMidLine { len }
                });
            }
            let (chunk, found_newline) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (avail.len(), false),
            };
            let total = self.buf.len() + chunk;
            if total > self.max {
                let n = avail.len();
                self.inner.consume(n);
                self.buf = Vec::new();
                return Ok(ReadLine::TooLong { len: total });
            }
            self.buf.extend_from_slice(&avail[..chunk]);
            self.inner.consume(chunk + usize::from(found_newline));
            if found_newline {
                return Ok(ReadLine::Line(std::mem::take(&mut self.buf)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn splits_lines_and_reports_close() {
        rt().block_on(async {
            let data: &[u8] = b"one\ntwo\r\n\nlast";
            let mut r = LineReader::new(data, 100);
            assert_eq!(
                r.next_line().await.unwrap(),
                ReadLine::Line(b"one".to_vec())
            );
            assert_eq!(
                r.next_line().await.unwrap(),
                ReadLine::Line(b"two\r".to_vec())
            );
            assert_eq!(r.next_line().await.unwrap(), ReadLine::Line(Vec::new()));
            assert_eq!(
                r.next_line().await.unwrap(),
                ReadLine::ClosedMidLine { len: 4 }
            );
            assert_eq!(r.next_line().await.unwrap(), ReadLine::Closed);
        });
    }

    #[test]
    fn line_of_exactly_max_is_accepted_one_more_is_not() {
        rt().block_on(async {
            let mut data = vec![b'a'; 10];
            data.push(b'\n');
            data.extend(vec![b'b'; 11]);
            data.push(b'\n');
            let mut r = LineReader::new(&data[..], 10);
            assert_eq!(r.next_line().await.unwrap(), ReadLine::Line(vec![b'a'; 10]));
            assert!(matches!(
                r.next_line().await.unwrap(),
                ReadLine::TooLong { len: 11 }
            ));
        });
    }

    #[test]
    fn endless_line_without_newline_is_cut_off_at_the_cap() {
        rt().block_on(async {
            let (mut tx, rx) = tokio::io::duplex(4096);
            let writer = tokio::spawn(async move {
                let block = vec![b'x'; 4096];
                // Far more than the cap, never a newline.
                for _ in 0..64 {
                    if tx.write_all(&block).await.is_err() {
                        break;
                    }
                }
            });
            let mut r = LineReader::new(rx, 20_000);
            match r.next_line().await.unwrap() {
                ReadLine::TooLong { len } => assert!(len > 20_000 && len < 20_000 + 16_384),
                other => panic!("expected TooLong, got {other:?}"),
            }
            // The reader held at most the cap plus one buffer's worth.
            assert!(r.buf.capacity() <= 40_000);
            drop(r);
            let _ = writer.await;
        });
    }

    #[test]
    fn cancelled_read_keeps_the_partial_line() {
        rt().block_on(async {
            let (mut tx, rx) = tokio::io::duplex(64);
            let mut r = LineReader::new(rx, 100);
            tx.write_all(b"hel").await.unwrap();
            // Times out mid-line: the future is dropped.
            let first =
                tokio::time::timeout(std::time::Duration::from_millis(20), r.next_line()).await;
            assert!(first.is_err());
            tx.write_all(b"lo\n").await.unwrap();
            assert_eq!(
                r.next_line().await.unwrap(),
                ReadLine::Line(b"hello".to_vec())
            );
        });
    }
}
