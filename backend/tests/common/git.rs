//! A real Git host and a real syncer for the GitOps tests. The host is `testplane/gitserver`
//! (Git's own git-http-backend behind HTTPS with basic authentication, and
//! git-upload-pack/git-receive-pack behind SSH), named by `BERTH_TEST_GITSERVER`; the syncer
//! is `testplane sync` (kustomize of the cluster's Kubernetes release, applied server-side
//! like Flux's kustomize-controller), named by `BERTH_TEST_TESTPLANE`. Each test starts its
//! own host with its own repositories, and its own syncer, so no two tests share a branch or
//! an inventory. Both stop when dropped.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use serde_json::Value;

pub const WRITER: (&str, &str) = ("writer", "writer-secret");
pub const READER: (&str, &str) = ("reader", "reader-secret");

fn binary(var: &str, what: &str) -> Option<PathBuf> {
    match std::env::var(var) {
        Ok(path) => Some(path.into()),
        Err(_) if std::env::var_os("BERTH_REQUIRE_CLUSTERS").is_some() => {
            panic!(
                "BERTH_REQUIRE_CLUSTERS is set but {var} is not: bash scripts/test builds {what}"
            )
        }
        Err(_) => {
            eprintln!("skipped: {var} is not set (bash scripts/test builds {what})");
            None
        }
    }
}

pub struct GitHost {
    child: Child,
    pub dir: PathBuf,
    pub https: String,
    pub ssh: String,
    pub ca_pem: String,
    pub ca_file: PathBuf,
    pub known_hosts: String,
    /// The OpenSSH private key the host accepts over SSH.
    pub ssh_key: String,
}

