//! Live updates: what changed, as Postgres says it at commit (the `berth_events` channel,
//! fed by triggers on requests, namespaces, drills and cluster inventories), fanned out to
//! every browser that listens (`GET /api/v1/events`, server-sent events). An event names a
//! kind and an id — never content — and a caller hears only of what they may see: admins of
//! everything, members of their teams' requests, namespaces and drills, everyone of clusters.
//! Every replica listens to Postgres itself, so a change made through any replica reaches
//! every browser.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use berth_frontend::api::Scope;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::{auth::Ctx, App, Result};

pub const CHANNEL: &str = "berth_events";

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// request | namespace | drill | cluster
    pub kind: String,
    pub id: String,
    /// The team it belongs to (none for a cluster).
    #[serde(default, skip_serializing)]
    pub team: Option<String>,
}

/// The process's listener and its subscribers.
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Event>,
    started: Arc<OnceLock<()>>,
    /// True while the listener is subscribed to Postgres.
    listening: watch::Sender<bool>,
    closing: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            sender: broadcast::channel(1024).0,
            started: Default::default(),
            listening: watch::channel(false).0,
            closing: watch::channel(false).0,
        }
    }
}

impl Hub {
    /// Ends every stream, so a graceful shutdown does not wait for browsers to leave.
    pub fn close(&self) {
        let _ = self.closing.send(true);
    }

    /// Listens to Postgres from the first subscriber on, reconnecting after a lost connection.
    fn start(&self, app: &App) {
        if self.started.set(()).is_err() {
            return;
        }
        let (db, sender, listening) = (app.db.clone(), self.sender.clone(), self.listening.clone());
        tokio::spawn(async move {
            let mut reconnected = false;
            loop {
                match sqlx::postgres::PgListener::connect_with(&db).await {
                    Ok(mut listener) => {
                        if listener.listen(CHANNEL).await.is_ok() {
                            listening.send_replace(true);
                            // Changes made while reconnecting were missed: pages reload.
                            if reconnected {
                                let _ = sender.send(Event {
                                    kind: "lagged".into(),
                                    id: String::new(),
                                    team: None,
                                });
                            }
                            reconnected = true;
                            while let Ok(n) = listener.recv().await {
                                if let Ok(event) = serde_json::from_str::<Event>(n.payload()) {
                                    let _ = sender.send(event);
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "live updates cannot listen to Postgres"),
                }
                listening.send_replace(false);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

/// Whether `ctx` may hear of `event`.
fn visible(ctx: &Ctx, event: &Event) -> bool {
    let Some(actor) = ctx.actor.as_ref() else {
        return false;
    };
    actor.is_admin
        || match &event.team {
            None => event.kind == "cluster",
            Some(team) => actor.teams.iter().any(|t| &t.team == team),
        }
}

/// The changes `ctx` may see, from now until the server stops. A subscriber that falls far
/// behind skips what it missed and is told to reload everything (`kind: "lagged"`).
pub async fn stream(app: &App, ctx: &Ctx) -> Result<impl Stream<Item = Event> + Send + 'static> {
    ctx.require(Scope::Read)?;
    let hub = &app.events;
    // Subscribed before the wait, so nothing committed after it is missed.
    let receiver = hub.sender.subscribe();
    hub.start(app);
    // Answer once Postgres is listened to, so a change made after this returns is heard (a
    // database that is away makes the browser try again later).
    let mut listening = hub.listening.subscribe();
    if tokio::time::timeout(Duration::from_secs(5), listening.wait_for(|l| *l))
        .await
        .is_err()
    {
        return Err(crate::Error::Busy {
            message: "live updates are not available yet; retry shortly",
            retry_after_secs: 2,
        });
    }
    let ctx = ctx.clone();
    let mut closing = hub.closing.subscribe();
    let received = futures::stream::unfold(receiver, |mut rx| async move {
        match rx.recv().await {
            Ok(event) => Some((Some(event), rx)),
            // Fell behind: say so, and go on from here.
            Err(broadcast::error::RecvError::Lagged(_)) => Some((None, rx)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    });
    let events = received.filter_map(move |item| {
        let out = match item {
            Some(event) => visible(&ctx, &event).then_some(event),
            None => Some(Event {
                kind: "lagged".into(),
                id: String::new(),
                team: None,
            }),
        };
        async move { out }
    });
    let stop = async move {
        let _ = closing.wait_for(|c| *c).await;
    };
    Ok(events.take_until(Box::pin(stop)))
}
