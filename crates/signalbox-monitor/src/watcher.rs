//! `monitor.endpoint_dirs`: directories of endpoint files in the watcher format, read into
//! checks (`signalbox_config::watcher` does one file) and kept in step with the directories.
//!
//! Every few seconds the directories are listed and each `*.yml`/`*.yaml` file read; when the
//! set of files or any file's text changed, the checks are rebuilt and handed to the monitor as
//! group [`GROUP`] ([`MonitorHandle::set_group`]: new endpoints start, removed ones stop,
//! changed ones restart). Comparing texts is simple and robust (no missed or doubled inotify
//! events, works on network filesystems); the directories are small.
//!
//! A file that does not load is skipped — logged with its file, line and column, and counted
//! in [`m::WATCHER_FILE_ERRORS`] once per version of its text — and the others keep running.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use signalbox_config::watcher::{WatcherCheck, WatcherOptions, parse_watcher_file};
use signalbox_config::{Env, TargetConfig};
use signalbox_core::metric_names as m;
use signalbox_engine::DynamicReports;
use signalbox_targets::BuildContext;
use tokio_util::sync::CancellationToken;

use crate::check::CompiledCheck;
use crate::probe::HttpClients;
use crate::runner::MonitorHandle;

/// The monitor group of the watcher's checks.
pub const GROUP: &str = "watcher";

/// How often the directories are read again by default.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// One file as last read.
struct FileState {
    text: String,
    /// The base URL the checks were made with (the `self` entry depends on it).
    self_url: String,
    /// Its checks, or `None` when it did not load.
    checks: Option<Vec<WatcherCheck>>,
}

/// The endpoint directories and what was last read from them.
pub struct WatcherDirs {
    dirs: Vec<PathBuf>,
    default_tz: String,
    env: Arc<dyn Env + Send + Sync>,
    files: BTreeMap<PathBuf, FileState>,
    /// Directories that could not be listed at the last scan (logged once until they can).
    unreadable: BTreeSet<PathBuf>,
    scanned: bool,
}

impl std::fmt::Debug for WatcherDirs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatcherDirs")
            .field("dirs", &self.dirs)
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl WatcherDirs {
    /// Reads `dirs` (nothing yet); `default_tz` is `server.timezone`, `env` fills `${env:…}`.
    pub fn new(
        dirs: Vec<PathBuf>,
        default_tz: &str,
        env: Arc<dyn Env + Send + Sync>,
    ) -> WatcherDirs {
        WatcherDirs {
            dirs,
            default_tz: default_tz.to_owned(),
            env,
            files: BTreeMap::new(),
            unreadable: BTreeSet::new(),
            scanned: false,
        }
    }

    /// Reads the directories. Returns every loaded check (files in path order; a name taken by
    /// an earlier file is skipped) when anything changed since the last scan, or on the first
    /// one; `None` when nothing did. `self_url` is this instance's API base URL.
    pub fn scan(&mut self, self_url: &str) -> Option<Vec<WatcherCheck>> {
        let paths = self.list();
        let mut changed = !self.scanned;
        self.scanned = true;
        let before = self.files.len();
        self.files.retain(|path, _| paths.contains(path));
        changed |= self.files.len() != before;
        for path in paths {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(error) => {
                    // Deleted between listing and reading, or unreadable: gone until readable.
                    if self.files.remove(&path).is_some() {
                        changed = true;
                    }
                    tracing::warn!(file = %path.display(), %error, "watcher file cannot be read");
                    continue;
                }
            };
            let known = self.files.get(&path);
            if known.is_some_and(|f| f.text == text && f.self_url == self_url) {
                continue;
            }
            // Problems are reported when the text is new, not again when only the URL changed.
            let report = known.is_none_or(|f| f.text != text);
            let options = WatcherOptions {
                env: &*self.env,
                default_tz: &self.default_tz,
                self_url,
            };
            let checks = match parse_watcher_file(&text, &path, options) {
                Ok(checks) => Some(checks),
                Err(diagnostics) => {
                    if report {
                        file_skipped(&path, &diagnostics);
                    }
                    None
                }
            };
            changed = true;
            self.files.insert(
                path,
                FileState {
                    text,
                    self_url: self_url.to_owned(),
                    checks,
                },
            );
        }
        if !changed {
            return None;
        }
        let mut names = BTreeMap::<String, &Path>::new();
        let mut all = Vec::new();
        for (path, file) in &self.files {
            for check in file.checks.iter().flatten() {
                if let Some(first) = names.get(check.name.as_str()) {
                    tracing::error!(
                        file = %path.display(),
                        line = check.location.line,
                        column = check.location.column,
                        check = %check.name,
                        first = %first.display(),
                        "watcher endpoint skipped: its check name is already used by another file"
                    );
                    continue;
                }
                names.insert(check.name.clone(), path);
                all.push(check.clone());
            }
        }
        metrics::gauge!(m::WATCHER_ENDPOINTS).set(all.len() as f64);
        Some(all)
    }

    /// Every endpoint file of the directories, sorted.
    fn list(&mut self) -> BTreeSet<PathBuf> {
        let mut paths = BTreeSet::new();
        for dir in &self.dirs {
            match endpoint_files(dir) {
                Ok(files) => {
                    self.unreadable.remove(dir);
                    paths.extend(files);
                }
                Err(error) => {
                    if self.unreadable.insert(dir.clone()) {
                        tracing::error!(dir = %dir.display(), %error, "watcher directory cannot be listed");
                    }
                }
            }
        }
        paths
    }
}

