//! One request: `GET {base}/jobs/{id}/status`, its answer read up to a size limit and told
//! apart as a body, a refusal, a timeout or a transport failure. The engine sees only the
//! `Fetch` trait, so that tests script the server's answers.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Url;

use crate::policy::RetryAfter;

/// What one request came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// A 2xx answer's body, within the size limit.
    Body(Vec<u8>),
    /// A 2xx answer whose body is over the size limit (its declared size, if it had one).
    TooLarge { code: u16, size: Option<u64> },
    /// Any other status code.
    Http {
        code: u16,
        reason: &'static str,
        retry_after: Option<RetryAfter>,
        location: Option<String>,
    },
    /// No complete answer within the timeout.
    Timeout,
    /// The connection or the exchange failed (why, with every cause).
    Transport(String),
}

/// Fetches the status of one job.
pub trait Fetch: Send + Sync + 'static {
    /// The answer for `id`, sent with `headers`. The engine bounds it with its timeout.
    fn fetch(&self, id: &str, headers: Arc<HeaderMap>) -> impl Future<Output = Fetched> + Send;
}

/// Over HTTP with reqwest, under a base URL.
pub struct HttpFetcher {
    client: reqwest::Client,
    /// The base URL, parsed once: each request's URL is a copy with its path set, so that
    /// only the path is parsed per request (not the host, with its IDNA).
    base: Url,
    /// The base URL's path without a trailing slash.
    base_path: String,
    max_body_size: usize,
}

impl HttpFetcher {
    /// A client for the jobs under `base` that follows no redirects, with up to `concurrency`
    /// idle connections; made on the runtime it is used on.
    pub fn new(
        base: Url,
        concurrency: usize,
        timeout: Duration,
        max_body_size: usize,
    ) -> Result<HttpFetcher, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(concurrency)
            .tcp_nodelay(true)
            // As requests sends them: some servers and proxies still compare names by case.
            .http1_title_case_headers()
            .connect_timeout(timeout)
            .build()?;
        let base_path = base.path().trim_end_matches('/').to_owned();
        Ok(HttpFetcher {
            client,
            base,
            base_path,
            max_body_size,
        })
    }

    /// The status URL of `id`: `{base}/jobs/{id}/status`, the id one escaped path segment.
    pub fn url(&self, id: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!(
            "{}/jobs/{}/status",
            self.base_path,
            path_segment(id)
        ));
        url
    }
}

impl Fetch for HttpFetcher {
    fn fetch(&self, id: &str, headers: Arc<HeaderMap>) -> impl Future<Output = Fetched> + Send {
        fetch(
            &self.client,
            self.url(id),
            (*headers).clone(),
            self.max_body_size,
        )
    }
}

fn describe(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if err.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn fetch(client: &reqwest::Client, url: Url, headers: HeaderMap, limit: usize) -> Fetched {
    let response = match client.get(url).headers(headers).send().await {
        Ok(response) => response,
        Err(err) if err.is_timeout() => return Fetched::Timeout,
        Err(err) => return Fetched::Transport(describe(&err)),
    };
    let status = response.status();
    let code = status.as_u16();
    if !status.is_success() {
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|value: &HeaderValue| value.to_str().ok())
        };
        let location = header(reqwest::header::LOCATION).map(str::to_owned);
        let retry_after = header(reqwest::header::RETRY_AFTER).and_then(RetryAfter::parse);
        return Fetched::Http {
            code,
            reason: status.canonical_reason().unwrap_or(""),
            retry_after,
            location,
        };
    }
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if let Some(size) = response.content_length() {
        if size > limit_u64 {
            return Fetched::TooLarge {
                code,
                size: Some(size),
            };
        }
    }
    let mut response = response;
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len().saturating_add(chunk.len()) > limit {
                    return Fetched::TooLarge { code, size: None };
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Fetched::Body(body),
            Err(err) if err.is_timeout() => return Fetched::Timeout,
            Err(err) => return Fetched::Transport(describe(&err)),
        }
    }
}

/// The id as one path segment: everything but RFC 3986's unreserved characters is escaped, so
/// that no id can reach another path (the dot-segments `.` and `..` are refused by
/// `is_path_segment` before this).
pub fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for &byte in id.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Whether `id` is one path segment of its own once escaped: `""` would poll `/jobs//status`,
/// and `.` and `..` are dot-segments that URL normalization removes, reaching another path.
pub fn is_path_segment(id: &str) -> bool {
    !matches!(id, "" | "." | "..")
}
