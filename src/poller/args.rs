//! The constructor's and the methods' arguments checked and converted, before any lock is
//! taken: iterating ids or calling `UUID.__str__` runs Python code.

use std::time::{Duration, Instant, SystemTime};

use iqm_runstatus_poller::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, USER_AGENT};
use iqm_runstatus_poller::policy::MAX_DELAY;
use iqm_runstatus_poller::{Policy, Settings, Url};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::tracker::job_id_list;

/// The constructor's arguments as Python gave them.
pub struct Arguments<'a, 'py> {
    pub base_url: &'a str,
    pub token: Option<&'a Bound<'py, PyAny>>,
    pub headers: Option<&'a Bound<'py, PyAny>>,
    pub concurrency: i128,
    pub interval: f64,
    pub max_interval: f64,
    pub timeout: f64,
    pub max_retries: i128,
    pub max_body_size: i128,
    pub has_provider: bool,
}

/// The engine's settings, or the exception that names the argument at fault.
pub fn settings(arguments: Arguments<'_, '_>) -> PyResult<Settings> {
    let base_url = arguments.base_url;
    let concurrency = count_argument("concurrency", arguments.concurrency)?;
    let concurrency = usize::try_from(concurrency).unwrap_or(usize::MAX);
    let max_retries = count_argument("max_retries", arguments.max_retries)?;
    let max_retries = u32::try_from(max_retries).unwrap_or(u32::MAX);
    let max_body_size = count_argument("max_body_size", arguments.max_body_size)?;
    let max_body_size = usize::try_from(max_body_size).unwrap_or(usize::MAX);
    let token = match arguments.token {
        Some(token) if !token.is_none() => Some(text_argument("token", "token", token)?),
        _ => None,
    };
    if !base_url.contains("://") {
        return Err(PyValueError::new_err(format!(
            "invalid base_url {base_url:?}: it has no scheme; write it as \
             https://{base_url} or http://{base_url}"
        )));
    }
    let url = Url::parse(base_url)
        .map_err(|err| PyValueError::new_err(format!("invalid base_url {base_url:?}: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(PyValueError::new_err(format!(
            "invalid base_url {base_url:?}: an http or https URL with a host is needed"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(PyValueError::new_err(format!(
            "invalid base_url {base_url:?}: it may not have a query or a fragment"
        )));
    }
    if concurrency == 0 {
        return Err(PyValueError::new_err("concurrency must be at least 1"));
    }
    if max_body_size == 0 {
        return Err(PyValueError::new_err("max_body_size must be at least 1"));
    }
    let interval = positive_seconds("interval", arguments.interval)?;
    let max_interval = positive_seconds("max_interval", arguments.max_interval)?;
    if max_interval < interval {
        return Err(PyValueError::new_err(
            "max_interval must not be shorter than interval",
        ));
    }
    let timeout = positive_seconds("timeout", arguments.timeout)?;
    let mut headers = match arguments.headers {
        Some(headers) if !headers.is_none() => header_map(headers)?,
        _ => HeaderMap::new(),
    };
    if let Some(token) = token.as_deref() {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| PyValueError::new_err("the token is not a valid header value"))?;
        headers.insert(AUTHORIZATION, value);
    }
    if !headers.contains_key(USER_AGENT) {
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("iqm-runstatus/", env!("CARGO_PKG_VERSION"))),
        );
    }
    Ok(Settings {
        base: url.as_str().trim_end_matches('/').to_owned(),
        concurrency,
        timeout,
        max_body_size,
        headers,
        policy: Policy {
            interval,
            max_interval,
            max_retries,
        },
        has_provider: arguments.has_provider,
        wall_clock: SystemTime::now,
    })
}

fn positive_seconds(name: &str, value: f64) -> PyResult<Duration> {
    if value.is_nan() || value <= 0.0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be a positive number of seconds, not {value}"
        )));
    }
    Ok(Duration::try_from_secs_f64(value)
        .unwrap_or(MAX_DELAY)
        .min(MAX_DELAY))
}

/// How long a provider's headers stay valid, from its `valid_for` seconds: a negative or NaN
/// one is none, a huge one the longest delay.
pub fn valid_for(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(MAX_DELAY)
}

pub fn header_map(headers: &Bound<'_, PyAny>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    let items = headers.call_method0("items")?;
    for item in items.try_iter()? {
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
        let name = text_argument("headers", "a header name", &name)?;
        let value = text_argument("headers", &format!("the value of {name:?}"), &value)?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| PyValueError::new_err(format!("not a valid header name: {name:?}")))?;
        let value = HeaderValue::from_str(&value).map_err(|_| {
            PyValueError::new_err(format!("not a valid value for the header {name}"))
        })?;
        map.insert(name, value);
    }
    Ok(map)
}

/// `value` as a `str`, or a `TypeError` naming the argument and what in it is wrong.
fn text_argument(argument: &str, what: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    match value.cast::<PyString>() {
        Ok(text) => Ok(text.to_str()?.to_owned()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{argument}: {what} must be a str, not {}",
            value.get_type().name()?
        ))),
    }
}

/// A count from Python, from 0 up, as a `u64` (one larger is `u64::MAX`); a `ValueError`
/// naming the argument for a negative one.
fn count_argument(argument: &str, value: i128) -> PyResult<u64> {
    if value < 0 {
        return Err(PyValueError::new_err(format!(
            "{argument} must not be negative, not {value}"
        )));
    }
    Ok(u64::try_from(value).unwrap_or(u64::MAX))
}

/// The job ids of `job_ids` (see `job_id_list`) as Rust strings. Runs Python code: never with
/// a lock held.
pub fn job_ids(job_ids: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    job_id_list(job_ids, "job_ids")?
        .iter()
        .map(|id| Ok(id.to_str()?.to_owned()))
        .collect()
}

/// The deadline `timeout` seconds from now: `None` (no limit) for `None`, and for a timeout too
/// long for a `Duration` or an `Instant` (`math.inf` among them).
pub fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    let Some(seconds) = timeout else {
        return Ok(None);
    };
    if seconds.is_nan() || seconds < 0.0 {
        return Err(PyValueError::new_err(format!(
            "timeout must be a number of seconds from 0 up, or None, not {seconds}"
        )));
    }
    Ok(Duration::try_from_secs_f64(seconds)
        .ok()
        .and_then(|delay| Instant::now().checked_add(delay)))
}
