//! Harness for the `ssf serve` tests: the real binary on `127.0.0.1:0` in a temp dir, its
//! start-up banner read for the URL, `/healthz` awaited, SIGTERM to stop; plus `ssf` runs
//! with environment variables, a push receiver on loopback, and HTTP helpers.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, http::StatusCode, routing};
use serde_json::Value;

use crate::Run;

/// How long anything awaited in these tests may take.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `probe` until it returns `Some`, failing the test after [`DEADLINE`].
pub(crate) fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        runtime().block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
    }
}

/// Whether `probe` becomes true within [`DEADLINE`] (polled), for tests that explain a failure.
pub(crate) fn eventually(mut probe: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if probe() {
            return true;
        }
        runtime().block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
    }
    false
}

/// A running `ssf serve`.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
    /// Its working directory.
    pub(crate) dir: PathBuf,
    /// The banner and anything else it printed on stdout so far.
    pub(crate) stdout: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Writes `config` to `dir/ssf.toml` and starts `ssf serve --config ssf.toml` in `dir`
    /// with `env`; returns once `/healthz` answers 200.
    pub(crate) fn start(dir: &Path, config: &str, env: &[(&str, &str)]) -> Self {
        let server = Self::spawn(dir, config, env);
        wait_for("/healthz", || {
            (get(&server.url("/healthz")).0 == 200).then_some(())
        });
        server
    }

    /// Like [`Self::start`], but returns as soon as the banner names the URL.
    pub(crate) fn spawn(dir: &Path, config: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn_args(dir, config, env, &[])
    }

    /// [`Self::start`] with more arguments after `serve --config ssf.toml` (e.g. `--dev`).
    pub(crate) fn start_args(
        dir: &Path,
        config: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        let server = Self::spawn_args(dir, config, env, args);
        wait_for("/healthz", || {
            (get(&server.url("/healthz")).0 == 200).then_some(())
        });
        server
    }

    /// [`Self::spawn`] with more arguments.
    pub(crate) fn spawn_args(
        dir: &Path,
        config: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        std::fs::write(dir.join("ssf.toml"), config).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ssf"));
        command
            .args(["serve", "--config", "ssf.toml"])
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "info,ssf_transmitter=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(dir.join("server.log")).unwrap());
        clear_ssf_env(&mut command);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("ssf serve listening on ") {
                    let url = url.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = tx.send(url);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let Ok(base) = rx.recv_timeout(DEADLINE) else {
            let _ = child.kill();
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            panic!("ssf serve did not start:\n{log}");
        };
        Self {
            child,
            base,
            dir: dir.to_owned(),
            stdout: lines,
        }
    }

    /// The URL of `path` on this server.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `credentials.json` of the data dir `data`.
    pub(crate) fn credentials(&self, data: &str) -> Value {
        let text = std::fs::read_to_string(self.dir.join(data).join("credentials.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// What it logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// `GET /metrics`.
    pub(crate) fn metrics(&self) -> String {
        get(&self.url("/metrics")).1
    }

    /// Sends SIGTERM and waits for the exit code.
    pub(crate) fn stop(mut self) -> i32 {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let code = wait_for("ssf serve to exit", || self.child.try_wait().unwrap());
        code.code().unwrap_or(-1)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The secrets key every server of these tests gets (`SSF_SECRETS_KEY`, D-TX-18) unless a test
/// sets its own (an empty value: none).
pub(crate) const TEST_SECRETS_KEY: &str = "dGVzdC1zZWNyZXRzLWtleS0wMTIzNDU2Nzg5YWJjZGU=";

/// Removes every `SSF_*` variable of the test's environment from `command`, then sets
/// [`TEST_SECRETS_KEY`].
pub(crate) fn clear_ssf_env(command: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("SSF_") {
            command.env_remove(key);
        }
    }
    command.env("SSF_SECRETS_KEY", TEST_SECRETS_KEY);
}

/// Runs `ssf args...` in `dir` with `env` (and no other `SSF_*` variable).
pub(crate) fn ssf_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ssf"));
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    clear_ssf_env(&mut command);
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(DEADLINE) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("ssf {args:?} did not finish in time");
        }
    };
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Runs `ssf` with `env`, asserts success, returns stdout as JSON.
pub(crate) fn ssf_json(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let run = ssf_env(dir, args, env);
    assert_eq!(run.code, 0, "ssf {args:?} failed: {}", run.stderr);
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("ssf {args:?} printed no JSON ({e}): {}", run.stdout))
}

/// The tests' shared Tokio runtime.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// `GET url`: status and body (status 0 when nothing answered).
pub(crate) fn get(url: &str) -> (u16, String) {
    let url = url.to_owned();
    runtime().block_on(async move {
        match reqwest::get(&url).await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    })
}

/// `GET url` with a bearer token: status and body.
pub(crate) fn get_with_token(url: &str, bearer: &str) -> (u16, String) {
    let (url, bearer) = (url.to_owned(), bearer.to_owned());
    runtime().block_on(async move {
        match reqwest::Client::new()
            .get(&url)
            .bearer_auth(&bearer)
            .send()
            .await
        {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    })
}

/// `POST url` with a bearer token (if any), basic auth (if any) and a body of `content_type`.
pub(crate) fn post(
    url: &str,
    bearer: Option<&str>,
    basic: Option<(&str, &str)>,
    content_type: &str,
    body: String,
) -> (u16, String) {
    let (url, bearer, content_type) = (
        url.to_owned(),
        bearer.map(str::to_owned),
        content_type.to_owned(),
    );
    let basic = basic.map(|(u, p)| (u.to_owned(), p.to_owned()));
    runtime().block_on(async move {
        let mut request = reqwest::Client::new()
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some((user, password)) = basic {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    })
}

/// An access token from the server's `/oauth/token` for a client of `credentials.json`.
pub(crate) fn token(server: &Server, client_id: &str, secret: &str) -> String {
    let (status, body) = post(
        &server.url("/oauth/token"),
        None,
        Some((client_id, secret)),
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials".to_owned(),
    );
    assert_eq!(status, 200, "token: {body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// A push receiver on loopback: `POST /push` stores each body and answers 202.
pub(crate) struct PushReceiver {
    /// `http://127.0.0.1:<port>/push`.
    pub(crate) url: String,
    /// The SETs received, in order.
    pub(crate) sets: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PushReceiver {
    /// Starts it.
    pub(crate) fn start() -> Self {
        let sets = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&sets);
        let app = Router::new().route(
            "/push",
            routing::post(move |body: Bytes| {
                let sink = Arc::clone(&sink);
                async move {
                    sink.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                    StatusCode::ACCEPTED
                }
            }),
        );
        let listener = runtime()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}/push", listener.local_addr().unwrap());
        let task = runtime().spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, sets, task }
    }
}

impl Drop for PushReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
