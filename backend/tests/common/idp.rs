//! The identity provider the single sign-on tests sign in through: `testplane/idp/`
//! (zitadel/oidc's OpenID provider with its own login page), built by the test command,
//! which names its binary in `BERTH_TEST_IDP`. Each test starts its own on a loopback port
//! with the users it needs, so tests never share a provider's state; a restart on the same
//! port is a new signing key (a key rotation) and a new users file (groups changed at the
//! provider).

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use berth::{config::Config, App};
use reqwest::{header, StatusCode};
use secrecy::SecretString;
use serde_json::Value;
use sqlx::PgPool;

use super::{Client, TestServer};

pub const CLIENT_SECRET: &str = "berth-test-client-secret";

pub struct Idp {
    child: Child,
    pub issuer: String,
    pub ca: PathBuf,
    dir: PathBuf,
    listen: String,
    binary: PathBuf,
}

/// The provider's binary, or None (after saying why) outside the test command.
pub fn binary() -> Option<PathBuf> {
    match std::env::var("BERTH_TEST_IDP") {
        Ok(path) => Some(path.into()),
        Err(_) if std::env::var_os("BERTH_REQUIRE_CLUSTERS").is_some() => {
            panic!("BERTH_REQUIRE_CLUSTERS is set but BERTH_TEST_IDP is not: bash scripts/test builds the identity provider")
        }
        Err(_) => {
            eprintln!("skipped: BERTH_TEST_IDP is not set (bash scripts/test builds the identity provider)");
            None
        }
    }
}

