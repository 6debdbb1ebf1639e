//! Pages drawn once per change and served to everyone who may see them.
//!
//! The dashboard, the bay map, the drives list and the pools list of a big
//! appliance take milliseconds to read and draw: drawn per request, 64
//! browsers asking at once queued behind each other. Here a page is drawn
//! for a role (what it shows depends on nothing else of the person) at most
//! once per [`FRESH`], and again at once after a request that may have
//! changed something. What is the person's own, their name and the CSRF
//! token of their session, is drawn as a mark and spliced in per request.
//!
//! Each answer carries an ETag of the page's content and the session, and
//! `Cache-Control: private, no-cache`: a browser that asks again with it is
//! answered `304 Not Modified` while the page is unchanged.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use super::Identity;
use crate::auth::Role;
use crate::error::AppError;

/// How long a drawn page is served before the state is read again.
pub const FRESH: Duration = Duration::from_secs(1);
/// A page nobody asked for this long is forgotten, so an idle console
/// holds none.
pub const KEEP: Duration = Duration::from_secs(60);
/// At most this many drawn pages are kept (a page with each of its query
/// strings, for each role).
const MOST: usize = 48;

/// Drawn where the person's CSRF token and name go.
pub const CSRF_MARK: &str = "bs-mark-csrf-5c0e8f21";
pub const USER_MARK: &str = "bs-mark-user-5c0e8f21";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Csrf,
    User,
}

/// A page as drawn: its text cut at the marks.
struct Drawn {
    /// The text between the marks; one more than `marks`.
    parts: Vec<Bytes>,
    marks: Vec<Mark>,
    /// The content's hash, the first half of every ETag.
    digest: String,
    built: Instant,
    /// [`super::AppState::changes`] when it was drawn.
    changes: u64,
}

impl Drawn {
    fn cut(html: String, digest: String, changes: u64) -> Drawn {
        let whole = Bytes::from(html);
        let text = std::str::from_utf8(&whole).expect("drawn from a String");
        let (mut parts, mut marks, mut at) = (Vec::new(), Vec::new(), 0);
        while let Some((i, mark, len)) = next_mark(&text[at..]) {
            parts.push(whole.slice(at..at + i));
            marks.push(mark);
            at += i + len;
        }
        parts.push(whole.slice(at..));
        Drawn {
            parts,
            marks,
            digest,
            built: Instant::now(),
            changes,
        }
    }

    /// The page for one person, their token and name in place of the
    /// marks. With a few marks, the shared parts go as they are, not copied
    /// into a new page (the server copies each once, into its write buffer).
    /// With many (a form per row, each with its token), the pieces would be
    /// written out a few at a time, each write waking the browser: they are
    /// spliced into one page, written whole. (The bay map once had a form
    /// per enclosure: in pieces it held 71% of nginx, with a p99 of 83 ms;
    /// spliced, 124-148%.)
    fn body(&self, csrf: &str, user: &str) -> Pieces {
        let mark = |m: &Mark| match m {
            Mark::Csrf => csrf.as_bytes(),
            Mark::User => user.as_bytes(),
        };
        let mut pieces = VecDeque::with_capacity(self.parts.len() * 2);
        let mut size = 0;
        if self.marks.len() <= FEW_MARKS {
            for (i, part) in self.parts.iter().enumerate() {
                pieces.push_back(part.clone());
                if let Some(m) = self.marks.get(i) {
                    pieces.push_back(Bytes::copy_from_slice(mark(m)));
                }
            }
            size = pieces.iter().map(|p| p.len() as u64).sum();
        } else {
            let fixed: usize = self.parts.iter().map(Bytes::len).sum();
            let mut page =
                BytesMut::with_capacity(fixed + self.marks.len() * csrf.len().max(user.len()));
            for (i, part) in self.parts.iter().enumerate() {
                page.extend_from_slice(part);
                if let Some(m) = self.marks.get(i) {
                    page.extend_from_slice(mark(m));
                }
            }
            size += page.len() as u64;
            pieces.push_back(page.freeze());
        }
        Pieces { size, pieces }
    }
}

/// A page with more marks than this is spliced into one buffer per answer.
const FEW_MARKS: usize = 4;

/// A body sent as the pieces it is made of, with its length known.
struct Pieces {
    size: u64,
    pieces: VecDeque<Bytes>,
}

impl MessageBody for Pieces {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.size)
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(self.pieces.pop_front().map(Ok))
    }
}

