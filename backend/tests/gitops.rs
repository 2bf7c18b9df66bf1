//! GitOps delivery and change windows with real parts: a real Git host on loopback
//! (`testplane/gitserver`: git-http-backend over HTTPS, git over SSH), a real cluster from
//! `testplane/`, and a syncer that does what Flux's kustomize-controller does (`testplane
//! sync`: kustomize of the cluster's release, server-side apply, pruning). Berth never writes
//! to a GitOps cluster: everything it sees there arrived through Git.

mod common;

use berth::{
    gitops::repositories,
    tenancy::{freeze, namespaces, requests},
};
use berth_frontend::api::{
    Decision, Decommission, DeliveryInput, DriftSource, FreezeRelease, NewFreezeWindow,
    NewGitRepository, QuotaChange, RequestState, SpecChoice,
};
use common::{git::*, real::*, *};
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota};
use kube::api::Api;
use sqlx::PgPool;
use uuid::Uuid;

/// Registers `name` on `host` with the writer's credentials (HTTPS, the host's CA).
async fn https_repository(w: &Real, host: &GitHost, name: &str) {
    repositories::create(
        &w.app,
        &w.admin,
        NewGitRepository {
            name: name.into(),
            url: host.url(name),
            auth: "basic".into(),
            username: Some(WRITER.0.into()),
            secret: Some(WRITER.1.into()),
            ca_pem: Some(host.ca_pem.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

async fn gitops(w: &Real, cluster: &str, repository: &str, review: bool) {
    repositories::set_delivery(
        &w.app,
        &w.admin,
        cluster,
        DeliveryInput {
            mode: "gitops".into(),
            repository: Some(repository.into()),
            review,
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

async fn state(w: &Real, id: Uuid) -> (RequestState, Option<String>) {
    let r = requests::get(&w.app, &w.admin, id).await.unwrap().request;
    (r.state, r.last_error)
}

async fn delivery_status(w: &Real, name: &str) -> Option<String> {
    sqlx::query_scalar!(
        "SELECT delivery_status FROM namespaces WHERE name = $1 AND state <> 'decommissioned'",
        name
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_gitops_cluster_gets_its_namespace_through_git_and_is_ready_only_once_synced(db: PgPool) {
    let Some(w) = real_world(db).await else {
        return;
    };
    let Some(host) = GitHost::start().await else {
        return;
    };
    let (cluster, pool) = w.primary();
    let repo = host.repository("platform");
    let browse = Browse(&repo);
    https_repository(&w, &host, "platform").await;
    let check = repositories::check(&w.app, &w.admin, "platform")
        .await
        .unwrap();
    assert!(check.reachable, "{check:?}");
    gitops(&w, &cluster, "platform", false).await;

    let name = unique("payments", "git");
    let created = requests::create(&w.app, &w.dev, request(&cluster, &name, &pool, "S"))
        .await
        .unwrap();
    let id = created.request.id;
    requests::approve(
        &w.app,
        &w.admin,
        id,
        Decision {
            reason: Some("ship it".into()),
        },
    )
    .await
    .unwrap();

    // No syncer yet: Berth commits, and waits. The namespace is not on the cluster, so the
    // request is not ready.
    let folder = format!("clusters/{cluster}/namespaces/{name}");
    run_jobs_until(&w.app, "the commit", || async {
        let (_, error) = state(&w, id).await;
        assert!(error.is_none(), "{error:?}");
        browse
            .file("main", &format!("{folder}/kustomization.yaml"))
            .is_some()
    })
    .await;
    berth::jobs::drain(&w.app).await.unwrap();
    assert_eq!(state(&w, id).await.0, RequestState::Provisioning);
    let status = delivery_status(&w, &name).await.unwrap_or_default();
    assert!(
        status.contains("waiting for the cluster to sync"),
        "{status}"
    );
    let admin = w.admin_client(&cluster).await;
    assert!(Api::<Namespace>::all(admin.clone())
        .get_opt(&name)
        .await
        .unwrap()
        .is_none());

    let kustomization = browse
        .file("main", &format!("{folder}/kustomization.yaml"))
        .unwrap();
    for file in [
        "namespace-",
        "resourcequota-berth-quota.yaml",
        "limitrange-berth-limits.yaml",
        "rolebinding-team-edit.yaml",
    ] {
        assert!(kustomization.contains(file), "{file} in {kustomization}");
    }
    let quota_file = browse
        .file("main", &format!("{folder}/resourcequota-berth-quota.yaml"))
        .unwrap();
    assert!(quota_file.contains("requests.cpu"), "{quota_file}");
    // The cluster's shared policies are committed once, beside the namespaces.
    let shared = browse
        .file(
            "main",
            &format!("clusters/{cluster}/berth-shared/kustomization.yaml"),
        )
        .expect("the shared folder");
    assert!(
        shared.contains("validatingadmissionpolicy-berth-pool-"),
        "{shared}"
    );
    // The commit says who asked, who approved and which audit event recorded it.
    let head = browse.head("main").unwrap();
    let message = browse.message(&head);
    let approval = sqlx::query_scalar!(
        "SELECT id FROM audit_events WHERE action = 'namespace_request.approved' AND target_id = $1",
        id.to_string()
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    for said in [
        "Berth <berth@localhost>".to_owned(),
        format!("Berth: provision {name} on {cluster}"),
        format!("Request: {id} (create)"),
        "Requested by: dev@example.com".to_owned(),
        "Approved by: admin@example.com".to_owned(),
        format!("Audit event: {approval}"),
    ] {
        assert!(message.contains(&said), "{said:?} in {message}");
    }

    // The syncer applies the folder; only then is the request ready, with the commit.
    let syncer = Syncer::start(
        &host,
        &host.url_with_writer("platform"),
        &format!("clusters/{cluster}"),
        &w.kubeconfig,
        &format!("{cluster}-admin"),
    );
    let Some(syncer) = syncer else { return };
    run_jobs_until(&w.app, "the synced namespace to be ready", || async {
        let (s, error) = state(&w, id).await;
        assert_ne!(s, RequestState::Failed, "{error:?}\n{}", syncer.log());
        s == RequestState::Ready
    })
    .await;
    let detail = requests::get(&w.app, &w.admin, id).await.unwrap();
    assert_eq!(detail.request.git_commit.as_deref(), Some(head.as_str()));
    assert!(
        detail.objects.iter().all(|o| o.outcome == "applied"),
        "{:?}",
        detail.objects
    );
    let quota = Api::<ResourceQuota>::namespaced(admin.clone(), &name)
        .get("berth-quota")
        .await
        .unwrap();
    assert_eq!(
        quota.metadata.labels.unwrap()["kustomize.toolkit.fluxcd.io/name"],
        "berth-sync",
        "the syncer, not Berth, wrote it"
    );
    let ns = namespaces::get(&w.app, &w.dev, &cluster, &name)
        .await
        .unwrap();
    let git = ns
        .namespace
        .git
        .expect("the namespace says where it is in Git");
    assert_eq!(git.path, folder);
    assert_eq!(git.commit.as_deref(), Some(head.as_str()));
    assert!(ns.namespace.delivery_status.is_none());

    // A quota change edits the folder; ready again once synced.
    let change = requests::quota_change(
        &w.app,
        &w.dev,
        &cluster,
        &name,
        QuotaChange {
            spec: SpecChoice {
                preset: Some("M".into()),
                ..Default::default()
            },
            purpose: "more traffic".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    if change.request.state == RequestState::Pending {
        requests::approve(&w.app, &w.admin, change.request.id, Decision::default())
            .await
            .unwrap();
    }
    run_jobs_until(&w.app, "the quota change to be synced", || async {
        state(&w, change.request.id).await.0 == RequestState::Ready
    })
    .await;
    let hard = Api::<ResourceQuota>::namespaced(admin.clone(), &name)
        .get("berth-quota")
        .await
        .unwrap()
        .spec
        .unwrap()
        .hard
        .unwrap();
    assert_eq!(hard["requests.cpu"].0, "8", "preset M arrived through Git");
    assert_ne!(browse.head("main").unwrap(), head, "a second commit");

    // Drift: a hand edit in Git is the repository's drift; the cluster follows Git.
    browse.commit_by_hand(
        &format!("{folder}/resourcequota-berth-quota.yaml"),
        &browse
            .file("main", &format!("{folder}/resourcequota-berth-quota.yaml"))
            .unwrap()
            .replace("pods: '50'", "pods: '999'"),
    );
    until("the syncer to apply the hand edit", || {
        let admin = admin.clone();
        let name = name.clone();
        async move {
            let q = Api::<ResourceQuota>::namespaced(admin, &name)
                .get("berth-quota")
                .await
                .ok()?;
            (q.spec?.hard?.get("pods")?.0 == "999").then_some(())
        }
    })
    .await;
    berth::tenancy::drift::check_cluster(&w.app, cluster_id(&w, &cluster).await)
        .await
        .unwrap();
    let drift = namespaces::get(&w.app, &w.dev, &cluster, &name)
        .await
        .unwrap()
        .namespace
        .drift
        .unwrap();
    let quota_drift: Vec<_> = drift.iter().filter(|d| d.name == "berth-quota").collect();
    assert_eq!(quota_drift.len(), 1, "{drift:?}");
    assert_eq!(quota_drift[0].against, DriftSource::Repository);
    assert!(quota_drift[0]
        .differences
        .iter()
        .any(|d| d.contains("/spec/hard/pods")));

    // Decommission removes the folder; the syncer prunes the namespace; then it is done.
    let gone = requests::decommission(
        &w.app,
        &w.dev,
        &cluster,
        &name,
        Decommission {
            confirm: name.clone(),
            purpose: "retired".into(),
        },
    )
    .await
    .unwrap();
    requests::approve(&w.app, &w.admin, gone.request.id, Decision::default())
        .await
        .unwrap();
    run_jobs_until(&w.app, "the decommission through Git", || async {
        state(&w, gone.request.id).await.0 == RequestState::Ready
    })
    .await;
    assert!(
        browse
            .file("main", &format!("{folder}/kustomization.yaml"))
            .is_none(),
        "the folder is gone"
    );
    assert!(Api::<Namespace>::all(admin)
        .get_opt(&name)
        .await
        .unwrap()
        .is_none());
    let actions = audit_actions(&w.app).await;
    assert!(
        actions
            .iter()
            .filter(|a| *a == "namespace.committed")
            .count()
            >= 3,
        "{actions:?}"
    );
    drop(syncer);
}

/// The field errors of a call that must be refused as bad input.
fn refused<T>(r: berth::Result<T>) -> std::collections::BTreeMap<String, String> {
    match r {
        Err(berth::Error::Invalid(fields)) => fields,
        Err(other) => panic!("expected field errors, got {other:?}"),
        Ok(_) => panic!("expected field errors, got success"),
    }
}

async fn cluster_id(w: &Real, name: &str) -> Uuid {
    sqlx::query_scalar!("SELECT id FROM clusters WHERE name = $1", name)
        .fetch_one(&w.app.db)
        .await
        .unwrap()
}

/// A fake of the Git host's API (GitLab's merge requests): records what was asked and
/// answers like GitLab, 409 for a second request of the same branch.
async fn fake_gitlab() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
    use std::sync::{Arc, Mutex};
    type Seen = Arc<Mutex<Vec<serde_json::Value>>>;
    async fn open(
        State(seen): State<Seen>,
        headers: axum::http::HeaderMap,
        Json(body): Json<serde_json::Value>,
    ) -> (StatusCode, Json<serde_json::Value>) {
        assert_eq!(headers["private-token"], "gitlab-token");
        let mut seen = seen.lock().unwrap();
        if seen
            .iter()
            .any(|b| b["source_branch"] == body["source_branch"])
        {
            return (
                StatusCode::CONFLICT,
                Json(serde_json::json!({"message": ["exists"]})),
            );
        }
        seen.push(body.clone());
        let url = format!(
            "https://gitlab.example.com/platform/gitops/-/merge_requests/{}",
            seen.len()
        );
        (
            StatusCode::CREATED,
            Json(serde_json::json!({"web_url": url})),
        )
    }
    let seen: Seen = Default::default();
    let app = Router::new()
        .route(
            "/api/v4/projects/platform%2Fgitops/merge_requests",
            post(open),
        )
        .with_state(seen.clone());
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v4", socket.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(socket, app).await.unwrap() });
    (url, seen)
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_review_branch_over_ssh_gets_a_merge_request_and_is_ready_once_merged_and_synced(
    db: PgPool,
) {
    let Some(w) = real_world(db).await else {
        return;
    };
    let Some(host) = GitHost::start().await else {
        return;
    };
    let (cluster, pool) = w.primary();
    let repo = host.repository("reviewed");
    let browse = Browse(&repo);
    // main is protected: changes arrive only through merge requests.
    host.protect(&repo, "main");
    let (api, opened) = fake_gitlab().await;
    repositories::create(
        &w.app,
        &w.admin,
        NewGitRepository {
            name: "reviewed".into(),
            url: format!("{}/reviewed.git", host.ssh),
            auth: "ssh_key".into(),
            secret: Some(host.ssh_key.clone()),
            known_hosts: Some(host.known_hosts.clone()),
            forge: Some("gitlab".into()),
            forge_api_url: Some(api),
            forge_project: Some("platform/gitops".into()),
            forge_token: Some("gitlab-token".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let listed = repositories::list(&w.app, &w.admin).await.unwrap();
    let text = serde_json::to_string(&listed).unwrap();
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains("gitlab-token"),
        "no secret comes back"
    );
    gitops(&w, &cluster, "reviewed", true).await;

    let name = unique("payments", "rev");
    let created = requests::create(&w.app, &w.dev, request(&cluster, &name, &pool, "S"))
        .await
        .unwrap();
    let id = created.request.id;
    requests::approve(&w.app, &w.admin, id, Decision::default())
        .await
        .unwrap();
    run_jobs_until(&w.app, "the merge request", || async {
        requests::get(&w.app, &w.admin, id)
            .await
            .unwrap()
            .request
            .git_review_url
            .is_some()
    })
    .await;
    let detail = requests::get(&w.app, &w.admin, id).await.unwrap().request;
    let branch = detail.git_branch.clone().unwrap();
    assert!(branch.starts_with(&format!("berth/{name}-")), "{branch}");
    assert!(browse.branches().contains(&branch));
    assert!(
        browse.head("main").is_none(),
        "nothing was pushed to the protected main"
    );
    {
        let opened = opened.lock().unwrap();
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0]["source_branch"], branch.as_str());
        assert_eq!(opened[0]["target_branch"], "main");
    }
    berth::jobs::drain(&w.app).await.unwrap();
    let status = delivery_status(&w, &name).await.unwrap_or_default();
    assert!(status.contains("to be merged"), "{status}");
    assert_eq!(
        opened.lock().unwrap().len(),
        1,
        "a retried job opens no second request"
    );

    // A reviewer merges; the syncer applies main; Berth marks the request ready.
    browse.merge(&branch);
    let Some(syncer) = Syncer::start(
        &host,
        &format!(
            "{}/reviewed.git",
            host.url_with_writer("reviewed")
                .trim_end_matches("/reviewed.git")
        ),
        &format!("clusters/{cluster}"),
        &w.kubeconfig,
        &format!("{cluster}-admin"),
    ) else {
        return;
    };
    run_jobs_until(&w.app, "the merged namespace to be ready", || async {
        let (s, error) = state(&w, id).await;
        assert_ne!(s, RequestState::Failed, "{error:?}\n{}", syncer.log());
        s == RequestState::Ready
    })
    .await;
    let admin = w.admin_client(&cluster).await;
    assert!(Api::<Namespace>::all(admin)
        .get_opt(&name)
        .await
        .unwrap()
        .is_some());
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_dead_read_only_or_protected_remote_retries_with_a_clear_error_and_holds_no_other_cluster(
    db: PgPool,
) {
    let Some(w) = real_world(db).await else {
        return;
    };
    let Some(host) = GitHost::start().await else {
        return;
    };
    let (cluster, pool) = w.primary();
    let other = w
        .fleet
        .clusters
        .iter()
        .find(|c| c.name != cluster)
        .expect("a second cluster")
        .clone();
    let other_pool = other
        .node_pools
        .iter()
        .find(|p| p.taints.is_empty())
        .unwrap()
        .name
        .clone();

    // Read-only credentials: the host refuses the push, and the request says so.
    host.repository("readonly");
    repositories::create(
        &w.app,
        &w.admin,
        NewGitRepository {
            name: "readonly".into(),
            url: host.url("readonly"),
            auth: "basic".into(),
            username: Some(READER.0.into()),
            secret: Some(READER.1.into()),
            ca_pem: Some(host.ca_pem.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // Choosing it for a cluster is refused at once, and nothing is stored.
    let fields = refused(
        repositories::set_delivery(
            &w.app,
            &w.admin,
            &cluster,
            DeliveryInput {
                mode: "gitops".into(),
                repository: Some("readonly".into()),
                ..Default::default()
            },
        )
        .await,
    );
    assert!(
        fields["repository"].contains("may read but not push"),
        "{fields:?}"
    );
    // A shared folder someone else already uses is refused by field too.
    let occupied = host.repository("occupied");
    Browse(&occupied).commit_by_hand(
        &format!("clusters/{cluster}/berth-shared/mine.yaml"),
        "kind: ConfigMap\n",
    );
    https_repository(&w, &host, "occupied").await;
    let fields = refused(
        repositories::set_delivery(
            &w.app,
            &w.admin,
            &cluster,
            DeliveryInput {
                mode: "gitops".into(),
                repository: Some("occupied".into()),
                ..Default::default()
            },
        )
        .await,
    );
    assert!(fields["shared_path"].contains("mine.yaml"), "{fields:?}");
    assert_eq!(Browse(&occupied).branches(), ["main"]);

    // A namespace folder someone else already uses: the job says so and pushes nothing.
    let writable = host.repository("writable");
    https_repository(&w, &host, "writable").await;
    gitops(&w, &cluster, "writable", false).await;
    let taken = unique("payments", "taken");
    Browse(&writable).commit_by_hand(
        &format!("clusters/{cluster}/namespaces/{taken}/deployment.yaml"),
        "kind: Deployment\n",
    );
    let before = Browse(&writable).head("main");
    let t = request_approved(
        &w.app,
        &w.dev,
        &w.admin,
        request(&cluster, &taken, &pool, "S"),
    )
    .await;
    run_jobs_until(&w.app, "the refusal of a taken folder", || async {
        state(&w, t.request.id)
            .await
            .1
            .is_some_and(|e| e.contains("did not write"))
    })
    .await;
    assert_eq!(Browse(&writable).head("main"), before, "nothing was pushed");

    // A host whose permissions change later: the job says so on the request.
    sqlx::query!("UPDATE clusters SET git_repository_id = (SELECT id FROM git_repositories WHERE name = 'readonly') WHERE name = $1", cluster)
        .execute(&w.app.db)
        .await
        .unwrap();
    let name = unique("payments", "ro");
    let ro = request_approved(
        &w.app,
        &w.dev,
        &w.admin,
        request(&cluster, &name, &pool, "S"),
    )
    .await;
    run_jobs_until(&w.app, "the refusal", || async {
        state(&w, ro.request.id).await.1.is_some()
    })
    .await;
    let error = state(&w, ro.request.id).await.1.unwrap();
    assert!(error.contains("may read but not push"), "{error}");

    // A protected branch: the host's hook refuses, and says why.
    let protected = host.repository("protected");
    host.protect(&protected, "main");
    https_repository(&w, &host, "protected").await;
    sqlx::query!("UPDATE clusters SET git_repository_id = (SELECT id FROM git_repositories WHERE name = 'protected') WHERE name = $1", cluster)
        .execute(&w.app.db)
        .await
        .unwrap();
    sqlx::query!(
        "UPDATE namespace_requests SET last_error = NULL WHERE id = $1",
        ro.request.id
    )
    .execute(&w.app.db)
    .await
    .unwrap();
    run_jobs_until(&w.app, "the hook's refusal", || async {
        state(&w, ro.request.id)
            .await
            .1
            .is_some_and(|e| e.contains("protected"))
    })
    .await;

    // A dead host: the job retries like one on a dead cluster, and the other cluster's
    // namespace is provisioned meanwhile.
    repositories::create(
        &w.app,
        &w.admin,
        NewGitRepository {
            name: "dead".into(),
            url: "https://127.0.0.1:9/dead.git".into(),
            auth: "basic".into(),
            username: Some("x".into()),
            secret: Some("y".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    sqlx::query!("UPDATE clusters SET git_repository_id = (SELECT id FROM git_repositories WHERE name = 'dead') WHERE name = $1", cluster)
        .execute(&w.app.db)
        .await
        .unwrap();
    let check = repositories::check(&w.app, &w.admin, "dead").await.unwrap();
    assert!(!check.reachable && check.error.is_some(), "{check:?}");
    let direct = unique("payments", "direct");
    let ok = request_approved(
        &w.app,
        &w.dev,
        &w.admin,
        request(&other.name, &direct, &other_pool, "S"),
    )
    .await;
    run_jobs_until(&w.app, "the direct cluster's namespace", || async {
        state(&w, ok.request.id).await.0 == RequestState::Ready
    })
    .await;
    let (s, error) = state(&w, ro.request.id).await;
    assert_eq!(s, RequestState::Failed, "retrying");
    assert!(error.unwrap().contains("retrying"));
    let attempts = sqlx::query_scalar!(
        "SELECT attempts FROM jobs WHERE request_id = $1 AND state = 'queued'",
        ro.request.id
    )
    .fetch_one(&w.app.db)
    .await
    .unwrap();
    assert!(attempts >= 2, "it keeps trying");
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn repositories_and_delivery_refuse_bad_input_by_field_and_store_nothing(db: PgPool) {
    let (app, _fleet) = demo_world(db).await;
    let admin = session_ctx(&app, "admin@example.com").await;
    let dev = session_ctx(&app, "dev@example.com").await;
    let good = NewGitRepository {
        name: "platform".into(),
        // Nothing answers there: choosing it for a cluster is refused.
        url: "https://127.0.0.1:9/platform/gitops.git".into(),
        auth: "basic".into(),
        username: Some("berth".into()),
        secret: Some("token".into()),
        ..Default::default()
    };
    for (input, field) in [
        (
            NewGitRepository {
                url: "http://git.example.com/p.git".into(),
                ..good.clone()
            },
            "url",
        ),
        (
            NewGitRepository {
                url: "https://u:p@git.example.com/p.git".into(),
                ..good.clone()
            },
            "url",
        ),
        (
            NewGitRepository {
                branch: Some("a..b".into()),
                ..good.clone()
            },
            "branch",
        ),
        (
            NewGitRepository {
                secret: None,
                ..good.clone()
            },
            "secret",
        ),
        (
            NewGitRepository {
                auth: "ssh_key".into(),
                url: "git@h:p.git".into(),
                secret: Some(
                    "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----"
                        .into(),
                ),
                ..good.clone()
            },
            "known_hosts",
        ),
        (
            NewGitRepository {
                ca_pem: Some("not pem".into()),
                ..good.clone()
            },
            "ca_pem",
        ),
        (
            NewGitRepository {
                forge: Some("gitlab".into()),
                ..good.clone()
            },
            "forge_api_url",
        ),
        (
            NewGitRepository {
                name: "Not A Label".into(),
                ..good.clone()
            },
            "name",
        ),
    ] {
        let fields = refused(repositories::create(&app, &admin, input).await);
        assert!(fields.contains_key(field), "{field} in {fields:?}");
    }
    assert!(matches!(
        repositories::create(&app, &dev, good.clone()).await,
        Err(berth::Error::Forbidden(_))
    ));
    assert!(
        repositories::list(&app, &admin).await.unwrap().is_empty(),
        "nothing stored"
    );
    repositories::create(&app, &admin, good.clone())
        .await
        .unwrap();

    let cluster = "prod-shanghai-1";
    for (input, field) in [
        (
            DeliveryInput {
                mode: "gitops".into(),
                repository: Some("platform".into()),
                path: Some("../{namespace}".into()),
                ..Default::default()
            },
            "path",
        ),
        (
            DeliveryInput {
                mode: "gitops".into(),
                repository: Some("platform".into()),
                path: Some("clusters/{cluster}".into()),
                ..Default::default()
            },
            "path",
        ),
        (
            DeliveryInput {
                mode: "gitops".into(),
                repository: Some("platform".into()),
                shared_path: Some("/etc".into()),
                ..Default::default()
            },
            "shared_path",
        ),
        (
            DeliveryInput {
                mode: "gitops".into(),
                repository: Some("nope".into()),
                ..Default::default()
            },
            "repository",
        ),
        (
            DeliveryInput {
                mode: "sideways".into(),
                ..Default::default()
            },
            "mode",
        ),
    ] {
        let fields = refused(repositories::set_delivery(&app, &admin, cluster, input).await);
        assert!(fields.contains_key(field), "{field} in {fields:?}");
    }
    let c = berth::fleet::get(&app, &admin, cluster)
        .await
        .unwrap()
        .cluster;
    assert_eq!(
        c.delivery.mode,
        berth_frontend::api::DeliveryMode::Direct,
        "nothing stored"
    );

    // An unreachable remote is refused by field, and nothing is stored.
    let fields = refused(
        repositories::set_delivery(
            &app,
            &admin,
            cluster,
            DeliveryInput {
                mode: "gitops".into(),
                repository: Some("platform".into()),
                ..Default::default()
            },
        )
        .await,
    );
    assert!(
        fields["repository"].contains("cannot be used"),
        "{fields:?}"
    );
    let c = berth::fleet::get(&app, &admin, cluster)
        .await
        .unwrap()
        .cluster;
    assert_eq!(c.delivery.mode, berth_frontend::api::DeliveryMode::Direct);

    // A repository in use is not removed.
    sqlx::query!(
        "UPDATE clusters SET delivery = 'gitops', git_repository_id = (SELECT id FROM git_repositories WHERE name = 'platform'),
                git_path = 'clusters/{cluster}/namespaces/{namespace}', git_shared_path = 'clusters/{cluster}/berth-shared'
         WHERE name = $1",
        cluster
    )
    .execute(&app.db)
    .await
    .unwrap();
    assert!(matches!(
        repositories::remove(&app, &admin, "platform").await,
        Err(berth::Error::Conflict { .. })
    ));
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_freeze_holds_an_approval_until_it_ends_and_an_admin_may_release_one(db: PgPool) {
    let (app, _fleet) = demo_world(db).await;
    let admin = session_ctx(&app, "admin@example.com").await;
    let dev = session_ctx(&app, "dev@example.com").await;
    let cluster = "prod-shanghai-1";
    let pool = "general";
    let now = time::OffsetDateTime::now_utc();
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };

    // Bad windows are refused by field, and none is stored.
    let base = NewFreezeWindow {
        name: "flash sale".into(),
        reason: "11.11: no changes to prod".into(),
        environments: vec!["prod".into()],
        ..Default::default()
    };
    for (input, field) in [
        (
            NewFreezeWindow {
                starts_at: Some(rfc(now)),
                ..base.clone()
            },
            "ends_at",
        ),
        (
            NewFreezeWindow {
                starts_at: Some(rfc(now)),
                ends_at: Some(rfc(now - time::Duration::hours(1))),
                ..base.clone()
            },
            "ends_at",
        ),
        (
            NewFreezeWindow {
                starts_at: Some(rfc(now)),
                ends_at: Some(rfc(now + time::Duration::days(200))),
                ..base.clone()
            },
            "ends_at",
        ),
        (
            NewFreezeWindow {
                schedule: Some("0 * * * *".into()),
                duration_minutes: Some(90),
                ..base.clone()
            },
            "duration_minutes",
        ),
        (
            NewFreezeWindow {
                schedule: Some("0 18 * * 5".into()),
                ..base.clone()
            },
            "duration_minutes",
        ),
        (
            NewFreezeWindow {
                schedule: Some("0 18 * * 5".into()),
                duration_minutes: Some(60),
                timezone: Some("Mars/Base".into()),
                ..base.clone()
            },
            "timezone",
        ),
        (
            NewFreezeWindow {
                environments: vec!["moon".into()],
                starts_at: Some(rfc(now)),
                ends_at: Some(rfc(now + time::Duration::hours(1))),
                ..base.clone()
            },
            "environments[0]",
        ),
        (
            NewFreezeWindow {
                clusters: vec!["nowhere".into()],
                starts_at: Some(rfc(now)),
                ends_at: Some(rfc(now + time::Duration::hours(1))),
                ..base.clone()
            },
            "clusters[0]",
        ),
        (base.clone(), "starts_at"),
    ] {
        let fields = refused(freeze::create(&app, &admin, input).await);
        assert!(fields.contains_key(field), "{field} in {fields:?}");
    }
    assert!(matches!(
        freeze::create(
            &app,
            &dev,
            NewFreezeWindow {
                starts_at: Some(rfc(now)),
                ends_at: Some(rfc(now + time::Duration::hours(1))),
                ..base.clone()
            }
        )
        .await,
        Err(berth::Error::Forbidden(_))
    ));
    assert!(freeze::list(&app, &admin).await.unwrap().is_empty());

    // A freeze over prod for the next hour.
    let window = freeze::create(
        &app,
        &admin,
        NewFreezeWindow {
            starts_at: Some(rfc(now - time::Duration::minutes(1))),
            ends_at: Some(rfc(now + time::Duration::hours(1))),
            ..base.clone()
        },
    )
    .await
    .unwrap();
    // The wizard says so before the request is filed.
    let preview = requests::preview(&app, &dev, request(cluster, "payments-frozen", pool, "S"))
        .await
        .unwrap();
    assert_eq!(preview.freezes.len(), 1);
    assert!(preview.freezes[0].active);
    assert_eq!(preview.freezes[0].freeze, "flash sale");
    // A dev cluster is not held.
    let dev_cluster = "dev-shanghai-1";
    // (Approved at once by the dev policy.)
    let free = requests::create(
        &app,
        &dev,
        request(dev_cluster, "payments-free", "default-pool", "S"),
    )
    .await
    .unwrap();
    assert_eq!(free.request.state, RequestState::Provisioning);

    let held = request_approved(
        &app,
        &dev,
        &admin,
        request(cluster, "payments-frozen", pool, "S"),
    )
    .await;
    let released = request_approved(
        &app,
        &dev,
        &admin,
        request(cluster, "payments-urgent", pool, "S"),
    )
    .await;
    berth::jobs::drain(&app).await.unwrap();
    let get = |id| {
        let (app, admin) = (app.clone(), admin.clone());
        async move { requests::get(&app, &admin, id).await.unwrap() }
    };
    assert_eq!(
        get(free.request.id).await.request.state,
        RequestState::Ready
    );
    let h = get(held.request.id).await;
    assert_eq!(h.request.state, RequestState::Held);
    assert_eq!(h.request.held_by.as_deref(), Some("flash sale"));
    assert!(h.can_release);
    assert!(
        !requests::get(&app, &dev, held.request.id)
            .await
            .unwrap()
            .can_release,
        "admins only"
    );
    let ns_state =
        sqlx::query_scalar!("SELECT state FROM namespaces WHERE name = 'payments-frozen'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(ns_state, "provisioning", "nothing applied while frozen");

    // An admin lets one through, with a reason.
    let no_reason = freeze::release(
        &app,
        &admin,
        released.request.id,
        FreezeRelease { reason: " ".into() },
    )
    .await;
    assert!(matches!(no_reason, Err(berth::Error::Invalid(_))));
    assert!(matches!(
        freeze::release(
            &app,
            &dev,
            released.request.id,
            FreezeRelease {
                reason: "please".into()
            }
        )
        .await,
        Err(berth::Error::Forbidden(_))
    ));
    freeze::release(
        &app,
        &admin,
        released.request.id,
        FreezeRelease {
            reason: "payment outage fix".into(),
        },
    )
    .await
    .unwrap();
    berth::jobs::drain(&app).await.unwrap();
    let r = get(released.request.id).await.request;
    assert_eq!(r.state, RequestState::Ready);
    assert_eq!(r.freeze_released_by.as_deref(), Some("admin@example.com"));
    assert_eq!(
        get(held.request.id).await.request.state,
        RequestState::Held,
        "the other still waits"
    );
    assert!(matches!(
        freeze::release(
            &app,
            &admin,
            free.request.id,
            FreezeRelease { reason: "x".into() }
        )
        .await,
        Err(berth::Error::Conflict { .. })
    ));

    // The freeze ends (an admin ends it early here): the held change goes through.
    freeze::remove(&app, &admin, window.id).await.unwrap();
    berth::jobs::drain(&app).await.unwrap();
    let h = get(held.request.id).await.request;
    assert_eq!(h.state, RequestState::Ready);
    assert!(h.held_by.is_none());
    let actions = audit_actions(&app).await;
    for a in [
        "freeze.created",
        "namespace_request.held",
        "namespace_request.freeze_released",
        "freeze.removed",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn a_short_freeze_ends_by_itself_and_the_calendar_shows_recurring_windows(db: PgPool) {
    let (app, _fleet) = demo_world(db).await;
    let admin = session_ctx(&app, "admin@example.com").await;
    let dev = session_ctx(&app, "dev@example.com").await;
    let now = time::OffsetDateTime::now_utc();
    let rfc = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    freeze::create(
        &app,
        &admin,
        NewFreezeWindow {
            name: "deploy pause".into(),
            reason: "a short pause".into(),
            clusters: vec!["prod-shanghai-1".into()],
            starts_at: Some(rfc(now - time::Duration::minutes(1))),
            ends_at: Some(rfc(now + time::Duration::seconds(3))),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let weekly = freeze::create(
        &app,
        &admin,
        NewFreezeWindow {
            name: "weekends".into(),
            reason: "nobody on call".into(),
            environments: vec!["prod".into()],
            schedule: Some("0 18 * * 5".into()),
            duration_minutes: Some(60 * 60),
            timezone: Some("Asia/Shanghai".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(weekly.next.is_some());
    let held = request_approved(
        &app,
        &dev,
        &admin,
        request("prod-shanghai-1", "payments-pause", "general", "S"),
    )
    .await;
    berth::jobs::drain(&app).await.unwrap();
    let first = requests::get(&app, &admin, held.request.id)
        .await
        .unwrap()
        .request
        .state;
    // Held while the pause lasts (unless this machine was slow enough for it to end, or a
    // weekend window holds it too); ready once every window that holds it has ended.
    assert!(matches!(first, RequestState::Held | RequestState::Ready));
    let calendar = freeze::calendar(
        &app,
        &dev,
        berth_frontend::api::FreezeCalendarQuery {
            from: None,
            days: Some(28),
        },
    )
    .await
    .unwrap();
    let weekends = calendar
        .entries
        .iter()
        .filter(|e| e.freeze == "weekends")
        .count();
    assert!(
        (4..=5).contains(&weekends),
        "{weekends} weekends in four weeks"
    );
    let entry = calendar
        .entries
        .iter()
        .find(|e| e.freeze == "weekends")
        .unwrap();
    assert!(entry.clusters.contains(&"prod-shanghai-1".to_owned()));
    assert!(!entry.clusters.iter().any(|c| c.starts_with("dev-")));
    assert!(matches!(
        freeze::calendar(&app, &dev, berth_frontend::api::FreezeCalendarQuery { from: Some("soon".into()), days: Some(0) }).await,
        Err(berth::Error::Invalid(f)) if f.contains_key("from") && f.contains_key("days")
    ));
    // Whatever held it ends by itself: the job comes due when the window ends.
    if weekly.next.as_ref().is_none_or(|n| n.starts_at > now) {
        until(
            "the pause to end and the namespace to be provisioned",
            || async {
                berth::jobs::drain(&app).await.unwrap();
                (requests::get(&app, &admin, held.request.id)
                    .await
                    .unwrap()
                    .request
                    .state
                    == RequestState::Ready)
                    .then_some(())
            },
        )
        .await;
    }
}

#[sqlx::test(migrator = "berth::app::MIGRATOR")]
async fn two_replicas_pushing_at_once_both_land_by_rebuilding_on_the_new_head(_db: PgPool) {
    use berth::gitops::git::{self as g, Credentials, Edit, Remote, Target};
    let Some(host) = GitHost::start().await else {
        return;
    };
    let repo = host.repository("raced");
    let browse = Browse(&repo);
    // Two processes, each with its own cache, push to the same branch at the same time.
    let remote = |replica: usize| Remote {
        url: host.url("raced"),
        branch: "main".into(),
        credentials: Credentials::Basic {
            username: WRITER.0.into(),
            password: WRITER.1.into(),
        },
        ca_pem: Some(host.ca_pem.clone()),
        known_hosts: None,
        cache: host.dir.join(format!("cache-{replica}")),
    };
    // (Within one process Berth runs one operation per repository at a time.)
    let replica = |replica: usize| {
        let remote = remote(replica);
        std::thread::spawn(move || {
            for round in 0..6 {
                let folder = format!("clusters/east/namespaces/ns-{replica}-{round}");
                let files = [(
                    "namespace.yaml".to_owned(),
                    format!("# Written by Berth\nname: {replica}-{round}\n"),
                )]
                .into();
                let done = g::commit(
                    &remote,
                    &Target::Branch,
                    &[Edit::Folder {
                        path: folder,
                        files: Some(files),
                        claim: true,
                    }],
                    &format!("replica {replica} round {round}"),
                    "berth@localhost",
                )
                .expect("every push lands");
                assert!(!done.already_there);
            }
        })
    };
    let (a, b) = (replica(0), replica(1));
    a.join().unwrap();
    b.join().unwrap();
    for replica in 0..2 {
        for round in 0..6 {
            assert!(
                browse
                    .file(
                        "main",
                        &format!("clusters/east/namespaces/ns-{replica}-{round}/namespace.yaml")
                    )
                    .is_some(),
                "{replica}-{round} is on main"
            );
        }
    }
    // And a commit that finds its change already there commits nothing.
    let head = browse.head("main").unwrap();
    let again = g::commit(
        &remote(0),
        &Target::Branch,
        &[Edit::Folder {
            path: "clusters/east/namespaces/ns-0-0".into(),
            files: Some(
                [(
                    "namespace.yaml".to_owned(),
                    "# Written by Berth\nname: 0-0\n".to_owned(),
                )]
                .into(),
            ),
            claim: false,
        }],
        "again",
        "berth@localhost",
    )
    .unwrap();
    assert!(again.already_there);
    assert_eq!(again.commit, head);
    assert_eq!(browse.head("main").unwrap(), head);
}
