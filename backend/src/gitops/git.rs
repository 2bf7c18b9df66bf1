//! Git, through libgit2 (the `git2` crate): fetch a branch into a bare cache, commit folder
//! edits on top of its head, push, and on a push that lost a race fetch and commit again on
//! the new head. Also reads folders back, and asks a remote for its branches.
//!
//! Every function here blocks (libgit2 is synchronous); `super::run` calls them on the
//! blocking pool, one at a time per repository. Nothing here knows about namespaces or the
//! database. Credentials arrive unsealed and never leave in an error message.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use git2::{
    build::TreeUpdateBuilder, CertificateCheckStatus, Cred, CredentialType, ErrorCode,
    FetchOptions, FileMode, ObjectType, Oid, PushOptions, RemoteCallbacks, Repository, Signature,
    Tree,
};

/// How to reach one repository.
pub struct Remote {
    pub url: String,
    pub branch: String,
    pub credentials: Credentials,
    /// PEM: the HTTPS host's certificate must chain to one of these (instead of the system's
    /// CAs).
    pub ca_pem: Option<String>,
    /// `host keytype base64` lines; an SSH host must present one of these keys.
    pub known_hosts: Option<String>,
    /// The local bare repository Berth fetches into.
    pub cache: PathBuf,
}

pub enum Credentials {
    None,
    Basic { username: String, password: String },
    SshKey { username: String, key: String },
}

/// A change to one folder of the tree.
pub enum Edit {
    /// The folder holds exactly these files afterwards (None: the folder is removed). A
    /// `claim`ed folder is new to Berth: it must not hold files Berth did not write.
    Folder {
        path: String,
        files: Option<BTreeMap<String, String>>,
        claim: bool,
    },
    /// These files are written (Some) or removed (None) in the folder, and its
    /// kustomization.yaml then lists every object file the folder has.
    Listed {
        path: String,
        files: BTreeMap<String, Option<String>>,
    },
}

/// Where a commit goes.
pub enum Target {
    /// Straight onto the repository's branch.
    Branch,
    /// A branch of its own, from the repository's branch, for review.
    Review { branch: String },
}

/// What a commit came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The commit that carries the edits: new, or the head that already had them.
    pub commit: String,
    /// The branch it is on.
    pub branch: String,
    /// The repository's branch already had the edits (nothing was pushed there).
    pub already_there: bool,
}

/// Why a Git operation failed, said for an admin: no credentials, no internals.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The host refused the push for a reason a retry will not change by itself (a protected
    /// branch, a read-only key, a hook): it needs an admin.
    #[error("the Git host refused the push: {0}")]
    Refused(String),
    /// Anything else: unreachable, authentication, a broken cache.
    #[error("{0}")]
    Failed(String),
}

impl From<git2::Error> for GitError {
    fn from(e: git2::Error) -> Self {
        GitError::Failed(describe(&e))
    }
}

/// libgit2's message, without a URL's user info.
pub fn describe(e: &git2::Error) -> String {
    let message = e.message().trim().to_owned();
    match e.class() {
        git2::ErrorClass::Ssl => format!("TLS: {message}"),
        git2::ErrorClass::Ssh => format!("SSH: {message}"),
        git2::ErrorClass::Net | git2::ErrorClass::Http => format!("network: {message}"),
        _ => message,
    }
}

/// How many times a push that lost a race is tried again on the new head.
const PUSH_ATTEMPTS: usize = 8;

/// What a push hears back: a refusal per ref, and what the host's hooks said.
#[derive(Default)]
struct Heard {
    refused: Option<String>,
    said: String,
}

