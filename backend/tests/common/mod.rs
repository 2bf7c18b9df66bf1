//! Test harness: the real application on port 0 over the fresh database `#[sqlx::test]`
//! hands each test, and a small HTTP client that carries a session or a token.
#![allow(dead_code)]

pub mod git;
pub mod idp;
pub mod real;

use berth::{
    auth::{password::NewPassword, Actor, Credential, Ctx, RequestMeta},
    config::Config,
    people::{self, DisplayName, Email},
    App, Server,
};
use berth_frontend::api::{
    CreatedToken, Decision, Me, NewNamespaceRequest, NewToken, RequestDetail, Scope, SpecChoice,
};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

pub const PASSWORD: &str = "correct horse battery";

pub async fn app(db: PgPool) -> App {
    let config = Config::for_tests("postgres://unused");
    App::new(db, config).await.expect("app builds")
}

pub struct TestServer {
    pub app: App,
    pub base: String,
}

impl TestServer {
    pub async fn start(db: PgPool) -> TestServer {
        TestServer::serve_app(app(db).await).await
    }

    /// The server with a simulated fleet running inside it, as `berth serve` runs the demo.
    pub async fn start_with_fleet(
        db: PgPool,
        fleet: std::sync::Arc<berth_fleet_sim::Fleet>,
    ) -> TestServer {
        TestServer::serve_app(app(db).await.with_simulator(fleet)).await
    }

    pub async fn serve_app(app: App) -> TestServer {
        let server = Server::bind(app.clone()).await.expect("binds port 0");
        let base = format!("http://{}", server.local_addr());
        tokio::spawn(server.run_until_stopped(std::future::pending()));
        TestServer { app, base }
    }

    pub fn anonymous(&self) -> Client {
        Client {
            base: self.base.clone(),
            http: reqwest::Client::builder()
                .user_agent("berth-tests")
                .build()
                .unwrap(),
            cookie: None,
            csrf: None,
            bearer: None,
        }
    }

    /// Logs `email` in over HTTP; the client then carries the session and its CSRF token.
    pub async fn login(&self, email: &str) -> Client {
        let mut client = self.anonymous();
        let response = client
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .expect("login sets a cookie")
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let me: Me = response.json().await.unwrap();
        client.cookie = Some(cookie);
        client.csrf = me.csrf_token;
        client
    }

    /// A token for `email` with `scopes`, made through the service layer.
    pub async fn token(&self, email: &str, scopes: &[Scope]) -> Client {
        let ctx = session_ctx(&self.app, email).await;
        let CreatedToken { secret, .. } = berth::tokens::create(
            &self.app,
            &ctx,
            NewToken {
                name: format!("t-{}", uuid::Uuid::new_v4()),
                scopes: scopes.to_vec(),
                expires_in_days: 30,
            },
        )
        .await
        .unwrap();
        let mut client = self.anonymous();
        client.bearer = Some(secret);
        client
    }
}

pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
}

