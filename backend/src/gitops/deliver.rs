//! The jobs of a GitOps cluster: an apply commits the namespace's folder (and any shared
//! policy the cluster's shared folder lacks), opens a merge request for a review branch, and
//! then waits — without counting failures — until the cluster has every object as committed;
//! only then is the namespace ready. A decommission removes the folder and waits until the
//! cluster no longer has the namespace. Each run starts by comparing the files with what the
//! last run committed, so a crash after a push commits nothing twice.

use std::{collections::BTreeMap, time::Duration};

use serde_json::{json, Value};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    files::{self, PathTemplate, Place},
    forge,
    git::{self, Edit},
};
use crate::{
    audit,
    auth::Ctx,
    fleet::connect,
    jobs::{Job, Outcome},
    tenancy::{
        objects,
        provision::{self, Facts},
    },
    App, Result,
};

/// A cluster's GitOps settings, as its jobs need them.
pub struct Target {
    pub cluster: String,
    pub repository: Uuid,
    pub branch: String,
    pub path: PathTemplate,
    pub shared: PathTemplate,
    pub review: bool,
}

/// The cluster's GitOps target, or None when it delivers directly.
pub async fn target(conn: &mut PgConnection, cluster_id: Uuid) -> Result<Option<Target>> {
    let row = sqlx::query!(
        r#"SELECT c.name, c.git_repository_id AS "repository?", c.git_path, c.git_shared_path, c.git_review,
                  r.branch AS "branch?"
           FROM clusters c LEFT JOIN git_repositories r ON r.id = c.git_repository_id
           WHERE c.id = $1 AND c.delivery = 'gitops'"#,
        cluster_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.and_then(|r| {
        Some(Target {
            cluster: r.name,
            repository: r.repository?,
            branch: r.branch?,
            path: PathTemplate::stored(&r.git_path?),
            shared: PathTemplate::stored(&r.git_shared_path?),
            review: r.git_review,
        })
    }))
}

/// What the last run committed for a namespace.
struct Committed {
    digest: Option<String>,
    commit: Option<String>,
    branch: Option<String>,
    path: Option<String>,
    review_url: Option<String>,
    committed_at: Option<OffsetDateTime>,
}

async fn committed(app: &App, namespace: Uuid) -> Result<Committed> {
    Ok(sqlx::query_as!(
        Committed,
        r#"SELECT git_digest AS digest, git_commit AS commit, git_branch AS branch, git_path AS path,
                  git_review_url AS review_url, git_committed_at AS committed_at
           FROM namespaces WHERE id = $1"#,
        namespace
    )
    .fetch_one(&app.db)
    .await?)
}

fn place<'a>(t: &'a Target, f: &'a Facts) -> Place<'a> {
    Place {
        cluster: &t.cluster,
        namespace: &f.name,
        team: &f.team,
        environment: &f.environment,
    }
}

/// The commit message: what, for which request, who asked and who approved, and the audit
/// event that recorded the decision.
async fn message(app: &App, f: &Facts, t: &Target, job: &Job, what: &str) -> Result<String> {
    let mut text = format!("Berth: {what} {} on {}\n\n", f.name, t.cluster);
    if let Some(request) = job.request_id {
        let r = sqlx::query!(
            r#"SELECT r.kind, u.email AS "requested_by?", d.email AS "decided_by?", r.matched_policy,
                      (SELECT max(a.id) FROM audit_events a WHERE a.target_type = 'namespace_request'
                         AND a.target_id = $1::uuid::text AND a.action = 'namespace_request.approved') AS audit_id
               FROM namespace_requests r
               LEFT JOIN users u ON u.id = r.requested_by
               LEFT JOIN users d ON d.id = r.decided_by
               WHERE r.id = $1"#,
            request
        )
        .fetch_one(&app.db)
        .await?;
        let approver = match (r.decided_by, r.matched_policy) {
            (Some(who), _) => who,
            (None, Some(policy)) => format!("policy \"{policy}\""),
            (None, None) => "nobody".into(),
        };
        text.push_str(&format!(
            "Request: {request} ({})\nRequested by: {}\nApproved by: {approver}\n",
            r.kind,
            r.requested_by.as_deref().unwrap_or("a deleted user")
        ));
        if let Some(id) = r.audit_id {
            text.push_str(&format!("Audit event: {id}\n"));
        }
    } else {
        let id = sqlx::query_scalar!(
            "SELECT max(id) FROM audit_events WHERE target_type = 'namespace' AND target_id = $1::uuid::text",
            f.id
        )
        .fetch_one(&app.db)
        .await?;
        if let Some(id) = id {
            text.push_str(&format!("Audit event: {id}\n"));
        }
    }
    text.push_str(&format!("Team: {}\n", f.team));
    Ok(text)
}

