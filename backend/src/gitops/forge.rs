//! Merge requests for review branches, through the Git host's API: GitHub's pull requests,
//! GitLab's merge requests, Gitea's pull requests (GitHub's shape under `/api/v1`). Opening
//! one twice answers the one already open, so a retried job does not open a second.

use std::time::Duration;

use berth_frontend::api::Forge;
use serde_json::{json, Value};

/// Where and how to open one.
pub struct Host {
    pub forge: Forge,
    /// e.g. https://api.github.com, https://gitlab.example.com/api/v4,
    /// https://gitea.example.com/api/v1
    pub api_url: String,
    /// owner/repo (GitHub, Gitea) or the project's path or id (GitLab).
    pub project: String,
    pub token: String,
}

pub struct Proposal<'a> {
    pub branch: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub body: &'a str,
}

/// Opens a merge request (or finds the open one for the branch) and answers its web URL.
pub async fn open(host: &Host, p: &Proposal<'_>) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .user_agent("berth")
        .build()
        .map_err(|e| e.to_string())?;
    match host.forge {
        Forge::Github | Forge::Gitea => {
            let base = format!("{}/repos/{}/pulls", host.api_url, host.project);
            let auth = match host.forge {
                Forge::Github => format!("Bearer {}", host.token),
                _ => format!("token {}", host.token),
            };
            let sent = client
                .post(&base)
                .header("Authorization", &auth)
                .header("Accept", "application/vnd.github+json")
                .json(&json!({"title": p.title, "head": p.branch, "base": p.base, "body": p.body}))
                .send()
                .await
                .map_err(|e| format!("the host's API did not answer: {e}"))?;
            let status = sent.status();
            if status.is_success() {
                return url_of(sent.json::<Value>().await, "html_url");
            }
            // 422 (GitHub) and 409 (Gitea): one is open for this branch already.
            if status.as_u16() == 422 || status.as_u16() == 409 {
                let listed = client
                    .get(&base)
                    .query(&[("state", "open")])
                    .header("Authorization", &auth)
                    .header("Accept", "application/vnd.github+json")
                    .send()
                    .await
                    .map_err(|e| format!("the host's API did not answer: {e}"))?
                    .json::<Value>()
                    .await
                    .map_err(|e| format!("the host's API answered no JSON: {e}"))?;
                if let Some(found) = listed.as_array().and_then(|prs| {
                    prs.iter()
                        .find(|pr| pr["head"]["ref"].as_str() == Some(p.branch))
                }) {
                    return url_of(Ok(found.clone()), "html_url");
                }
            }
            Err(refusal(status, sent_text(sent).await))
        }
        Forge::Gitlab => {
            let project = percent_encoding::utf8_percent_encode(
                &host.project,
                percent_encoding::NON_ALPHANUMERIC,
            )
            .to_string();
            let base = format!("{}/projects/{project}/merge_requests", host.api_url);
            let sent = client
                .post(&base)
                .header("PRIVATE-TOKEN", &host.token)
                .json(
                    &json!({"source_branch": p.branch, "target_branch": p.base, "title": p.title,
                              "description": p.body, "remove_source_branch": true}),
                )
                .send()
                .await
                .map_err(|e| format!("the host's API did not answer: {e}"))?;
            let status = sent.status();
            if status.is_success() {
                return url_of(sent.json::<Value>().await, "web_url");
            }
            if status.as_u16() == 409 {
                let listed = client
                    .get(&base)
                    .query(&[("state", "opened"), ("source_branch", p.branch)])
                    .header("PRIVATE-TOKEN", &host.token)
                    .send()
                    .await
                    .map_err(|e| format!("the host's API did not answer: {e}"))?
                    .json::<Value>()
                    .await
                    .map_err(|e| format!("the host's API answered no JSON: {e}"))?;
                if let Some(found) = listed.as_array().and_then(|m| m.first()) {
                    return url_of(Ok(found.clone()), "web_url");
                }
            }
            Err(refusal(status, sent_text(sent).await))
        }
    }
}

fn url_of(body: reqwest::Result<Value>, field: &str) -> Result<String, String> {
    let body = body.map_err(|e| format!("the host's API answered no JSON: {e}"))?;
    body[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("the host's API answered without {field}"))
}

async fn sent_text(r: reqwest::Response) -> String {
    r.text().await.unwrap_or_default()
}

/// The host's refusal, briefly (its message, not the whole body).
fn refusal(status: reqwest::StatusCode, body: String) -> String {
    let message = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect());
    format!("the host refused the merge request ({status}): {message}")
}