impl Idp {
    /// A provider with `users` (the users file's JSON list).
    pub async fn start(users: Value) -> Option<Idp> {
        let binary = binary()?;
        let dir = std::env::temp_dir().join(format!("berth-idp-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut idp = Idp {
            child: spawn(&binary, &dir, "127.0.0.1:0", &users),
            issuer: String::new(),
            ca: dir.join("ca.pem"),
            dir,
            listen: String::new(),
            binary,
        };
        idp.wait_ready().await;
        idp.listen = idp.issuer.trim_start_matches("https://").to_owned();
        Some(idp)
    }

    /// Stops the provider and starts it again on the same address with `users`: a new
    /// signing key, a new CA (written over the old file) and new sign-ins.
    pub async fn restart(&mut self, users: Value) {
        self.stop();
        std::fs::remove_file(self.dir.join("issuer")).ok();
        self.child = spawn(&self.binary, &self.dir, &self.listen, &users);
        self.wait_ready().await;
    }

    fn stop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    async fn wait_ready(&mut self) {
        let ready = self.dir.join("issuer");
        loop {
            if let Ok(text) = std::fs::read_to_string(&ready) {
                if !text.trim().is_empty() {
                    self.issuer = text.trim().to_owned();
                    return;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
                panic!("the identity provider exited ({status}):\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An HTTP client that trusts the provider and follows no redirect.
    pub fn http(&self) -> reqwest::Client {
        let pem = std::fs::read(&self.ca).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Berth's configuration for this provider, served at `listen`.
    pub fn configure(&self, config: &mut Config, listen: std::net::SocketAddr) {
        config.listen = listen;
        config.oidc_issuer = Some(self.issuer.clone());
        config.oidc_client_id = Some("berth".into());
        config.oidc_client_secret = Some(SecretString::from(CLIENT_SECRET.to_owned()));
        config.oidc_redirect_url = Some(format!("http://{listen}/auth/oidc/callback"));
        config.oidc_ca_file = Some(self.ca.clone());
        config.oidc_provider_name = "Test IdP".into();
    }

    /// Walks the provider's own login page as a browser would, from the `Location` Berth's
    /// start endpoint answered, and returns the URL the provider sends the browser back to.
    pub async fn log_in(&self, authorize: &str, username: &str, password: &str) -> String {
        Provider {
            issuer: self.issuer.clone(),
            http: self.http(),
        }
        .log_in(authorize, username, password)
        .await
    }
}

/// A running provider's address and a client that trusts it.
struct Provider {
    issuer: String,
    http: reqwest::Client,
}

impl Provider {
    async fn log_in(&self, authorize: &str, username: &str, password: &str) -> String {
        let http = &self.http;
        let login = location(http.get(authorize).send().await.unwrap());
        let login = self.absolute(&login);
        let id = reqwest::Url::parse(&login)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "authRequestID")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no authRequestID in {login}"));
        let page = http.get(&login).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "the provider's login page");
        let submitted = http
            .post(format!("{}/login/username", self.issuer))
            .form(&[
                ("id", id.as_str()),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        let callback = self.absolute(&location(submitted));
        location(http.get(&callback).send().await.unwrap())
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with('/') {
            format!("{}{location}", self.issuer)
        } else {
            location.to_owned()
        }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn spawn(binary: &PathBuf, dir: &PathBuf, listen: &str, users: &Value) -> Child {
    let users_file = dir.join("users.json");
    std::fs::write(&users_file, users.to_string()).unwrap();
    let log = std::fs::File::create(dir.join("log")).unwrap();
    Command::new(binary)
        .arg("--listen")
        .arg(listen)
        .arg("--users")
        .arg(&users_file)
        .arg("--dir")
        .arg(dir)
        .arg("--ready-file")
        .arg(dir.join("issuer"))
        .arg("--clients")
        .arg(format!("berth:{CLIENT_SECRET}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the identity provider starts")
}

pub fn location(response: reqwest::Response) -> String {
    assert!(
        response.status().is_redirection(),
        "expected a redirect, got {} from {}",
        response.status(),
        response.url()
    );
    response
        .headers()
        .get(header::LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `name=value` of a `Set-Cookie` named `name`, if the response sets it.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")) && v.len() > name.len() + 1)
}

/// Berth on `db` signing in through `idp`.
pub async fn server(db: PgPool, idp: &Idp) -> TestServer {
    let listen = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap()
    };
    let mut config = Config::for_tests("postgres://unused");
    idp.configure(&mut config, listen);
    let app = App::new(db, config).await.expect("app builds");
    TestServer::serve_app(app).await
}

/// What a single sign-on ended with: a signed-in client, or the login page's failure code.
pub enum Outcome {
    SignedIn(Client),
    Failed(String),
}

impl Outcome {
    pub fn client(self) -> Client {
        match self {
            Outcome::SignedIn(client) => client,
            Outcome::Failed(code) => panic!("single sign-on failed: {code}"),
        }
    }

    pub fn failure(self) -> String {
        match self {
            Outcome::SignedIn(_) => panic!("single sign-on succeeded"),
            Outcome::Failed(code) => code,
        }
    }
}

impl TestServer {
    /// Starts a sign-in at Berth: the provider's authorize URL and the browser cookie.
    pub async fn sso_start(&self) -> (String, String) {
        let http = no_redirects();
        let response = http
            .get(format!("{}/auth/oidc/start", self.base))
            .send()
            .await
            .unwrap();
        let cookie = set_cookie(&response, "berth_sso").expect("start sets the browser cookie");
        (location(response), cookie)
    }

    /// Hands the provider's redirect back to Berth's callback with `cookie`.
    pub async fn sso_finish(&self, callback: &str, cookie: Option<&str>) -> Outcome {
        let http = no_redirects();
        let mut request = http.get(callback);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = request.send().await.unwrap();
        let session = set_cookie(&response, "berth_session");
        let to = location(response);
        match session {
            Some(cookie) => {
                assert!(!to.starts_with("/login"), "a session and a failure: {to}");
                let mut client = self.anonymous();
                client.cookie = Some(cookie);
                let (status, me) = client.get("/api/v1/me").await;
                assert_eq!(status, StatusCode::OK, "{me}");
                client.csrf = me["csrf_token"].as_str().map(str::to_owned);
                Outcome::SignedIn(client)
            }
            None => Outcome::Failed(
                to.strip_prefix("/login?sso=")
                    .unwrap_or_else(|| panic!("no session and no failure: {to}"))
                    .to_owned(),
            ),
        }
    }

    /// The whole sign-in, as a browser does it.
    pub async fn sso(&self, idp: &Idp, username: &str, password: &str) -> Outcome {
        let (authorize, cookie) = self.sso_start().await;
        let callback = idp.log_in(&authorize, username, password).await;
        self.sso_finish(&callback, Some(&cookie)).await
    }
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An ID token for `username` from the provider the test command started for the whole run
/// (`BERTH_TEST_OIDC_*`, the one every real kube-apiserver trusts), by the authorization code
/// flow through its login form, as client `berth`.
pub async fn shared_id_token(username: &str, password: &str) -> Option<String> {
    let Ok(issuer) = std::env::var("BERTH_TEST_OIDC_ISSUER") else {
        if std::env::var_os("BERTH_REQUIRE_CLUSTERS").is_some() {
            panic!("BERTH_REQUIRE_CLUSTERS is set but BERTH_TEST_OIDC_ISSUER is not: bash scripts/test starts the identity provider");
        }
        eprintln!("skipped: BERTH_TEST_OIDC_ISSUER is not set (bash scripts/test starts the identity provider)");
        return None;
    };
    let ca = std::env::var("BERTH_TEST_OIDC_CA_FILE").expect("BERTH_TEST_OIDC_CA_FILE");
    let secret =
        std::env::var("BERTH_TEST_OIDC_CLIENT_SECRET").expect("BERTH_TEST_OIDC_CLIENT_SECRET");
    let pem = std::fs::read(&ca).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = "http://127.0.0.1:1/auth/oidc/callback";
    let mut authorize = reqwest::Url::parse(&format!("{issuer}/auth")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", "berth")
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile groups")
        .append_pair("redirect_uri", redirect)
        .append_pair("state", "kubectl")
        .append_pair("nonce", "kubectl");
    let provider = Provider {
        issuer: issuer.clone(),
        http: http.clone(),
    };
    let back = provider
        .log_in(authorize.as_str(), username, password)
        .await;
    let code = reqwest::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap_or_else(|| panic!("no code in {back}"))
        .1
        .into_owned();
    let tokens: Value = http
        .post(format!("{issuer}/oauth/token"))
        .basic_auth("berth", Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Some(tokens["id_token"].as_str().expect("an ID token").to_owned())
}
