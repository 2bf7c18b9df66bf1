//! Live updates over `GET /api/v1/events`: a change reaches every listener who may see it as
//! its transaction commits, and nobody else.

mod common;

use common::{real::until, *};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

/// An open event stream and what it has said so far.
struct Listener {
    response: reqwest::Response,
    heard: String,
}

impl Listener {
    async fn open(client: &Client) -> Listener {
        let response = client
            .request(Method::GET, "/api/v1/events")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Listener {
            response,
            heard: String::new(),
        }
    }

    /// Reads until `what` has been said (and answers everything said by then).
    async fn until_said(&mut self, what: &str) -> String {
        self.until_said_times(what, 1).await
    }

    async fn until_said_times(&mut self, what: &str, times: usize) -> String {
        while self.heard.matches(what).count() < times {
            let chunk =
                tokio::time::timeout(std::time::Duration::from_secs(60), self.response.chunk())
                    .await
                    .unwrap_or_else(|_| panic!("nothing said for a minute; heard {:?}", self.heard))
                    .unwrap()
                    .expect("the stream stays open");
            self.heard.push_str(&String::from_utf8_lossy(&chunk));
        }
        self.heard.clone()
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_change_reaches_those_who_may_see_it_as_it_commits(db: PgPool) {
    let (app, fleet) = demo_world(db).await;
    let server = TestServer::serve_app(app).await;
    let _fleet = fleet;
    let dev = server.login("dev@example.com").await;
    let outsider = server.login("outsider@example.com").await;
    let admin = server.login("admin@example.com").await;
    let mut dev_hears = Listener::open(&dev).await;
    let mut outsider_hears = Listener::open(&outsider).await;
    let mut admin_hears = Listener::open(&admin).await;

    let (s, created) = dev
        .post(
            "/api/v1/namespace-requests",
            json!({"team": "payments", "cluster": "prod-shanghai-1", "name": "payments-live",
                   "node_pool": "general", "preset": "S", "purpose": "live"}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let id = created["request"]["id"].as_str().unwrap().to_owned();
    let said = format!("\"kind\":\"request\",\"id\":\"{id}\"");
    admin_hears.until_said(&said).await;
    dev_hears.until_said(&said).await;
    let (s, _) = admin
        .post(
            &format!("/api/v1/namespace-requests/{id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    // The approval, then the namespace and the request again as the job provisions it.
    until("the job", || async {
        berth::jobs::drain(&server.app).await.unwrap();
        let (_, r) = dev.get(&format!("/api/v1/namespace-requests/{id}")).await;
        (r["request"]["state"] == "ready").then_some(())
    })
    .await;
    // Created, approved, and ready: the developer heard each, and of the namespace too.
    let heard = dev_hears.until_said_times(&said, 3).await;
    assert!(heard.contains("event: namespace"), "{heard}");

    // Another team's member hears of clusters, not of payments' request: a sync after it
    // arrives, and nothing of the request came before.
    let (s, _) = admin
        .post("/api/v1/clusters/prod-shanghai-1/sync", json!({}))
        .await;
    assert_eq!(s, 200);
    let heard = outsider_hears.until_said("event: cluster").await;
    assert!(
        !heard.contains(&id) && !heard.contains("event: request"),
        "{heard}"
    );

    let anonymous = server.anonymous();
    let (s, _) = send(anonymous.request(Method::GET, "/api/v1/events")).await;
    assert_eq!(s, 401);
}
