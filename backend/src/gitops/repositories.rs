//! The Git repositories admins register, and how each cluster gets its namespaces (direct
//! or through one of them). Rules:
//! - only admins see or change repositories; nobody ever gets a credential back;
//! - a URL's scheme fits its authentication (HTTPS for basic, SSH for a key, plain HTTP only
//!   on loopback), an SSH repository names its host keys, a CA is PEM;
//! - a repository a cluster delivers through cannot be removed;
//! - a cluster with live Berth namespaces may change its mode and its namespaces' folder
//!   (the next apply of each moves it), not its repository or shared folder.

use berth_frontend::api::{
    Cluster, Delivery, DeliveryInput, DeliveryMode, Forge, GitAuth, GitCheck, GitRepository,
    NewGitRepository, Scope,
};
use serde_json::json;
use uuid::Uuid;

use super::{files::PathTemplate, git};
use crate::{
    audit,
    auth::Ctx,
    error::FieldErrors,
    fields::{collect, short_text, word},
    fleet::ClusterName,
    jobs, App, Error, Result,
};

/// A repository URL Berth can push to, checked against its authentication.
fn parse_url(field: &str, raw: &str, auth: Option<GitAuth>) -> Result<String> {
    let url = raw.trim();
    if url.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    if url.len() > 500 || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::invalid(
            field,
            "must be one URL without spaces, at most 500 characters",
        ));
    }
    let scp_like = !url.contains("://") && url.contains('@') && url.contains(':');
    let (scheme, host) = if scp_like {
        let host = url.split('@').nth(1).and_then(|h| h.split(':').next());
        ("ssh", host.map(str::to_owned))
    } else {
        match reqwest::Url::parse(url) {
            Ok(u) => {
                if u.password().is_some() || (!u.username().is_empty() && u.scheme() != "ssh") {
                    return Err(Error::invalid(
                        field,
                        "must not carry credentials; give them as username and secret",
                    ));
                }
                let scheme = match u.scheme() {
                    "https" => "https",
                    "http" => "http",
                    "ssh" => "ssh",
                    _ => {
                        return Err(Error::invalid(
                            field,
                            "must be https://…, ssh://… or user@host:path",
                        ))
                    }
                };
                (scheme, u.host_str().map(str::to_owned))
            }
            Err(_) => {
                return Err(Error::invalid(
                    field,
                    "must be https://…, ssh://… or user@host:path",
                ))
            }
        }
    };
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return Err(Error::invalid(field, "names no host"));
    };
    if scheme == "http" && !matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]") {
        return Err(Error::invalid(
            field,
            "must be https (plain http only on loopback)",
        ));
    }
    match (auth, scheme) {
        (Some(GitAuth::SshKey), s) if s != "ssh" => Err(Error::invalid(
            field,
            "an SSH key needs an ssh://… or user@host:path URL",
        )),
        (Some(GitAuth::Basic), "ssh") => Err(Error::invalid(
            field,
            "a user name and password need an https URL",
        )),
        _ => Ok(url.to_owned()),
    }
}

/// A branch name Git accepts.
fn parse_branch(field: &str, raw: &str) -> Result<String> {
    let branch = raw.trim();
    if branch.is_empty() || branch.len() > 100 {
        return Err(Error::invalid(field, "must be 1–100 characters"));
    }
    if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        return Err(Error::invalid(field, "is not a valid Git branch name"));
    }
    Ok(branch.to_owned())
}

