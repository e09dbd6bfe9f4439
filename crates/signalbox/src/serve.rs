//! `signalbox serve`: wires store, router, ingest, dispatcher and HTTP, and stops gracefully.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, anyhow};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use signalbox_core::metric_names as m;
use signalbox_engine::{
    Dispatcher, DispatcherOptions, IngestOptions, Ingestor, Router, Scheduler, SchedulerOptions,
};
use signalbox_store::OpenOptions;
use signalbox_targets::BuildContext;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Latency buckets in seconds: from a fast local webhook to a slow retried one.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0,
];
/// Fire lateness in seconds: the goal is a p99 under 10 ms.
const LATENESS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// Runs until SIGTERM or SIGINT.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let loaded = signalbox_config::load(config_path).map_err(|ds| {
        let text: Vec<String> = ds.iter().map(ToString::to_string).collect();
        anyhow!("invalid config:\n{}", text.join("\n"))
    })?;
    let mut config = loaded.config;
    let ctx = BuildContext::new()
        .context("building the HTTP client")?
        .with_channels(&config.channels)
        .map_err(|es| anyhow!("invalid channels:\n{}", es.join("\n")))?;
    let router = Router::build(&config, &ctx).map_err(|es| {
        let text: Vec<String> = es
            .iter()
            .map(|e| match loaded.origins.get(&origin_of(e.rule())) {
                Some(at) => format!("{at}: {e}"),
                None => e.to_string(),
            })
            .collect();
        anyhow!("invalid rules:\n{}", text.join("\n"))
    })?;
    // Only router errors are placed with it; it holds an entry per schedule and setting.
    drop(loaded.origins);
    // Report sets that change at runtime: the watcher's endpoint files' posts.
    let watcher_reports = Arc::new(signalbox_engine::DynamicReports::default());
    // API schedules' own targets: built from their stored definitions when first needed.
    let api_schedules = Arc::new(signalbox_engine::ApiScheduleTargets::new(ctx.clone()));
    let router = Arc::new(
        router
            .with_dynamic_reports(watcher_reports.clone())
            .with_api_schedules(api_schedules.clone()),
    );

    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(m::DELIVERY_LATENCY.into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(m::ATTEMPT_DURATION.into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full(m::INGEST_COMMIT_DURATION.into()),
            LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(Matcher::Full(m::INGEST_BATCH_SIZE.into()), BATCH_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(m::SCHEDULE_LATENESS.into()), LATENESS_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(m::CHECK_DURATION.into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(m::CHECK_LAG.into()), LATENESS_BUCKETS)?
        .install_recorder()
        .context("installing the metrics recorder")?;

    let store = signalbox_store::open(
        &config.store.url,
        &OpenOptions {
            max_connections: config.store.max_connections,
            sqlite_fsync_every_commit: config.store.sqlite_synchronous
                == signalbox_config::SqliteSynchronous::Full,
        },
    )
    .await
    .with_context(|| format!("opening the store {}", redact_url(&config.store.url)))?;
    let store: Arc<dyn signalbox_store::Store> = Arc::from(store);

    let wake = Arc::new(Notify::new());
    let (ingest, committer) = Ingestor::start(
        store.clone(),
        router.clone(),
        IngestOptions {
            max_batch_events: config.server.group_commit_max.max(1),
            dedup_window: config.server.dedup_window,
            ..IngestOptions::default()
        },
        wake.clone(),
    );
    let stop_dispatch = CancellationToken::new();
    let dispatcher_opts = DispatcherOptions {
        lease: config.store.lease,
        poll_interval: config.store.poll_interval,
        shutdown_grace: config.server.shutdown_grace,
        ..DispatcherOptions::new()
    };

    // Schedules: the config's are written to the store (config wins), then this instance
    // claims its share and fires them.
    signalbox_engine::scheduler::sync_config_schedules(&*store, &config.schedules)
        .await
        .context("writing the config's schedules to the store")?;
    // The store holds them now, and the router their targets: the config's copy would only
    // take memory (100,000 schedules are tens of megabytes) for the process's lifetime.
    let schedule_count = std::mem::take(&mut config.schedules).len();
    let (scheduler, scheduler_handle) = Scheduler::new(
        store.clone(),
        router.clone(),
        SchedulerOptions {
            lease: config.store.schedule_lease,
            default_tz: config.server.timezone.clone(),
            ..SchedulerOptions::new(dispatcher_opts.owner.clone())
        },
        wake.clone(),
    );
    let stop_scheduler = CancellationToken::new();
    let scheduler = tokio::spawn(scheduler.run(stop_scheduler.clone()));

    // Checks: each runs on its own cadence; their alerts go through ingest so rules route them.
    // Heartbeat checks read their pings from the store, where any instance may have put them.
    let clients = signalbox_monitor::HttpClients::new()
        .context("building the checks' HTTP client")?
        .with_heartbeat_store(store.clone());
    let monitor =
        signalbox_monitor::Monitor::from_config(&config.checks, &config.server.timezone, &clients)
            .map_err(|es| {
                let text: Vec<String> = es.iter().map(ToString::to_string).collect();
                anyhow!("invalid checks:\n{}", text.join("\n"))
            })?;
    let stop_monitor = CancellationToken::new();
    // Run results go to the checks' report targets as batched events through ingest, collected
    // off the probe path (docs/checks.md, "Reporting results").
    let stop_reporter = CancellationToken::new();
    let (reporter, reporter_task) = signalbox_monitor::Reporter::start(
        signalbox_monitor::ReportOptions::from_config(&config.monitor),
        Arc::new(ingest.clone()),
        stop_reporter.clone(),
    );
    let monitor = monitor.with_reporter(reporter);
    let check_statuses = monitor.statuses();
    // Instances share the checks through leases on partitions of their names (one instance
    // holds them all on SQLite); the handle replaces a group of checks at runtime.
    let (monitor_handle, monitor) = monitor
        .start(
            Arc::new(ingest.clone()),
            Arc::new(signalbox_monitor::StoreStates(store.clone())),
            store.clone(),
            signalbox_monitor::MonitorOptions {
                owner: dispatcher_opts.owner.clone(),
                lease_ttl: config.monitor.lease_ttl,
                max_lag: config.monitor.max_lag,
            },
            stop_monitor.clone(),
        )
        .await;

    let dispatcher = Dispatcher::new(store.clone(), router.clone(), dispatcher_opts, wake.clone());
    let dispatcher = tokio::spawn(dispatcher.run(stop_dispatch.clone()));

    let shutting_down = Arc::new(AtomicBool::new(false));
    let body_limit = usize::try_from(config.server.body_limit.0).unwrap_or(usize::MAX);
    let app = signalbox_server::app(signalbox_server::AppState::new(
        signalbox_server::AppStateInner {
            ingest,
            store: store.clone(),
            dispatcher_wake: wake,
            metrics: Some(prometheus),
            body_limit,
            shutting_down: shutting_down.clone(),
            channels: ctx.channels.clone(),
            scheduler: scheduler_handle,
            schedule_timezone: config.server.timezone.clone(),
            checks: check_statuses,
            heartbeats: signalbox_monitor::HeartbeatNames::from_config(&config.checks),
            api_schedules,
        },
    ));
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        addr = %addr,
        rules = router.rule_count(),
        schedules = schedule_count,
        checks = config.checks.len(),
        store = %redact_url(&config.store.url),
        "listening"
    );
    let stop_watcher = CancellationToken::new();
    // Watcher endpoint files (`monitor.endpoint_dirs`): read once this instance listens (the
    // `self` entry checks our own address; a skipped file is logged after "listening"), then
    // again whenever they change.
    let watcher = (!config.monitor.endpoint_dirs.is_empty()).then(|| {
        let dirs = signalbox_monitor::watcher::WatcherDirs::new(
            config.monitor.endpoint_dirs.clone(),
            &config.server.timezone,
            Arc::new(signalbox_config::ProcessEnv),
        );
        tokio::spawn(signalbox_monitor::watcher::watch(
            dirs,
            signalbox_monitor::watcher::WatchContext {
                self_url: signalbox_monitor::watcher::self_url(addr),
                clients: clients.clone(),
                monitor: monitor_handle.clone(),
                reports: watcher_reports,
                targets: ctx.clone(),
            },
            signalbox_monitor::watcher::POLL_EVERY,
            stop_watcher.clone(),
        ))
    });
    // Answers are one write each; without TCP_NODELAY a reply could wait for the client's
    // delayed ACK of the previous one.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop_signal().await;
            shutting_down.store(true, Ordering::Relaxed);
            tracing::info!("shutting down: no new requests");
        })
        .await
        .context("serving HTTP")?;
    // No fire after this point: the leases go back for another instance to take.
    stop_scheduler.cancel();
    scheduler.await.context("scheduler")?;
    stop_watcher.cancel();
    if let Some(watcher) = watcher {
        watcher.await.context("watcher")?;
    }
    // Checks stop before ingest closes so their last alerts are still accepted.
    stop_monitor.cancel();
    monitor.await.context("monitor")?;
    drop(monitor_handle);
    // After the checks, so the results of their last runs are still sent.
    stop_reporter.cancel();
    reporter_task.await.context("check reporter")?;
    // Intake has stopped; the committer drains what was queued once the last handle is dropped.
    committer.await.context("ingest committer")?;
    stop_dispatch.cancel();
    dispatcher.await.context("dispatcher")?;
    tracing::info!("stopped");
    Ok(())
}

/// Where a router error's rule is written: `rules.<name>`, `schedules.<name>` for a
/// schedule's own targets, `checks.<name>` / `monitor.report` for report targets.
fn origin_of(rule: &str) -> String {
    if let Some(schedule) = rule.strip_prefix(signalbox_config::schedule::SCHEDULE_RULE_PREFIX) {
        return format!("schedules.{schedule}");
    }
    match rule.strip_prefix(signalbox_config::CHECK_REPORT_RULE_PREFIX) {
        Some(signalbox_config::GLOBAL_REPORT_SET) => "monitor.report".to_owned(),
        Some(check) => format!("checks.{check}"),
        None => format!("rules.{rule}"),
    }
}

async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// The store URL without its password, for logs.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_password() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact_url("sqlite://a.db"), "sqlite://a.db");
    }
}
