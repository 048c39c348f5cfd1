//! `trasealla jobs bench`: the queue's own overhead on a database, measured
//! with no-op jobs. Throughput: N jobs queued at once, then run by the
//! workers; latency: one job at a time on an idle queue, from the commit
//! that queued it to the end of its run (the database's timestamps).

use super::{enqueue_platform, Noop, Options};
use crate::app::App;
use crate::store::{Access, One};
use std::time::{Duration, Instant};

pub struct Report {
    pub jobs: usize,
    pub workers: u32,
    pub enqueue_per_sec: f64,
    pub run_per_sec: f64,
    pub latency_samples: usize,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
}

struct Times(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>);

impl crate::store::FromRow for Times {
    fn from_row(r: &crate::store::Row<'_>) -> crate::store::DbResult<Self> {
        Ok(Times(r.get("created_at")?, r.get("finished_at")?))
    }
}

async fn done_noops(app: &App) -> anyhow::Result<i64> {
    let mut tx = app.store.platform(Access::Read).await?;
    let One(n): One<i64> = tx
        .query_one(
            "SELECT count(*) FROM jobs WHERE kind = 'noop' AND state = 'done'",
            &[],
        )
        .await?;
    tx.commit().await?;
    Ok(n)
}

async fn wait_for_done(app: &App, target: i64, poll: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while done_noops(app).await? < target {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the jobs did not finish in 10 minutes"
        );
        tokio::time::sleep(poll).await;
    }
    Ok(())
}

/// Runs the benchmark on `app`'s database (which should hold no other
/// no-op jobs): `jobs` for throughput, `samples` for latency.
pub async fn run(app: &App, jobs: usize, samples: usize) -> anyhow::Result<Report> {
    let before = done_noops(app).await?;
    // Queue them all, a thousand per transaction, before any worker runs.
    let started = Instant::now();
    let mut left = jobs;
    while left > 0 {
        let batch = left.min(1000);
        let mut tx = app.store.platform(Access::Write).await?;
        for _ in 0..batch {
            enqueue_platform(&mut tx, &Noop {}, Options::default(), app.clock.now()).await?;
        }
        tx.commit().await?;
        left -= batch;
    }
    let enqueue_secs = started.elapsed().as_secs_f64();
    let background = super::spawn(app.clone());
    let started = Instant::now();
    super::committed();
    wait_for_done(app, before + jobs as i64, Duration::from_millis(5)).await?;
    let run_secs = started.elapsed().as_secs_f64();

    // Latency on an idle queue: one job at a time.
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let mut tx = app.store.platform(Access::Write).await?;
        let key = format!("bench-latency:{}:{i}", uuid::Uuid::now_v7());
        enqueue_platform(
            &mut tx,
            &Noop {},
            Options::keyed(key.clone()),
            app.clock.now(),
        )
        .await?;
        tx.commit().await?;
        super::committed();
        wait_for_done(
            app,
            before + jobs as i64 + i as i64 + 1,
            Duration::from_micros(200),
        )
        .await?;
        let mut tx = app.store.platform(Access::Read).await?;
        let times: Times = tx
            .query_one(
                "SELECT created_at, finished_at FROM jobs WHERE idempotency_key = $1",
                &[&key],
            )
            .await?;
        tx.commit().await?;
        let ms = (times.1 - times.0).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        latencies.push(ms);
    }
    drop(background);
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i]
    };
    Ok(Report {
        jobs,
        workers: app.config.job_workers,
        enqueue_per_sec: jobs as f64 / enqueue_secs,
        run_per_sec: jobs as f64 / run_secs,
        latency_samples: samples,
        latency_p50_ms: pct(0.5),
        latency_p99_ms: pct(0.99),
        latency_max_ms: latencies.last().copied().unwrap_or(0.0),
    })
}
