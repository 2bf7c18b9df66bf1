//! REST for live updates: a server-sent event stream of what changed.

use std::convert::Infallible;

use axum::{
    extract::State,
    response::sse::{Event as SseEvent, KeepAlive, Sse},
};
use berth_frontend::api::ErrorBody;
use futures::{Stream, StreamExt};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{auth::Ctx, events, App, Result};

pub fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(stream))
}

/// Changes as they commit, as server-sent events: `event:` is the kind (`request`,
/// `namespace`, `drill`, `cluster`, or `lagged` when the listener fell behind and should
/// reload), `data:` is `{"kind","id"}`. Only what the caller may see; re-read the resource to
/// learn what changed. A comment every 15 s keeps proxies from closing an idle stream.
#[utoipa::path(get, path = "/events", tag = "people",
    responses((status = 200, content_type = "text/event-stream", body = String,
               description = "an endless stream of `event: <kind>` / `data: {\"kind\",\"id\"}`"),
              (status = 401, body = ErrorBody)))]
async fn stream(
    State(app): State<App>,
    ctx: Ctx,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let changes = events::stream(&app, &ctx).await?.map(|e| {
        Ok(SseEvent::default()
            .event(e.kind.clone())
            .json_data(&e)
            .unwrap_or_default())
    });
    Ok(Sse::new(changes).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(15))))
}