/// The `*.yml`/`*.yaml` files of `dir` (not dot files, not directories).
fn endpoint_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        let is_yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yml" || e == "yaml");
        // Editors' and tools' dot files are not endpoints.
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if is_yaml && !hidden && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Every problem of the endpoint files in `dirs`, as `file:line:col: message` lines, for
/// `signalbox validate` (which, unlike `serve`, fails on them).
pub fn problems(dirs: &[PathBuf], default_tz: &str, env: &dyn Env) -> Vec<String> {
    let mut out = Vec::new();
    for dir in dirs {
        let files = match endpoint_files(dir) {
            Ok(files) => files,
            Err(error) => {
                out.push(format!(
                    "monitor.endpoint_dirs: \"{}\" cannot be listed: {error}",
                    dir.display()
                ));
                continue;
            }
        };
        for file in files {
            let text = match std::fs::read_to_string(&file) {
                Ok(text) => text,
                Err(error) => {
                    out.push(format!("{}: cannot be read: {error}", file.display()));
                    continue;
                }
            };
            let options = WatcherOptions {
                env,
                default_tz,
                self_url: UNBOUND_URL,
            };
            if let Err(diagnostics) = parse_watcher_file(&text, &file, options) {
                out.extend(diagnostics.iter().map(ToString::to_string));
            }
        }
    }
    out
}

fn file_skipped(path: &Path, diagnostics: &[signalbox_config::Diagnostic]) {
    metrics::counter!(m::WATCHER_FILE_ERRORS, "file" => path.display().to_string()).increment(1);
    for d in diagnostics {
        let (line, column) = d.location.as_ref().map_or((0, 0), |l| (l.line, l.column));
        tracing::error!(
            file = %path.display(),
            line,
            column,
            error = %d.message,
            "watcher file skipped"
        );
    }
}

/// Stands for this instance's URL before it listens.
const UNBOUND_URL: &str = "http://127.0.0.1:0";

/// The base URL the `self` entry checks: `addr`, with a wildcard address replaced by loopback.
pub fn self_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Builds the monitor's checks from watcher checks; one that cannot be built is logged and
/// left out.
pub fn compile(
    checks: &[WatcherCheck],
    default_tz: &str,
    clients: &HttpClients,
) -> Vec<CompiledCheck> {
    checks
        .iter()
        .filter_map(
            |c| match CompiledCheck::build(&c.name, &c.check, default_tz, clients) {
                Ok(compiled) => Some(compiled),
                Err(error) => {
                    tracing::error!(
                        file = %c.location.file.display(),
                        line = c.location.line,
                        column = c.location.column,
                        %error,
                        "watcher endpoint skipped"
                    );
                    None
                }
            },
        )
        .collect()
}