fn callbacks<'a>(
    remote: &'a Remote,
    heard: Option<&'a std::cell::RefCell<Heard>>,
) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    let mut asked = 0;
    cb.credentials(move |_url, from_url, allowed| {
        // libgit2 asks again after a refusal; three asks is a refusal, not a loop.
        asked += 1;
        if asked > 3 {
            return Err(git2::Error::from_str(
                "the Git host refused the repository's credentials",
            ));
        }
        match &remote.credentials {
            Credentials::Basic { username, password }
                if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) =>
            {
                Cred::userpass_plaintext(username, password)
            }
            Credentials::SshKey { username, key } if allowed.contains(CredentialType::SSH_KEY) => {
                Cred::ssh_key_from_memory(from_url.unwrap_or(username), None, key, None)
            }
            Credentials::SshKey { username, .. } if allowed.contains(CredentialType::USERNAME) => {
                Cred::username(from_url.unwrap_or(username))
            }
            Credentials::None => Err(git2::Error::from_str(
                "the Git host asks for credentials and the repository has none",
            )),
            _ => Err(git2::Error::from_str(
                "the Git host asks for another kind of credentials than the repository has",
            )),
        }
    });
    cb.certificate_check(move |cert, host| {
        if let Some(x509) = cert.as_x509() {
            return match &remote.ca_pem {
                None => Ok(CertificateCheckStatus::CertificatePassthrough),
                Some(ca) => match verify_x509(x509.data(), host, ca) {
                    Ok(()) => Ok(CertificateCheckStatus::CertificateOk),
                    Err(why) => Err(git2::Error::from_str(&format!(
                        "the certificate of {host} does not chain to the repository's CA: {why}"
                    ))),
                },
            };
        }
        if let Some(hostkey) = cert.as_hostkey() {
            let Some(key) = hostkey.hostkey() else {
                return Err(git2::Error::from_str("the SSH host sent no key"));
            };
            return match &remote.known_hosts {
                Some(known) if known_key(known, host, key) => {
                    Ok(CertificateCheckStatus::CertificateOk)
                }
                _ => Err(git2::Error::from_str(&format!(
                    "the SSH host key of {host} is not in the repository's known_hosts"
                ))),
            };
        }
        Ok(CertificateCheckStatus::CertificatePassthrough)
    });
    if let Some(heard) = heard {
        cb.push_update_reference(move |_name, status| {
            if let Some(why) = status {
                heard.borrow_mut().refused = Some(why.to_owned());
            }
            Ok(())
        });
        // A hook's refusal comes as "remote:" lines on the side band; the host says why there.
        cb.sideband_progress(move |data| {
            let mut h = heard.borrow_mut();
            if h.said.len() < 2000 {
                h.said.push_str(&String::from_utf8_lossy(data));
            }
            true
        });
    }
    cb
}

