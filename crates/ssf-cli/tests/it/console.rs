//! The operator console in a real browser (issue 14): Debian's Chromium, headless, driven
//! through ChromeDriver (WebDriver) with `fantoccini`, against the real `ssf` binary.
//!
//! - `ssf demo --serve`: sign in with the printed token, see the support console's stream,
//!   find why Jane is denied customer C2148, see the grant a ticket gives her, revoke it by hand
//!   and see her denied again.
//! - `ssf serve` with a push stream whose receiver is down: the dead letter shows on the
//!   stream's page; once the receiver is back, the replay button delivers it.
//!
//! Without Chromium and ChromeDriver these tests say so and pass, unless `SSF_REQUIRE_BROWSER`
//! is set (`.ci/run` installs both and sets it). With `SSF_CONSOLE_SCREENSHOTS=<dir>` they save
//! a screenshot of each page they check there (the ones in docs/console/ were made so).

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, http::StatusCode, routing};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::{
    serve::TRANSMITTER,
    server::{DEADLINE, Server, runtime},
};

/// ChromeDriver and a headless Chromium session; both stop when dropped.
struct Browser {
    client: Client,
    driver: Child,
    shots: Option<PathBuf>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = runtime().block_on(async move { client.close().await });
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Starts ChromeDriver and a browser, or `None` (the test is skipped) when they are missing
/// and `SSF_REQUIRE_BROWSER` is not set.
fn browser() -> Option<Browser> {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let driver_path = ["/usr/bin/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let (Some(chromium), Some(driver_path)) = (chromium, driver_path) else {
        assert!(
            std::env::var_os("SSF_REQUIRE_BROWSER").is_none(),
            "SSF_REQUIRE_BROWSER is set but chromium or chromedriver is missing: \
             apt-get install chromium chromium-driver"
        );
        eprintln!("skipped: no chromium/chromedriver (apt-get install chromium chromium-driver)");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new(driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let caps = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1360,900", "--no-proxy-server"]
        }
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let client = runtime().block_on(async {
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() < DEADLINE => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
            }
        }
    });
    Some(Browser {
        client,
        driver,
        shots: std::env::var_os("SSF_CONSOLE_SCREENSHOTS").map(PathBuf::from),
    })
}

impl Browser {
    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("page loads");
    }

    /// The element `css` once the page has it (a click's navigation may still be under way).
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let found = self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => element,
            Err(e) => {
                let page = self.client.source().await.unwrap_or_default();
                panic!("{css}: {e}\n{page}")
            }
        }
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    /// The text of `css`; found again when the page's live refresh replaced it meanwhile.
    async fn text(&self, css: &str) -> String {
        for _ in 0..20 {
            if let Ok(text) = self.find(css).await.text().await {
                return text;
            }
        }
        panic!("{css} kept going stale");
    }

    /// The page's visible text.
    async fn body(&self) -> String {
        self.text("body").await
    }

    /// Reloads until the page's text contains `needle` (the server's state changes behind it).
    async fn reload_until(&self, what: &str, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let body = self.body().await;
            if body.contains(needle) {
                return body;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "timed out waiting for {what}:\n{body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.client.refresh().await.expect("reload");
        }
    }

    async fn shot(&self, name: &str) {
        if let Some(dir) = &self.shots {
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        }
    }

    async fn sign_in(&self, url: &str, admin_token: &str) {
        self.goto(url).await;
        let here = self.client.current_url().await.unwrap();
        assert!(here.path().ends_with("/console/sign-in"), "{here}");
        self.shot("sign-in").await;
        self.fill("#token", "not-the-token").await;
        self.click("#sign-in").await;
        assert!(
            self.text("#sign-in-error")
                .await
                .contains("not the console's admin token")
        );
        self.fill("#token", admin_token).await;
        self.click("#sign-in").await;
        self.find("#sign-out").await; // signed in: the page behind it has loaded
    }
}

