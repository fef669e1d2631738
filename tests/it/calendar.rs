//! The calendar feed: a secret link per person, read by a real iCalendar parser (the
//! `ical` crate, RFC 5545), holding the open dated tasks that person may read, each
//! with its title, status label, link and the client's address; refused once replaced.

use std::io::BufReader;

use serde_json::{Value, json};
use taskboard::config::Config;

use crate::security::{call, secured_app_with, token};

/// The events of a feed as a parser reads them: (UID, property name → value).
fn events(ics: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut parser = ical::IcalParser::new(BufReader::new(ics.as_bytes()));
    let calendar = parser.next().expect("one calendar").expect("it parses");
    assert!(parser.next().is_none(), "one calendar only");
    calendar
        .events
        .iter()
        .map(|e| e.properties.iter().map(|p| (p.name.clone(), p.value.clone().unwrap_or_default())).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_subscribes_to_their_open_dated_tasks_and_a_new_link_revokes_the_old() {
    let app = secured_app_with(|c: &mut Config| {
        let yaml = "tasks:\n  fields:\n    - {name: address, client_editable: true}\n";
        c.tasks.fields = Config::from_yaml(yaml, "test").unwrap().tasks.fields;
    })
    .await;
    let (mike, carl) = (token(&app, "mike").await, token(&app, "carl").await);
    let body = json!({"title": "Washer, Bosch; leaks", "due_date": "2026-12-10", "address": "Mira 3, apt 14"});
    let (_, theirs) = call(&app, "POST", "/api/tasks", Some(&carl), Some(body)).await;
    let (_, internal) = call(
        &app,
        "POST",
        "/api/tasks",
        Some(&mike),
        Some(json!({"title": "Stock check", "due_date": "2026-12-11T09:30:00Z"})),
    )
    .await;
    let (_, undated) = call(&app, "POST", "/api/tasks", Some(&mike), Some(json!({"title": "Someday"}))).await;
    let (_, done) =
        call(&app, "POST", "/api/tasks", Some(&mike), Some(json!({"title": "Done", "due_date": "2026-12-01"}))).await;
    let (s, _) =
        call(&app, "PATCH", &format!("/api/tasks/{}", done["id"]), Some(&mike), Some(json!({"status": "done"}))).await;
    assert_eq!(s, 200);

    // The client's link: their own request only, with its address.
    let (s, link) = call(&app, "POST", "/api/calendar/token", Some(&carl), None).await;
    assert_eq!(s, 201, "{link}");
    let path = link["path"].as_str().unwrap().to_string();
    assert!(link["url"].as_str().unwrap().ends_with(&path));
    let feed = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(feed.status(), 200);
    assert!(feed.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
    let text = feed.text().await.unwrap();
    assert!(text.lines().all(|l| l.len() <= 76), "lines are folded");
    let got = events(&text);
    assert_eq!(got.len(), 1, "{text}");
    let event = &got[0];
    assert_eq!(event["UID"], format!("task-{}@taskboard", theirs["id"]));
    assert_eq!(event["SUMMARY"], format!("#{} Washer\\, Bosch\\; leaks", theirs["id"]));
    assert_eq!(event["DTSTART"], "20261210");
    assert_eq!(event["LOCATION"], "Mira 3\\, apt 14");
    assert!(event["DESCRIPTION"].starts_with("New"), "{event:?}");
    assert!(event["URL"].ends_with(&format!("/board/tasks/{}", theirs["id"])), "{event:?}");

    // The dispatcher sees every open dated task; not the undated, not the closed one.
    let (_, link) = call(&app, "POST", "/api/calendar/token", Some(&mike), None).await;
    let text = app.client.get(app.url(link["path"].as_str().unwrap())).send().await.unwrap().text().await.unwrap();
    let uids: Vec<String> = events(&text).iter().map(|e| e["UID"].clone()).collect();
    let uid = |t: &Value| format!("task-{}@taskboard", t["id"]);
    assert!(uids.contains(&uid(&theirs)) && uids.contains(&uid(&internal)), "{uids:?}");
    assert!(!uids.contains(&uid(&undated)) && !uids.contains(&uid(&done)), "{uids:?}");
    let timed = events(&text).into_iter().find(|e| e["UID"] == uid(&internal)).unwrap();
    assert_eq!(timed["DTSTART"], "20261211T093000Z");

    // A new link: the old one is gone; a made-up one was never anyone's.
    let (_, again) = call(&app, "POST", "/api/calendar/token", Some(&carl), None).await;
    assert_eq!(app.client.get(app.url(&path)).send().await.unwrap().status(), 404);
    assert_eq!(app.client.get(app.url(again["path"].as_str().unwrap())).send().await.unwrap().status(), 200);
    assert_eq!(app.client.get(app.url("/api/calendar/nothing.ics")).send().await.unwrap().status(), 404);
    // The token route is the POST's alone.
    assert_ne!(app.client.get(app.url("/api/calendar/token")).send().await.unwrap().status(), 200);
    // Making a link takes a login.
    assert_eq!(call(&app, "POST", "/api/calendar/token", None, None).await.0, 401);
    app.stop().await;
}
