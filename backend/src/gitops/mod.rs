//! GitOps delivery: for clusters that Argo CD or Flux own, Berth commits a namespace's
//! objects to a Git repository instead of applying them, and marks the namespace ready only
//! once the cluster has what it committed.
//!
//! - `repositories`: the repositories admins register (credentials sealed, never returned)
//!   and each cluster's delivery mode;
//! - `files`: what a namespace's folder holds (pure);
//! - `git`: libgit2 — fetch, commit, push with retries on a lost race (blocking);
//! - `deliver`: the job side — commit, open a merge request, wait for the sync;
//! - `forge`: merge requests on GitHub, GitLab and Gitea;
//! - `simulated`: the demo's stand-in for Flux on simulated clusters.
//!
//! A dead Git host fails only the jobs of the clusters that use it: the jobs retry with
//! backoff like a dead cluster's, and at most one Git operation per repository runs at a
//! time in a process (the host's race with other replicas is settled by fetch and retry).

pub mod deliver;
pub mod files;
pub mod forge;
pub mod git;
pub mod repositories;
pub mod simulated;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use berth_frontend::api::GitAuth;
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::{App, Error, Result};

/// One lock per repository, so a process runs one Git operation on a repository (and its
/// cache) at a time.
#[derive(Clone, Default)]
pub struct Locks(Arc<Mutex<HashMap<Uuid, Arc<Mutex<()>>>>>);

impl Locks {
    fn of(&self, repo: Uuid) -> Arc<Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(repo).or_default().clone()
    }
}

/// A repository's remote, its credentials unsealed for one operation.
pub(crate) async fn remote(app: &App, repo: Uuid) -> Result<git::Remote> {
    let r = sqlx::query!(
        r#"SELECT url, branch, auth AS "auth: GitAuth", username, secret_sealed, ca_pem, known_hosts
           FROM git_repositories WHERE id = $1"#,
        repo
    )
    .fetch_optional(&app.db)
    .await?
    .ok_or(Error::NotFound("git repository"))?;
    let secret = match &r.secret_sealed {
        Some(s) => Some(app.sealer.open(s)?.expose_secret().to_owned()),
        None => None,
    };
    let username = r.username.clone().unwrap_or_else(|| "git".into());
    let credentials = match (r.auth, secret) {
        (GitAuth::Basic, Some(password)) => git::Credentials::Basic { username, password },
        (GitAuth::SshKey, Some(key)) => git::Credentials::SshKey { username, key },
        _ => git::Credentials::None,
    };
    Ok(git::Remote {
        url: r.url,
        branch: r.branch,
        credentials,
        ca_pem: r.ca_pem,
        known_hosts: r.known_hosts,
        cache: app.config.git_cache().join(format!("{repo}.git")),
    })
}

/// Runs a blocking Git operation on `repo` on the blocking pool, one at a time per
/// repository in this process, within `BERTH_GIT_TIMEOUT_SECONDS`.
pub(crate) async fn run<T: Send + 'static>(
    app: &App,
    repo: Uuid,
    op: impl FnOnce(&git::Remote) -> std::result::Result<T, git::GitError> + Send + 'static,
) -> Result<std::result::Result<T, git::GitError>> {
    let remote = remote(app, repo).await?;
    let lock = app.git_locks.of(repo);
    let timeout = Duration::from_secs(app.config.git_timeout_seconds);
    let work = tokio::task::spawn_blocking(move || {
        // Held on the blocking thread, so an operation cut off by the timeout below still
        // keeps the cache to itself until libgit2 returns.
        let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
        op(&remote)
    });
    match tokio::time::timeout(timeout, work).await {
        Ok(joined) => Ok(joined.map_err(anyhow::Error::from)?),
        Err(_) => Ok(Err(git::GitError::Failed(format!(
            "the Git host did not answer within {} s",
            timeout.as_secs()
        )))),
    }
}
