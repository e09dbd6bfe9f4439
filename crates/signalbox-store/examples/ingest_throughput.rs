//! Rough ingest throughput: `cargo run --release -p signalbox-store --example ingest_throughput -- [URL] [BATCH] [BATCHES]`.

use std::time::Instant;

use signalbox_store::{EventWrite, NewDelivery, NewEvent, OpenOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::env::temp_dir().join(format!("signalbox-bench-{}", std::process::id()));
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let batch: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100);
    let batches: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(500);
    let store = signalbox_store::open(&url, &OpenOptions::default()).await?;
    let body = format!("{{\"detail\":{{\"pad\":\"{}\"}}}}", "x".repeat(400));
    let start = Instant::now();
    let mut n = 0u64;
    for b in 0..batches {
        let writes: Vec<EventWrite> = (0..batch)
            .map(|i| {
                n += 1;
                EventWrite {
                    event: NewEvent {
                        id: format!("{:08}-{b:06}-{i:04}", std::process::id()),
                        source: "bench".into(),
                        detail_type: "Tick".into(),
                        time: 0,
                        body: body.clone(),
                    },
                    deliveries: vec![NewDelivery {
                        id: format!("d-{b:06}-{i:04}"),
                        rule: "r".into(),
                        target: 0,
                    }],
                }
            })
            .collect();
        store.ingest(&writes, 1_000, 0).await?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} events in {secs:.2}s = {:.0} events/s ({:.2} ms/batch)",
        n as f64 / secs,
        secs * 1000.0 / batches as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