/// What the watcher task changes, and builds with.
pub struct WatchContext {
    /// This instance's API base URL ([`self_url`]), which the `self` entry checks.
    pub self_url: String,
    /// Shared probe clients.
    pub clients: HttpClients,
    /// Where the checks run (group [`GROUP`]).
    pub monitor: MonitorHandle,
    /// Where the posts are routed: the router's runtime report sets.
    pub reports: Arc<DynamicReports>,
    /// What targets are built with.
    pub targets: BuildContext,
}

/// The report sets of `checks`: each check with posts, by its name (the set id the reporter
/// files its results under).
pub fn report_sets(checks: &[WatcherCheck]) -> Vec<(String, Vec<TargetConfig>)> {
    checks
        .iter()
        .filter(|c| !c.check.report.is_empty())
        .map(|c| (c.name.clone(), c.check.report.clone()))
        .collect()
}

/// Applies `checks`: their posts to the router first (so their first results are routed),
/// then the checks to the monitor.
async fn apply(checks: &[WatcherCheck], default_tz: &str, ctx: &WatchContext) {
    for error in ctx.reports.replace(&report_sets(checks), &ctx.targets) {
        let set = error
            .rule()
            .strip_prefix(signalbox_config::CHECK_REPORT_RULE_PREFIX)
            .unwrap_or_default();
        let at = checks.iter().find(|c| c.name == set).map(|c| &c.location);
        tracing::error!(
            file = %at.map(|l| l.file.display().to_string()).unwrap_or_default(),
            line = at.map_or(0, |l| l.line),
            column = at.map_or(0, |l| l.column),
            %error,
            "watcher endpoint's post cannot be built; it runs without posting"
        );
    }
    let compiled = compile(checks, default_tz, &ctx.clients);
    tracing::info!(endpoints = compiled.len(), "watcher endpoints loaded");
    ctx.monitor.set_group(GROUP, compiled).await;
}

