//! Benchmark: a flood of concurrent logins against a running Berth (bench/login-flood.sh
//! starts it, release build, and reads its peak RSS between rounds).
//!
//! Rounds: N wrong passwords at once for one account (the throttle must let exactly the
//! per-account limit through to the password check, the rest 429), then N correct logins at
//! once for N different users (every one needs an argon2 check: they queue for the bounded
//! slots, or get 503 after the wait; memory must not follow the flood).
//!
//! Usage: login_flood BASE_URL COUNT PASSWORD (users flood-0…flood-{COUNT-1}@bench.local exist).

use std::{collections::BTreeMap, time::Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (base, count, password) = (&args[1], args[2].parse::<usize>()?, &args[3]);
    let round = std::env::var("FLOOD_ROUND").unwrap_or_else(|_| "both".into());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    let login = |email: String, password: String| {
        let client = client.clone();
        let url = format!("{base}/api/v1/auth/login");
        async move {
            match client
                .post(url)
                .json(&serde_json::json!({"email": email, "password": password}))
                .send()
                .await
            {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            }
        }
    };
    let tally = |statuses: Vec<u16>| {
        let mut t = BTreeMap::new();
        for s in statuses {
            *t.entry(s).or_insert(0usize) += 1;
        }
        t.into_iter()
            .map(|(s, n)| {
                format!(
                    "{n} × {}",
                    if s == 0 {
                        "no answer".into()
                    } else {
                        s.to_string()
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if round == "wrong" || round == "both" {
        let started = Instant::now();
        let statuses = futures::future::join_all(
            (0..count).map(|i| login("flood-0@bench.local".into(), format!("wrong guess {i}"))),
        )
        .await;
        println!(
            "{count} wrong passwords at once for one account: {} in {:.1} s",
            tally(statuses),
            started.elapsed().as_secs_f64()
        );
    }
    if round == "right" || round == "both" {
        let started = Instant::now();
        let statuses = futures::future::join_all(
            (0..count).map(|i| login(format!("flood-{i}@bench.local"), password.clone())),
        )
        .await;
        println!(
            "{count} correct logins at once, {count} users: {} in {:.1} s",
            tally(statuses),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
