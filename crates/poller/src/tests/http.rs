//! The status URL of a job: the base URL's path, then `jobs`, the id as exactly one escaped
//! path segment, and `status`, whatever the id holds.

use std::time::Duration;

use reqwest::Url;

use crate::http::HttpFetcher;

fn fetcher(base: &str) -> HttpFetcher {
    let base = match Url::parse(base) {
        Ok(base) => base,
        Err(err) => unreachable!("{base}: {err}"),
    };
    match HttpFetcher::new(base, 4, Duration::from_secs(10), 64) {
        Ok(fetcher) => fetcher,
        Err(err) => unreachable!("{err}"),
    }
}

#[tokio::test]
async fn each_id_is_one_escaped_segment_under_the_base_path() {
    let bare = fetcher("http://status.invalid");
    assert_eq!(
        bare.url("job-1").as_str(),
        "http://status.invalid/jobs/job-1/status"
    );
    let nested = fetcher("https://status.invalid:8443/api/v1/");
    for (id, escaped) in [
        ("job-1", "job-1"),
        ("a/b?c#d%e f", "a%2Fb%3Fc%23d%25e%20f"),
        ("%2e%2e", "%252e%252e"),
        ("...", "..."),
        ("ü~-_.9", "%C3%BC~-_.9"),
    ] {
        let url = nested.url(id);
        assert_eq!(
            url.as_str(),
            format!("https://status.invalid:8443/api/v1/jobs/{escaped}/status")
        );
        let segments: Vec<&str> = url
            .path_segments()
            .map(Iterator::collect)
            .unwrap_or_default();
        assert_eq!(segments, ["api", "v1", "jobs", escaped, "status"]);
        assert_eq!((url.query(), url.fragment()), (None, None));
    }
}