/// The review branch of one change: the request's, or the job's when no request made it.
fn review_branch(f: &Facts, job: &Job) -> String {
    let key = match job.request_id {
        Some(r) => r.simple().to_string()[..8].to_owned(),
        None => format!("job{}", job.id),
    };
    format!("berth/{}-{key}", f.name)
}

/// The merge request for a review branch, when the repository names its host's API.
async fn open_review(
    app: &App,
    t: &Target,
    branch: &str,
    title: &str,
    body: &str,
) -> Result<Option<std::result::Result<String, String>>> {
    let r = sqlx::query!(
        r#"SELECT forge AS "forge?: berth_frontend::api::Forge", forge_api_url, forge_project, forge_token_sealed
           FROM git_repositories WHERE id = $1"#,
        t.repository
    )
    .fetch_one(&app.db)
    .await?;
    let (Some(forge), Some(api_url), Some(project), Some(token)) = (
        r.forge,
        r.forge_api_url,
        r.forge_project,
        r.forge_token_sealed,
    ) else {
        return Ok(None);
    };
    use secrecy::ExposeSecret;
    let host = forge::Host {
        forge,
        api_url,
        project,
        token: app.sealer.open(&token)?.expose_secret().to_owned(),
    };
    Ok(Some(
        forge::open(
            &host,
            &forge::Proposal {
                branch,
                base: &t.branch,
                title,
                body,
            },
        )
        .await,
    ))
}

/// Seconds until the next look at the cluster: soon after the commit, then less often.
fn patience(since: Option<OffsetDateTime>) -> Duration {
    let waited = since
        .map(|t| (OffsetDateTime::now_utc() - t).whole_seconds().max(0) as u64)
        .unwrap_or(0);
    Duration::from_secs((1 + waited / 10).min(30))
}

async fn set_status(app: &App, namespace: Uuid, status: &str) -> Result<()> {
    sqlx::query!(
        "UPDATE namespaces SET delivery_status = $2 WHERE id = $1",
        namespace,
        status
    )
    .execute(&app.db)
    .await?;
    Ok(())
}

