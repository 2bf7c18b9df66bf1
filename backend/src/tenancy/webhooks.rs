//! Webhooks: a delivery job per subscribed webhook when a request changes (`notify`, in the
//! change's own transaction), each a signed JSON POST (`deliver`), retried with backoff and
//! given up after eight attempts. Never in the way of the request itself.

use serde_json::json;
use sqlx::PgConnection;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    jobs::{self, Job, Kind, NewJob, Outcome},
    App, Result,
};

/// Attempts before a delivery is given up.
const ATTEMPTS: i32 = 8;

pub fn gives_up(attempts: i32) -> bool {
    attempts >= ATTEMPTS
}

/// Queues one delivery per enabled webhook that subscribed to `event`, with the request as
/// it is in this transaction.
pub async fn notify(tx: &mut PgConnection, event: &str, request_id: Uuid) -> Result<()> {
    let hooks = sqlx::query_scalar!(
        "SELECT id FROM webhooks WHERE enabled AND $1 = ANY(events)",
        event
    )
    .fetch_all(&mut *tx)
    .await?;
    if hooks.is_empty() {
        return Ok(());
    }
    let r = sqlx::query!(
        r#"SELECT r.kind, r.state, r.namespace_name, r.node_pool, r.last_error, t.name AS team, c.name AS cluster
           FROM namespace_requests r JOIN teams t ON t.id = r.team_id JOIN clusters c ON c.id = r.cluster_id
           WHERE r.id = $1"#,
        request_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let body = json!({
        "event": event,
        "occurred_at": OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "request": {"id": request_id, "kind": r.kind, "state": r.state, "team": r.team, "cluster": r.cluster,
                    "namespace": r.namespace_name, "node_pool": r.node_pool, "error": r.last_error},
    });
    for hook in hooks {
        jobs::push(
            &mut *tx,
            NewJob {
                kind: Kind::Webhook,
                namespace_id: None,
                request_id: Some(request_id),
                cluster_id: None,
                drill_id: None,
                run_at: None,
                payload: json!({"webhook_id": hook, "body": body}),
            },
        )
        .await?;
    }
    Ok(())
}

fn hmac_hex(secret: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// POSTs the event, signed: `X-Berth-Signature: sha256=<hex HMAC of the body>`.
pub async fn deliver(app: &App, job: &Job) -> Result<Outcome> {
    let Some(hook_id) = job.payload["webhook_id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
    else {
        return Ok(Outcome::Done);
    };
    let Some(hook) = sqlx::query!(
        "SELECT url, secret_sealed, enabled FROM webhooks WHERE id = $1",
        hook_id
    )
    .fetch_optional(&app.db)
    .await?
    else {
        return Ok(Outcome::Done);
    };
    if !hook.enabled {
        return Ok(Outcome::Done);
    }
    let secret = app.sealer.open(&hook.secret_sealed)?;
    let body = serde_json::to_vec(&job.payload["body"]).map_err(anyhow::Error::from)?;
    use secrecy::ExposeSecret;
    let signature = hmac_hex(secret.expose_secret().as_bytes(), &body);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(anyhow::Error::from)?;
    let sent = client
        .post(&hook.url)
        .header("content-type", "application/json")
        .header(
            "x-berth-event",
            job.payload["body"]["event"].as_str().unwrap_or_default(),
        )
        .header("x-berth-delivery", job.id.to_string())
        .header("x-berth-signature", format!("sha256={signature}"))
        .body(body)
        .send()
        .await;
    Ok(match sent {
        Ok(r) if r.status().is_success() => Outcome::Done,
        Ok(r) => Outcome::Retry(format!("the webhook answered {}", r.status())),
        Err(e) => Outcome::Retry(format!(
            "the webhook could not be reached: {}",
            e.without_url()
        )),
    })
}
