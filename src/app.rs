//! Starting and stopping the whole gateway: storage, one link and one
//! gateway per enabled network, and a clean shutdown on SIGINT/SIGTERM.

use anyhow::Context as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_bridge_api::Bridge;
use tokio::sync::{mpsc, watch};
use tracing::info;

use crate::archive::Archive;
use crate::component::{self, LinkSettings, OUTBOX_BOUND};
use crate::config::Config;
use crate::crypto::Vault;
use crate::gateway::{Gateway, Shared};
use crate::store::Store;

/// Bridges by network instance name (`irc`, `oftc`, …): two instances of
/// one kind are two bridges, each with its own settings.
pub type Bridges = BTreeMap<String, Arc<dyn Bridge>>;

/// Runs until `stop` resolves, then shuts down cleanly.
pub async fn run(
    config: Config,
    bridges: Bridges,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let store = Store::connect(&config.database_url)
        .await
        .context("opening the database")?;
    let vault = Arc::new(Vault::from_key_file(&config.key_file).context("opening the key file")?);
    let (archive, archive_task) = Archive::start(store.clone(), config.archive);
    let shared = Shared {
        config: Arc::clone(&config),
        archive: archive.clone(),
        store: store.clone(),
        vault,
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut gateways = Vec::new();
    let mut links = Vec::new();
    for net in config.networks.values() {
        let bridge = bridges
            .get(&net.name)
            .with_context(|| format!("network {} is not compiled into this build", net.name))?
            .clone();
        let (out_tx, out_rx) = mpsc::channel(OUTBOX_BOUND);
        let (in_tx, in_rx) = mpsc::channel(1024);
        let gateway = Gateway::new(&net.name, net.jid.clone(), bridge, shared.clone(), out_tx);
        let sessions = gateway.start_sessions().await?;
        info!(network = %net.name, kind = %net.kind, domain = %net.jid, sessions, "gateway ready");
        let settings = LinkSettings {
            domain: net.jid.clone(),
            secret: net.secret.clone(),
            server: net
                .xmpp_server
                .clone()
                .unwrap_or_else(|| config.xmpp_server.clone()),
            max_stanza_size: config.max_stanza_size,
            keepalive: Duration::from_secs(config.keepalive_secs),
        };
        links.push(tokio::spawn(component::run(
            settings,
            in_tx,
            out_rx,
            shutdown_rx.clone(),
        )));
        tokio::spawn(Arc::clone(&gateway).run(in_rx));
        gateways.push(gateway);
    }
    stop.await;
    info!("shutting down");
    for g in &gateways {
        g.stop_sessions().await;
    }
    // Everything archived so far is written before the process ends.
    archive.flush().await;
    drop(archive_task);
    // Give the sessions' last stanzas a moment to reach the outbox, then close the links.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = shutdown_tx.send(true);
    for l in links {
        let _ = tokio::time::timeout(Duration::from_secs(3), l).await;
    }
    store.close().await;
    info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