impl Client {
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{}", self.base, path));
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
            if method != Method::GET {
                if let Some(csrf) = &self.csrf {
                    request = request.header("x-csrf-token", csrf);
                }
            }
        }
        if let Some(bearer) = &self.bearer {
            request = request.bearer_auth(bearer);
        }
        request
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.request(Method::POST, path).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.request(Method::PUT, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        send(self.request(Method::DELETE, path)).await
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    // A live-update stream never ends: its status is the answer.
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
    if streaming {
        return (status, Value::Null);
    }
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Creates a user with the shared test password.
pub async fn user(app: &App, email: &str, is_admin: bool) -> uuid::Uuid {
    let user = people::insert(
        app,
        &Ctx::system("test"),
        &Email::parse("email", email).unwrap(),
        &DisplayName::parse("name", email.split('@').next().unwrap()).unwrap(),
        is_admin,
        &NewPassword::parse("password", PASSWORD).unwrap(),
    )
    .await
    .unwrap();
    user.id
}

/// A service-layer caller acting as `email` through a browser session.
pub async fn session_ctx(app: &App, email: &str) -> Ctx {
    let row = sqlx::query!(
        r#"SELECT u.id, u.email, u.display_name, u.is_admin, u.created_at,
                  coalesce((SELECT json_agg(json_build_object('team', tt.name, 'display_name', tt.display_name,
                                                              'role', tm.role) ORDER BY tt.name)
                            FROM team_members tm JOIN teams tt ON tt.id = tm.team_id WHERE tm.user_id = u.id), '[]')
                     AS "teams!: berth::auth::Teams"
           FROM users u WHERE u.email = $1"#,
        email
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    Ctx {
        actor: Some(Actor {
            user_id: row.id,
            email: row.email,
            display_name: row.display_name,
            is_admin: row.is_admin,
            created_at: row.created_at,
            teams: row.teams.0,
            credential: Credential::Session {
                id_hash: vec![0; 32],
                csrf_token: "csrf".into(),
            },
        }),
        meta: RequestMeta::default(),
        system: None,
    }
}

/// The same caller through a token with `scopes`.
pub async fn token_ctx(app: &App, email: &str, scopes: &[Scope]) -> Ctx {
    let mut ctx = session_ctx(app, email).await;
    if let Some(actor) = ctx.actor.as_mut() {
        actor.credential = Credential::Token {
            id: uuid::Uuid::new_v4(),
            scopes: scopes.to_vec(),
        };
    }
    ctx
}

pub async fn audit_actions(app: &App) -> Vec<String> {
    sqlx::query_scalar!("SELECT action FROM audit_events ORDER BY id")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

/// Berth with the simulated demo fleet running inside it, registered, paired and synced;
/// `admin@example.com` (admin), `dev@example.com` owning team payments and
/// `outsider@example.com` owning team search.
pub async fn demo_world(db: PgPool) -> (App, std::sync::Arc<berth_fleet_sim::Fleet>) {
    demo_world_configured(db, |_| {}).await
}

/// A namespace request of team payments for `preset` on `cluster`'s `pool`.
pub fn request(cluster: &str, name: &str, pool: &str, preset: &str) -> NewNamespaceRequest {
    NewNamespaceRequest {
        team: "payments".into(),
        cluster: cluster.into(),
        name: name.into(),
        node_pool: pool.into(),
        purpose: "checkout service".into(),
        spec: SpecChoice {
            preset: Some(preset.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// `requester` asks for `input` and `approver` approves it; the caller runs the jobs.
pub async fn request_approved(
    app: &App,
    requester: &Ctx,
    approver: &Ctx,
    input: NewNamespaceRequest,
) -> RequestDetail {
    let r = berth::tenancy::requests::create(app, requester, input)
        .await
        .unwrap();
    berth::tenancy::requests::approve(app, approver, r.request.id, Decision::default())
        .await
        .unwrap()
}

/// The demo world with configuration changed first (a Prometheus URL, say).
pub async fn demo_world_configured(
    db: PgPool,
    configure: impl FnOnce(&mut Config),
) -> (App, std::sync::Arc<berth_fleet_sim::Fleet>) {
    use berth_fleet_sim::{Fleet, FleetSpec};
    let fleet = std::sync::Arc::new(Fleet::start(FleetSpec::demo()).await.unwrap());
    let mut config = Config::for_tests("postgres://unused");
    configure(&mut config);
    let app = App::new(db, config)
        .await
        .expect("app builds")
        .with_simulator(fleet.clone());
    user(&app, "admin@example.com", true).await;
    user(&app, "dev@example.com", false).await;
    user(&app, "outsider@example.com", false).await;
    let admin = session_ctx(&app, "admin@example.com").await;
    for (team, owner) in [
        ("payments", "dev@example.com"),
        ("search", "outsider@example.com"),
    ] {
        let input = berth_frontend::api::NewTeam {
            name: team.into(),
            display_name: team.into(),
            owner_email: Some(owner.into()),
        };
        berth::teams::create(&app, &admin, input).await.unwrap();
    }
    let spec = FleetSpec::demo();
    for c in &spec.clusters {
        berth::fleet::register_simulated(&app, &Ctx::system("test"), c)
            .await
            .unwrap();
    }
    berth::fleet::pair_simulated(&app, &spec).await.unwrap();
    berth::fleet::inventory::sync_fleet(&app).await.unwrap();
    (app, fleet)
}