impl Drop for GitHost {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn git(args: &[&str]) -> String {
    let out = Command::new("git").args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl GitHost {
    pub async fn start() -> Option<GitHost> {
        let binary = binary("BERTH_TEST_GITSERVER", "the Git host (testplane/gitserver)")?;
        let dir = std::env::temp_dir().join(format!("berth-git-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("root")).unwrap();
        let key = dir.join("key");
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen runs");
        assert!(made.success());
        let users = format!("{}:{}:rw,{}:{}:ro", WRITER.0, WRITER.1, READER.0, READER.1);
        let child = Command::new(&binary)
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--dir")
            .arg(dir.join("work"))
            .arg("--ready-file")
            .arg(dir.join("ready"))
            .args(["--users", &users])
            .arg("--authorized-keys")
            .arg(key.with_extension("pub"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the Git host starts");
        let ready = super::real::until("the Git host", || {
            let path = dir.join("ready");
            async move {
                std::fs::read_to_string(path)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            }
        })
        .await;
        let ca_file = dir.join("work/ca.pem");
        Some(GitHost {
            child,
            https: ready["https"].as_str().unwrap().to_owned(),
            ssh: ready["ssh"].as_str().unwrap().to_owned(),
            ca_pem: std::fs::read_to_string(&ca_file).unwrap(),
            ca_file,
            known_hosts: ready["known_hosts"].as_str().unwrap().to_owned(),
            ssh_key: std::fs::read_to_string(&key).unwrap(),
            dir,
        })
    }

    /// A new, empty bare repository `<name>.git` whose default branch is main.
    pub fn repository(&self, name: &str) -> PathBuf {
        let path = self.dir.join("root").join(format!("{name}.git"));
        git(&["init", "-q", "--bare", "-b", "main", path.to_str().unwrap()]);
        path
    }

    /// Its HTTPS URL.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}.git", self.https)
    }

    /// The URL with the writer's credentials, for the syncer and the test's own pushes.
    pub fn url_with_writer(&self, name: &str) -> String {
        self.url(name)
            .replace("https://", &format!("https://{}:{}@", WRITER.0, WRITER.1))
    }

    /// Refuses pushes to `branch` with a pre-receive hook, as a protected branch does.
    pub fn protect(&self, repo: &Path, branch: &str) {
        let hook = repo.join("hooks/pre-receive");
        std::fs::write(
            &hook,
            format!(
                "#!/bin/sh\nwhile read old new ref; do\n  if [ \"$ref\" = refs/heads/{branch} ]; then\n    echo \"{branch} is protected: changes go through merge requests\" >&2\n    exit 1\n  fi\ndone\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Reads the repository directly (the host's disk), as a reviewer would browse it.
pub struct Browse<'a>(pub &'a Path);

impl Browse<'_> {
    fn dir(&self) -> &str {
        self.0.to_str().unwrap()
    }

    /// The file at `rev:path`, or None.
    pub fn file(&self, rev: &str, path: &str) -> Option<String> {
        let out = Command::new("git")
            .args(["--git-dir", self.dir(), "show", &format!("{rev}:{path}")])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap())
    }

    /// The commit a branch points at, or None.
    pub fn head(&self, branch: &str) -> Option<String> {
        let out = Command::new("git")
            .args([
                "--git-dir",
                self.dir(),
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}"),
            ])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap().trim().to_owned())
    }

    /// A commit's full message.
    pub fn message(&self, commit: &str) -> String {
        git(&[
            "--git-dir",
            self.dir(),
            "log",
            "-1",
            "--format=%an <%ae>%n%B",
            commit,
        ])
    }

    /// The branches, by name.
    pub fn branches(&self) -> Vec<String> {
        git(&[
            "--git-dir",
            self.dir(),
            "for-each-ref",
            "--format=%(refname:short)",
            "refs/heads",
        ])
        .lines()
        .map(str::to_owned)
        .collect()
    }

    /// Merges `branch` into main, as a reviewer would (a fast-forward when it is on main's
    /// head, else a merge commit made with git itself).
    pub fn merge(&self, branch: &str) {
        let work = std::env::temp_dir().join(format!("berth-merge-{}", uuid::Uuid::new_v4()));
        git(&["clone", "-q", self.dir(), work.to_str().unwrap()]);
        let w = work.to_str().unwrap();
        // An empty main (nothing merged yet) takes the branch as it is.
        if self.head("main").is_some() {
            git(&[
                "-C",
                w,
                "-c",
                "user.name=Reviewer",
                "-c",
                "user.email=reviewer@example.com",
                "merge",
                "-q",
                "--no-edit",
                &format!("origin/{branch}"),
            ]);
        } else {
            git(&[
                "-C",
                w,
                "checkout",
                "-q",
                "-B",
                "main",
                &format!("origin/{branch}"),
            ]);
        }
        // The host's merge button: it updates the branch itself, past the hooks that keep
        // people from pushing to it.
        git(&[
            "--git-dir",
            self.dir(),
            "fetch",
            "-q",
            w,
            "+HEAD:refs/heads/main",
        ]);
        std::fs::remove_dir_all(work).ok();
    }

    /// Commits a file to main by hand, as a person editing the repository would.
    pub fn commit_by_hand(&self, path: &str, content: &str) {
        let work = std::env::temp_dir().join(format!("berth-hand-{}", uuid::Uuid::new_v4()));
        git(&["clone", "-q", self.dir(), work.to_str().unwrap()]);
        let w = work.to_str().unwrap();
        let file = work.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, content).unwrap();
        git(&["-C", w, "add", path]);
        git(&[
            "-C",
            w,
            "-c",
            "user.name=Someone",
            "-c",
            "user.email=someone@example.com",
            "commit",
            "-q",
            "-m",
            "by hand",
        ]);
        git(&["-C", w, "push", "-q", "origin", "HEAD:main"]);
        std::fs::remove_dir_all(work).ok();
    }
}

/// `testplane sync` following `branch` of a repository and applying `path` to a cluster as
/// cluster-admin (as Flux runs).
pub struct Syncer {
    child: Child,
    dir: PathBuf,
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

impl Syncer {
    pub fn start(
        host: &GitHost,
        repo_url: &str,
        path: &str,
        kubeconfig: &Path,
        context: &str,
    ) -> Option<Syncer> {
        let testplane = binary("BERTH_TEST_TESTPLANE", "testplane (the syncer)")?;
        let kubectl = std::env::var("BERTH_TEST_KUBECTL").unwrap_or_else(|_| "kubectl".into());
        let dir = std::env::temp_dir().join(format!("berth-sync-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let child = Command::new(testplane)
            .args([
                "sync", "--repo", repo_url, "--branch", "main", "--path", path,
            ])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--context", context, "--kubectl", &kubectl])
            .arg("--work")
            .arg(dir.join("work"))
            .env("GIT_SSL_CAINFO", &host.ca_file)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the syncer starts");
        Some(Syncer { child, dir })
    }

    /// What the syncer said so far (for a failing assertion).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}
