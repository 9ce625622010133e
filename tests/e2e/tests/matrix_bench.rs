//! The Matrix bench at CI size: rooms of 20 and 200 members with a few
//! hundred events in a fresh Synapse, the gateway's join of each beside a
//! naive client's (`/sync` with no filter, then `/messages`), its RSS,
//! and 200 messages each way. The figures are printed (`--no-capture`);
//! the checks are on what does not depend on the machine's speed: nothing
//! lost, and the join's bytes (set by the rooms' content) well under the naive
//! client's. `scripts/bench --matrix` runs the full size.

#[path = "common/bigroom.rs"]
mod bigroom;
mod common;
#[path = "common/mxbench.rs"]
mod mxbench;
#[path = "common/mxmeasure.rs"]
mod mxmeasure;
#[path = "common/synapse.rs"]
mod synapse;

use bigroom::RoomSpec;
use synapse::Synapse;

/// The most a join of the 200-member room may download: the issue's
/// target, 15 kB (the gateway took 24.4 kB before its join synced itself
/// with a timeline of one event; a naive client takes several times this).
const JOIN_BOUND: u64 = 15_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_room_join_costs_few_bytes() {
    let synapse = Synapse::start();
    let specs = [RoomSpec::new(20, 300), RoomSpec::new(200, 400)];
    let started = std::time::Instant::now();
    let rooms = bigroom::build(&synapse, &specs).await;
    eprintln!("rooms built in {:.0} s", started.elapsed().as_secs_f64());
    let figures = mxbench::run(&synapse, &rooms, 200).await;
    let (table, _) = mxbench::table(&figures);
    println!("{table}");
    assert_eq!(figures.to_xmpp.lost, 0, "Matrix→XMPP lost messages");
    assert_eq!(figures.to_matrix.lost, 0, "XMPP→Matrix lost messages");
    let (members, ours, theirs) = &figures.joins[1];
    assert_eq!(*members, 200);
    assert!(
        theirs.bytes > JOIN_BOUND,
        "the naive client took only {} bytes: the room is not big enough to tell",
        theirs.bytes
    );
    assert!(
        ours.bytes < JOIN_BOUND,
        "joining 200 members cost the gateway {} bytes",
        ours.bytes
    );
}