/// Whether `der`, a host's certificate, chains to a certificate of `ca_pem` and names
/// `host`.
fn verify_x509(der: &[u8], host: &str, ca_pem: &str) -> Result<(), String> {
    use rustls::{
        client::danger::ServerCertVerifier,
        pki_types::{pem::PemObject, CertificateDer, ServerName, UnixTime},
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("the CA is not PEM: {e}"))?;
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        provider,
    )
    .build()
    .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
    verifier
        .verify_server_cert(
            &CertificateDer::from(der.to_vec()),
            &[],
            &name,
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Whether a `known_hosts` text holds `key` (the raw key blob) for `host`: lines name hosts
/// as `host`, `[host]:port` or a comma-separated list of those.
pub fn known_key(known: &str, host: &str, key: &[u8]) -> bool {
    use base64::Engine;
    known.lines().any(|line| {
        let mut fields = line.split_whitespace();
        let (Some(hosts), Some(_kind), Some(blob)) = (fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        let names_host = hosts.split(',').any(|h| {
            let bare = h
                .strip_prefix('[')
                .and_then(|h| h.split_once(']'))
                .map(|(h, _)| h)
                .unwrap_or(h);
            bare == host
        });
        names_host
            && base64::engine::general_purpose::STANDARD
                .decode(blob)
                .is_ok_and(|b| b == key)
    })
}

/// Parses known_hosts lines, naming the first that is not `host keytype base64`.
pub fn check_known_hosts(text: &str) -> Result<(), String> {
    use base64::Engine;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let ok = fields.len() >= 3
            && (fields[1].starts_with("ssh-") || fields[1].starts_with("ecdsa-"))
            && base64::engine::general_purpose::STANDARD
                .decode(fields[2])
                .is_ok();
        if !ok {
            return Err(format!(
                "line {} is not `host keytype base64key` (as ssh-keyscan prints)",
                n + 1
            ));
        }
    }
    Ok(())
}

fn open(cache: &Path) -> Result<Repository, GitError> {
    match Repository::open_bare(cache) {
        Ok(r) => Ok(r),
        Err(_) => {
            // Missing, or broken by a crash mid-write: a cache is only a cache.
            let _ = std::fs::remove_dir_all(cache);
            std::fs::create_dir_all(cache)
                .map_err(|e| GitError::Failed(format!("cannot create the Git cache: {e}")))?;
            Ok(Repository::init_bare(cache)?)
        }
    }
}

fn tracking(branch: &str) -> String {
    format!("refs/remotes/origin/{branch}")
}

/// Fetches `branches` (those the remote has) into `refs/remotes/origin/*`, and forgets the
/// tracking ref of a branch the remote no longer has.
fn fetch(repo: &Repository, remote: &Remote, branches: &[&str]) -> Result<(), GitError> {
    let mut connection = repo.remote_anonymous(&remote.url)?;
    // A branch the remote lacks fails the whole fetch: ask which it has first.
    let advertised: Vec<String> = {
        let c =
            connection.connect_auth(git2::Direction::Fetch, Some(callbacks(remote, None)), None)?;
        c.list()?.iter().map(|h| h.name().to_owned()).collect()
    };
    let mut refspecs = Vec::new();
    for branch in branches {
        if advertised
            .iter()
            .any(|a| *a == format!("refs/heads/{branch}"))
        {
            refspecs.push(format!("+refs/heads/{branch}:{}", tracking(branch)));
        } else if let Ok(mut r) = repo.find_reference(&tracking(branch)) {
            r.delete()?;
        }
    }
    if refspecs.is_empty() {
        return Ok(());
    }
    let mut options = FetchOptions::new();
    options.remote_callbacks(callbacks(remote, None));
    connection.fetch(&refspecs, Some(&mut options), None)?;
    Ok(())
}

fn head_of<'r>(repo: &'r Repository, branch: &str) -> Option<git2::Commit<'r>> {
    repo.find_reference(&tracking(branch))
        .ok()
        .and_then(|r| r.peel_to_commit().ok())
}

fn empty_tree(repo: &Repository) -> Result<Tree<'_>, GitError> {
    let id = repo.treebuilder(None)?.write()?;
    Ok(repo.find_tree(id)?)
}

/// The files directly in `path` of `tree` (name → content), or None when there is no such
/// folder.
fn folder_files(repo: &Repository, tree: &Tree, path: &str) -> Option<BTreeMap<String, String>> {
    let entry = tree.get_path(Path::new(path)).ok()?;
    let sub = entry.to_object(repo).ok()?.into_tree().ok()?;
    let mut files = BTreeMap::new();
    for e in sub.iter() {
        if e.kind() != Some(ObjectType::Blob) {
            continue;
        }
        let Ok(blob) = e.to_object(repo).and_then(|o| o.peel_to_blob()) else {
            continue;
        };
        if let (Ok(name), Ok(text)) = (e.name(), std::str::from_utf8(blob.content())) {
            files.insert(name.to_owned(), text.to_owned());
        }
    }
    Some(files)
}

/// The kustomization of a folder that lists every object file it has.
fn listing(names: impl Iterator<Item = String>) -> String {
    let mut out = format!(
        "{}: the objects of this folder.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
        super::files::HEADER
    );
    let mut any = false;
    for name in names {
        out.push_str(&format!("- {name}\n"));
        any = true;
    }
    if !any {
        out = out.replace("resources:\n", "resources: []\n");
    }
    out
}

