//! The network loop: a single-threaded tokio runtime on the engine's thread, the scheduler
//! that starts the requests that are due (at most `concurrency` at a time), and its shutdown.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Url;
use tokio::time::Instant;

use crate::engine::Shared;
use crate::error::Failure;
use crate::http::{Fetch, Fetched, HttpFetcher};

async fn poll_job<F: Fetch>(
    shared: Arc<Shared>,
    fetcher: Arc<F>,
    id: Arc<str>,
    generation: u64,
    headers: Arc<HeaderMap>,
) {
    let fetched = tokio::time::timeout(shared.settings.timeout, fetcher.fetch(&id, headers))
        .await
        .unwrap_or(Fetched::Timeout);
    if let Some(mut state) = shared.lock() {
        let cx = shared.context(Instant::now());
        if state.settle(&cx, &id, generation, fetched) {
            drop(state);
            shared.announce();
        }
    }
    shared.wake_loop.notify_one();
}

/// The scheduler: starts the requests that are due, at most `concurrency` at a time, until
/// `close`.
pub(crate) async fn schedule<F: Fetch>(shared: Arc<Shared>, fetcher: Arc<F>) {
    let mut tasks = tokio::task::JoinSet::new();
    let concurrency = shared.settings.concurrency;
    loop {
        let mut starts = Vec::new();
        let next = {
            let Some(mut state) = shared.lock() else {
                break;
            };
            if state.closed {
                break;
            }
            let now = Instant::now();
            while state.in_flight < concurrency {
                let Some((id, generation)) = state.start_due(now) else {
                    break;
                };
                starts.push((id, generation, Arc::clone(&state.headers)));
            }
            if state.in_flight < concurrency {
                state.next_due()
            } else {
                None
            }
        };
        for (id, generation, headers) in starts {
            tasks.spawn(poll_job(
                Arc::clone(&shared),
                Arc::clone(&fetcher),
                id,
                generation,
                headers,
            ));
        }
        while tasks.try_join_next().is_some() {}
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.wake_loop.notified() => {}
            () = sleep => {}
        }
    }
    // Cancels the requests in flight; their connections close as the runtime drops.
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// The network thread: its own runtime, client and scheduler, until `close`.
pub(crate) fn run(shared: Arc<Shared>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return shared.fail(Failure::RuntimeStart(err.to_string())),
    };
    let settings = &shared.settings;
    let fetcher = Url::parse(&settings.base)
        .map_err(|err| format!("the base URL {:?}: {err}", settings.base))
        .and_then(|base| {
            let _entered = runtime.enter();
            HttpFetcher::new(
                base,
                settings.concurrency,
                settings.timeout,
                settings.max_body_size,
            )
            .map_err(|err| err.to_string())
        });
    match fetcher {
        Ok(fetcher) => runtime.block_on(schedule(Arc::clone(&shared), Arc::new(fetcher))),
        Err(why) => shared.fail(Failure::Client(why)),
    }
    // Name resolution runs on blocking threads, which a shutdown cannot cancel: bounded.
    runtime.shutdown_timeout(Duration::from_secs(1));
}
