//! The server's connections, which let go of a client that stops reading:
//! a write that makes no progress for the send timeout fails, and the
//! connection is dropped with its response and whatever that holds (an
//! export's temporary file and its place among its tenant's heavy
//! operations). A client that reads slowly but steadily is never cut off.

use axum::serve::ListenerExt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// What [`listener`] makes, for `axum::serve`.
pub type Listener = axum::serve::TapIo<Accepting, fn(&mut SendTimeout<TcpStream>)>;

/// Serves the connections `tcp` accepts, each with `send_timeout`.
pub fn listener(tcp: TcpListener, send_timeout: Duration) -> Listener {
    // The tap does nothing; a tapped listener is what axum gives the peer's
    // address to as `ConnectInfo<SocketAddr>`, which ClientAddr reads.
    Accepting { tcp, send_timeout }.tap_io(|_| {})
}

/// A TCP listener whose connections have a send timeout.
pub struct Accepting {
    tcp: TcpListener,
    send_timeout: Duration,
}

impl axum::serve::Listener for Accepting {
    type Io = SendTimeout<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.tcp).await;
        (SendTimeout::new(io, self.send_timeout), addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// A connection whose writes fail once they have made no progress for
/// `limit`.
pub struct SendTimeout<T> {
    io: T,
    limit: Duration,
    /// Running while a write waits on the client.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> SendTimeout<T> {
    pub fn new(io: T, limit: Duration) -> SendTimeout<T> {
        SendTimeout {
            io,
            limit,
            stalled: None,
        }
    }

    /// Passes on a write's outcome; a write still waiting starts (or
    /// checks) the timer.
    fn progress<R>(
        &mut self,
        outcome: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        if outcome.is_ready() {
            self.stalled = None;
            return outcome;
        }
        let limit = self.limit;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the response",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SendTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SendTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.io).poll_write(cx, buf);
        self.progress(outcome, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.progress(outcome, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let outcome = Pin::new(&mut self.io).poll_flush(cx);
        self.progress(outcome, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let outcome = Pin::new(&mut self.io).poll_shutdown(cx);
        self.progress(outcome, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_let_go_and_a_slow_one_is_not() {
        let (server, mut client) = tokio::io::duplex(1024);
        let mut server = SendTimeout::new(server, Duration::from_secs(30));
        let answer = vec![b'x'; 64 * 1024];

        // A slow reader: 1 KiB every 20 seconds, never 30 without progress.
        let reading = tokio::spawn(async move {
            let mut got = vec![0u8; 1024];
            let mut total = 0;
            while total < 8 * 1024 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                total += client.read(&mut got).await.unwrap();
            }
            client
        });
        server.write_all(&answer[..8 * 1024]).await.unwrap();
        let client = reading.await.unwrap();

        // Then it stops reading: the write fails after the timeout.
        let started = tokio::time::Instant::now();
        let e = server.write_all(&answer).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_secs(30));
        drop(client);
    }
}
