//! A Lambda Runtime API on 127.0.0.1, so tests run the function binaries
//! exactly as Lambda does: the binary polls `invocation/next`, handles the
//! event, and posts its response or error. Only the parts of the API a
//! function uses are served (next, response, error, init error).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::{Mutex, Notify};

/// What an invocation ended with.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The function's response payload.
    Response(Vec<u8>),
    /// The error the function reported.
    Error(String),
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<(String, Vec<u8>)>>,
    queued: Notify,
    results: Mutex<HashMap<String, Outcome>>,
    finished: Notify,
    init_error: Mutex<Option<String>>,
    next_id: AtomicU64,
}

/// The runtime API server.
pub struct RuntimeApi {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts the server on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, server }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The environment Lambda gives a function, pointing at this server.
    pub fn env(&self, function: &str) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", function.to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test".into()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{function}")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Starts a function binary as Lambda starts it, on this server, with
    /// `env` added (stdout dropped, stderr shown); stopped when dropped.
    pub fn run(&self, binary: &std::path::Path, function: &str, env: &[(&str, &str)]) -> FunctionProcess {
        let mut cmd = std::process::Command::new(binary);
        cmd.envs(self.env(function)).envs(env.iter().copied());
        let child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        FunctionProcess(child)
    }

    /// Queues an event and waits for the function's outcome.
    pub async fn invoke(&self, event: &[u8], timeout: Duration) -> Result<Outcome, String> {
        let id = format!("req-{}", self.shared.next_id.fetch_add(1, Ordering::Relaxed));
        self.shared.queue.lock().await.push_back((id.clone(), event.to_vec()));
        self.shared.queued.notify_one();
        let wait = async {
            loop {
                let finished = self.shared.finished.notified();
                if let Some(o) = self.shared.results.lock().await.remove(&id) {
                    return Ok(o);
                }
                if let Some(e) = self.shared.init_error.lock().await.clone() {
                    return Err(format!("the function failed to start: {e}"));
                }
                finished.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| format!("no answer to {id} within {timeout:?}"))?
    }
}

/// A function process started by [`RuntimeApi::run`]; killed on drop.
pub struct FunctionProcess(std::process::Child);

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let (id, event) = loop {
        let queued = s.queued.notified();
        if let Some(item) = s.queue.lock().await.pop_front() {
            break item;
        }
        queued.await;
    };
    let deadline =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64 + 60_000);
    let mut headers = HeaderMap::new();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    put("lambda-runtime-aws-request-id", id);
    put("lambda-runtime-deadline-ms", deadline.to_string());
    put("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:test".into());
    put("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".into());
    put("content-type", "application/json".into());
    (StatusCode::OK, headers, event)
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    s.results.lock().await.insert(id, Outcome::Response(body.to_vec()));
    s.finished.notify_waiters();
    StatusCode::ACCEPTED
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    s.results.lock().await.insert(id, Outcome::Error(String::from_utf8_lossy(&body).into_owned()));
    s.finished.notify_waiters();
    StatusCode::ACCEPTED
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *s.init_error.lock().await = Some(String::from_utf8_lossy(&body).into_owned());
    s.finished.notify_waiters();
    StatusCode::ACCEPTED
}
