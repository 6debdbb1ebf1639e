//! Static assets, compiled into the binary so the console needs nothing
//! beside it. Vendored files carry their version in the name and are cached
//! for good; our own files are revalidated by content hash.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const OWN: &[Asset] = &[
    Asset {
        name: "baystack.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../static/baystack.css"),
    },
    Asset {
        name: "baystack.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/baystack.js"),
    },
    Asset {
        name: "noc.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/noc.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../../static/favicon.svg"),
    },
];

const VENDOR: &[Asset] = &[
    Asset {
        name: "htmx-2.0.11.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/vendor/htmx-2.0.11.min.js"),
    },
    Asset {
        name: "htmx-ext-sse-2.2.4.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/vendor/htmx-ext-sse-2.2.4.min.js"),
    },
];

fn not_found(req: &HttpRequest) -> HttpResponse {
    super::errors::respond(
        req,
        crate::error::AppError::NotFound(format!("there is no file {}", req.path())),
    )
}

/// A content hash, computed once per file.
fn etag(asset: &Asset) -> String {
    static TAGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        OWN.iter()
            .map(|a| {
                let digest = Sha256::digest(a.bytes);
                format!("\"{}\"", crate::domain::hex(&digest[..8]))
            })
            .collect()
    });
    let index = OWN
        .iter()
        .position(|a| a.name == asset.name)
        .expect("own asset");
    tags[index].clone()
}

pub async fn serve(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(asset) = OWN.iter().find(|a| a.name == path.as_str()) else {
        return not_found(&req);
    };
    let etag = etag(asset);
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, etag))
        .body(asset.bytes)
}

pub async fn serve_vendor(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(asset) = VENDOR.iter().find(|a| a.name == path.as_str()) else {
        return not_found(&req);
    };
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(asset.bytes)
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha384};

    /// The vendored files are exactly the ones SHA384SUMS records.
    #[test]
    fn vendored_files_match_their_checksums() {
        let sums = include_str!("../../static/vendor/SHA384SUMS");
        for asset in super::VENDOR {
            let line = sums
                .lines()
                .find(|l| l.ends_with(asset.name))
                .unwrap_or_else(|| panic!("{} is not in SHA384SUMS", asset.name));
            let want = line.split_whitespace().next().unwrap();
            let got = crate::domain::hex(&Sha384::digest(asset.bytes));
            assert_eq!(got, want, "{} changed", asset.name);
        }
    }
}
