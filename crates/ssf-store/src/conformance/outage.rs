//! A database that goes away: a TCP proxy in front of the PostgreSQL test server whose
//! connections a test can cut and restore, so outage handling is tested against a real server
//! without stopping it for the other tests.

use std::{
    net::SocketAddr,
    str::FromStr,
    sync::{Arc, Mutex, PoisonError},
};

use sqlx::{ConnectOptions, postgres::PgConnectOptions};
use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// A proxy to the test server: while cut, every connection is dropped and new ones are refused
/// (the port is closed), as when the database host is down.
#[derive(Debug)]
pub struct OutageProxy {
    addr: SocketAddr,
    upstream: String,
    url: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl OutageProxy {
    /// A proxy in front of `server_url` (a `postgres://` URL on TCP), accepting connections.
    pub async fn start(server_url: &str) -> Self {
        let options = PgConnectOptions::from_str(server_url).unwrap();
        let upstream = format!("{}:{}", options.get_host(), options.get_port());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = options
            .host("127.0.0.1")
            .port(addr.port())
            .to_url_lossy()
            .to_string();
        let proxy = Self {
            addr,
            upstream,
            url,
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    /// The URL to connect through the proxy (same user and database as the server's URL).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database goes away: open connections are dropped, new ones refused.
    pub fn cut(&self) {
        for task in self.lock().drain(..) {
            task.abort();
        }
    }

    /// The database is back on the same address.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        let tasks = Arc::clone(&self.tasks);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(pipe);
            }
        });
        self.lock().push(accept);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for OutageProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