/// The first mark in `text`: where, which, and its length.
fn next_mark(text: &str) -> Option<(usize, Mark, usize)> {
    let csrf = text
        .find(CSRF_MARK)
        .map(|i| (i, Mark::Csrf, CSRF_MARK.len()));
    let user = text
        .find(USER_MARK)
        .map(|i| (i, Mark::User, USER_MARK.len()));
    match (csrf, user) {
        (Some(c), Some(u)) => Some(if c.0 < u.0 { c } else { u }),
        (c, u) => c.or(u),
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    /// The path and query string.
    target: String,
    role: Role,
}

/// The console's drawn pages.
#[derive(Default)]
pub struct Pages {
    drawn: Mutex<HashMap<Key, Arc<Drawn>>>,
    /// One page is drawn at a time: the others wait for it rather than draw
    /// it too.
    drawing: tokio::sync::Mutex<()>,
}

impl Pages {
    fn current(&self, key: &Key, changes: u64) -> Option<Arc<Drawn>> {
        self.drawn
            .lock()
            .expect("drawn pages")
            .get(key)
            .filter(|d| d.changes == changes && d.built.elapsed() < FRESH)
            .cloned()
    }

    /// Answers `req` with the page `draw` makes for `who`'s role, drawn
    /// again only if it is older than [`FRESH`] or something may have
    /// changed since. `draw` must draw the frame with
    /// [`super::page::Frame::drawn`], so nothing of the person but the role
    /// is in it.
    pub async fn serve<F, Fut>(
        &self,
        req: &HttpRequest,
        who: &Identity,
        changes: u64,
        draw: F,
    ) -> Result<HttpResponse, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, AppError>>,
    {
        let key = Key {
            target: match req.query_string() {
                "" => req.path().to_string(),
                q => format!("{}?{q}", req.path()),
            },
            role: who.role,
        };
        let drawn = match self.current(&key, changes) {
            Some(d) => d,
            None => {
                let _one = self.drawing.lock().await;
                match self.current(&key, changes) {
                    Some(d) => d,
                    None => self.draw(key, changes, draw().await?),
                }
            }
        };
        Ok(respond(req, who, &drawn))
    }

    fn draw(&self, key: Key, changes: u64, html: String) -> Arc<Drawn> {
        let digest = Sha256::digest(html.as_bytes());
        let digest = crate::domain::hex(&digest[..10]);
        let mut all = self.drawn.lock().expect("drawn pages");
        let drawn = match all.get(&key).filter(|d| d.digest == digest) {
            // Unchanged: keep the cut text, which is the same.
            Some(old) => Arc::new(Drawn {
                parts: old.parts.clone(),
                marks: old.marks.clone(),
                digest,
                built: Instant::now(),
                changes,
            }),
            None => Arc::new(Drawn::cut(html, digest, changes)),
        };
        all.retain(|_, d| d.built.elapsed() < KEEP);
        if all.len() >= MOST {
            all.clear();
        }
        all.insert(key, drawn.clone());
        drawn
    }

    /// Forgets pages nobody asked for in [`KEEP`].
    pub fn sweep(&self) {
        self.drawn
            .lock()
            .expect("drawn pages")
            .retain(|_, d| d.built.elapsed() < KEEP);
    }
}

/// The page for `who`, or `304` if their browser has it.
fn respond(req: &HttpRequest, who: &Identity, drawn: &Drawn) -> HttpResponse {
    // The session's token is unique to it and the name is the session's
    // user's, so the second half tells sessions apart.
    let mine = Sha256::new()
        .chain_update(who.csrf())
        .chain_update("\n")
        .chain_update(&who.username)
        .finalize();
    let etag = format!("\"{}-{}\"", drawn.digest, crate::domain::hex(&mine[..6]));
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut r = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    r.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"));
    if unchanged {
        return r.finish();
    }
    r.content_type("text/html; charset=utf-8")
        .body(drawn.body(who.csrf(), &escape(&who.username)))
}

/// A template drawn to text, for [`Pages::serve`].
pub fn text(t: &impl askama::Template) -> Result<String, AppError> {
    t.render()
        .map_err(|e| AppError::Internal(format!("drawing a page: {e}")))
}

/// `text` safe between tags and in attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_cut_at_its_marks_and_spliced_per_person() {
        let html =
            format!("<p>{USER_MARK}</p><input value=\"{CSRF_MARK}\"><i>{CSRF_MARK}</i>{USER_MARK}");
        let d = Drawn::cut(html, "d".into(), 0);
        assert_eq!(d.marks, [Mark::User, Mark::Csrf, Mark::Csrf, Mark::User]);
        let whole = |p: Pieces| {
            let bytes: Vec<u8> = p.pieces.iter().flat_map(|b| b.iter().copied()).collect();
            assert_eq!(p.size, bytes.len() as u64, "the size sent is the body's");
            String::from_utf8(bytes).unwrap()
        };
        assert_eq!(
            whole(d.body("tok", "ann")),
            "<p>ann</p><input value=\"tok\"><i>tok</i>ann"
        );
        let many = Drawn::cut(format!("{CSRF_MARK}.").repeat(FEW_MARKS + 1), "d".into(), 0);
        assert_eq!(many.body("tok", "ann").pieces.len(), 1, "spliced whole");
        assert_eq!(whole(many.body("tok", "ann")), "tok.".repeat(FEW_MARKS + 1));
        let plain = Drawn::cut("no marks".into(), "d".into(), 0);
        assert_eq!(whole(plain.body("tok", "ann")), "no marks");
        assert_eq!(crate::domain::hex(&[0, 9, 0xab, 0xff]), "0009abff");
        assert_eq!(
            escape("<a href='x'>&\""),
            "&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;"
        );
    }
}
