//! The HTTP server: actix's HTTP/1 service over the listening socket, with
//! each connection wrapped so that the answers actix's own parser gives
//! before any of the console's code runs (400 for a request it cannot read,
//! 431 for a head too large) carry the console's security headers too.
//! Every other answer gets them from the gate.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_http::HttpService;
use actix_rt::net::TcpStream;
use actix_service::{ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::web::Data;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::AppState;

/// Bytes gathered from a body before they are written.
const WRITE_BUFFER: usize = 128 * 1024;

/// Serves the console on `listen` with `workers` threads until stopped.
pub fn serve(
    state: Data<AppState>,
    listen: SocketAddr,
    workers: usize,
) -> io::Result<actix_server::Server> {
    Ok(actix_server::Server::build()
        .workers(workers)
        .shutdown_timeout(10)
        .bind("baystack", listen, move || {
            let app = super::app(state.clone());
            fn_service(|io: TcpStream| {
                let peer = io.peer_addr().ok();
                std::future::ready(Ok::<_, actix_http::error::DispatchError>((
                    Guarded::new(io),
                    peer,
                )))
            })
            .and_then(
                HttpService::build()
                    .client_disconnect_timeout(Duration::from_secs(1))
                    // A drawn page comes in pieces (shared text, then the
                    // person's token): gathered up to this much before each
                    // write, as much as actix keeps between answers anyway.
                    .h1_write_buffer_size(WRITE_BUFFER)
                    .local_addr(listen)
                    .h1(map_config(app, |_| AppConfig::default())),
            )
        })?
        .run())
}

/// A connection whose writes are looked at for actix's own error answers.
pub struct Guarded<T> {
    io: T,
    /// A rewritten answer not yet written through.
    pending: Vec<u8>,
    written: usize,
}

impl<T> Guarded<T> {
    pub fn new(io: T) -> Self {
        Guarded {
            io,
            pending: Vec::new(),
            written: 0,
        }
    }
}

/// `buf` with the security headers put into its head, if it is an answer of
/// actix's own parser (a 400 or 431 without them, a head alone, written in
/// one piece as actix writes it); else `None`.
pub fn with_headers(buf: &[u8]) -> Option<Vec<u8>> {
    let status = buf.get(..12)?;
    if status != b"HTTP/1.1 400"
        && status != b"HTTP/1.1 431"
        && status != b"HTTP/1.0 400"
        && status != b"HTTP/1.0 431"
    {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != buf.len() || buf.len() > 1024 {
        return None;
    }
    let head = &buf[..end];
    if head
        .windows(b"content-security-policy".len())
        .any(|w| w.eq_ignore_ascii_case(b"content-security-policy"))
    {
        return None;
    }
    let mut out = Vec::with_capacity(buf.len() + 512);
    out.extend_from_slice(head);
    for (name, value) in super::gate::SECURITY_HEADERS {
        out.extend_from_slice(format!("\r\n{name}: {value}").as_bytes());
    }
    out.extend_from_slice(b"\r\ncache-control: no-store");
    out.extend_from_slice(&buf[end..]);
    Some(out)
}

impl<T: AsyncWrite + Unpin> Guarded<T> {
    /// Writes what is pending through; ready when nothing is.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some(rewritten) = with_headers(buf) {
            // Taken whole: written through now or at the next flush.
            this.pending = rewritten;
            this.written = 0;
            let _ = this.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// `/metrics` alone, without a token, on an address of its own
/// (`metrics_listen`): for a Prometheus that scrapes over a management
/// network. Every other path is 404.
pub fn serve_metrics(
    state: Data<AppState>,
    listen: SocketAddr,
) -> io::Result<actix_server::Server> {
    Ok(actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(state.clone())
            .route("/metrics", actix_web::web::get().to(super::metrics::serve))
            .default_service(actix_web::web::to(|| async {
                actix_web::HttpResponse::NotFound()
                    .content_type("text/plain; charset=utf-8")
                    .body("only /metrics is served here\n")
            }))
    })
    .workers(1)
    .disable_signals()
    .bind(listen)?
    .run())
}

#[cfg(test)]
mod tests {
    use super::with_headers;

    #[test]
    fn only_actix_s_own_error_answers_are_rewritten() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        let out = String::from_utf8(with_headers(bare).unwrap()).unwrap();
        assert!(
            out.starts_with(
                "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n"
            )
        );
        assert!(out.contains("\r\ncontent-security-policy: default-src 'self'"));
        assert!(out.contains("\r\nx-content-type-options: nosniff\r\n"));
        assert!(
            out.ends_with("\r\ncache-control: no-store\r\n\r\n"),
            "{out}"
        );
        // Only a head alone: actix's own answers have no body, and a body
        // that merely looks like a head is left as it is.
        assert_eq!(
            with_headers(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\nhi"),
            None
        );
        // The console's own answers already carry them; others are not 400s.
        assert_eq!(
            with_headers(b"HTTP/1.1 400 Bad Request\r\nContent-Security-Policy: x\r\n\r\n{}"),
            None
        );
        assert_eq!(
            with_headers(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
            None
        );
        assert_eq!(
            with_headers(b"HTTP/1.1 400"),
            None,
            "a head not written whole yet"
        );
        assert_eq!(
            with_headers(b"{\"a\": 1}"),
            None,
            "a body written on its own"
        );
    }
}
