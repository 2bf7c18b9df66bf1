//! The service layer's rules, called directly on a fresh database per test.

mod common;

use berth::{audit, auth::sessions, teams, tokens, Error};
use berth_frontend::api::{
    AuditQuery, LoginInput, NewMember, NewTeam, NewToken, PasswordChange, Scope, TeamRole,
};
use common::*;
use sqlx::PgPool;

fn login_input(email: &str, password: &str) -> LoginInput {
    LoginInput {
        email: email.into(),
        password: password.into(),
    }
}

fn meta(addr: &str) -> berth::auth::RequestMeta {
    berth::auth::RequestMeta {
        client_addr: Some(addr.into()),
        ..Default::default()
    }
}

/// Logs `email` in through the service and answers the cookie's secret and a session caller.
async fn logged_in(app: &berth::App, email: &str) -> (String, berth::auth::Ctx) {
    let logged_in = sessions::login(app, meta("10.0.0.1"), login_input(email, PASSWORD))
        .await
        .unwrap();
    let secret = logged_in
        .set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let actor = sessions::authenticate(app, &secret).await.unwrap();
    (
        secret,
        berth::auth::Ctx {
            actor: Some(actor),
            meta: Default::default(),
            system: None,
        },
    )
}

fn team(name: &str, owner: Option<&str>) -> NewTeam {
    NewTeam {
        name: name.into(),
        display_name: name.to_uppercase(),
        owner_email: owner.map(Into::into),
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer(db: PgPool) {
    let app = app(db).await;
    user(&app, "ada@example.com", false).await;
    let unknown = sessions::login(
        &app,
        meta("10.0.0.1"),
        login_input("nobody@example.com", PASSWORD),
    )
    .await;
    let wrong = sessions::login(
        &app,
        meta("10.0.0.2"),
        login_input("ada@example.com", "not the password"),
    )
    .await;
    let (Err(unknown), Err(wrong)) = (unknown, wrong) else {
        panic!("both logins must fail")
    };
    assert_eq!(unknown.detail(), wrong.detail());
    assert_eq!(unknown.status(), 401);
    assert_eq!(
        audit_actions(&app)
            .await
            .iter()
            .filter(|a| *a == "auth.login_failed")
            .count(),
        2
    );
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn login_is_throttled_per_account_after_repeated_failures(db: PgPool) {
    let app = app(db).await;
    user(&app, "ada@example.com", false).await;
    let max = app.config.login_max_failures_per_account;
    for i in 0..max {
        let address = format!("10.0.1.{i}");
        let result = sessions::login(
            &app,
            meta(&address),
            login_input("ada@example.com", "wrong password!"),
        )
        .await;
        assert!(matches!(result, Err(Error::Unauthenticated(_))));
    }
    // Even the right password is refused while the account is throttled.
    let result = sessions::login(
        &app,
        meta("10.0.2.1"),
        login_input("ada@example.com", PASSWORD),
    )
    .await;
    match result {
        Err(Error::Throttled { retry_after_secs }) => assert!(retry_after_secs >= 1),
        other => panic!("expected throttling, got {:?}", other.err()),
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn login_is_throttled_per_client_address_across_accounts(db: PgPool) {
    let app = app(db).await;
    let max = app.config.login_max_failures_per_address;
    for i in 0..max {
        let email = format!("user{i}@example.com");
        let _ = sessions::login(
            &app,
            meta("10.9.9.9"),
            login_input(&email, "wrong password!"),
        )
        .await;
    }
    let result = sessions::login(
        &app,
        meta("10.9.9.9"),
        login_input("fresh@example.com", "whatever"),
    )
    .await;
    assert!(matches!(result, Err(Error::Throttled { .. })));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_disabled_user_cannot_log_in(db: PgPool) {
    let app = app(db).await;
    user(&app, "root@example.com", true).await;
    let ada = user(&app, "ada@example.com", false).await;
    let admin = session_ctx(&app, "root@example.com").await;
    berth::people::set_disabled(&app, &admin, ada, true)
        .await
        .unwrap();
    // The right password and a wrong one get the same answer: nothing says which it was.
    let right = sessions::login(
        &app,
        meta("10.0.0.1"),
        login_input("ada@example.com", PASSWORD),
    )
    .await;
    let wrong = sessions::login(
        &app,
        meta("10.0.0.1"),
        login_input("ada@example.com", "not the password at all"),
    )
    .await;
    match (right, wrong) {
        (Err(Error::Unauthenticated(a)), Err(Error::Unauthenticated(b))) => assert_eq!(a, b),
        (a, b) => panic!(
            "expected the same 401 twice, got {:?} and {:?}",
            a.err(),
            b.err()
        ),
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn admins_cannot_disable_themselves(db: PgPool) {
    let app = app(db).await;
    let root = user(&app, "root@example.com", true).await;
    let admin = session_ctx(&app, "root@example.com").await;
    let result = berth::people::set_disabled(&app, &admin, root, true).await;
    assert!(matches!(result, Err(Error::Conflict { .. })));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn only_admins_create_teams(db: PgPool) {
    let app = app(db).await;
    user(&app, "root@example.com", true).await;
    user(&app, "ada@example.com", false).await;
    let ada = session_ctx(&app, "ada@example.com").await;
    assert!(matches!(
        teams::create(&app, &ada, team("payments", None)).await,
        Err(Error::Forbidden(_))
    ));
    let root = session_ctx(&app, "root@example.com").await;
    let created = teams::create(&app, &root, team("payments", Some("ada@example.com")))
        .await
        .unwrap();
    assert_eq!(created.name, "payments");
    let actions = audit_actions(&app).await;
    assert!(actions.ends_with(&["team.created".to_owned(), "team.member_added".to_owned()]));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn invalid_team_input_names_every_bad_field_and_stores_nothing(db: PgPool) {
    let app = app(db).await;
    user(&app, "root@example.com", true).await;
    let root = session_ctx(&app, "root@example.com").await;
    let before = audit_actions(&app).await.len();
    let input = NewTeam {
        name: "Bad Name".into(),
        display_name: "\u{7}".into(),
        owner_email: Some("nope".into()),
    };
    match teams::create(&app, &root, input).await {
        Err(Error::Invalid(fields)) => {
            assert!(
                fields.contains_key("name")
                    && fields.contains_key("display_name")
                    && fields.contains_key("owner_email")
            );
        }
        other => panic!("expected field errors, got {:?}", other.err()),
    }
    let count = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM teams")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
    assert_eq!(audit_actions(&app).await.len(), before);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_duplicate_team_name_is_a_conflict_on_the_name_field(db: PgPool) {
    let app = app(db).await;
    user(&app, "root@example.com", true).await;
    let root = session_ctx(&app, "root@example.com").await;
    teams::create(&app, &root, team("payments", None))
        .await
        .unwrap();
    match teams::create(&app, &root, team("payments", None)).await {
        Err(Error::Conflict { fields, .. }) => assert!(fields.contains_key("name")),
        other => panic!("expected a conflict, got {:?}", other.err()),
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn owners_manage_members_and_plain_members_cannot(db: PgPool) {
    let app = app(db).await;
    user(&app, "root@example.com", true).await;
    user(&app, "owner@example.com", false).await;
    let bob = user(&app, "bob@example.com", false).await;
    user(&app, "eve@example.com", false).await;
    let root = session_ctx(&app, "root@example.com").await;
    teams::create(&app, &root, team("payments", Some("owner@example.com")))
        .await
        .unwrap();
    let owner = session_ctx(&app, "owner@example.com").await;
    let detail = teams::add_member(
        &app,
        &owner,
        "payments",
        NewMember {
            email: "bob@example.com".into(),
            role: TeamRole::Member,
        },
    )
    .await
    .unwrap();
    assert_eq!(detail.members.len(), 2);
    let bob_ctx = session_ctx(&app, "bob@example.com").await;
    let refused = teams::add_member(
        &app,
        &bob_ctx,
        "payments",
        NewMember {
            email: "eve@example.com".into(),
            role: TeamRole::Member,
        },
    )
    .await;
    assert!(matches!(refused, Err(Error::Forbidden(_))));
    let refused = teams::remove_member(&app, &bob_ctx, "payments", bob).await;
    assert!(matches!(refused, Err(Error::Forbidden(_))));
    // Someone outside the team cannot even see it.
    let eve = session_ctx(&app, "eve@example.com").await;
    assert!(matches!(
        teams::get(&app, &eve, "payments").await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        teams::get(&app, &eve, "nothing").await,
        Err(Error::NotFound(_))
    ));
    assert!(teams::list(&app, &eve).await.unwrap().is_empty());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_team_keeps_at_least_one_owner(db: PgPool) {
    let app = app(db).await;
    user(&app, "root@example.com", true).await;
    let owner_id = user(&app, "owner@example.com", false).await;
    let root = session_ctx(&app, "root@example.com").await;
    teams::create(&app, &root, team("payments", Some("owner@example.com")))
        .await
        .unwrap();
    let owner = session_ctx(&app, "owner@example.com").await;
    assert!(matches!(
        teams::change_role(&app, &owner, "payments", owner_id, TeamRole::Member).await,
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        teams::remove_member(&app, &owner, "payments", owner_id).await,
        Err(Error::Conflict { .. })
    ));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_token_never_exceeds_its_scopes(db: PgPool) {
    let app = app(db).await;
    user(&app, "root@example.com", true).await;
    let read_only = token_ctx(&app, "root@example.com", &[Scope::Read]).await;
    assert!(teams::list(&app, &read_only).await.is_ok());
    assert!(matches!(
        teams::create(&app, &read_only, team("payments", None)).await,
        Err(Error::Forbidden(_))
    ));
    let approve = token_ctx(&app, "root@example.com", &[Scope::Approve]).await;
    assert!(teams::create(&app, &approve, team("payments", None))
        .await
        .is_ok());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn only_admins_may_create_tokens_with_approve_and_tokens_cannot_mint_tokens(db: PgPool) {
    let app = app(db).await;
    user(&app, "ada@example.com", false).await;
    let ada = session_ctx(&app, "ada@example.com").await;
    let input = |scopes: Vec<Scope>| NewToken {
        name: "ci".into(),
        scopes,
        expires_in_days: 30,
    };
    match tokens::create(&app, &ada, input(vec![Scope::Approve])).await {
        Err(Error::Invalid(fields)) => assert!(fields.contains_key("scopes")),
        other => panic!("expected a scopes error, got {:?}", other.err()),
    }
    let via_token = token_ctx(&app, "ada@example.com", &[Scope::Read, Scope::Request]).await;
    assert!(matches!(
        tokens::create(&app, &via_token, input(vec![Scope::Read])).await,
        Err(Error::Forbidden(_))
    ));
    let created = tokens::create(&app, &ada, input(vec![Scope::Read, Scope::Read]))
        .await
        .unwrap();
    assert_eq!(created.token.scopes, vec![Scope::Read]);
    assert!(created.secret.starts_with("berth_"));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_token_stops_working_when_revoked_expired_or_its_owner_is_disabled(db: PgPool) {
    let app = app(db).await;
    user(&app, "root@example.com", true).await;
    let ada_id = user(&app, "ada@example.com", false).await;
    let ada = session_ctx(&app, "ada@example.com").await;
    let make = |name: &str| NewToken {
        name: name.into(),
        scopes: vec![Scope::Read],
        expires_in_days: 1,
    };
    let revoked = tokens::create(&app, &ada, make("one")).await.unwrap();
    tokens::revoke(&app, &ada, revoked.token.id).await.unwrap();
    assert!(tokens::authenticate(&app, &revoked.secret).await.is_err());

    let expired = tokens::create(&app, &ada, make("two")).await.unwrap();
    sqlx::query!(
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1",
        expired.token.id
    )
    .execute(&app.db)
    .await
    .unwrap();
    assert!(tokens::authenticate(&app, &expired.secret).await.is_err());

    let live = tokens::create(&app, &ada, make("three")).await.unwrap();
    assert!(tokens::authenticate(&app, &live.secret).await.is_ok());
    let root = session_ctx(&app, "root@example.com").await;
    berth::people::set_disabled(&app, &root, ada_id, true)
        .await
        .unwrap();
    assert!(tokens::authenticate(&app, &live.secret).await.is_err());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions(db: PgPool) {
    let app = app(db).await;
    user(&app, "ada@example.com", false).await;
    let (first, _) = logged_in(&app, "ada@example.com").await;
    let (second, ctx) = logged_in(&app, "ada@example.com").await;

    let wrong = PasswordChange {
        current_password: "not it".into(),
        new_password: "a brand new password".into(),
    };
    assert!(
        matches!(sessions::change_password(&app, &ctx, wrong).await, Err(Error::Invalid(f)) if f.contains_key("current_password"))
    );
    let short = PasswordChange {
        current_password: PASSWORD.into(),
        new_password: "short".into(),
    };
    assert!(
        matches!(sessions::change_password(&app, &ctx, short).await, Err(Error::Invalid(f)) if f.contains_key("new_password"))
    );

    let good = PasswordChange {
        current_password: PASSWORD.into(),
        new_password: "a brand new password".into(),
    };
    sessions::change_password(&app, &ctx, good).await.unwrap();
    // As the HTTP layer does after every write: this replica has heard what it changed.
    app.credentials.settle(&app.db).await;
    assert!(
        sessions::authenticate(&app, &first).await.is_err(),
        "the other session ended"
    );
    assert!(
        sessions::authenticate(&app, &second).await.is_ok(),
        "this session goes on"
    );
    assert!(sessions::login(
        &app,
        meta("10.0.0.1"),
        login_input("ada@example.com", "a brand new password")
    )
    .await
    .is_ok());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn logout_ends_the_session(db: PgPool) {
    let app = app(db).await;
    user(&app, "ada@example.com", false).await;
    let (secret, ctx) = logged_in(&app, "ada@example.com").await;
    sessions::logout(&app, &ctx).await.unwrap();
    app.credentials.settle(&app.db).await;
    assert!(sessions::authenticate(&app, &secret).await.is_err());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn an_idle_session_expires(db: PgPool) {
    let app = app(db).await;
    user(&app, "ada@example.com", false).await;
    let (secret, _) = logged_in(&app, "ada@example.com").await;
    sqlx::query!("UPDATE sessions SET last_seen_at = now() - interval '1 day'")
        .execute(&app.db)
        .await
        .unwrap();
    // Only time moves `last_seen_at` back, and memory keeps a session no longer than its
    // idle end (unit-tested in auth::cache); a replica without it asks Postgres.
    let other_replica = common::app(app.db.clone()).await;
    assert!(sessions::authenticate(&other_replica, &secret)
        .await
        .is_err());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn the_audit_chain_verifies_and_names_a_tampered_row(db: PgPool) {
    let app = app(db).await;
    user(&app, "root@example.com", true).await;
    let root = session_ctx(&app, "root@example.com").await;
    for name in ["alpha", "beta", "gamma"] {
        teams::create(&app, &root, team(name, None)).await.unwrap();
    }
    let verified = audit::verify(&app.db).await.unwrap();
    assert_eq!(
        verified,
        audit::Verification {
            rows: 4,
            first_broken: None
        }
    );

    // Only by switching the guard off (as a superuser could) can a row be changed; verify sees it.
    sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET actor_label = 'someone else' WHERE id = 3")
        .execute(&app.db)
        .await
        .unwrap();
    let verified = audit::verify(&app.db).await.unwrap();
    assert_eq!(verified.first_broken.map(|(id, _)| id), Some(3));

    sqlx::query("UPDATE audit_events SET actor_label = 'root@example.com' WHERE id = 3")
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_events WHERE id = 2")
        .execute(&app.db)
        .await
        .unwrap();
    let verified = audit::verify(&app.db).await.unwrap();
    assert_eq!(
        verified.first_broken,
        Some((3, "a row before it is missing"))
    );
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn the_database_refuses_to_update_delete_or_truncate_audit_rows(db: PgPool) {
    let app = app(db).await;
    user(&app, "root@example.com", true).await;
    for statement in [
        "UPDATE audit_events SET action = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let result = sqlx::query(statement).execute(&app.db).await;
        assert!(result.is_err(), "{statement} was allowed");
    }
    assert_eq!(audit_actions(&app).await, vec!["user.created"]);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn members_see_their_teams_audit_rows_and_admins_see_all(db: PgPool) {
    let app = app(db).await;
    user(&app, "root@example.com", true).await;
    user(&app, "ada@example.com", false).await;
    let root = session_ctx(&app, "root@example.com").await;
    teams::create(&app, &root, team("payments", Some("ada@example.com")))
        .await
        .unwrap();
    teams::create(&app, &root, team("search", None))
        .await
        .unwrap();
    let ada = session_ctx(&app, "ada@example.com").await;
    let seen = audit::list(&app, &ada, &AuditQuery::default())
        .await
        .unwrap();
    assert!(!seen.items.is_empty());
    assert!(seen
        .items
        .iter()
        .all(|e| e.team.as_deref() == Some("payments") || e.actor == "ada@example.com"));
    let all = audit::list(&app, &root, &AuditQuery::default())
        .await
        .unwrap();
    assert!(all
        .items
        .iter()
        .any(|e| e.team.as_deref() == Some("search")));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn audit_pages_follow_the_cursor_without_gaps_or_repeats(db: PgPool) {
    let app = app(db).await;
    user(&app, "root@example.com", true).await;
    let root = session_ctx(&app, "root@example.com").await;
    for i in 0..7 {
        teams::create(&app, &root, team(&format!("team{i}"), None))
            .await
            .unwrap();
    }
    let mut query = AuditQuery {
        action: Some("team.".into()),
        limit: Some(3),
        ..Default::default()
    };
    let mut ids = Vec::new();
    loop {
        let page = audit::list(&app, &root, &query).await.unwrap();
        ids.extend(page.items.iter().map(|e| e.id));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(ids.len(), 7);
    assert!(ids.windows(2).all(|w| w[0] > w[1]));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn audit_filters_refuse_bad_values_by_field(db: PgPool) {
    let app = app(db).await;
    user(&app, "root@example.com", true).await;
    let root = session_ctx(&app, "root@example.com").await;
    let query = AuditQuery {
        since: Some("yesterday".into()),
        limit: Some(0),
        cursor: Some("abc".into()),
        team: Some("ghost".into()),
        ..Default::default()
    };
    match audit::list(&app, &root, &query).await {
        Err(Error::Invalid(fields)) => {
            for field in ["since", "limit", "cursor", "team"] {
                assert!(fields.contains_key(field), "{field} not named");
            }
        }
        other => panic!("expected field errors, got {:?}", other.err()),
    }
}
