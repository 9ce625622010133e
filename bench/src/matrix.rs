//! `scripts/bench --matrix`: the Matrix bridge against a naive client, in
//! the same run, on big rooms in a real Synapse (`mxbench` in the e2e
//! tests' common code does the work; this reads the arguments, keeps the
//! built Synapse between runs and prints the table).
//!
//! Arguments: `--members 20,200,2000` (one room each), `--events 20000`
//! (each room's events), `--messages 1000` (each burst), `--json FILE`.
//! The built Synapse is kept under `$SWITCHBOARD_BENCH_CACHE` (default
//! `target/bench-cache`), one folder per set of sizes.

use std::path::PathBuf;

use crate::bigroom::{self, RoomSpec};
use crate::mxbench;

struct Args {
    members: Vec<usize>,
    events: usize,
    messages: usize,
    json: String,
}

fn args() -> Args {
    let mut a = Args {
        members: vec![20, 200, 2000],
        events: 20_000,
        messages: 1000,
        json: "bench-matrix-results.json".into(),
    };
    let mut it = std::env::args().skip(2);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--members" => {
                a.members = v
                    .split(',')
                    .map(|n| n.parse().expect("--members N,N,…"))
                    .collect();
                a.members.sort();
            }
            "--events" => a.events = v.parse().expect("--events N"),
            "--messages" => a.messages = v.parse().expect("--messages N"),
            "--json" => a.json = v,
            other => panic!(
                "unknown argument {other} {v}; use --matrix --members N,N,… --events N \
                 --messages N --json FILE"
            ),
        }
    }
    assert!(!a.members.is_empty(), "--members names no room");
    a
}

/// The Matrix bench's entry point.
pub async fn main() {
    let a = args();
    let specs: Vec<RoomSpec> = a
        .members
        .iter()
        .map(|&n| RoomSpec::new(n, a.events))
        .collect();
    let root = std::env::var("SWITCHBOARD_BENCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("target/bench-cache"));
    let (synapse, rooms) = bigroom::cached(&root, &specs).await;
    let figures = mxbench::run(&synapse, &rooms, a.messages).await;
    let (table, rows) = mxbench::table(&figures);
    println!(
        "rooms of {:?} members, about {} events each; {} messages per burst",
        a.members, a.events, a.messages
    );
    print!("{table}");
    let json_cell = |v: Option<f64>| {
        v.filter(|v| v.is_finite())
            .map_or("null".to_owned(), |v| format!("{v:.3}"))
    };
    let body: Vec<String> = rows
        .iter()
        .map(|(name, s, n, sl)| {
            format!(
                "  \"{name}\": {{\"switchboard\": {}, \"naive\": {}, \"sliding\": {}}}",
                json_cell(*s),
                json_cell(*n),
                json_cell(*sl)
            )
        })
        .collect();
    std::fs::write(&a.json, format!("{{\n{}\n}}\n", body.join(",\n"))).unwrap();
    println!("(JSON in {})", a.json);
    drop(synapse);
    if figures.to_xmpp.lost + figures.to_matrix.lost > 0 {
        eprintln!("Switchboard lost messages");
        std::process::exit(1);
    }
}
