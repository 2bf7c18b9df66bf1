//! Single sign-on through a real OpenID provider (testplane/idp/: zitadel/oidc's provider
//! and its own login page), each test with its own provider and users.

mod common;

use berth::teams;
use berth_frontend::api::{NewMember, NewTeam, TeamRole};
use common::{idp::Idp, *};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

fn person(id: &str, groups: &[&str]) -> Value {
    json!({"id": id, "username": id, "password": format!("{id}-pw"), "email": format!("{id}@corp.example"),
           "given_name": id, "family_name": "Tester", "groups": groups})
}

/// Berth with `admin@example.com` (local) and the teams payments and search, plus the rules
/// payments-devs → member of payments, payments-leads → owner, platform-admins → admin.
async fn world(db: PgPool, idp: &Idp) -> (TestServer, Client) {
    let server = common::idp::server(db, idp).await;
    user(&server.app, "admin@example.com", true).await;
    let admin_ctx = session_ctx(&server.app, "admin@example.com").await;
    for name in ["payments", "search"] {
        teams::create(
            &server.app,
            &admin_ctx,
            NewTeam {
                name: name.into(),
                display_name: name.into(),
                owner_email: None,
            },
        )
        .await
        .unwrap();
    }
    let admin = server.login("admin@example.com").await;
    for (group, team, grant) in [
        ("payments-devs", Some("payments"), "member"),
        ("payments-leads", Some("payments"), "owner"),
        ("platform-admins", None, "admin"),
    ] {
        let (status, body) = admin
            .post(
                "/api/v1/group-rules",
                json!({"provider_group": group, "team": team, "grant": grant}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    (server, admin)
}

async fn me(client: &Client) -> Value {
    let (status, me) = client.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    me
}

fn teams_of(me: &Value) -> Vec<(String, String)> {
    me["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["team"].as_str().unwrap().to_owned(),
                t["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn signing_in_creates_the_user_with_the_teams_of_their_groups_and_their_tokens_work(
    db: PgPool,
) {
    let Some(idp) = Idp::start(json!([
        person("dana", &["payments-devs"]),
        person("lead", &["payments-devs", "payments-leads"]),
        person("boss", &["platform-admins"]),
        person("sam", &["contractors"]),
    ]))
    .await
    else {
        return;
    };
    let (server, _) = world(db.clone(), &idp).await;

    let options = server.anonymous().get("/api/v1/auth/options").await;
    assert_eq!(
        options.1,
        json!({"provider": "Test IdP", "password": "everyone"})
    );

    let dana = server.sso(&idp, "dana", "dana-pw").await.client();
    let me_dana = me(&dana).await;
    assert_eq!(me_dana["user"]["email"], "dana@corp.example");
    assert_eq!(me_dana["user"]["display_name"], "dana Tester");
    assert_eq!(me_dana["user"]["is_admin"], false);
    assert_eq!(
        teams_of(&me_dana),
        vec![("payments".into(), "member".into())]
    );

    let lead = server.sso(&idp, "lead", "lead-pw").await.client();
    assert_eq!(
        teams_of(&me(&lead).await),
        vec![("payments".into(), "owner".into())]
    );
    let boss = server.sso(&idp, "boss", "boss-pw").await.client();
    assert_eq!(me(&boss).await["user"]["is_admin"], true);
    // Signed in, in no team, not an admin: the home page tells them whom to ask.
    let sam = server.sso(&idp, "sam", "sam-pw").await.client();
    let me_sam = me(&sam).await;
    assert!(teams_of(&me_sam).is_empty());
    assert_eq!(me_sam["user"]["is_admin"], false);

    // Every change is audited with its source.
    let sources: Vec<(String, Value)> = sqlx::query_as(
        "SELECT action, after FROM audit_events WHERE actor_label = 'single sign-on' ORDER BY id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(sources.iter().any(|(a, after)| a == "team.member_added"
        && after["source"] == "provider groups"
        && after["groups"] == json!(["payments-devs"])));
    assert!(sources.iter().any(
        |(a, after)| a == "user.admin_changed" && after["groups"] == json!(["platform-admins"])
    ));
    assert!(sources
        .iter()
        .any(|(a, after)| a == "user.created" && after["source"] == "provider claims"));

    // An SSO user mints a token like a local one; it acts as them.
    let (status, token) = dana
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "scopes": ["read"], "expires_in_days": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let mut bot = server.anonymous();
    bot.bearer = token["secret"].as_str().map(str::to_owned);
    assert_eq!(me(&bot).await["user"]["email"], "dana@corp.example");

    // An SSO user has no password to sign in with.
    let (status, _) = server
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": "dana@corp.example", "password": "dana-pw"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrations = "../migrations")]
async fn memberships_follow_the_provider_at_each_sign_in_through_a_key_rotation(db: PgPool) {
    let Some(mut idp) = Idp::start(json!([person(
        "dana",
        &["payments-devs", "platform-admins"]
    )]))
    .await
    else {
        return;
    };
    let (server, _) = world(db, &idp).await;
    let dana = server.sso(&idp, "dana", "dana-pw").await.client();
    assert_eq!(
        teams_of(&me(&dana).await),
        vec![("payments".into(), "member".into())]
    );
    assert_eq!(me(&dana).await["user"]["is_admin"], true);
    // A membership given in Berth stays whatever the provider says.
    let admin_ctx = session_ctx(&server.app, "admin@example.com").await;
    teams::add_member(
        &server.app,
        &admin_ctx,
        "search",
        NewMember {
            email: "dana@corp.example".into(),
            role: TeamRole::Member,
        },
    )
    .await
    .unwrap();

    // Promoted at the provider; the restart also gives it a new signing key, which Berth
    // has not seen: it reads the keys again.
    idp.restart(json!([person("dana", &["payments-leads"])]))
        .await;
    let dana = server.sso(&idp, "dana", "dana-pw").await.client();
    let me_dana = me(&dana).await;
    assert_eq!(
        teams_of(&me_dana),
        vec![
            ("payments".into(), "owner".into()),
            ("search".into(), "member".into())
        ]
    );
    assert_eq!(
        me_dana["user"]["is_admin"], false,
        "the provider's admin flag went with its group"
    );

    // Removed from every group: the provider's team goes, Berth's stays.
    idp.restart(json!([person("dana", &[])])).await;
    let dana = server.sso(&idp, "dana", "dana-pw").await.client();
    assert_eq!(
        teams_of(&me(&dana).await),
        vec![("search".into(), "member".into())]
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_callbacks_and_refused_people_get_no_session_and_never_a_500(db: PgPool) {
    let mut unverified = person("eve", &["payments-devs"]);
    unverified["email"] = json!("admin@example.com");
    unverified["email_verified"] = json!(false);
    let mut odd = person("odd", &["payments-devs"]);
    odd["given_name"] = json!("O\u{7}d\u{1b}d");
    odd["family_name"] = json!("");
    let mut no_email = person("nomail", &[]);
    no_email["email"] = json!("");
    let Some(idp) = Idp::start(json!([
        person("dana", &["payments-devs"]),
        unverified,
        odd,
        no_email
    ]))
    .await
    else {
        return;
    };
    let (server, admin) = world(db, &idp).await;
    let http = common::idp::no_redirects();
    let callback = format!("{}/auth/oidc/callback", server.base);

    // No state, an unknown state, garbage.
    for query in ["", "?code=x", "?code=x&state=nope", "?state=&code="] {
        let outcome = server.sso_finish(&format!("{callback}{query}"), None).await;
        assert_eq!(outcome.failure(), "expired", "{query}");
    }
    // Control characters are refused where they enter, as everywhere.
    let response = http
        .get(format!("{callback}?state=%00"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A replayed callback, and a callback from another browser, get nothing.
    let (authorize, cookie) = server.sso_start().await;
    let back = idp.log_in(&authorize, "dana", "dana-pw").await;
    server.sso_finish(&back, Some(&cookie)).await.client();
    assert_eq!(
        server.sso_finish(&back, Some(&cookie)).await.failure(),
        "expired"
    );
    let (authorize, _) = server.sso_start().await;
    let back = idp.log_in(&authorize, "dana", "dana-pw").await;
    assert_eq!(
        server
            .sso_finish(&back, Some("berth_sso=someone-else"))
            .await
            .failure(),
        "expired"
    );
    // The provider said no; a forged code.
    let (authorize, cookie) = server.sso_start().await;
    let state = reqwest::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        server
            .sso_finish(
                &format!("{callback}?error=access_denied&state={state}"),
                Some(&cookie)
            )
            .await
            .failure(),
        "denied"
    );
    let (authorize, cookie) = server.sso_start().await;
    let state = reqwest::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        server
            .sso_finish(
                &format!("{callback}?code=forged&state={state}"),
                Some(&cookie)
            )
            .await
            .failure(),
        "invalid"
    );

    // A local account's email that the provider does not vouch for is not taken over.
    assert_eq!(
        server.sso(&idp, "eve", "eve-pw").await.failure(),
        "email-taken"
    );
    assert_eq!(
        server.sso(&idp, "nomail", "nomail-pw").await.failure(),
        "no-email"
    );
    // Odd characters in a name are dropped, not stored.
    let odd = server.sso(&idp, "odd", "odd-pw").await.client();
    assert_eq!(me(&odd).await["user"]["display_name"], "Odd");

    // A disabled user's sessions end, and they cannot sign in again.
    let dana_id = me(&server.sso(&idp, "dana", "dana-pw").await.client()).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dana = server.sso(&idp, "dana", "dana-pw").await.client();
    let (status, body) = admin
        .put(
            &format!("/api/v1/users/{dana_id}/status"),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(dana.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        server.sso(&idp, "dana", "dana-pw").await.failure(),
        "disabled"
    );

    // The provider is down: the login page says so, and the break-glass password works.
    let dead_idp = Idp::start(json!([])).await.unwrap();
    let dead = common::idp::server(server.app.db.clone(), &dead_idp).await;
    drop(dead_idp);
    let response = http
        .get(format!("{}/auth/oidc/start", dead.base))
        .send()
        .await
        .unwrap();
    assert_eq!(common::idp::location(response), "/login?sso=unreachable");
    dead.login("admin@example.com").await;
    drop(idp);
}

#[sqlx::test(migrations = "../migrations")]
async fn group_rules_are_for_admins_and_bad_ones_name_the_field(db: PgPool) {
    let app = app(db).await;
    user(&app, "admin@example.com", true).await;
    user(&app, "dev@example.com", false).await;
    let admin = session_ctx(&app, "admin@example.com").await;
    teams::create(
        &app,
        &admin,
        NewTeam {
            name: "payments".into(),
            display_name: "Payments".into(),
            owner_email: None,
        },
    )
    .await
    .unwrap();
    use berth::group_rules;
    use berth_frontend::api::{GroupGrant, NewGroupRule};
    let rule = |group: &str, team: Option<&str>, grant| NewGroupRule {
        provider_group: group.into(),
        team: team.map(str::to_owned),
        grant,
    };
    let field = |e: berth::Error| match e {
        berth::Error::Invalid(fields) => fields.into_keys().collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    for (input, expected) in [
        (
            rule("ops", Some("payments"), GroupGrant::Admin),
            vec!["team"],
        ),
        (rule("devs", None, GroupGrant::Member), vec!["team"]),
        (rule("devs", Some("nope"), GroupGrant::Owner), vec!["team"]),
        (
            rule("", Some("payments"), GroupGrant::Member),
            vec!["provider_group"],
        ),
        (
            rule(&"g".repeat(257), Some("payments"), GroupGrant::Member),
            vec!["provider_group"],
        ),
    ] {
        assert_eq!(
            field(group_rules::create(&app, &admin, input).await.unwrap_err()),
            expected
        );
    }
    let made = group_rules::create(
        &app,
        &admin,
        rule("devs", Some("payments"), GroupGrant::Member),
    )
    .await
    .unwrap();
    assert!(matches!(
        group_rules::create(
            &app,
            &admin,
            rule("devs", Some("payments"), GroupGrant::Member)
        )
        .await,
        Err(berth::Error::Conflict { .. })
    ));
    let dev = session_ctx(&app, "dev@example.com").await;
    assert!(matches!(
        group_rules::list(&app, &dev).await,
        Err(berth::Error::Forbidden(_))
    ));
    assert!(matches!(
        group_rules::delete(&app, &dev, made.id).await,
        Err(berth::Error::Forbidden(_))
    ));
    group_rules::delete(&app, &admin, made.id).await.unwrap();
    assert!(matches!(
        group_rules::delete(&app, &admin, made.id).await,
        Err(berth::Error::NotFound(_))
    ));
}

#[sqlx::test(migrations = "../migrations")]
async fn password_sign_in_can_be_kept_for_admins_or_switched_off(db: PgPool) {
    let Some(idp) = Idp::start(json!([])).await else {
        return;
    };
    for (mode, admin_ok, dev_ok) in [
        (berth::config::PasswordLogin::Admins, true, false),
        (berth::config::PasswordLogin::Nobody, false, false),
    ] {
        let listen = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut config = berth::config::Config::for_tests("postgres://unused");
        idp.configure(&mut config, listen);
        config.password_login = mode;
        let app = berth::App::new(db.clone(), config).await.unwrap();
        if mode == berth::config::PasswordLogin::Admins {
            user(&app, "admin@example.com", true).await;
            user(&app, "dev@example.com", false).await;
        }
        let server = TestServer::serve_app(app).await;
        for (email, ok) in [("admin@example.com", admin_ok), ("dev@example.com", dev_ok)] {
            let (status, body) = server
                .anonymous()
                .post(
                    "/api/v1/auth/login",
                    json!({"email": email, "password": PASSWORD}),
                )
                .await;
            if ok {
                assert_eq!(status, StatusCode::OK, "{mode:?} {email}: {body}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{mode:?} {email}: {body}");
                assert!(body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("single sign-on"));
            }
        }
        let options = server.anonymous().get("/api/v1/auth/options").await.1;
        assert_eq!(
            options["password"],
            if admin_ok { "admins" } else { "nobody" }
        );
    }
}

#[tokio::test]
async fn check_config_reads_the_discovery_document_or_says_why_not() {
    let Some(idp) = Idp::start(json!([])).await else {
        return;
    };
    let mut config = berth::config::Config::for_tests("postgres://unused");
    idp.configure(&mut config, "127.0.0.1:3000".parse().unwrap());
    let sso = berth::auth::sso::Sso::from_config(&config)
        .unwrap()
        .unwrap();
    let said = sso.check().await.unwrap();
    assert!(
        said.contains("discovery document read, 1 signing key(s)"),
        "{said}"
    );
    drop(idp);
    let said = sso.check().await.unwrap_err().to_string();
    assert!(
        said.contains(config.oidc_issuer.as_deref().unwrap()),
        "{said}"
    );
    // A CA file that is not one is refused at start, naming the setting.
    config.oidc_ca_file = Some("/etc/hostname".into());
    let said = berth::auth::sso::Sso::from_config(&config)
        .unwrap_err()
        .to_string();
    assert!(said.contains("BERTH_OIDC_CA_FILE"), "{said}");
}

/// What the hand-made provider below puts in its next ID token.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Forgery {
    None,
    OtherKey,
    OtherAudience,
    Expired,
    OtherNonce,
    OtherIssuer,
}

/// A provider made with openidconnect's own provider-side types, which signs the ID tokens a
/// real provider never would: forged, for another client, expired, replayed from another
/// sign-in, from another issuer. Each must end on the login page, without a session.
#[sqlx::test(migrations = "../migrations")]
async fn forged_expired_and_foreign_id_tokens_are_refused(db: PgPool) {
    use std::sync::{Arc, Mutex};

    use axum::{extract::State, routing::get, routing::post, Json, Router};
    use openidconnect::{
        core::{
            CoreIdToken, CoreIdTokenClaims, CoreIdTokenFields, CoreJsonWebKeySet,
            CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType,
            CoreRsaPrivateSigningKey, CoreSubjectIdentifierType, CoreTokenResponse, CoreTokenType,
        },
        AccessToken, Audience, AuthUrl, EmptyAdditionalClaims, EmptyAdditionalProviderMetadata,
        EmptyExtraTokenFields, EndUserEmail, IssuerUrl, JsonWebKeyId, JsonWebKeySetUrl, Nonce,
        PrivateSigningKey, ResponseTypes, StandardClaims, SubjectIdentifier, TokenUrl,
    };

    fn rsa_key() -> String {
        let out = std::process::Command::new("openssl")
            .args(["genrsa", "-traditional", "2048"])
            .output()
            .expect("openssl makes an RSA key");
        String::from_utf8(out.stdout).unwrap()
    }
    let kid = Some(JsonWebKeyId::new("k1".into()));
    let key = CoreRsaPrivateSigningKey::from_pem(&rsa_key(), kid.clone()).unwrap();
    let other = CoreRsaPrivateSigningKey::from_pem(&rsa_key(), kid).unwrap();

    struct Fake {
        issuer: String,
        key: CoreRsaPrivateSigningKey,
        other: CoreRsaPrivateSigningKey,
        forgery: Forgery,
        nonce: String,
    }
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", socket.local_addr().unwrap());
    let fake = Arc::new(Mutex::new(Fake {
        issuer: issuer.clone(),
        key,
        other,
        forgery: Forgery::None,
        nonce: String::new(),
    }));
    async fn discovery(State(f): State<Arc<Mutex<Fake>>>) -> Json<CoreProviderMetadata> {
        let issuer = f.lock().unwrap().issuer.clone();
        let metadata = CoreProviderMetadata::new(
            IssuerUrl::new(issuer.clone()).unwrap(),
            AuthUrl::new(format!("{issuer}/authorize")).unwrap(),
            JsonWebKeySetUrl::new(format!("{issuer}/keys")).unwrap(),
            vec![ResponseTypes::new(vec![CoreResponseType::Code])],
            vec![CoreSubjectIdentifierType::Public],
            vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
            EmptyAdditionalProviderMetadata {},
        )
        .set_token_endpoint(Some(TokenUrl::new(format!("{issuer}/token")).unwrap()));
        Json(metadata)
    }
    async fn keys(State(f): State<Arc<Mutex<Fake>>>) -> Json<CoreJsonWebKeySet> {
        Json(CoreJsonWebKeySet::new(vec![f
            .lock()
            .unwrap()
            .key
            .as_verification_key()]))
    }
    async fn token(State(f): State<Arc<Mutex<Fake>>>) -> Json<CoreTokenResponse> {
        let f = f.lock().unwrap();
        let now = chrono::Utc::now();
        let (issuer, audience, expiry, nonce) = match f.forgery {
            Forgery::OtherAudience => (
                f.issuer.clone(),
                "someone-else",
                now + chrono::Duration::hours(1),
                f.nonce.clone(),
            ),
            Forgery::Expired => (
                f.issuer.clone(),
                "berth",
                now - chrono::Duration::hours(1),
                f.nonce.clone(),
            ),
            Forgery::OtherNonce => (
                f.issuer.clone(),
                "berth",
                now + chrono::Duration::hours(1),
                "from-another-sign-in".into(),
            ),
            Forgery::OtherIssuer => (
                "https://evil.example".into(),
                "berth",
                now + chrono::Duration::hours(1),
                f.nonce.clone(),
            ),
            Forgery::None | Forgery::OtherKey => (
                f.issuer.clone(),
                "berth",
                now + chrono::Duration::hours(1),
                f.nonce.clone(),
            ),
        };
        let claims = CoreIdTokenClaims::new(
            IssuerUrl::new(issuer).unwrap(),
            vec![Audience::new(audience.into())],
            expiry,
            now - chrono::Duration::minutes(1),
            StandardClaims::new(SubjectIdentifier::new("mallory".into()))
                .set_email(Some(EndUserEmail::new("mallory@corp.example".into())))
                .set_email_verified(Some(true)),
            EmptyAdditionalClaims {},
        )
        .set_nonce(Some(Nonce::new(nonce)));
        let signer = if f.forgery == Forgery::OtherKey {
            &f.other
        } else {
            &f.key
        };
        let access = AccessToken::new("access".into());
        let id_token = CoreIdToken::new(
            claims,
            signer,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            Some(&access),
            None,
        )
        .unwrap();
        Json(CoreTokenResponse::new(
            access,
            CoreTokenType::Bearer,
            CoreIdTokenFields::new(Some(id_token), EmptyExtraTokenFields {}),
        ))
    }
    let router = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/keys", get(keys))
        .route("/token", post(token))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(socket, router).await.unwrap() });

    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = berth::config::Config::for_tests("postgres://unused");
    config.listen = listen;
    config.oidc_issuer = Some(issuer);
    config.oidc_client_id = Some("berth".into());
    config.oidc_client_secret = Some(secrecy::SecretString::from("s".to_owned()));
    config.oidc_redirect_url = Some(format!("http://{listen}/auth/oidc/callback"));
    let server = TestServer::serve_app(berth::App::new(db.clone(), config).await.unwrap()).await;

    for forgery in [
        Forgery::OtherKey,
        Forgery::OtherAudience,
        Forgery::Expired,
        Forgery::OtherNonce,
        Forgery::OtherIssuer,
        Forgery::None,
    ] {
        let (authorize, cookie) = server.sso_start().await;
        let query: std::collections::HashMap<String, String> = reqwest::Url::parse(&authorize)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        {
            let mut f = fake.lock().unwrap();
            f.forgery = forgery;
            f.nonce = query["nonce"].clone();
        }
        let callback = format!(
            "{}/auth/oidc/callback?code=c&state={}",
            server.base, query["state"]
        );
        match server.sso_finish(&callback, Some(&cookie)).await {
            common::idp::Outcome::Failed(code) => {
                assert_ne!(
                    forgery,
                    Forgery::None,
                    "the honest token was refused: {code}"
                );
                assert_eq!(code, "invalid", "{forgery:?}");
            }
            common::idp::Outcome::SignedIn(client) => {
                assert_eq!(forgery, Forgery::None, "{forgery:?} signed in");
                assert_eq!(me(&client).await["user"]["email"], "mallory@corp.example");
            }
        }
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE sso_subject = 'mallory'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(users, 1, "only the honest sign-in made the user");
}