/// `ssf demo --serve`, its printed guide, and the operator console's URL and token.
struct Demo {
    child: Child,
    guide: String,
    url: String,
    token: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn demo(dir: &std::path::Path) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssf"))
        .args(["demo", "--serve"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut guide = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        guide.push_str(&line);
        guide.push('\n');
        if line.starts_with("# Stop everything with Ctrl-C") {
            break;
        }
    }
    let console = guide
        .lines()
        .find_map(|l| l.strip_prefix("operator console"))
        .unwrap_or_else(|| panic!("the guide names no operator console:\n{guide}"));
    let mut words = console.split_whitespace();
    let url = words.next().unwrap().to_owned();
    let token = words.last().unwrap().to_owned();
    Demo {
        child,
        guide,
        url,
        token,
    }
}

/// The guide's first command after the heading that starts with `step`, run with bash.
fn run_guide_command(guide: &str, step: &str) {
    let mut lines = guide.lines().skip_while(|l| !l.starts_with(step)).skip(1);
    let mut command = String::new();
    for line in lines.by_ref() {
        match line.strip_suffix('\\') {
            Some(continued) => command.push_str(continued),
            None => {
                command.push_str(line);
                break;
            }
        }
    }
    let command = command
        .rsplit_once("   # ")
        .map_or(command.as_str(), |(c, _)| c);
    let out = Command::new("bash")
        .arg("-c")
        .arg(command)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200"), "{command}\n{text}");
}

/// Sign in, see a stream, find why Jane is denied, see her grant, revoke it by hand.
#[test]
fn the_console_shows_streams_explains_jane_and_revokes_her_grant() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let demo = demo(dir.path());
    runtime().block_on(async {
        browser.sign_in(&demo.url, &demo.token).await;
        let overview = browser.body().await;
        assert!(overview.contains("Transmitter") && overview.contains("Receiver"), "{overview}");
        assert!(overview.contains("Throughput and latency"), "{overview}");
        browser.shot("overview").await;

        browser.click("a[href='/console/streams']").await;
        let streams = browser.reload_until("the support console's stream", "support-console").await;
        assert!(streams.contains("enabled"), "{streams}");
        browser.shot("streams").await;
        browser.click("a.stream-link").await;
        let stream = browser.body().await;
        assert!(stream.contains("Outbox") && stream.contains("Dead letters"), "{stream}");
        browser.shot("stream").await;

        // Why is Jane denied customer C2148? No case yet: no grant.
        let why = format!(
            "{}access/explain?subject=jane%40example.com&roles=support-agent&asset_type=customer&asset_id=C2148",
            demo.url
        );
        browser.goto(&why).await;
        assert_eq!(browser.text("#verdict-reason").await, "grant_required");
        assert!(browser.text("#verdict-text").await.starts_with("Denied"));
        browser.shot("why-denied").await;

        // A case about C2148 is assigned to Jane: the grant shows, and the why says allowed.
        run_guide_command(&demo.guide, "# 4.");
        browser.goto(&format!("{}access", demo.url)).await;
        let access = browser.reload_until("Jane's grant", "customer:C2148").await;
        assert!(access.contains("jane@example.com") && access.contains("SUP-2148"), "{access}");
        browser.goto(&why).await;
        let allowed = browser.reload_until("the grant to reach the engine", "Allowed").await;
        assert!(allowed.contains("allowed_by_grant"), "{allowed}");
        let jti = browser.text("#verdict-jti").await;
        assert!(jti.len() > 8, "names the SET behind it");
        // That SET, as the receiver verified and applied it.
        browser.click("#verdict-jti").await;
        let receiver = browser.reload_until("the SET on the receiver page", "token-claims-change").await;
        assert!(receiver.contains(&jti) && receiver.contains("applied"), "{receiver}");
        browser.shot("receiver").await;

        // Revoke it by hand: the bridge sends the revoke SET; Jane is denied again.
        browser.goto(&format!("{}access", demo.url)).await;
        browser.shot("access").await;
        browser.fill(".revoke-form input[name=reason]", "left the support team").await;
        browser.click("button.revoke").await;
        assert!(browser.text("#flash").await.contains("revoked"));
        assert!(browser.body().await.contains("No active grant."));
        browser.goto(&why).await;
        let denied = browser.reload_until("the revoke to reach the engine", "Denied").await;
        assert!(denied.contains("grant_required"), "{denied}");

        // The ticket's audit trail names the revoke.
        browser
            .goto(&format!("{}access?all=1&ticket=helpdesk%3ASUP-2148", demo.url))
            .await;
        let trail = browser.body().await;
        assert!(trail.contains("left the support team"), "{trail}");
        browser.click("#sign-out").await;
        browser.find("#sign-in").await;
        browser.goto(&demo.url).await;
        browser.find("#sign-in").await; // signed out: the console asks again
    });
}

