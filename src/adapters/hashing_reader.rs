//! A reader that hashes what passes through it: the disaster restore checks the dump's sha256
//! on the bytes it streams into the container, rather than reading the file once to hash it
//! and again to copy it. One read fewer, and the check is of the bytes restored, not of the
//! file as it was a moment before.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};

/// What the reader saw: bytes and their running sha256. Shared, since the reader itself is
/// handed to the Engine API's exec and dropped there.
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<(u64, Sha256)>>);

impl Seen {
    /// Bytes read so far and the hex sha256 of them.
    pub fn result(&self) -> (u64, String) {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (g.0, hex::encode(g.1.clone().finalize()))
    }
}

pub struct HashingReader<R> {
    inner: R,
    seen: Seen,
}

impl<R> HashingReader<R> {
    pub fn new(inner: R) -> (Self, Seen) {
        let seen = Seen::default();
        (
            HashingReader {
                inner,
                seen: seen.clone(),
            },
            seen,
        )
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for HashingReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let start = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            let new = &buf.filled()[start..];
            let mut g = self.seen.0.lock().unwrap_or_else(|p| p.into_inner());
            g.0 += new.len() as u64;
            g.1.update(new);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn hashes_exactly_the_bytes_read() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (mut r, seen) = HashingReader::new(&data[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, data);
        let (n, sha) = seen.result();
        assert_eq!(n, data.len() as u64);
        assert_eq!(sha, hex::encode(Sha256::digest(&data)));
    }
}