/// `base` with `edits` made; the tree's id.
fn edited(repo: &Repository, base: &Tree, edits: &[Edit]) -> Result<Oid, GitError> {
    let mut update = TreeUpdateBuilder::new();
    for edit in edits {
        let path = match edit {
            Edit::Folder { path, .. } | Edit::Listed { path, .. } => path,
        };
        // A file where a folder of the path goes cannot become a folder.
        let mut prefix = String::new();
        for segment in path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(segment);
            if let Ok(entry) = base.get_path(Path::new(&prefix)) {
                if entry.kind() == Some(ObjectType::Blob) {
                    return Err(GitError::Refused(format!(
                        "{prefix} is a file in the repository, where Berth needs a folder"
                    )));
                }
            }
        }
        let (path, before, after) = match edit {
            Edit::Folder { path, files, claim } => {
                let before = folder_files(repo, base, path);
                if *claim && files.is_some() {
                    let foreign: Vec<&String> = before
                        .iter()
                        .flatten()
                        .filter(|(_, content)| !content.starts_with(super::files::HEADER))
                        .map(|(name, _)| name)
                        .collect();
                    if !foreign.is_empty() {
                        return Err(GitError::Refused(format!(
                            "{path} already holds files Berth did not write ({}); move them or choose another folder",
                            foreign.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
                        )));
                    }
                }
                (path, before, files.clone())
            }
            Edit::Listed { path, files } => {
                let before = folder_files(repo, base, path);
                let mut now = before.clone().unwrap_or_default();
                for (name, content) in files {
                    match content {
                        Some(c) => now.insert(name.clone(), c.clone()),
                        None => now.remove(name),
                    };
                }
                now.remove("kustomization.yaml");
                let objects: Vec<String> = now
                    .keys()
                    .filter(|n| n.ends_with(".yaml"))
                    .cloned()
                    .collect();
                let after = (!objects.is_empty()).then(|| {
                    now.insert("kustomization.yaml".into(), listing(objects.into_iter()));
                    now
                });
                (path, before, after)
            }
        };
        match (before, after) {
            (None, None) => {}
            (Some(_), None) => {
                update.remove(path.as_str());
            }
            (before, Some(after)) => {
                for name in before.iter().flat_map(|b| b.keys()) {
                    if !after.contains_key(name) {
                        update.remove(format!("{path}/{name}"));
                    }
                }
                for (name, content) in &after {
                    let blob = repo.blob(content.as_bytes())?;
                    update.upsert(format!("{path}/{name}"), blob, FileMode::Blob);
                }
            }
        }
    }
    Ok(update.create_updated(repo, base)?)
}

fn push(repo: &Repository, remote: &Remote, refspec: &str) -> Result<PushResult, GitError> {
    let heard = std::cell::RefCell::new(Heard::default());
    let mut connection = repo.remote_anonymous(&remote.url)?;
    let mut options = PushOptions::new();
    options.remote_callbacks(callbacks(remote, Some(&heard)));
    match connection.push(&[refspec], Some(&mut options)) {
        Ok(()) => {}
        Err(e) if e.code() == ErrorCode::NotFastForward => return Ok(PushResult::Raced),
        Err(e) => {
            let text = describe(&e);
            // A host that answers 403 to the push (a read-only key) refuses for good.
            if text.contains("403") {
                return Err(GitError::Refused(
                    "the credentials may read but not push (HTTP 403)".into(),
                ));
            }
            return Err(GitError::Failed(text));
        }
    }
    drop(options);
    let heard = heard.into_inner();
    match heard.refused {
        None => Ok(PushResult::Pushed),
        // The host may say why on the side band only ("failed to update ref" + its reason).
        Some(why) if raced(&format!("{why} {}", heard.said)) => Ok(PushResult::Raced),
        Some(why) => {
            let said: Vec<&str> = heard
                .said
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            Err(GitError::Refused(if said.is_empty() {
                why
            } else {
                format!("{why}: {}", said.join(" "))
            }))
        }
    }
}

/// Whether a refusal only says the branch moved under us: another push got there first
/// (it made the branch, holds its lock, or moved it).
fn raced(why: &str) -> bool {
    let why = why.to_ascii_lowercase();
    [
        "non-fast-forward",
        "fetch first",
        "stale info",
        "cannot lock ref",
        "reference already exists",
        "but expected",
    ]
    .iter()
    .any(|s| why.contains(s))
}