/// A receiver that is down (`503`) until `up` is set, then takes every SET (`202`).
fn receiver_down_until(up: Arc<AtomicBool>) -> (String, tokio::task::JoinHandle<()>) {
    let app = Router::new().route(
        "/push",
        routing::post(move || {
            let up = up.load(Ordering::SeqCst);
            async move {
                if up {
                    StatusCode::ACCEPTED
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                }
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
    (url, task)
}

/// A SET whose retries ran out while its receiver was down is a dead letter on its stream's
/// page; once the receiver is back, the replay button delivers it, and the page shows it
/// without a reload (its live sections refresh themselves).
#[test]
fn a_dead_letter_is_replayed_from_the_browser_and_delivered() {
    let Some(browser) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let admin = "console-admin-token-for-the-browser-test-0123456789";
    // One retry after 100 ms, then the SET is dead-lettered.
    let config = format!(
        "{TRANSMITTER}\n[transmitter.push.retry]\ndelays = [\"100ms\"]\njitter_percent = 0\n\n\
         [console]\nadmin_token_hash = \"{}\"\n",
        ssf_transmitter::auth::hash_secret(admin)
    );
    let server = Server::start(dir.path(), &config, &[]);
    let banner = server.stdout.lock().unwrap().join("\n");
    assert!(
        banner.contains("/console/"),
        "the banner names the console:\n{banner}"
    );
    let up = Arc::new(AtomicBool::new(false));
    let (push_url, receiver) = receiver_down_until(Arc::clone(&up));
    let stream_id = crate::serve_limits::push_stream_with_one_event(&server, &push_url);
    runtime().block_on(async {
        browser.sign_in(&server.url("/console/"), admin).await;
        browser
            .goto(&server.url(&format!("/console/streams/{stream_id}")))
            .await;
        let page = browser
            .reload_until("the SET to be dead-lettered", "http_503")
            .await;
        assert!(page.contains("2 failure(s) in a row"), "{page}");
        assert_eq!(browser.text("#count-dead").await, "1");
        browser.shot("dead-letter").await;
        up.store(true, Ordering::SeqCst);
        browser.click("button.replay").await;
        assert!(
            browser
                .text("#flash")
                .await
                .contains("1 SET(s) queued again")
        );
        // Delivered now; seen without reloading.
        let started = Instant::now();
        while !browser
            .body()
            .await
            .contains("Nothing is parked on this stream.")
            || browser.text("#delivered").await != "1"
            || !browser
                .text("#live-stamp")
                .await
                .starts_with("live, updated")
        {
            assert!(
                started.elapsed() < DEADLINE,
                "the live page never showed the replayed SET delivered:\n{}",
                browser.body().await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    assert!(
        server.log().contains("console: parked SETs replayed"),
        "the replay is logged"
    );
    receiver.abort();
}

/// D-SRV-02: the console is off unless configured; `[console]` needs a well-formed hash outside
/// development mode, and a wrong one is refused at `--check` with how to make one.
#[test]
fn console_settings_are_checked_and_the_console_is_off_unless_configured() {
    let dir = tempfile::tempdir().unwrap();
    let check = |extra: &str| {
        std::fs::write(
            dir.path().join("ssf.toml"),
            format!("{TRANSMITTER}\n{extra}"),
        )
        .unwrap();
        crate::server::ssf_env(
            dir.path(),
            &["serve", "--config", "ssf.toml", "--check"],
            &[("SSF_SECRETS_KEY", crate::server::TEST_SECRETS_KEY)],
        )
    };
    let off = check("");
    assert_eq!(off.code, 0, "{}", off.stderr);
    assert!(off.stdout.contains("console off"), "{}", off.stdout);
    let hash = ssf_transmitter::auth::hash_secret("some-long-random-admin-token-0123456789");
    let on = check(&format!("[console]\nadmin_token_hash = \"{hash}\"\n"));
    assert_eq!(on.code, 0, "{}", on.stderr);
    assert!(on.stdout.contains("console /console/"), "{}", on.stdout);
    let disabled = check(&format!(
        "[console]\nenabled = false\nadmin_token_hash = \"{hash}\"\n"
    ));
    assert!(
        disabled.stdout.contains("console off"),
        "{}",
        disabled.stdout
    );
    for bad in [
        "[console]\nadmin_token_hash = \"sha256:<hex SHA-256 of the admin token>\"\n",
        "[console]\nadmin_token_hash = \"plain-text-token\"\n",
        "[console]\n",
        "[console]\nadmin_token = \"x\"\n",
    ] {
        let refused = check(bad);
        assert_eq!(refused.code, 2, "{bad}: {}", refused.stdout);
        assert!(
            refused.stderr.contains("console"),
            "{bad}: {}",
            refused.stderr
        );
    }
    let malformed = check("[console]\nadmin_token_hash = \"plain\"\n");
    assert!(
        malformed.stderr.contains("sha256sum"),
        "the error says how to make a hash: {}",
        malformed.stderr
    );
}

/// In development mode the console is on with a generated token (mode 0600) the banner points
/// to; the same token signs in after a restart.
#[test]
fn development_mode_generates_a_private_console_token() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_args(dir.path(), TRANSMITTER, &[], &["--dev"]);
    let banner = server.stdout.lock().unwrap().join("\n");
    let path = dir.path().join("data/console-token");
    assert!(
        banner.contains("admin token in data/console-token"),
        "{banner}"
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let token = std::fs::read_to_string(&path).unwrap().trim().to_owned();
    let sign_in = |token: &str| {
        let (url, form) = (server.url("/console/sign-in"), format!("token={token}"));
        runtime().block_on(async move {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let response = client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        })
    };
    assert_eq!(sign_in(&token), 303, "the generated token signs in");
    assert_eq!(sign_in("wrong"), 401);
    drop(server);
    let again = Server::start_args(dir.path(), TRANSMITTER, &[], &["--dev"]);
    let kept = std::fs::read_to_string(&path).unwrap().trim().to_owned();
    assert_eq!(kept, token, "the token survives a restart");
    drop(again);
}
