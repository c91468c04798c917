//! A minimal HTTP/1.1 server for the polling benchmarks, on 127.0.0.1 at a free port (printed
//! on the first line of stdout). `GET /jobs/{id}/status` answers every job with the status of
//! the current phase, over keep-alive connections; `GET /_phase/{n}` sets the phase (0:
//! pending execution, 1: ready); `GET /_latency/{ms}` makes every later status answer wait
//! that many milliseconds, as a busy server does. Only what the benchmark clients send is
//! understood.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BODIES: [&[u8]; 2] = [
    br#"{"status": "pending execution"}"#,
    br#"{"status": "ready", "warnings": []}"#,
];

fn response(code: &str, body: &[u8], close: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[derive(Default)]
struct State {
    phase: AtomicUsize,
    latency_ms: AtomicU64,
}

async fn serve(mut stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buffer = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..read]);
        let mut close = false;
        let mut delayed = false;
        while let Some(end) = find(&buffer, b"\r\n\r\n") {
            let head = &buffer[..end];
            let line_end = find(head, b"\r\n").unwrap_or(head.len());
            let line = String::from_utf8_lossy(&head[..line_end]);
            let path = line.split(' ').nth(1).unwrap_or("");
            close = String::from_utf8_lossy(head)
                .to_ascii_lowercase()
                .contains("\r\nconnection: close");
            if let Some(n) = path.strip_prefix("/_phase/") {
                state.phase.store(n.parse().unwrap_or(0), Ordering::SeqCst);
                out.extend(response("200 OK", b"{}", close));
            } else if let Some(ms) = path.strip_prefix("/_latency/") {
                state
                    .latency_ms
                    .store(ms.parse().unwrap_or(0), Ordering::SeqCst);
                out.extend(response("200 OK", b"{}", close));
            } else if path.starts_with("/jobs/") && path.ends_with("/status") {
                delayed = true;
                let body = BODIES[state.phase.load(Ordering::SeqCst).min(1)];
                out.extend(response("200 OK", body, close));
            } else {
                out.extend(response("404 Not Found", b"{}", close));
            }
            buffer.drain(..end + 4);
        }
        let latency = state.latency_ms.load(Ordering::SeqCst);
        if delayed && latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if close {
            return Ok(());
        }
    }
}

fn main() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .enable_time()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("{}", listener.local_addr()?.port());
        let state = Arc::new(State::default());
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(serve(stream, Arc::clone(&state)));
        }
    })
}
