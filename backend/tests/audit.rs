//! The audit trail against someone with database access: Berth's own role cannot change it,
//! and what the schema's owner can do — rewrite a row and recompute every later hash,
//! delete the newest rows, redefine the hash function — is caught by verifying against
//! signed checkpoints kept outside the database.

mod common;

use berth::{audit, auth::Ctx, config::Config, App};
use common::*;
use sqlx::{postgres::PgConnectOptions, ConnectOptions, PgPool};

/// Berth on `db` with a signing key and a checkpoint file in a fresh folder.
async fn app_with_checkpoints(db: PgPool) -> (App, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("berth-audit-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = Config::for_tests("postgres://unused");
    config.audit_signing_key = Some(berth::fleet::seal::generate_key().into());
    config.audit_checkpoint_file = Some(dir.join("checkpoints.jsonl"));
    (App::new(db, config).await.unwrap(), dir)
}

/// Some history: users and teams, each with its audit rows.
async fn history(app: &App, n: usize) {
    user(app, "root@example.com", true).await;
    let admin = session_ctx(app, "root@example.com").await;
    for i in 0..n {
        berth::teams::create(
            app,
            &admin,
            berth_frontend::api::NewTeam {
                name: format!("team-{i}"),
                display_name: format!("Team {i}"),
                owner_email: None,
            },
        )
        .await
        .unwrap();
    }
}

async fn checkpoints(app: &App) -> Vec<audit::checkpoint::Checkpoint> {
    audit::checkpoint::read(app.config.audit_checkpoint_file.as_ref().unwrap()).unwrap()
}

fn public_key(app: &App) -> ed25519_dalek::VerifyingKey {
    audit::checkpoint::signing_key(app.config.audit_signing_key.as_ref().unwrap())
        .unwrap()
        .verifying_key()
}

/// As the owner: changes row `k` and recomputes it and every later row with the database's
/// own hash function, triggers off — the chain is whole again.
async fn rewrite_and_rechain(db: &PgPool, k: i64) {
    let mut tx = db.begin().await.unwrap();
    sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER USER")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET after = '{\"forged\": true}' WHERE id = $1")
        .bind(k)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(&format!(
        "DO $$ DECLARE r audit_events; prev bytea; BEGIN
           SELECT row_hash INTO prev FROM audit_events WHERE id = {k} - 1;
           prev := coalesce(prev, '\\x'::bytea);
           FOR r IN SELECT * FROM audit_events WHERE id >= {k} ORDER BY id LOOP
             UPDATE audit_events SET prev_hash = prev, row_hash = audit_row_hash(prev, r) WHERE id = r.id;
             SELECT row_hash INTO prev FROM audit_events WHERE id = r.id;
           END LOOP;
         END $$"
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("ALTER TABLE audit_events ENABLE TRIGGER USER")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn berths_own_role_may_only_insert_and_read_the_trail(db: PgPool) {
    history(&app(db.clone()).await, 3).await;
    // The role the migrations made, given a login as an operator would.
    sqlx::query("ALTER ROLE berth_app LOGIN")
        .execute(&db)
        .await
        .unwrap();
    let options: PgConnectOptions = db.connect_options().as_ref().clone();
    let mut as_app = options
        .clone()
        .username("berth_app")
        .connect()
        .await
        .unwrap();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&mut as_app)
        .await
        .unwrap();
    assert!(count > 3);
    for attack in [
        "UPDATE audit_events SET after = '{}' WHERE id = 1",
        "DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)",
        "TRUNCATE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER USER",
        "DROP TRIGGER audit_events_no_update ON audit_events",
        "CREATE OR REPLACE FUNCTION audit_row_hash(prev bytea, e audit_events) RETURNS bytea LANGUAGE sql AS $$ SELECT e.row_hash $$",
    ] {
        let refused = sqlx::query(attack).execute(&mut as_app).await;
        match refused {
            Err(sqlx::Error::Database(e)) => assert!(
                matches!(e.code().as_deref(), Some("42501")),
                "{attack}: {e}"
            ),
            other => panic!("{attack} was not refused: {other:?}"),
        }
    }
    // Berth works as that role: a change writes its audit row.
    let app_pool = PgPool::connect_with(options.username("berth_app"))
        .await
        .unwrap();
    let app = App::new(app_pool, Config::for_tests("postgres://unused"))
        .await
        .unwrap();
    let admin = session_ctx(&app, "root@example.com").await;
    berth::teams::create(
        &app,
        &admin,
        berth_frontend::api::NewTeam {
            name: "as-app".into(),
            display_name: "As app".into(),
            owner_email: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(audit::verify(&app.db).await.unwrap().first_broken, None);
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_rewritten_and_rechained_trail_fails_against_its_checkpoints(db: PgPool) {
    let (app, dir) = app_with_checkpoints(db.clone()).await;
    history(&app, 10).await;
    let first = audit::checkpoint::take(&app)
        .await
        .unwrap()
        .expect("a checkpoint");
    history_more(&app).await;
    audit::checkpoint::take(&app)
        .await
        .unwrap()
        .expect("a second checkpoint");
    assert!(
        audit::checkpoint::take(&app).await.unwrap().is_none(),
        "nothing new"
    );

    rewrite_and_rechain(&db, first.row - 3).await;
    // The chain alone is whole again: that was the hole.
    assert_eq!(audit::verify(&db).await.unwrap().first_broken, None);
    let finding = audit::checkpoint::check(&db, &checkpoints(&app).await, &public_key(&app))
        .await
        .unwrap();
    assert_eq!(
        finding,
        audit::checkpoint::Finding::Rewritten { row: first.row }
    );
    // And Berth refuses to sign the forged head.
    assert!(audit::checkpoint::take(&app).await.is_err());
    let _ = std::fs::remove_dir_all(dir);
}

async fn history_more(app: &App) {
    let admin = session_ctx(app, "root@example.com").await;
    for i in 0..5 {
        berth::teams::create(
            app,
            &admin,
            berth_frontend::api::NewTeam {
                name: format!("later-{i}"),
                display_name: format!("Later {i}"),
                owner_email: None,
            },
        )
        .await
        .unwrap();
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn deleting_the_newest_rows_fails_against_the_checkpoints(db: PgPool) {
    let (app, dir) = app_with_checkpoints(db.clone()).await;
    history(&app, 60).await;
    let taken = audit::checkpoint::take(&app)
        .await
        .unwrap()
        .expect("a checkpoint");
    let mut tx = db.begin().await.unwrap();
    sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER USER")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_events WHERE id > (SELECT max(id) - 50 FROM audit_events)")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE audit_events ENABLE TRIGGER USER")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(audit::verify(&db).await.unwrap().first_broken, None);
    let finding = audit::checkpoint::check(&db, &checkpoints(&app).await, &public_key(&app))
        .await
        .unwrap();
    assert_eq!(
        finding,
        audit::checkpoint::Finding::Truncated {
            row: taken.row,
            last: taken.row - 50
        }
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The owner redefines the database's hash function to answer what is stored and edits a
/// row: verification recomputes every hash itself, so the edit shows.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_redefined_hash_function_does_not_fool_verification(db: PgPool) {
    history(&app(db.clone()).await, 3).await;
    let mut tx = db.begin().await.unwrap();
    sqlx::query("CREATE OR REPLACE FUNCTION audit_row_hash(prev bytea, e audit_events) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$ SELECT e.row_hash $$")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER USER")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET actor_label = 'someone else' WHERE id = 2")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE audit_events ENABLE TRIGGER USER")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let v = audit::verify(&db).await.unwrap();
    assert_eq!(
        v.first_broken,
        Some((2, "its content does not match its hash"))
    );
    let _ = Ctx::system("test");
}

/// A checkpoint signed with another key is refused, whatever key the file says it has.
#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn checkpoints_are_held_to_the_key_the_verifier_trusts(db: PgPool) {
    let (app, dir) = app_with_checkpoints(db.clone()).await;
    history(&app, 2).await;
    let taken = audit::checkpoint::take(&app).await.unwrap().unwrap();
    let other = audit::checkpoint::signing_key(&berth::fleet::seal::generate_key().into())
        .unwrap()
        .verifying_key();
    let finding = audit::checkpoint::check(&db, &checkpoints(&app).await, &other)
        .await
        .unwrap();
    assert_eq!(
        finding,
        audit::checkpoint::Finding::NotSigned { row: taken.row }
    );
    let _ = std::fs::remove_dir_all(dir);
}