/// An apply on a GitOps cluster: commit what differs, then wait for the sync.
pub async fn apply(app: &App, job: &Job, f: &Facts, t: &Target) -> Result<Outcome> {
    let manifests = match provision::desired(app, f) {
        Ok(m) => m,
        Err(reason) => return Ok(Outcome::Retry(reason)),
    };
    let at = place(t, f);
    let folder = t.path.render(&at);
    let shared_folder = t.shared.render(&at);
    let own = files::folder(
        manifests
            .iter()
            .filter(|(k, _, _)| !provision::shared(k))
            .map(|(k, n, m)| (*k, n.as_str(), m)),
    )?;
    let recorded = provision::shared_digests(app, f.cluster_id).await?;
    let mut shared_files = BTreeMap::new();
    for (kind, name, manifest) in manifests.iter().filter(|(k, _, _)| provision::shared(k)) {
        if recorded.get(&(kind.to_string(), name.clone())) != Some(&provision::digest(manifest)) {
            shared_files.insert(files::file_name(kind, name), Some(files::yaml(manifest)?));
        }
    }
    let digest = files::digest(&own);
    let last = committed(app, f.id).await?;
    let fresh = last.digest.as_deref() == Some(digest.as_str())
        && last.path.as_deref() == Some(folder.as_str())
        && last.commit.is_some()
        && shared_files.is_empty();
    let (commit, branch, review_url, committed_at) = if fresh {
        (
            last.commit.clone().unwrap_or_default(),
            last.branch.clone().unwrap_or_default(),
            last.review_url.clone(),
            last.committed_at,
        )
    } else {
        let mut edits = vec![Edit::Folder {
            path: folder.clone(),
            files: Some(own.clone()),
            claim: last.path.as_deref() != Some(folder.as_str()),
        }];
        if let Some(old) = last.path.as_ref().filter(|p| **p != folder) {
            edits.push(Edit::Folder {
                path: old.clone(),
                files: None,
                claim: false,
            });
        }
        if !shared_files.is_empty() {
            edits.push(Edit::Listed {
                path: shared_folder.clone(),
                files: shared_files.clone(),
            });
        }
        let what = if last.commit.is_none() {
            "provision"
        } else {
            "update"
        };
        let text = message(app, f, t, job, what).await?;
        let target = if t.review {
            git::Target::Review {
                branch: review_branch(f, job),
            }
        } else {
            git::Target::Branch
        };
        let author = app.config.git_author_email.clone();
        let body = text.clone();
        let pushed = super::run(app, t.repository, move |remote| {
            git::commit(remote, &target, &edits, &body, &author)
        })
        .await?;
        let pushed = match pushed {
            Ok(p) => p,
            Err(e) => {
                let reason = format!("Git: {e}");
                set_status(app, f.id, &reason).await?;
                return Ok(Outcome::Retry(reason));
            }
        };
        let mut review_url = None;
        let mut status = format!(
            "committed {} to {}; waiting for the cluster to sync",
            short(&pushed.commit),
            pushed.branch
        );
        if t.review && !pushed.already_there {
            let title = text.lines().next().unwrap_or_default().to_owned();
            match open_review(app, t, &pushed.branch, &title, &text).await? {
                Some(Ok(url)) => {
                    status = format!("waiting for {url} to be merged");
                    review_url = Some(url);
                }
                Some(Err(why)) => {
                    status = format!(
                        "pushed branch {} for review; no merge request: {why}",
                        pushed.branch
                    );
                }
                None => {
                    status = format!(
                        "pushed branch {} for review: merge it into {} to deliver",
                        pushed.branch, t.branch
                    );
                }
            }
        }
        let mut tx = app.db.begin().await?;
        sqlx::query!(
            "UPDATE namespaces SET git_digest = $2, git_commit = $3, git_branch = $4, git_path = $5,
                    git_review_url = $6, git_committed_at = now(), delivery_status = $7
             WHERE id = $1",
            f.id,
            digest,
            pushed.commit,
            pushed.branch,
            folder,
            review_url,
            status
        )
        .execute(&mut *tx)
        .await?;
        let kinds: Vec<String> = manifests.iter().map(|m| m.0.to_owned()).collect();
        let names: Vec<String> = manifests.iter().map(|m| m.1.clone()).collect();
        sqlx::query!(
            "INSERT INTO namespace_objects (namespace_id, kind, name, outcome, error, at)
             SELECT $1, k, n, 'committed', NULL, now() FROM unnest($2::text[], $3::text[]) AS t(k, n)
             ON CONFLICT (namespace_id, kind, name) DO UPDATE SET outcome = 'committed', error = NULL, at = now()",
            f.id,
            &kinds,
            &names
        )
        .execute(&mut *tx)
        .await?;
        if let Some(request) = job.request_id {
            sqlx::query!(
                "UPDATE namespace_requests SET git_commit = $2, git_branch = $3, git_review_url = $4, updated_at = now()
                 WHERE id = $1",
                request,
                pushed.commit,
                pushed.branch,
                review_url
            )
            .execute(&mut *tx)
            .await?;
        }
        audit::record(
            &mut tx,
            &Ctx::system("berth-worker"),
            audit::Entry::new("namespace.committed", "namespace", f.id)
                .team(f.team_id)
                .after(
                    json!({"namespace": f.name, "repository_path": folder, "commit": pushed.commit,
                              "branch": pushed.branch, "review_url": review_url,
                              "shared_files": shared_files.keys().collect::<Vec<_>>(),
                              "already_there": pushed.already_there}),
                ),
        )
        .await?;
        tx.commit().await?;
        // The shared policies are in Git now; the next namespace does not commit them again.
        let shared_outcomes: Vec<(&'static str, String, Option<String>)> = manifests
            .iter()
            .filter(|(k, n, _)| shared_files.contains_key(&files::file_name(k, n)))
            .map(|(k, n, _)| (*k, n.clone(), None))
            .collect();
        let shared_manifests: Vec<(&'static str, String, Value)> = manifests
            .iter()
            .filter(|(k, n, _)| shared_files.contains_key(&files::file_name(k, n)))
            .cloned()
            .collect();
        provision::record_shared(app, f.cluster_id, &shared_manifests, &shared_outcomes).await?;
        (
            pushed.commit,
            pushed.branch,
            review_url,
            Some(OffsetDateTime::now_utc()),
        )
    };
    synced(
        app,
        f,
        t,
        &manifests,
        &commit,
        &branch,
        review_url.as_deref(),
        committed_at,
    )
    .await
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// Done once the cluster has every object as committed; otherwise waits, saying for what.
#[allow(clippy::too_many_arguments)]
async fn synced(
    app: &App,
    f: &Facts,
    t: &Target,
    manifests: &[(&'static str, String, Value)],
    commit: &str,
    branch: &str,
    review_url: Option<&str>,
    committed_at: Option<OffsetDateTime>,
) -> Result<Outcome> {
    let client = match connect::client(app, f.cluster_id).await {
        Ok(c) => c,
        Err(e) => return Ok(Outcome::Retry(format!("cannot reach the cluster: {e}"))),
    };
    let mut behind = Vec::new();
    for (kind, name, manifest) in manifests {
        match provision::api(&client, &f.name, manifest)
            .get_opt(name)
            .await
        {
            Ok(Some(live)) => {
                let live = serde_json::to_value(&live).map_err(anyhow::Error::from)?;
                if !objects::differences(manifest, &live).is_empty() {
                    behind.push(format!("{kind} {name} differs"));
                }
            }
            Ok(None) => behind.push(format!("{kind} {name} missing")),
            Err(e) => return Ok(Outcome::Retry(provision::describe(&e))),
        }
    }
    if behind.is_empty() {
        sqlx::query!(
            "UPDATE namespaces SET delivery_status = NULL WHERE id = $1",
            f.id
        )
        .execute(&app.db)
        .await?;
        sqlx::query!(
            "UPDATE namespace_objects SET outcome = 'applied', at = now() WHERE namespace_id = $1 AND outcome = 'committed'",
            f.id
        )
        .execute(&app.db)
        .await?;
        provision::record_proof(app, &client, f).await?;
        return Ok(Outcome::Done);
    }
    let waiting_for_merge = branch != t.branch && {
        let commit = commit.to_owned();
        !matches!(
            super::run(app, t.repository, move |remote| git::merged(
                remote, &commit
            ))
            .await?,
            Ok(true)
        )
    };
    let status = if waiting_for_merge {
        match review_url {
            Some(url) => format!("waiting for {url} to be merged"),
            None => format!("waiting for branch {branch} to be merged into {}", t.branch),
        }
    } else {
        format!(
            "committed {} to {}; waiting for the cluster to sync: {}",
            short(commit),
            t.branch,
            summary(&behind)
        )
    };
    set_status(app, f.id, &status).await?;
    Ok(Outcome::Wait(patience(committed_at)))
}

fn summary(items: &[String]) -> String {
    let mut text = items.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 3 {
        text.push_str(&format!(" and {} more", items.len() - 3));
    }
    text
}

/// A decommission on a GitOps cluster: remove the folder, then wait until the cluster no
/// longer has the namespace (the syncer prunes it).
pub async fn delete(app: &App, job: &Job, f: &Facts, t: &Target) -> Result<Outcome> {
    const REMOVED: &str = "removed";
    let last = committed(app, f.id).await?;
    let folder = last
        .path
        .clone()
        .unwrap_or_else(|| t.path.render(&place(t, f)));
    let (commit, branch, since) = if last.digest.as_deref() == Some(REMOVED) {
        (
            last.commit.clone().unwrap_or_default(),
            last.branch.clone().unwrap_or_default(),
            last.committed_at,
        )
    } else {
        let text = message(app, f, t, job, "decommission").await?;
        let target = if t.review {
            git::Target::Review {
                branch: review_branch(f, job),
            }
        } else {
            git::Target::Branch
        };
        let edits = vec![Edit::Folder {
            path: folder.clone(),
            files: None,
            claim: false,
        }];
        let author = app.config.git_author_email.clone();
        let body = text.clone();
        let pushed = match super::run(app, t.repository, move |remote| {
            git::commit(remote, &target, &edits, &body, &author)
        })
        .await?
        {
            Ok(p) => p,
            Err(e) => {
                let reason = format!("Git: {e}");
                set_status(app, f.id, &reason).await?;
                return Ok(Outcome::Retry(reason));
            }
        };
        let mut review_url = None;
        if t.review && !pushed.already_there {
            let title = text.lines().next().unwrap_or_default().to_owned();
            if let Some(Ok(url)) = open_review(app, t, &pushed.branch, &title, &text).await? {
                review_url = Some(url);
            }
        }
        let mut tx = app.db.begin().await?;
        sqlx::query!(
            "UPDATE namespaces SET git_digest = $2, git_commit = $3, git_branch = $4, git_review_url = $5,
                    git_committed_at = now(), delivery_status = $6
             WHERE id = $1",
            f.id,
            REMOVED,
            pushed.commit,
            pushed.branch,
            review_url,
            format!(
                "removed in {} on {}; waiting for the cluster to delete the namespace",
                short(&pushed.commit),
                pushed.branch
            )
        )
        .execute(&mut *tx)
        .await?;
        if let Some(request) = job.request_id {
            sqlx::query!(
                "UPDATE namespace_requests SET git_commit = $2, git_branch = $3, git_review_url = $4, updated_at = now()
                 WHERE id = $1",
                request,
                pushed.commit,
                pushed.branch,
                review_url
            )
            .execute(&mut *tx)
            .await?;
        }
        audit::record(
            &mut tx,
            &Ctx::system("berth-worker"),
            audit::Entry::new("namespace.committed", "namespace", f.id)
                .team(f.team_id)
                .after(
                    json!({"namespace": f.name, "removed": folder, "commit": pushed.commit,
                              "branch": pushed.branch, "review_url": review_url}),
                ),
        )
        .await?;
        tx.commit().await?;
        (
            pushed.commit,
            pushed.branch,
            Some(OffsetDateTime::now_utc()),
        )
    };
    let client = match connect::client(app, f.cluster_id).await {
        Ok(c) => c,
        Err(e) => return Ok(Outcome::Retry(format!("cannot reach the cluster: {e}"))),
    };
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
    match namespaces.get_opt(&f.name).await {
        Ok(None) => {
            sqlx::query!(
                "UPDATE namespaces SET delivery_status = NULL WHERE id = $1",
                f.id
            )
            .execute(&app.db)
            .await?;
            Ok(Outcome::Done)
        }
        Ok(Some(_)) => {
            let status = if branch != t.branch {
                format!("waiting for branch {branch} (the folder's removal) to be merged")
            } else {
                format!(
                    "removed in {} on {}; waiting for the cluster to delete the namespace",
                    short(&commit),
                    branch
                )
            };
            set_status(app, f.id, &status).await?;
            Ok(Outcome::Wait(patience(since)))
        }
        Err(e) => Ok(Outcome::Retry(provision::describe(&e))),
    }
}

/// Removes shared policy files nothing uses any more from the cluster's shared folder;
/// answers whether the repository's branch no longer has them (a review branch still waits
/// for its merge, and the prune is done once it is pushed).
pub async fn remove_shared(
    app: &App,
    job: &Job,
    t: &Target,
    remove: &[(String, String)],
) -> Result<std::result::Result<String, String>> {
    let folder = t.shared.render(&Place {
        cluster: &t.cluster,
        namespace: "",
        team: "",
        environment: "",
    });
    let names: BTreeMap<String, Option<String>> = remove
        .iter()
        .map(|(k, n)| (files::file_name(k, n), None))
        .collect();
    let edits = vec![Edit::Listed {
        path: folder,
        files: names,
    }];
    let target = if t.review {
        git::Target::Review {
            branch: format!("berth/prune-{}-job{}", t.cluster, job.id),
        }
    } else {
        git::Target::Branch
    };
    let text = format!(
        "Berth: remove unused shared policies from {}\n\n{}\n",
        t.cluster,
        remove
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let author = app.config.git_author_email.clone();
    Ok(super::run(app, t.repository, move |remote| {
        git::commit(remote, &target, &edits, &text, &author)
    })
    .await?
    .map(|c| c.commit)
    .map_err(|e| format!("Git: {e}")))
}