/// PEM certificates, at least one.
fn parse_ca(field: &str, raw: &str) -> Result<String> {
    let blocks = pem::parse_many(raw.trim()).map_err(|_| Error::invalid(field, "is not PEM"))?;
    if blocks.is_empty() || blocks.iter().any(|b| b.tag() != "CERTIFICATE") {
        return Err(Error::invalid(
            field,
            "must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(raw.trim().to_owned() + "\n")
}

/// What an input parses to.
struct Parsed {
    name: String,
    url: String,
    branch: String,
    auth: GitAuth,
    username: Option<String>,
    secret: Option<String>,
    ca_pem: Option<String>,
    known_hosts: Option<String>,
    forge: Option<(Forge, String, String)>,
    forge_token: Option<String>,
}

fn filled(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Parses an input; `stored` says which secrets the repository already has (an update may
/// leave them out to keep them).
fn parse(input: &NewGitRepository, stored: (bool, bool)) -> Result<Parsed> {
    let mut errors = FieldErrors::new();
    let name = collect(
        &mut errors,
        ClusterName::parse("name", &input.name).map(|n| n.as_str().to_owned()),
    );
    let auth = collect(&mut errors, word::<GitAuth>("auth", &input.auth));
    let url = collect(&mut errors, parse_url("url", &input.url, auth));
    let branch = collect(
        &mut errors,
        parse_branch("branch", filled(&input.branch).unwrap_or("main")),
    );
    let username = filled(&input.username).map(str::to_owned);
    if let Some(u) = &username {
        collect(&mut errors, short_text("username", u, 100));
    }
    let secret = filled(&input.secret).map(str::to_owned);
    match auth {
        Some(GitAuth::None) if secret.is_some() => {
            errors.insert(
                "secret".into(),
                "a repository without authentication takes no secret".into(),
            );
        }
        Some(GitAuth::Basic) => {
            if username.is_none() {
                errors.insert(
                    "username".into(),
                    "is required with a password or token".into(),
                );
            }
            if secret.is_none() && !stored.0 {
                errors.insert("secret".into(), "give the password or access token".into());
            }
        }
        Some(GitAuth::SshKey) => match &secret {
            None if !stored.0 => {
                errors.insert("secret".into(), "give the SSH private key".into());
            }
            Some(key) if !key.contains("PRIVATE KEY-----") => {
                errors.insert(
                    "secret".into(),
                    "must be a private key in OpenSSH or PEM form (-----BEGIN … PRIVATE KEY-----)"
                        .into(),
                );
            }
            _ => {}
        },
        Some(GitAuth::None) | None => {}
    }
    let known_hosts = filled(&input.known_hosts).map(|k| k.to_owned() + "\n");
    if let Some(k) = &known_hosts {
        if let Err(why) = git::check_known_hosts(k) {
            errors.insert("known_hosts".into(), why);
        }
    }
    if auth == Some(GitAuth::SshKey) && known_hosts.is_none() {
        errors.insert(
            "known_hosts".into(),
            "an SSH repository needs its host keys (ssh-keyscan -p PORT HOST); Berth does not trust on first use"
                .into(),
        );
    }
    let ca_pem = filled(&input.ca_pem).and_then(|c| collect(&mut errors, parse_ca("ca_pem", c)));
    let forge = match (
        filled(&input.forge),
        filled(&input.forge_api_url),
        filled(&input.forge_project),
    ) {
        (None, None, None) => None,
        (Some(f), api, project) => {
            let forge = collect(&mut errors, word::<Forge>("forge", f));
            let api = match api {
                None => {
                    errors.insert("forge_api_url".into(), "is required with a forge".into());
                    None
                }
                Some(a) => {
                    let ok = reqwest::Url::parse(a).is_ok_and(|u| {
                        u.scheme() == "https"
                            || (u.scheme() == "http"
                                && matches!(u.host_str(), Some("127.0.0.1" | "localhost")))
                    });
                    if !ok {
                        errors.insert(
                            "forge_api_url".into(),
                            "must be an https URL such as https://api.github.com or https://gitlab.example.com/api/v4".into(),
                        );
                    }
                    ok.then(|| a.trim_end_matches('/').to_owned())
                }
            };
            let project = match project {
                None => {
                    errors.insert(
                        "forge_project".into(),
                        "is required with a forge (owner/repo, or GitLab's project path)".into(),
                    );
                    None
                }
                Some(p) => collect(&mut errors, short_text("forge_project", p, 200)),
            };
            if filled(&input.forge_token).is_none() && !stored.1 {
                errors.insert(
                    "forge_token".into(),
                    "give an API token that may open merge requests".into(),
                );
            }
            match (forge, api, project) {
                (Some(f), Some(a), Some(p)) => Some((f, a, p)),
                _ => None,
            }
        }
        (None, _, _) => {
            errors.insert(
                "forge".into(),
                "name the host (github, gitlab or gitea) or leave its API out".into(),
            );
            None
        }
    };
    let (Some(name), Some(auth), Some(url), Some(branch)) = (name, auth, url, branch) else {
        return Err(Error::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    Ok(Parsed {
        name,
        url,
        branch,
        auth,
        username,
        secret,
        ca_pem,
        known_hosts,
        forge_token: if forge.is_some() {
            filled(&input.forge_token).map(str::to_owned)
        } else {
            None
        },
        forge,
    })
}

/// Every repository, with the clusters that use it. Admins only.
pub async fn list(app: &App, ctx: &Ctx) -> Result<Vec<GitRepository>> {
    ctx.require_admin(Scope::Read)?;
    load(app, None).await
}

pub async fn get(app: &App, ctx: &Ctx, name: &str) -> Result<GitRepository> {
    ctx.require_admin(Scope::Read)?;
    load(app, Some(name))
        .await?
        .pop()
        .ok_or(Error::NotFound("git repository"))
}

async fn load(app: &App, only: Option<&str>) -> Result<Vec<GitRepository>> {
    let rows = sqlx::query!(
        r#"SELECT r.id, r.name, r.url, r.branch, r.auth AS "auth: GitAuth", r.username,
                  r.secret_sealed IS NOT NULL AS "has_secret!", r.ca_pem, r.known_hosts,
                  r.forge AS "forge: Forge", r.forge_api_url, r.forge_project,
                  array(SELECT c.name FROM clusters c WHERE c.git_repository_id = r.id ORDER BY c.name) AS "clusters!"
           FROM git_repositories r WHERE $1::text IS NULL OR r.name = $1 ORDER BY r.name"#,
        only
    )
    .fetch_all(&app.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| GitRepository {
            id: r.id,
            name: r.name,
            url: r.url,
            branch: r.branch,
            auth: r.auth,
            username: r.username,
            has_secret: r.has_secret,
            ca_pem: r.ca_pem,
            known_hosts: r.known_hosts,
            forge: r.forge,
            forge_api_url: r.forge_api_url,
            forge_project: r.forge_project,
            clusters: r.clusters,
        })
        .collect())
}

/// What the audit trail keeps of a repository: everything but credentials.
fn audit_view(r: &GitRepository) -> serde_json::Value {
    json!({"name": r.name, "url": r.url, "branch": r.branch, "auth": r.auth, "username": r.username,
           "ca": r.ca_pem.is_some(), "known_hosts": r.known_hosts.is_some(), "forge": r.forge,
           "forge_api_url": r.forge_api_url, "forge_project": r.forge_project})
}

pub async fn create(app: &App, ctx: &Ctx, input: NewGitRepository) -> Result<GitRepository> {
    ctx.require_admin(Scope::Approve)?;
    let p = parse(&input, (false, false))?;
    let secret = p
        .secret
        .as_deref()
        .map(|s| app.sealer.seal(s))
        .transpose()?;
    let token = p
        .forge_token
        .as_deref()
        .map(|s| app.sealer.seal(s))
        .transpose()?;
    let (forge, api, project) = match &p.forge {
        Some((f, a, pr)) => (Some(*f), Some(a.clone()), Some(pr.clone())),
        None => (None, None, None),
    };
    let mut tx = app.db.begin().await?;
    sqlx::query!(
        "INSERT INTO git_repositories (id, name, url, branch, auth, username, secret_sealed, ca_pem, known_hosts,
                                       forge, forge_api_url, forge_project, forge_token_sealed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        Uuid::new_v4(),
        p.name,
        p.url,
        p.branch,
        p.auth as GitAuth,
        p.username,
        secret,
        p.ca_pem,
        p.known_hosts,
        forge as Option<Forge>,
        api,
        project,
        token
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| Error::from_unique(e, "git_repositories_name_key", "name", "a repository with this name is registered"))?;
    let created = load_in(&mut tx, &p.name).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("git_repository.registered", "git_repository", &created.name)
            .after(audit_view(&created)),
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// Replaces a repository's settings; a secret or token left out is kept.
pub async fn update(
    app: &App,
    ctx: &Ctx,
    name: &str,
    input: NewGitRepository,
) -> Result<GitRepository> {
    ctx.require_admin(Scope::Approve)?;
    let before = get(app, ctx, name).await?;
    let has_token = sqlx::query_scalar!(
        r#"SELECT forge_token_sealed IS NOT NULL AS "t!" FROM git_repositories WHERE id = $1"#,
        before.id
    )
    .fetch_one(&app.db)
    .await?;
    // A repository keeps its name: clusters and audit rows refer to it.
    let input = NewGitRepository {
        name: before.name.clone(),
        ..input
    };
    let same_auth = input.auth.trim() == before.auth.as_str();
    let p = parse(&input, (before.has_secret && same_auth, has_token))?;
    let secret = p
        .secret
        .as_deref()
        .map(|s| app.sealer.seal(s))
        .transpose()?;
    let token = p
        .forge_token
        .as_deref()
        .map(|s| app.sealer.seal(s))
        .transpose()?;
    let (forge, api, project) = match &p.forge {
        Some((f, a, pr)) => (Some(*f), Some(a.clone()), Some(pr.clone())),
        None => (None, None, None),
    };
    let mut tx = app.db.begin().await?;
    sqlx::query!(
        "UPDATE git_repositories SET url = $2, branch = $3, auth = $4, username = $5,
                secret_sealed = CASE WHEN $4 = 'none' THEN NULL ELSE coalesce($6, secret_sealed) END,
                ca_pem = $7, known_hosts = $8, forge = $9, forge_api_url = $10, forge_project = $11,
                forge_token_sealed = CASE WHEN $9::text IS NULL THEN NULL ELSE coalesce($12, forge_token_sealed) END,
                updated_at = now()
         WHERE id = $1",
        before.id,
        p.url,
        p.branch,
        p.auth as GitAuth,
        p.username,
        secret,
        p.ca_pem,
        p.known_hosts,
        forge as Option<Forge>,
        api,
        project,
        token
    )
    .execute(&mut *tx)
    .await?;
    let after = load_in(&mut tx, &before.name).await?;
    let mut view = audit_view(&after);
    if p.secret.is_some() {
        view["secret_changed"] = json!(true);
    }
    if p.forge_token.is_some() {
        view["forge_token_changed"] = json!(true);
    }
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("git_repository.updated", "git_repository", &before.name)
            .before(audit_view(&before))
            .after(view),
    )
    .await?;
    tx.commit().await?;
    // The branch or URL may have changed: the cache is refetched from scratch.
    let _ = std::fs::remove_dir_all(app.config.git_cache().join(format!("{}.git", before.id)));
    Ok(after)
}

async fn load_in(tx: &mut sqlx::PgConnection, name: &str) -> Result<GitRepository> {
    let r = sqlx::query!(
        r#"SELECT r.id, r.name, r.url, r.branch, r.auth AS "auth: GitAuth", r.username,
                  r.secret_sealed IS NOT NULL AS "has_secret!", r.ca_pem, r.known_hosts,
                  r.forge AS "forge: Forge", r.forge_api_url, r.forge_project,
                  array(SELECT c.name FROM clusters c WHERE c.git_repository_id = r.id ORDER BY c.name) AS "clusters!"
           FROM git_repositories r WHERE r.name = $1"#,
        name
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(GitRepository {
        id: r.id,
        name: r.name,
        url: r.url,
        branch: r.branch,
        auth: r.auth,
        username: r.username,
        has_secret: r.has_secret,
        ca_pem: r.ca_pem,
        known_hosts: r.known_hosts,
        forge: r.forge,
        forge_api_url: r.forge_api_url,
        forge_project: r.forge_project,
        clusters: r.clusters,
    })
}

pub async fn remove(app: &App, ctx: &Ctx, name: &str) -> Result<()> {
    ctx.require_admin(Scope::Approve)?;
    let before = get(app, ctx, name).await?;
    if !before.clusters.is_empty() {
        return Err(Error::conflict(
            "name",
            format!(
                "clusters deliver through this repository ({}); switch them first",
                before.clusters.join(", ")
            ),
        ));
    }
    let mut tx = app.db.begin().await?;
    // A cluster that took the repository since the check above makes the delete fail on its
    // foreign key: a conflict, not a 500.
    sqlx::query!("DELETE FROM git_repositories WHERE id = $1", before.id)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            Error::from_unique(
                e,
                "clusters_git_repository_id_fkey",
                "name",
                "a cluster now delivers through this repository",
            )
        })?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("git_repository.removed", "git_repository", name)
            .before(audit_view(&before)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Reaches the repository and reads its branch's head: the credentials and the host's
/// identity are checked as a commit would check them.
pub async fn check(app: &App, ctx: &Ctx, name: &str) -> Result<GitCheck> {
    ctx.require_admin(Scope::Approve)?;
    let repo = get(app, ctx, name).await?;
    let outcome = super::run(app, repo.id, git::head).await?;
    Ok(match outcome {
        Ok(head) => GitCheck {
            repository: repo.name,
            reachable: true,
            error: head.is_none().then(|| {
                format!(
                    "the branch {} does not exist yet; the first commit makes it",
                    repo.branch
                )
            }),
            head,
        },
        Err(e) => GitCheck {
            repository: repo.name,
            reachable: false,
            head: None,
            error: Some(e.to_string()),
        },
    })
}

/// Before a cluster delivers through a repository: the credentials may push, and the
/// folders its namespaces and shared policies will take are free (or Berth's already).
async fn check_target(app: &App, cluster: &Cluster, delivery: &Delivery) -> Result<()> {
    let repository = delivery.repository.clone().unwrap_or_default();
    let repo_id = sqlx::query_scalar!(
        "SELECT id FROM git_repositories WHERE name = $1",
        repository
    )
    .fetch_one(&app.db)
    .await?;
    let path = PathTemplate::stored(delivery.path.as_deref().unwrap_or_default());
    let shared = PathTemplate::stored(delivery.shared_path.as_deref().unwrap_or_default());
    let live = sqlx::query!(
        r#"SELECT n.name, t.name AS team, n.environment FROM namespaces n JOIN teams t ON t.id = n.team_id
           WHERE n.cluster_id = $1 AND n.state <> 'decommissioned'"#,
        cluster.id
    )
    .fetch_all(&app.db)
    .await?;
    let mut folders: Vec<(String, &str)> = live
        .iter()
        .map(|n| {
            let p = path.render(&super::files::Place {
                cluster: &cluster.name,
                namespace: &n.name,
                team: &n.team,
                environment: &n.environment,
            });
            (p, "path")
        })
        .collect();
    let place = super::files::Place {
        cluster: &cluster.name,
        namespace: "",
        team: "",
        environment: "",
    };
    folders.push((shared.render(&place), "shared_path"));
    let paths: Vec<String> = folders.iter().map(|(p, _)| p.clone()).collect();
    let read = super::run(app, repo_id, move |remote| {
        git::writable(remote)?;
        git::read(remote, &paths)
    })
    .await?;
    let (_, found) = match read {
        Ok(r) => r,
        Err(e) => return Err(Error::invalid("repository", format!("cannot be used: {e}"))),
    };
    for (folder, field) in folders {
        let foreign: Vec<String> = found
            .get(&folder)
            .cloned()
            .flatten()
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, content)| !content.starts_with(super::files::HEADER))
            .map(|(name, _)| name)
            .collect();
        if !foreign.is_empty() {
            return Err(Error::invalid(
                field,
                format!(
                    "the repository already has files Berth did not write at {folder} ({}); move them or choose another folder",
                    foreign.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Sets how a cluster gets its namespaces. Every live namespace is queued for an apply, which
/// commits it (GitOps) or applies it (direct) the new way.
pub async fn set_delivery(
    app: &App,
    ctx: &Ctx,
    cluster: &str,
    input: DeliveryInput,
) -> Result<Cluster> {
    ctx.require_admin(Scope::Approve)?;
    let before = crate::fleet::one(&mut *app.db.acquire().await?, cluster).await?;
    let mut errors = FieldErrors::new();
    let mode = collect(&mut errors, word::<DeliveryMode>("mode", &input.mode));
    let delivery = match mode {
        None => None,
        Some(DeliveryMode::Direct) => Some(Delivery::default()),
        Some(DeliveryMode::Gitops) => {
            let repository = match filled(&input.repository) {
                None => {
                    errors.insert("repository".into(), "choose a repository".into());
                    None
                }
                Some(r) => {
                    let found =
                        sqlx::query_scalar!("SELECT name FROM git_repositories WHERE name = $1", r)
                            .fetch_optional(&app.db)
                            .await?;
                    if found.is_none() {
                        errors.insert("repository".into(), "no repository has this name".into());
                    }
                    found
                }
            };
            let path = collect(
                &mut errors,
                PathTemplate::namespace(
                    "path",
                    filled(&input.path).unwrap_or(super::files::DEFAULT_PATH),
                ),
            );
            let shared = collect(
                &mut errors,
                PathTemplate::shared(
                    "shared_path",
                    filled(&input.shared_path).unwrap_or(super::files::DEFAULT_SHARED_PATH),
                ),
            );
            if let (Some(p), Some(s)) = (&path, &shared) {
                let probe = super::files::Place {
                    cluster: &before.name,
                    namespace: "x",
                    team: "x",
                    environment: "x",
                };
                let (p, s) = (p.render(&probe), s.render(&probe));
                if p == s || p.starts_with(&format!("{s}/")) || s.starts_with(&format!("{p}/")) {
                    errors.insert(
                        "shared_path".into(),
                        "must not be inside a namespace's folder, nor hold one".into(),
                    );
                }
            }
            match (repository, path, shared) {
                (Some(r), Some(p), Some(s)) => Some(Delivery {
                    mode: DeliveryMode::Gitops,
                    repository: Some(r),
                    path: Some(p.as_str().to_owned()),
                    shared_path: Some(s.as_str().to_owned()),
                    review: input.review,
                }),
                _ => None,
            }
        }
    };
    // Clusters sharing a repository keep apart by their name in the paths.
    if let Some(d) = delivery.as_ref().filter(|d| d.mode == DeliveryMode::Gitops) {
        let others = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM clusters c JOIN git_repositories r ON r.id = c.git_repository_id
               WHERE r.name = $1 AND c.id <> $2 AND c.delivery = 'gitops'"#,
            d.repository,
            before.id
        )
        .fetch_one(&app.db)
        .await?;
        for (field, path) in [("path", &d.path), ("shared_path", &d.shared_path)] {
            if others > 0 && !path.as_deref().unwrap_or_default().contains("{cluster}") {
                errors.insert(
                    field.into(),
                    "other clusters deliver through this repository: the folder must contain {cluster}".into(),
                );
            }
        }
    }
    let (Some(delivery), true) = (delivery, errors.is_empty()) else {
        return Err(Error::Invalid(errors));
    };
    if delivery.mode == DeliveryMode::Gitops && delivery != before.delivery {
        check_target(app, &before, &delivery).await?;
    }
    let mut tx = app.db.begin().await?;
    let live = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM namespaces WHERE cluster_id = $1 AND state <> 'decommissioned'"#,
        before.id
    )
    .fetch_one(&mut *tx)
    .await?;
    let was = &before.delivery;
    if live > 0
        && was.mode == DeliveryMode::Gitops
        && delivery.mode == DeliveryMode::Gitops
        && (was.repository != delivery.repository || was.shared_path != delivery.shared_path)
    {
        return Err(Error::conflict(
            "repository",
            format!("{live} Berth namespaces live on this cluster: their folders cannot move to another repository or shared folder; change the namespaces' folder, or switch to direct first"),
        ));
    }
    sqlx::query!(
        "UPDATE clusters SET delivery = $2,
                git_repository_id = (SELECT id FROM git_repositories WHERE name = $3),
                git_path = $4, git_shared_path = $5, git_review = $6, updated_at = now()
         WHERE id = $1",
        before.id,
        delivery.mode as DeliveryMode,
        delivery.repository,
        delivery.path,
        delivery.shared_path,
        delivery.review
    )
    .execute(&mut *tx)
    .await?;
    if *was != delivery {
        // What was applied (or committed) the old way is delivered again the new way: the
        // shared policies too.
        sqlx::query!(
            "DELETE FROM cluster_objects WHERE cluster_id = $1",
            before.id
        )
        .execute(&mut *tx)
        .await?;
        let ids = sqlx::query_scalar!(
            "SELECT id FROM namespaces WHERE cluster_id = $1 AND state IN ('provisioning', 'ready', 'failed')
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.namespace_id = namespaces.id AND j.kind = 'apply' AND j.state = 'queued')",
            before.id
        )
        .fetch_all(&mut *tx)
        .await?;
        for id in ids {
            jobs::enqueue(&mut tx, jobs::Kind::Apply, id, None, before.id, None).await?;
        }
    }
    let after = crate::fleet::one(&mut tx, cluster).await?;
    audit::record(
        &mut tx,
        ctx,
        audit::Entry::new("cluster.delivery_changed", "cluster", cluster)
            .before(json!(before.delivery))
            .after(json!({"delivery": after.delivery, "namespaces_redelivered": live})),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_fit_their_authentication() {
        assert!(parse_url(
            "url",
            "https://git.example.com/platform/gitops.git",
            Some(GitAuth::Basic)
        )
        .is_ok());
        assert!(parse_url(
            "url",
            "git@git.example.com:platform/gitops.git",
            Some(GitAuth::SshKey)
        )
        .is_ok());
        assert!(parse_url(
            "url",
            "ssh://git@127.0.0.1:2222/platform.git",
            Some(GitAuth::SshKey)
        )
        .is_ok());
        assert!(parse_url(
            "url",
            "http://127.0.0.1:8080/platform.git",
            Some(GitAuth::None)
        )
        .is_ok());
        for (bad, auth) in [
            ("http://git.example.com/p.git", GitAuth::None),
            ("https://user:pw@git.example.com/p.git", GitAuth::Basic),
            ("https://git.example.com/p.git", GitAuth::SshKey),
            ("git@git.example.com:p.git", GitAuth::Basic),
            ("file:///srv/p.git", GitAuth::None),
            ("/srv/p.git", GitAuth::None),
            ("https://git.example.com/a b.git", GitAuth::None),
        ] {
            assert!(parse_url("url", bad, Some(auth)).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn branches_are_what_git_accepts() {
        assert!(parse_branch("branch", "main").is_ok());
        assert!(parse_branch("branch", "release/2026-12").is_ok());
        for bad in ["", "a..b", "a b", "-x/..", "x.lock", "a~b"] {
            assert!(parse_branch("branch", bad).is_err(), "{bad:?} accepted");
        }
    }
}