enum PushResult {
    Pushed,
    Raced,
}

/// Commits `edits` on top of the remote branch's head and pushes: to the branch, or (for
/// review) to a branch of its own. Nothing is committed when the target already has the
/// edits, so running it again after a crash does not commit twice.
pub fn commit(
    remote: &Remote,
    target: &Target,
    edits: &[Edit],
    message: &str,
    author: &str,
) -> Result<Committed, GitError> {
    let repo = open(&remote.cache)?;
    let signature = Signature::now("Berth", author)?;
    for attempt in 0..PUSH_ATTEMPTS {
        if attempt > 0 {
            // Two writers that lost to each other would meet again at once: wait a random
            // while, longer each time.
            use rand::Rng;
            let ms = rand::thread_rng().gen_range(20..200) * attempt as u64;
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        let review = match target {
            Target::Branch => None,
            Target::Review { branch } => Some(branch.as_str()),
        };
        let mut branches = vec![remote.branch.as_str()];
        branches.extend(review);
        fetch(&repo, remote, &branches)?;
        let head = head_of(&repo, &remote.branch);
        let base = match &head {
            Some(c) => c.tree()?,
            None => empty_tree(&repo)?,
        };
        let tree_id = edited(&repo, &base, edits)?;
        if let Some(h) = &head {
            if tree_id == base.id() {
                return Ok(Committed {
                    commit: h.id().to_string(),
                    branch: remote.branch.clone(),
                    already_there: true,
                });
            }
        }
        let tree = repo.find_tree(tree_id)?;
        let parents: Vec<&git2::Commit> = head.iter().collect();
        match review {
            None => {
                let id = repo.commit(None, &signature, &signature, message, &tree, &parents)?;
                let refspec = format!("{id}:refs/heads/{}", remote.branch);
                match push(&repo, remote, &refspec)? {
                    PushResult::Pushed => {
                        return Ok(Committed {
                            commit: id.to_string(),
                            branch: remote.branch.clone(),
                            already_there: false,
                        })
                    }
                    PushResult::Raced => continue,
                }
            }
            Some(branch) => {
                // The review branch is Berth's own: rebuilt on the branch's head each time.
                if let Some(existing) = head_of(&repo, branch) {
                    let on_head = head
                        .as_ref()
                        .is_none_or(|h| existing.parent_id(0).ok() == Some(h.id()));
                    if existing.tree_id() == tree_id && on_head {
                        return Ok(Committed {
                            commit: existing.id().to_string(),
                            branch: branch.to_owned(),
                            already_there: false,
                        });
                    }
                }
                let id = repo.commit(None, &signature, &signature, message, &tree, &parents)?;
                let refspec = format!("+{id}:refs/heads/{branch}");
                match push(&repo, remote, &refspec)? {
                    PushResult::Pushed => {
                        return Ok(Committed {
                            commit: id.to_string(),
                            branch: branch.to_owned(),
                            already_there: false,
                        })
                    }
                    PushResult::Raced => continue,
                }
            }
        }
    }
    Err(GitError::Failed(format!(
        "the branch kept moving: {PUSH_ATTEMPTS} pushes lost the race"
    )))
}

/// Each folder's files (None: no such folder), by folder.
pub type Folders = BTreeMap<String, Option<BTreeMap<String, String>>>;

/// The files of each folder on the remote branch, and the branch's head.
pub fn read(remote: &Remote, folders: &[String]) -> Result<(Option<String>, Folders), GitError> {
    let repo = open(&remote.cache)?;
    fetch(&repo, remote, &[remote.branch.as_str()])?;
    let head = head_of(&repo, &remote.branch);
    let tree = match &head {
        Some(c) => c.tree()?,
        None => empty_tree(&repo)?,
    };
    let out = folders
        .iter()
        .map(|f| (f.clone(), folder_files(&repo, &tree, f)))
        .collect();
    Ok((head.map(|h| h.id().to_string()), out))
}

/// Every file under `prefixes` on the remote branch, by path, and the branch's head (what a
/// syncer reads).
pub fn read_tree(
    remote: &Remote,
    prefixes: &[String],
) -> Result<(Option<String>, BTreeMap<String, String>), GitError> {
    let repo = open(&remote.cache)?;
    fetch(&repo, remote, &[remote.branch.as_str()])?;
    let Some(head) = head_of(&repo, &remote.branch) else {
        return Ok((None, BTreeMap::new()));
    };
    let tree = head.tree()?;
    let mut out = BTreeMap::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        let path = format!("{dir}{}", entry.name().unwrap_or_default());
        if entry.kind() == Some(ObjectType::Blob)
            && prefixes.iter().any(|p| path.starts_with(&format!("{p}/")))
        {
            if let Ok(blob) = entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                if let Ok(text) = std::str::from_utf8(blob.content()) {
                    out.insert(path, text.to_owned());
                }
            }
        }
        git2::TreeWalkResult::Ok
    })?;
    Ok((Some(head.id().to_string()), out))
}

