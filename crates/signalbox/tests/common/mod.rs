//! Test harness: runs the real `signalbox` binary against a real store and local receivers.
#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `signalbox serve`.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub config: PathBuf,
    /// Log lines after "listening", for assertions on logs.
    pub logs: mpsc::Receiver<String>,
}

/// Default PostgreSQL for tests; CI starts it.
pub fn postgres_url() -> String {
    std::env::var("SIGNALBOX_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A fresh PostgreSQL schema for one test; its URL makes every connection use it.
pub struct PgSchema {
    pub url: String,
    name: String,
}

impl PgSchema {
    pub async fn create() -> PgSchema {
        let base = postgres_url();
        let name = format!("e2e_{}", uuid::Uuid::now_v7().simple());
        let pool = sqlx::PgPool::connect(&base)
            .await
            .expect("PostgreSQL must be reachable for tests");
        let create = format!("CREATE SCHEMA {name}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(create))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        PgSchema {
            url: format!("{base}{sep}options=-c%20search_path%3D{name}"),
            name,
        }
    }

    /// Drops the schema (call at the end of a passing test; a failing one leaves it to look at).
    pub async fn drop_schema(self) {
        let pool = sqlx::PgPool::connect(&postgres_url()).await.unwrap();
        let drop = format!("DROP SCHEMA {} CASCADE", self.name);
        sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

impl Server {
    /// Writes `yaml` to `dir/signalbox.yaml` and starts the server on it.
    pub fn start(dir: &Path, yaml: &str) -> Server {
        let config = dir.join("signalbox.yaml");
        std::fs::write(&config, yaml).unwrap();
        Server::start_with(&config)
    }

    /// Starts the server on an existing config and waits until it listens.
    // The child is kept in the returned Server, whose Drop waits for it.
    #[allow(clippy::zombie_processes)]
    pub fn start_with(config: &Path) -> Server {
        Server::start_with_env(config, &[])
    }

    /// [`Server::start_with`] with extra environment variables (for `${env:…}` in files).
    // The child is kept in the returned Server, whose Drop waits for it.
    #[allow(clippy::zombie_processes)]
    pub fn start_with_env(config: &Path, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_signalbox"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .envs(env.iter().copied())
            .env("SIGNALBOX_LOG", "info,signalbox::delivery=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start signalbox");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let listening = serde_json::from_str::<Value>(&line)
                        .ok()
                        .filter(|v| v["message"] == "listening")
                        .and_then(|v| v["addr"].as_str().map(str::to_string));
                    if let Some(addr) = listening {
                        return Server {
                            child: Some(child),
                            base: format!("http://{addr}"),
                            config: config.to_path_buf(),
                            logs: rx,
                        };
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "signalbox did not start listening; stderr:\n{}",
                        seen.join("\n")
                    );
                }
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, then waits (bounded) for the exit status.
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("signalbox did not exit within {within:?} after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `check` until it returns Some or the deadline passes.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub async fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let r = client().post(url).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn get_json(url: &str) -> (u16, Value) {
    let r = client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}