/// Keeps group [`GROUP`] of the monitor and the watcher's report sets in step with `dirs`
/// until `stop`: applies what `dirs` holds now, then reads them again every `every`.
pub async fn watch(
    mut dirs: WatcherDirs,
    ctx: WatchContext,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        // Reading files blocks; keep it off the runtime's workers.
        let url = ctx.self_url.clone();
        let scanned = tokio::task::spawn_blocking(move || {
            let found = dirs.scan(&url);
            (dirs, found)
        })
        .await;
        let found;
        (dirs, found) = match scanned {
            Ok(done) => done,
            Err(error) => {
                tracing::error!(%error, "watcher scan failed; the watcher stops");
                return;
            }
        };
        if let Some(checks) = found {
            apply(&checks, &dirs.default_tz, &ctx).await;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoEnv;

    impl Env for NoEnv {
        fn var(&self, _name: &str) -> Option<String> {
            None
        }
    }

    const GOOD: &str = "a.example/health:\n  cron_schedule: \"* * * * *\"\n  scheme: http\n";

    #[test]
    fn a_broken_file_is_skipped_and_the_rest_load_and_follow_edits() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yml"), GOOD).unwrap();
        std::fs::write(
            dir.path().join("broken.yaml"),
            "x:\n  cron_schedule: * * *\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not an endpoint file").unwrap();
        std::fs::write(dir.path().join(".hidden.yml"), GOOD).unwrap();
        let mut dirs = WatcherDirs::new(vec![dir.path().to_owned()], "UTC", Arc::new(NoEnv));
        let names = |checks: Option<Vec<WatcherCheck>>| {
            checks.map(|cs| cs.into_iter().map(|c| c.name).collect::<Vec<_>>())
        };
        assert_eq!(
            names(dirs.scan("http://127.0.0.1:1")),
            Some(vec!["a.example_health".to_owned()])
        );
        assert_eq!(
            names(dirs.scan("http://127.0.0.1:1")),
            None,
            "nothing changed"
        );

        // A new file, a fixed file, and the same name in a later file.
        std::fs::write(
            dir.path().join("b.yml"),
            GOOD.replace("a.example", "b.example"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("broken.yaml"),
            GOOD.replace("a.example", "c.example"),
        )
        .unwrap();
        std::fs::write(dir.path().join("z.yml"), GOOD).unwrap();
        assert_eq!(
            names(dirs.scan("http://127.0.0.1:1")),
            Some(vec![
                "a.example_health".to_owned(),
                "b.example_health".to_owned(),
                "c.example_health".to_owned(),
            ])
        );
        // Removing a file removes its endpoints.
        std::fs::remove_file(dir.path().join("b.yml")).unwrap();
        assert_eq!(
            names(dirs.scan("http://127.0.0.1:1")),
            Some(vec![
                "a.example_health".to_owned(),
                "c.example_health".to_owned(),
            ])
        );
        // A missing directory is an empty one.
        let mut gone = WatcherDirs::new(vec![dir.path().join("nope")], "UTC", Arc::new(NoEnv));
        assert_eq!(names(gone.scan("http://127.0.0.1:1")), Some(vec![]));
    }

    #[test]
    fn self_url_avoids_wildcards_and_report_sets_are_the_posts() {
        assert_eq!(
            self_url("0.0.0.0:80".parse().unwrap()),
            "http://127.0.0.1:80"
        );
        assert_eq!(self_url("[::]:81".parse().unwrap()), "http://[::1]:81");
        assert_eq!(
            self_url("10.0.0.1:82".parse().unwrap()),
            "http://10.0.0.1:82"
        );

        let dir = tempfile::tempdir().unwrap();
        let text = "a.example/health:\n  post_endpoint: http://127.0.0.1:9/x\nb.example/health:\n  scheme: http\n";
        std::fs::write(dir.path().join("a.yml"), text).unwrap();
        let mut dirs = WatcherDirs::new(vec![dir.path().to_owned()], "UTC", Arc::new(NoEnv));
        let checks = dirs.scan(UNBOUND_URL).unwrap();
        let sets = report_sets(&checks);
        assert_eq!(sets.len(), 1, "only the endpoint that posts");
        assert_eq!(sets[0].0, "a.example_health");
        assert_eq!(
            sets[0].1[0].webhook.as_ref().unwrap().url,
            "http://127.0.0.1:9/x"
        );
    }

    #[test]
    fn problems_lists_every_broken_file_with_its_position() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yml"), GOOD).unwrap();
        std::fs::write(dir.path().join("b.yml"), "x/y:\n  colour: red\n").unwrap();
        let missing = dir.path().join("missing");
        let found = problems(&[dir.path().to_owned(), missing], "UTC", &NoEnv);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[0].ends_with("b.yml:2:3: endpoint \"x/y\": unknown field `colour`, expected one of `cron_schedule`, `scheme`, `response_json_values`, `success_test`, `post_endpoint`, `post_api_key`, `post_json_info`, `post_service`, `aws_key`, `aws_secret`, `data_source`, `data_detail_type`, `data_details_json`, `data_resources`"),
            "{found:#?}"
        );
        assert!(found[1].contains("cannot be listed"), "{found:#?}");
    }

    #[test]
    fn the_self_entry_follows_the_url() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("self.yml"), "self: {}\n").unwrap();
        let mut dirs = WatcherDirs::new(vec![dir.path().to_owned()], "UTC", Arc::new(NoEnv));
        let url = |checks: Option<Vec<WatcherCheck>>| {
            checks.map(|cs| cs[0].check.http.as_ref().unwrap().url.clone())
        };
        assert_eq!(
            url(dirs.scan("http://a:1")).as_deref(),
            Some("http://a:1/readyz")
        );
        assert_eq!(
            url(dirs.scan("http://b:2")).as_deref(),
            Some("http://b:2/readyz")
        );
    }
}
