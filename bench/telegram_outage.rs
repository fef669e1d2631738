//! A Telegram outage under load (issue: the repair workflow, durable delivery), against
//! the fake Bot API of the tests (tests/it/common/fake_telegram.rs).
//!
//! Run: `cargo bench --bench telegram_outage`. Arguments: `--users 200 --changes 2000
//! --down 60` (seconds).
//!
//! 200 users bound to Telegram, a task assigned to each (those notices delivered
//! first). Then the fake Bot API goes down and, while it is down, 2,000 changes stream
//! in (each re-dates one of the 200 tasks, so each makes exactly one notice, to the
//! task's technician, with the new date in it). When it comes back: how long until
//! every notice is delivered, whether any came twice or not at all, the most sends
//! in any second and to one chat in any second (Telegram's limits: 30 and 1), and the
//! outbox file's and the process's memory at their peak.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

#[path = "support.rs"]
mod support;
use support::{arg, rss_mib};

#[path = "../tests/it/common/fake_telegram.rs"]
#[allow(dead_code)]
mod fake_telegram;
use fake_telegram::FakeTelegram;

const TOKEN: &str = "7777:bench-token";
const CHAT_BASE: i64 = 500_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let users = arg(&args, "--users", 200);
    let changes = arg(&args, "--changes", 2000);
    let down_for = Duration::from_secs(arg(&args, "--down", 60) as u64);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        println!("machine: {} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
        let fake = FakeTelegram::start(TOKEN).await;
        let url = fake.url.clone();
        let (running, dir) = support::start(users, |i| format!("Repair order {i}"), move |c| {
            c.telegram.bot_token = taskboard::config::Secret(TOKEN.into());
            c.telegram.api_url = url;
        })
        .await;
        let outbox_file = dir.path().join("data/.taskboard/telegram_outbox.json");
        let client = reqwest::Client::new();
        let base = format!("http://{}", running.addr);
        for u in 1..=users {
            let body = json!({"username": format!("tech{u}"), "role": "member", "telegram_id": (CHAT_BASE + u as i64).to_string()});
            let r = client.post(format!("{base}/api/users")).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        }
        fake.wait_for("getUpdates", Duration::from_secs(20), |_| true).await;
        // Task u (1..=users) to user u; their notices go out before the outage.
        for u in 1..=users {
            let r = client.patch(format!("{base}/api/tasks/{u}")).json(&json!({"assigned_to": u})).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
        let settle = Instant::now();
        while fake.calls("sendMessage").iter().filter(|c| c.status == 200).count() < users {
            assert!(settle.elapsed() < Duration::from_secs(60), "the assignments were not delivered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let before = fake.calls("sendMessage").len();

        // The outage, and the stream of changes during it.
        fake.set_down(true);
        let down_at = Instant::now();
        let gap = down_for.mul_f64(0.9) / changes as u32;
        let (mut peak_file, mut peak_rss) = (0u64, rss_mib());
        let rss_before = peak_rss;
        for k in 0..changes {
            let task = 1 + k % users;
            let round = k / users;
            let date = (chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap() + chrono::Days::new(round as u64)).to_string();
            let r = client
                .patch(format!("{base}/api/tasks/{task}"))
                .json(&json!({"due_date": date}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            peak_file = peak_file.max(std::fs::metadata(&outbox_file).map(|m| m.len()).unwrap_or(0));
            peak_rss = peak_rss.max(rss_mib());
            tokio::time::sleep(gap).await;
        }
        while down_at.elapsed() < down_for {
            peak_file = peak_file.max(std::fs::metadata(&outbox_file).map(|m| m.len()).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let health: serde_json::Value =
            client.get(format!("{base}/api/health")).send().await.unwrap().json().await.unwrap();
        println!(
            "down for {:.0} s with {changes} changes: health {} (telegram {}), {} B in the outbox file at its largest",
            down_at.elapsed().as_secs_f64(),
            health["status"],
            health["components"]["telegram"]["state"],
            peak_file
        );

        // Back up: every notice, once, within the limits.
        fake.set_down(false);
        let up_at = Instant::now();
        let delivered = |fake: &FakeTelegram| {
            fake.calls("sendMessage")[before..].iter().filter(|c| c.status == 200).cloned().collect::<Vec<_>>()
        };
        loop {
            peak_rss = peak_rss.max(rss_mib());
            if delivered(&fake).len() >= changes {
                break;
            }
            assert!(up_at.elapsed() < Duration::from_secs(600), "only {} of {changes} delivered", delivered(&fake).len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let all_in = up_at.elapsed();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let sent = delivered(&fake);
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        for c in &sent {
            *seen.entry((c.body["chat_id"].to_string(), c.body["text"].as_str().unwrap_or("").to_string())).or_default() +=
                1;
        }
        let twice = seen.values().filter(|n| **n > 1).count();
        let times: Vec<Instant> = sent.iter().map(|c| c.at).collect();
        let busiest = times
            .iter()
            .map(|t| times.iter().filter(|u| **u >= *t && u.duration_since(*t) < Duration::from_secs(1)).count())
            .max()
            .unwrap_or(0);
        let mut per_chat: HashMap<String, Vec<Instant>> = HashMap::new();
        for c in &sent {
            per_chat.entry(c.body["chat_id"].to_string()).or_default().push(c.at);
        }
        let busiest_chat = per_chat
            .values()
            .map(|ts| ts.iter().map(|t| ts.iter().filter(|u| **u >= *t && u.duration_since(*t) < Duration::from_millis(990)).count()).max().unwrap_or(0))
            .max()
            .unwrap_or(0);
        println!(
            "after recovery: {} of {changes} notices delivered in {:.1} s ({} distinct, {twice} delivered twice); at most {busiest} sends in any second, {busiest_chat} to one chat",
            sent.len(),
            all_in.as_secs_f64(),
            seen.len()
        );
        println!(
            "resident memory of the process (server, bot and the fake Bot API): {rss_before:.1} MiB before the outage, {peak_rss:.1} MiB at the peak, {:.1} MiB after",
            rss_mib()
        );
        running.stop().await;
        drop(dir);
    });
}