/// Whether `commit` is the branch's head or behind it (merged), after a fetch.
pub fn merged(remote: &Remote, commit: &str) -> Result<bool, GitError> {
    let repo = open(&remote.cache)?;
    fetch(&repo, remote, &[remote.branch.as_str()])?;
    let (Some(head), Ok(id)) = (head_of(&repo, &remote.branch), Oid::from_str(commit)) else {
        return Ok(false);
    };
    Ok(head.id() == id || repo.graph_descendant_of(head.id(), id).unwrap_or(false))
}

/// Whether the remote lets these credentials push: the host is asked for its receive-pack
/// (a read-only key or user is refused there), without pushing anything.
pub fn writable(remote: &Remote) -> Result<(), GitError> {
    let repo = open(&remote.cache)?;
    let mut connection = repo.remote_anonymous(&remote.url)?;
    let connected = connection
        .connect_auth(git2::Direction::Push, Some(callbacks(remote, None)), None)
        .map(drop);
    match connected {
        Ok(()) => Ok(()),
        Err(e) => {
            let text = describe(&e);
            if text.contains("403") {
                Err(GitError::Refused(
                    "the credentials may read but not push (HTTP 403)".into(),
                ))
            } else {
                Err(GitError::Failed(text))
            }
        }
    }
}

/// The branch's head as the remote advertises it (None: no such branch yet).
pub fn head(remote: &Remote) -> Result<Option<String>, GitError> {
    let repo = open(&remote.cache)?;
    let mut connection = repo.remote_anonymous(&remote.url)?;
    let c = connection.connect_auth(git2::Direction::Fetch, Some(callbacks(remote, None)), None)?;
    let wanted = format!("refs/heads/{}", remote.branch);
    Ok(c.list()?
        .iter()
        .find(|h| h.name() == wanted)
        .map(|h| h.oid().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_match_by_host_and_key() {
        use base64::Engine;
        let key = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20abcdefghijklmnopqrstuvwxyz012345";
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        let known = format!(
            "[127.0.0.1]:2222 ssh-ed25519 {b64}\ngit.example.com,10.0.0.1 ssh-ed25519 AAAA\n"
        );
        assert!(known_key(&known, "127.0.0.1", key));
        assert!(!known_key(&known, "git.example.com", key));
        assert!(!known_key(&known, "127.0.0.1", b"other"));
        assert!(check_known_hosts(&known).is_ok());
        assert!(check_known_hosts("just-a-host\n").is_err());
    }

    #[test]
    fn a_refusal_that_only_says_the_branch_moved_is_a_race() {
        assert!(raced("failed to update ref: non-fast-forward"));
        assert!(raced("rejected (fetch first)"));
        assert!(raced(
            "failed to update ref: error: cannot lock ref 'refs/heads/main': reference already exists"
        ));
        assert!(!raced("pre-receive hook declined"));
    }
}
