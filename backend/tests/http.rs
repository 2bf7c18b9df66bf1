//! Every endpoint through the real router and a real socket, including its 4xx paths.

mod common;

use berth::auth::cache::Kind;
use berth_frontend::api::Scope;
use common::*;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

async fn setup(db: PgPool) -> (TestServer, Client, Client) {
    let server = TestServer::start(db).await;
    user(&server.app, "root@example.com", true).await;
    user(&server.app, "ada@example.com", false).await;
    let admin = server.login("root@example.com").await;
    let (status, _) = admin
        .post("/api/v1/teams", json!({"name": "payments", "display_name": "Payments", "owner_email": "ada@example.com"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let ada = server.login("ada@example.com").await;
    (server, admin, ada)
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_session_reads_me_with_its_teams_and_csrf_token(db: PgPool) {
    let (_server, _admin, ada) = setup(db).await;
    let (status, me) = ada.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["email"], "ada@example.com");
    assert_eq!(me["teams"][0]["team"], "payments");
    assert_eq!(me["teams"][0]["role"], "owner");
    assert_eq!(me["authenticated_by"], "session");
    assert!(me["csrf_token"].is_string());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn the_session_cookie_is_http_only_and_same_site_lax(db: PgPool) {
    let server = TestServer::start(db).await;
    user(&server.app, "ada@example.com", false).await;
    let response = server
        .anonymous()
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("berth_session="));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(cookie.contains("Path=/"));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn each_login_issues_a_new_session_id(db: PgPool) {
    let server = TestServer::start(db).await;
    user(&server.app, "ada@example.com", false).await;
    let first = server.login("ada@example.com").await;
    let second = server.login("ada@example.com").await;
    assert_ne!(first.cookie, second.cookie);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn wrong_and_unknown_logins_are_401_and_bad_input_is_422(db: PgPool) {
    let server = TestServer::start(db).await;
    user(&server.app, "ada@example.com", false).await;
    let anon = server.anonymous();
    let (status, body) = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": "ada@example.com", "password": "nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");
    let (status, unknown) = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": "who@example.com", "password": "nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, unknown);
    let (status, body) = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": "not-an-email", "password": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["email"].is_string());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn repeated_failures_are_answered_429_with_retry_after(db: PgPool) {
    let server = TestServer::start(db).await;
    user(&server.app, "ada@example.com", false).await;
    let anon = server.anonymous();
    for _ in 0..server.app.config.login_max_failures_per_account {
        anon.post(
            "/api/v1/auth/login",
            json!({"email": "ada@example.com", "password": "wrong"}),
        )
        .await;
    }
    let response = anon
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
}

/// Thirty wrong passwords sent at once to one account: before, all thirty were checked (no
/// 429). The attempt now counts before the hash, under a lock per account.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn guesses_sent_at_once_cannot_pass_the_throttle(db: PgPool) {
    let server = TestServer::start(db).await;
    user(&server.app, "ada@example.com", false).await;
    let anon = server.anonymous();
    let attempts = (0..30).map(|i| {
        anon.post(
            "/api/v1/auth/login",
            json!({"email": "ada@example.com", "password": format!("guess number {i}")}),
        )
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        checked as u32, server.app.config.login_max_failures_per_account,
        "{statuses:?}"
    );
    assert_eq!(checked + throttled, 30, "{statuses:?}");
    // And the right password is throttled too until the window passes.
    let (s, _) = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
}

/// A database that cannot be reached is 503 with `Retry-After` in the error format (it was
/// 500), `/healthz` stays up and `/readyz` says the database is away.
#[tokio::test]
async fn a_database_that_is_away_is_503_with_retry_after() {
    let dead = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(1))
        .connect_lazy("postgres://postgres@127.0.0.1:1/berth")
        .unwrap();
    let config = berth::config::Config::for_tests("postgres://unused");
    let server = TestServer::serve_app(berth::App::new(dead, config).await.unwrap()).await;
    let anon = server.anonymous();
    let (s, _) = anon.get("/healthz").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = anon.get("/readyz").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let response = anon
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "busy");
    let (s, body) = anon
        .request(Method::GET, "/api/v1/me")
        .header(header::COOKIE, "berth_session=whatever")
        .send()
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body:?}");
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn every_endpoint_refuses_the_anonymous_with_401(db: PgPool) {
    let (_server, _admin, ada) = setup(db).await;
    let anon = Client {
        cookie: None,
        csrf: None,
        bearer: None,
        ..ada
    };
    for (method, path) in [
        (Method::GET, "/api/v1/me"),
        (Method::GET, "/api/v1/users"),
        (Method::POST, "/api/v1/users"),
        (
            Method::PUT,
            "/api/v1/users/00000000-0000-0000-0000-000000000000/status",
        ),
        (Method::GET, "/api/v1/teams"),
        (Method::POST, "/api/v1/teams"),
        (Method::GET, "/api/v1/teams/payments"),
        (Method::POST, "/api/v1/teams/payments/members"),
        (
            Method::PUT,
            "/api/v1/teams/payments/members/00000000-0000-0000-0000-000000000000",
        ),
        (
            Method::DELETE,
            "/api/v1/teams/payments/members/00000000-0000-0000-0000-000000000000",
        ),
        (Method::GET, "/api/v1/tokens"),
        (Method::POST, "/api/v1/tokens"),
        (
            Method::DELETE,
            "/api/v1/tokens/00000000-0000-0000-0000-000000000000",
        ),
        (Method::GET, "/api/v1/audit"),
        (Method::GET, "/api/v1/audit/export?format=csv"),
        (Method::POST, "/api/v1/auth/logout"),
        (Method::POST, "/api/v1/me/password"),
    ] {
        let mut request = anon.request(method.clone(), path);
        if method != Method::GET && method != Method::DELETE {
            request = request.json(&json!({}));
        }
        let response = request.send().await.unwrap();
        // A body that does not parse may be refused first; the point is nothing succeeds.
        let status = response.status();
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {path} answered {status}"
        );
        if status == StatusCode::UNAUTHORIZED {
            assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        }
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_cookie_write_without_the_csrf_token_is_403_and_changes_nothing(db: PgPool) {
    let (server, admin, _ada) = setup(db).await;
    let no_csrf = Client {
        csrf: None,
        ..admin
    };
    let (status, body) = no_csrf
        .post(
            "/api/v1/teams",
            json!({"name": "search", "display_name": "Search"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"]["message"].as_str().unwrap().contains("CSRF"));
    let wrong = Client {
        csrf: Some("forged".into()),
        ..no_csrf
    };
    let (status, _) = wrong
        .post(
            "/api/v1/teams",
            json!({"name": "search", "display_name": "Search"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let teams = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM teams")
        .fetch_one(&server.app.db)
        .await
        .unwrap();
    assert_eq!(teams, 1);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn admin_endpoints_are_403_for_members(db: PgPool) {
    let (_server, _admin, ada) = setup(db).await;
    assert_eq!(ada.get("/api/v1/users").await.0, StatusCode::FORBIDDEN);
    let (status, body) = ada
        .post(
            "/api/v1/users",
            json!({"email": "x@example.com", "display_name": "X"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = ada
        .post(
            "/api/v1/teams",
            json!({"name": "search", "display_name": "Search"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn admins_create_users_with_a_one_time_password_that_logs_in(db: PgPool) {
    let (server, admin, _ada) = setup(db).await;
    let (status, created) = admin
        .post(
            "/api/v1/users",
            json!({"email": "New@Example.com", "display_name": "New person"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["user"]["email"], "new@example.com");
    let password = created["one_time_password"].as_str().unwrap();
    let (status, _) = server
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": "new@example.com", "password": password}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = admin
        .post(
            "/api/v1/users",
            json!({"email": "new@example.com", "display_name": "Again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"]["fields"]["email"].is_string());
    // The listing never carries a password or its hash.
    let (_, users) = admin.get("/api/v1/users").await;
    let text = users.to_string();
    assert!(!text.contains(password) && !text.contains("argon2"));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn disabling_a_user_ends_their_session_and_token_at_once(db: PgPool) {
    let (server, admin, ada) = setup(db).await;
    let ada_token = server.token("ada@example.com", &[Scope::Read]).await;
    assert_eq!(ada_token.get("/api/v1/me").await.0, StatusCode::OK);
    let (_, me) = ada.get("/api/v1/me").await;
    let id = me["user"]["id"].as_str().unwrap().to_owned();
    let (status, user) = admin
        .put(
            &format!("/api/v1/users/{id}/status"),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["disabled"], true);
    assert_eq!(ada.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        ada_token.get("/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = admin
        .put(
            "/api/v1/users/6d9c4b1e-0000-4000-8000-000000000000/status",
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The key `client`'s credential has in a replica's memory.
fn credential(client: &Client) -> (Kind, Vec<u8>) {
    match (&client.bearer, &client.cookie) {
        (Some(token), _) => (Kind::Token, berth::auth::sha256(token.as_bytes())),
        (None, Some(cookie)) => {
            let secret = cookie.split_once('=').unwrap().1;
            (Kind::Session, berth::auth::sha256(secret.as_bytes()))
        }
        (None, None) => panic!("an anonymous client"),
    }
}

/// The admin creates team `search` and adds Ada to it.
async fn ada_joins_a_new_team(admin: &Client) {
    let (status, _) = admin
        .post(
            "/api/v1/teams",
            json!({"name": "search", "display_name": "Search", "owner_email": "root@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = admin
        .post(
            "/api/v1/teams/search/members",
            json!({"email": "ada@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

/// Asks for `/me` until `server` answers `client` from memory.
async fn remembered(server: &TestServer, client: &Client) -> Value {
    let (kind, hash) = credential(client);
    for _ in 0..400 {
        let (status, me) = client.get("/api/v1/me").await;
        assert_eq!(status, StatusCode::OK);
        if server.app.credentials.remembers(kind, &hash) {
            return me;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the session was never answered from memory");
}

/// Sessions and tokens are answered from memory (auth::cache), and what Postgres says of them
/// still holds: at once on the replica that made a change, and on every other replica once it
/// has heard Postgres' notices, even when its listener lost its connection meanwhile.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn credentials_in_memory_follow_what_postgres_says_on_every_replica(db: PgPool) {
    let (a, admin, ada) = setup(db.clone()).await;
    let b = TestServer::start(db.clone()).await;
    let ada_b = Client {
        base: b.base.clone(),
        http: reqwest::Client::new(),
        cookie: ada.cookie.clone(),
        csrf: ada.csrf.clone(),
        bearer: None,
    };
    let names = |me: &Value| -> Vec<String> {
        me["teams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["team"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, hash) = credential(&ada);
    assert_eq!(names(&remembered(&a, &ada).await), ["payments"]);
    assert_eq!(names(&remembered(&b, &ada_b).await), ["payments"]);

    // A membership added through replica A: A answers with it at once, B once it has heard.
    ada_joins_a_new_team(&admin).await;
    // A had dropped Ada's session from memory before it answered the write.
    assert!(!a.app.credentials.remembers(Kind::Session, &hash));
    assert_eq!(
        names(&ada.get("/api/v1/me").await.1),
        ["payments", "search"]
    );
    // `settle` returns once B has heard what was committed before it.
    b.app.credentials.settle(&b.app.db).await;
    assert!(!b.app.credentials.remembers(Kind::Session, &hash));
    assert_eq!(
        names(&ada_b.get("/api/v1/me").await.1),
        ["payments", "search"]
    );

    // A change made outside Berth (psql, another tool) is announced by Postgres' triggers.
    remembered(&b, &ada_b).await;
    sqlx::query!("UPDATE users SET display_name = 'Ada L.' WHERE email = 'ada@example.com'")
        .execute(&db)
        .await
        .unwrap();
    b.app.credentials.settle(&b.app.db).await;
    assert!(!b.app.credentials.remembers(Kind::Session, &hash));
    assert_eq!(
        ada_b.get("/api/v1/me").await.1["user"]["display_name"],
        "Ada L."
    );

    // Every listener loses its connection, and a change is made while none listens: once B
    // answers from memory again, it answers with the change.
    remembered(&b, &ada_b).await;
    sqlx::query!(
        "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%'"
    )
    .fetch_all(&db)
    .await
    .unwrap();
    // B stops answering from memory when it sees the connection go (within `TRUST` at most).
    for _ in 0..400 {
        if !b.app.credentials.remembers(Kind::Session, &hash) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(!b.app.credentials.remembers(Kind::Session, &hash));
    sqlx::query!("UPDATE users SET display_name = 'Ada Lovelace' WHERE email = 'ada@example.com'")
        .execute(&db)
        .await
        .unwrap();
    let me = remembered(&b, &ada_b).await;
    assert_eq!(me["user"]["display_name"], "Ada Lovelace");
    assert_eq!(
        ada_b.get("/api/v1/me").await.1["user"]["display_name"],
        "Ada Lovelace"
    );

    // A token revoked through A: refused at once there, and on B once it has heard.
    let token = a.token("ada@example.com", &[Scope::Read]).await;
    let token_b = Client {
        base: b.base.clone(),
        http: reqwest::Client::new(),
        cookie: None,
        csrf: None,
        bearer: token.bearer.clone(),
    };
    let (token_kind, token_hash) = credential(&token);
    remembered(&a, &token).await;
    remembered(&b, &token_b).await;
    let (_, tokens) = ada.get("/api/v1/tokens").await;
    let token_id = tokens[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = ada.delete(&format!("/api/v1/tokens/{token_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!a.app.credentials.remembers(token_kind, &token_hash));
    assert_eq!(token.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    b.app.credentials.settle(&b.app.db).await;
    assert!(!b.app.credentials.remembers(token_kind, &token_hash));
    assert_eq!(token_b.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);

    // Disabled through A: refused at once there, and on B once it has heard.
    remembered(&b, &ada_b).await;
    let id = ada.get("/api/v1/me").await.1["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = admin
        .put(
            &format!("/api/v1/users/{id}/status"),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!a.app.credentials.remembers(Kind::Session, &hash));
    assert_eq!(ada.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    b.app.credentials.settle(&b.app.db).await;
    assert!(!b.app.credentials.remembers(Kind::Session, &hash));
    assert_eq!(ada_b.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
}

/// Stops a Postgres backend until dropped (a stalled listener, as a frozen VM or a full socket
/// buffer would leave it).
struct Stopped(Vec<i32>);

impl Stopped {
    fn signal(pids: &[i32], signal: &str) {
        for pid in pids {
            let status = std::process::Command::new("kill")
                .args([signal, &pid.to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill {signal} {pid}");
        }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        Stopped::signal(&self.0, "-CONT");
    }
}

/// A write waits until its replica has heard what it changed, so the caller's next request is
/// answered with the change even when the replica's listener hears nothing at all.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_replica_whose_listener_stalls_still_answers_with_its_own_writes(db: PgPool) {
    let (a, admin, ada) = setup(db.clone()).await;
    let (_, hash) = credential(&ada);
    remembered(&a, &ada).await;
    let pids: Vec<i32> = sqlx::query_scalar!(
        r#"SELECT pid AS "pid!" FROM pg_stat_activity
           WHERE datname = current_database() AND query LIKE 'LISTEN%'"#
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(!pids.is_empty(), "the replica listens");
    Stopped::signal(&pids, "-STOP");
    let stopped = Stopped(pids);

    ada_joins_a_new_team(&admin).await;
    // Nothing was heard, so the write gave up waiting and memory stopped answering.
    assert!(!a.app.credentials.remembers(Kind::Session, &hash));
    let (_, me) = ada.get("/api/v1/me").await;
    assert_eq!(me["teams"].as_array().unwrap().len(), 2, "{me}");

    // Once the listener hears again, memory answers again, with the change.
    drop(stopped);
    let me = remembered(&a, &ada).await;
    assert_eq!(me["teams"].as_array().unwrap().len(), 2, "{me}");
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn team_endpoints_answer_404_403_409_and_422_where_they_should(db: PgPool) {
    let (server, admin, ada) = setup(db).await;
    user(&server.app, "bob@example.com", false).await;
    let bob = server.login("bob@example.com").await;
    assert_eq!(ada.get("/api/v1/teams/nope").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        bob.get("/api/v1/teams/payments").await.0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = admin
        .post(
            "/api/v1/teams",
            json!({"name": "payments", "display_name": "Dup"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"]["fields"]["name"].is_string());
    let (status, body) = admin
        .post(
            "/api/v1/teams",
            json!({"name": "x".repeat(40), "display_name": "ok"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["name"].is_string());
    let (status, body) = ada
        .post(
            "/api/v1/teams/payments/members",
            json!({"email": "ghost@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["email"].is_string());
    let (status, detail) = ada
        .post(
            "/api/v1/teams/payments/members",
            json!({"email": "bob@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(detail["members"].as_array().unwrap().len(), 2);
    let bob_id = detail["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "bob@example.com")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = ada
        .put(
            &format!("/api/v1/teams/payments/members/{bob_id}"),
            json!({"role": "owner"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, detail) = ada
        .delete(&format!("/api/v1/teams/payments/members/{bob_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["members"].as_array().unwrap().len(), 1);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_token_works_on_the_api_within_its_scopes_and_is_shown_once(db: PgPool) {
    let (_server, _admin, ada) = setup(db).await;
    let (status, created) = ada
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "scopes": ["read"], "expires_in_days": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = created["secret"].as_str().unwrap().to_owned();
    let token = Client {
        cookie: None,
        csrf: None,
        bearer: Some(secret.clone()),
        ..ada
    };
    let (status, me) = token.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["authenticated_by"], "token");
    assert_eq!(me["scopes"], json!(["read"]));
    // read-only: adding a member needs `request`
    let (status, body) = token
        .post(
            "/api/v1/teams/payments/members",
            json!({"email": "root@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("request"));
    // The prefix identifies the token without revealing it.
    let prefix = created["token"]["prefix"].as_str().unwrap();
    assert!(secret.starts_with(prefix) && prefix.len() < secret.len());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn token_listing_never_contains_a_secret_and_revoked_tokens_get_401(db: PgPool) {
    let (_server, _admin, ada) = setup(db).await;
    let (_, created) = ada
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "scopes": ["read"], "expires_in_days": 7}),
        )
        .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let (status, list) = ada.get("/api/v1/tokens").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!list.to_string().contains(&secret));
    let id = created["token"]["id"].as_str().unwrap();
    let (status, revoked) = ada.delete(&format!("/api/v1/tokens/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["revoked"], true);
    let token = Client {
        cookie: None,
        csrf: None,
        bearer: Some(secret),
        ..ada
    };
    assert_eq!(token.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    let garbage = Client {
        bearer: Some("berth_garbage".into()),
        ..token
    };
    assert_eq!(garbage.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn token_creation_refuses_bad_fields_by_name(db: PgPool) {
    let (_server, _admin, ada) = setup(db).await;
    let (status, body) = ada
        .post(
            "/api/v1/tokens",
            json!({"name": "", "scopes": ["approve"], "expires_in_days": 400}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["name", "scopes", "expires_in_days"] {
        assert!(
            body["error"]["fields"][field].is_string(),
            "{field} not named: {body}"
        );
    }
    let (status, body) = ada
        .post(
            "/api/v1/tokens",
            json!({"name": "x", "scopes": ["root"], "expires_in_days": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["fields"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("scopes")),
        "{body}"
    );
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn malformed_json_is_400_wrong_types_422_and_oversize_bodies_413(db: PgPool) {
    let (_server, admin, _ada) = setup(db).await;
    let response = admin
        .request(Method::POST, "/api/v1/teams")
        .header(header::CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    let (status, body) = admin
        .post("/api/v1/teams", json!({"name": 5, "display_name": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["name"].is_string(), "{body}");
    let (status, body) = admin
        .post("/api/v1/teams", json!({"display_name": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["name"].is_string(), "{body}");
    let huge = "x".repeat(2 * 1024 * 1024);
    let (status, body) = admin
        .post("/api/v1/teams", json!({"name": huge, "display_name": "x"}))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn password_change_over_http_needs_a_session_and_the_current_password(db: PgPool) {
    let (server, _admin, ada) = setup(db).await;
    let (status, body) = ada
        .post(
            "/api/v1/me/password",
            json!({"current_password": "wrong", "new_password": "another long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["current_password"].is_string());
    let (status, _) = ada
        .post(
            "/api/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "another long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let token = server
        .token("ada@example.com", &[Scope::Read, Scope::Request])
        .await;
    let (status, _) = token
        .post("/api/v1/me/password", json!({"current_password": "another long password", "new_password": "third long password"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn logout_revokes_the_session_and_clears_the_cookie(db: PgPool) {
    let (_server, _admin, ada) = setup(db).await;
    let response = ada
        .request(Method::POST, "/api/v1/auth/logout")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(ada.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn the_audit_endpoint_filters_pages_and_exports(db: PgPool) {
    let (_server, admin, ada) = setup(db).await;
    for name in ["alpha", "beta", "gamma"] {
        admin
            .post("/api/v1/teams", json!({"name": name, "display_name": name}))
            .await;
    }
    let (status, page) = admin.get("/api/v1/audit?action=team.created&limit=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = admin
        .get(&format!(
            "/api/v1/audit?action=team.created&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(next["items"].as_array().unwrap().len(), 2);
    assert!(next["next_cursor"].is_null());
    let first = &page["items"][0];
    for field in [
        "occurred_at",
        "actor",
        "action",
        "target_type",
        "target_id",
        "request_id",
        "client_addr",
        "user_agent",
    ] {
        assert!(!first[field].is_null(), "{field} missing");
    }

    let (status, body) = admin.get("/api/v1/audit?since=yesterday").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["since"].is_string());

    let response = admin
        .request(Method::GET, "/api/v1/audit/export?format=csv&action=team.")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = response.text().await.unwrap();
    assert!(csv.starts_with("id,occurred_at,actor,action"));
    assert_eq!(
        csv.lines().filter(|l| l.contains("team.created")).count(),
        4
    );

    let response = admin
        .request(Method::GET, "/api/v1/audit/export?format=ndjson")
        .send()
        .await
        .unwrap();
    let ndjson = response.text().await.unwrap();
    assert!(ndjson
        .lines()
        .all(|l| serde_json::from_str::<Value>(l).is_ok()));

    // ada (a payments owner) sees no rows about teams she is not in.
    let (_, mine) = ada.get("/api/v1/audit?limit=500").await;
    assert!(mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["team"] == "payments" || e["actor"] == "ada@example.com"));
    assert_eq!(
        admin.get("/api/v1/audit/export?format=xml").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn request_ids_are_echoed_or_generated_and_land_in_the_audit_trail(db: PgPool) {
    let (server, admin, _ada) = setup(db).await;
    let response = admin
        .request(Method::GET, "/api/v1/me")
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let response = admin
        .request(Method::GET, "/api/v1/me")
        .send()
        .await
        .unwrap();
    assert!(!response.headers()["x-request-id"].is_empty());
    admin
        .request(Method::POST, "/api/v1/teams")
        .header("x-request-id", "create-search-1")
        .json(&json!({"name": "search", "display_name": "Search"}))
        .send()
        .await
        .unwrap();
    let stored = sqlx::query_scalar!("SELECT request_id FROM audit_events WHERE action = 'team.created' AND target_id = 'search'")
        .fetch_one(&server.app.db)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some("create-search-1"));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn health_readiness_metrics_and_unknown_api_paths(db: PgPool) {
    let (_server, admin, _ada) = setup(db).await;
    let anon = Client {
        cookie: None,
        csrf: None,
        bearer: None,
        ..admin
    };
    let (status, body) = anon.get("/healthz").await;
    assert_eq!((status, body), (StatusCode::OK, Value::String("ok".into())));
    assert_eq!(anon.get("/readyz").await.0, StatusCode::OK);
    let (status, metrics) = anon.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(metrics.contains("http_requests_total"));
    assert!(metrics.contains("route=\"/api/v1/teams\""));
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
    let (status, body) = anon.get("/api/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn the_openapi_document_is_3_1_and_lists_every_route(db: PgPool) {
    let server = TestServer::start(db).await;
    let (status, spec) = server.anonymous().get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/me",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me/password",
        "/api/v1/users",
        "/api/v1/users/{id}/status",
        "/api/v1/teams",
        "/api/v1/teams/{name}",
        "/api/v1/teams/{name}/members",
        "/api/v1/teams/{name}/members/{user_id}",
        "/api/v1/tokens",
        "/api/v1/tokens/{id}",
        "/api/v1/audit",
        "/api/v1/audit/export",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    let (status, docs) = server.anonymous().get("/api/docs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(docs
        .as_str()
        .unwrap()
        .contains("/api/v1/teams/{name}/members"));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn pages_render_on_the_server(db: PgPool) {
    let (_server, admin, _ada) = setup(db).await;
    let anon = Client {
        cookie: None,
        csrf: None,
        bearer: None,
        ..admin
    };
    let (status, login) = anon.get("/login").await;
    assert_eq!(status, StatusCode::OK);
    let login = login.as_str().unwrap().to_owned();
    assert!(login.contains("Log in to Berth") && login.contains("name=\"password\""));
    assert!(login.contains("/pkg/berth.js"));
    let (status, _) = anon.get("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn pages_and_the_api_carry_security_headers(db: PgPool) {
    let server = TestServer::start(db).await;
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{}/login", server.base))
        .send()
        .await
        .unwrap();
    let headers = page.headers().clone();
    let body = page.text().await.unwrap();
    let csp = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a nonce in the policy");
    assert!(
        body.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration scripts carry the policy's nonce"
    );
    for directive in [
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "'wasm-unsafe-eval'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("'unsafe-inline'; ") || csp.contains("style-src-attr 'unsafe-inline'"));
    let again = http
        .get(format!("{}/login", server.base))
        .send()
        .await
        .unwrap();
    assert_ne!(
        again.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap(),
        csp,
        "a new nonce per response"
    );

    let api = http
        .get(format!("{}/api/v1/me", server.base))
        .send()
        .await
        .unwrap();
    assert!(api.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
    for r in [&headers, api.headers()] {
        assert_eq!(r[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(r[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(r[header::REFERRER_POLICY], "same-origin");
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn metrics_expose_requests_the_job_queue_and_inventory_age(db: PgPool) {
    let server = TestServer::start(db).await;
    server.anonymous().get("/api/v1/me").await;
    user(&server.app, "ada@example.com", false).await;
    server
        .login("ada@example.com")
        .await
        .get("/api/v1/me")
        .await;
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "http_request_duration_seconds",
        "http_requests_total",
        "berth_jobs_queued",
        "berth_jobs_running",
        "berth_job_oldest_age_seconds",
        "berth_credential_checks_total",
        "berth_credential_memory_trusted",
    ] {
        assert!(text.contains(series), "{series} missing from /metrics");
    }
}

/// The path of the server function named `name` (`/fn/login<hash>`).
fn server_fn(name: &str) -> String {
    use leptos::server_fn::axum::server_fn_paths;
    // Registering happens when the app's routes are built; any server does that.
    server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .find(|p| {
            p.trim_start_matches("/fn/")
                .strip_prefix(name)
                .is_some_and(|hash| hash.chars().all(|c| c.is_ascii_digit()))
        })
        .unwrap_or_else(|| panic!("no server function {name}"))
}

/// Login CSRF: another site's form signing a visitor in to an account of its choosing.
/// Before, login accepted a cross-site Origin (REST and the server function alike).
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn cross_site_writes_are_refused_login_included(db: PgPool) {
    let (server, admin, _) = setup(db).await;
    let anon = server.anonymous();
    let evil = |r: reqwest::RequestBuilder| {
        r.header(header::ORIGIN, "https://evil.example")
            .header("sec-fetch-site", "cross-site")
    };
    let response = evil(anon.request(Method::POST, "/api/v1/auth/login"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    let response = evil(anon.request(Method::POST, &server_fn("login")))
        .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    // An Origin that is not this server, without Sec-Fetch-Site: refused as well.
    let (s, _) = send(
        admin
            .request(Method::POST, "/api/v1/teams")
            .header(header::ORIGIN, "http://127.0.0.1:1")
            .json(&json!({"name": "search", "display_name": "Search"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The same server's own pages are fine.
    let host = server.base.trim_start_matches("http://").to_owned();
    let (s, _) = send(
        anon.request(Method::POST, "/api/v1/auth/login")
            .header(header::ORIGIN, format!("http://{host}"))
            .header("sec-fetch-site", "same-origin")
            .json(&json!({"email": "ada@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

/// A NUL (or any control character) in a path, a query or a body: 422 naming the field,
/// and nothing reaches Postgres. Before, each of these answered 500.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn control_characters_are_refused_at_the_edge_by_field(db: PgPool) {
    let (_server, admin, ada) = setup(db).await;
    for (path, field) in [
        ("/api/v1/teams/%00", "path"),
        ("/api/v1/clusters/%00", "path"),
        ("/api/v1/namespaces/%00/%00", "path"),
        ("/api/v1/audit?actor=%00", "actor"),
        ("/api/v1/audit?action=a%01b", "action"),
    ] {
        let (s, body) = admin.get(path).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert!(
            body["error"]["fields"].get(field).is_some(),
            "{path}: {body}"
        );
    }
    let (s, body) = ada
        .post(
            "/api/v1/namespace-requests",
            json!({"team": "\u{0000}", "cluster": "c", "name": "n", "node_pool": "p", "purpose": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["team"].is_string(), "{body}");
    let (s, body) = ada
        .post(
            "/api/v1/teams/payments/members",
            json!({"email": "a\u{0007}@example.com", "role": "member"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["fields"]["email"].is_string(), "{body}");
    // Line breaks in free text are text, not control characters.
    let (s, body) = admin
        .post(
            "/api/v1/teams",
            json!({"name": "search", "display_name": "Search\tteam"}),
        )
        .await;
    assert_ne!(s, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
}

/// Only JSON objects are bodies: `["Renamed"]` once renamed a cluster, its fields taken by
/// position. The field errors name the body.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_body_must_be_a_json_object_and_its_errors_name_the_body(db: PgPool) {
    let (_server, admin, _) = setup(db).await;
    for body in [json!(["Renamed"]), json!("Renamed"), json!(42), json!(null)] {
        let (s, answer) = send(admin.request(Method::POST, "/api/v1/teams").json(&body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(
            answer["error"]["fields"]["body"].is_string(),
            "{body}: {answer}"
        );
    }
    let (_, teams) = admin.get("/api/v1/teams").await;
    assert!(!teams.to_string().contains("Renamed"));
}

/// A server function given what it cannot decode answers 400 in the error format, before
/// authentication, not 500.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_server_function_with_a_missing_field_is_400(db: PgPool) {
    let server = TestServer::start(db).await;
    let response = server
        .anonymous()
        .request(Method::POST, &server_fn("create_token"))
        .form(&[("x", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "bad_request", "{body}");
}
