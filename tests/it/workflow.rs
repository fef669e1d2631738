//! The repair service's workflow: the field part of the role matrix over REST and the
//! bot (role × field × own/other task), the client's forged create refused, custom
//! fields' `client_editable` and `editable_by`.

use serde_json::{Value, json};
use taskboard::config::Config;

use crate::security::{call, secured_app_with, token};

fn fields(c: &mut Config) {
    let yaml = "tasks:\n  fields:\n    - {name: address, client_editable: true}\n    - {name: techtype, type: enum, values: [washer, fridge], editable_by: [manager]}\n    - {name: notes}\n";
    c.tasks.fields = Config::from_yaml(yaml, "test").unwrap().tasks.fields;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_changes_exactly_the_fields_the_matrix_gives_it() {
    let app = secured_app_with(fields).await;
    let (mike, boris, carl) = (token(&app, "mike").await, token(&app, "boris").await, token(&app, "carl").await);
    // A request by the client, assigned by the dispatcher to boris (user 4).
    let (s, task) =
        call(&app, "POST", "/api/tasks", Some(&carl), Some(json!({"title": "Washer", "address": "Mira 3, apt 14"})))
            .await;
    assert_eq!(s, 201, "{task}");
    let id = task["id"].as_u64().unwrap();
    let path = format!("/api/tasks/{id}");
    let (s, _) = call(&app, "PATCH", &path, Some(&mike), Some(json!({"assigned_to": 4, "techtype": "washer"}))).await;
    assert_eq!(s, 200);
    // (who, body, status): the member on his own job, then the others.
    let table: [(&str, Value, u16); 12] = [
        ("boris", json!({"due_date": "2030-01-01"}), 403),
        ("boris", json!({"priority": "low"}), 403),
        ("boris", json!({"assigned_to": 2}), 403),
        ("boris", json!({"title": "Not mine to rename"}), 403),
        ("boris", json!({"techtype": "fridge"}), 403),
        ("boris", json!({"notes": "bring the bearing kit"}), 200),
        ("boris", json!({"status": "in_progress"}), 200),
        ("carl", json!({"title": "Washer, Bosch"}), 403), // no longer new
        ("carl", json!({"address": "Mira 5"}), 403),
        ("mike", json!({"due_date": "2030-01-01", "priority": "high", "techtype": "fridge"}), 200),
        ("mike", json!({"assigned_to": 7}), 200),
        ("boris", json!({"status": "done"}), 403), // no longer his
    ];
    for (who, body, want) in table {
        let t = match who {
            "boris" => &boris,
            "carl" => &carl,
            _ => &mike,
        };
        let (s, answer) = call(&app, "PATCH", &path, Some(t), Some(body.clone())).await;
        assert_eq!(s, want, "{who} {body}: {answer}");
        if want == 403 && who == "boris" && body.as_object().unwrap().len() == 1 {
            let field = body.as_object().unwrap().keys().next().unwrap();
            if field != "status" {
                assert!(answer["detail"].as_str().unwrap().contains(field.as_str()), "the field is named: {answer}");
            }
        }
    }
    let (_, current) = call(&app, "GET", &path, Some(&mike), None).await;
    assert_eq!(current["assigned_to"], 7);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_forged_create_is_refused_and_only_their_fields_are_kept() {
    let app = secured_app_with(fields).await;
    let carl = token(&app, "carl").await;
    for (field, value) in [
        ("status", json!("done")),
        ("assigned_to", json!(4)),
        ("priority", json!("critical")),
        ("techtype", json!("washer")),
        ("notes", json!("x")),
    ] {
        let mut body = json!({"title": "Forged"});
        body[field] = value;
        let (s, answer) = call(&app, "POST", "/api/tasks", Some(&carl), Some(body)).await;
        assert_eq!(s, 403, "{field}: {answer}");
        assert!(answer["detail"].as_str().unwrap().contains(field), "{answer}");
    }
    let body = json!({"title": "Oven is cold", "description": "since Monday", "due_date": "2030-01-01", "address": "Lenina 1"});
    let (s, task) = call(&app, "POST", "/api/tasks", Some(&carl), Some(body)).await;
    assert_eq!(s, 201, "{task}");
    assert_eq!(
        (task["status"].as_str(), task["priority"].as_str(), &task["assigned_to"]),
        (Some("new"), Some("medium"), &Value::Null)
    );
    // A new request is theirs to edit, their own fields only.
    let path = format!("/api/tasks/{}", task["id"]);
    assert_eq!(
        call(&app, "PATCH", &path, Some(&carl), Some(json!({"address": "Lenina 2", "due_date": "2030-02-01"}))).await.0,
        200
    );
    assert_eq!(call(&app, "PATCH", &path, Some(&carl), Some(json!({"status": "cancelled"}))).await.0, 403);
    app.stop().await;
}

/// The same matrix through the bot: each person's command does what their role may
/// do over REST, and nothing else (the state is read back over REST each time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_follows_the_same_matrix_as_rest() {
    use crate::common::fake_telegram::FakeTelegram;
    use crate::telegram::{TOKEN, bot_app_with, say, text_of};
    let fake = FakeTelegram::start(TOKEN).await;
    let app = bot_app_with(&fake, |_| {}).await;
    let anna = token(&app, "anna").await;
    // (chat, command, allowed, the task and field to read back, the value if allowed).
    // 1003 boris (member, task 1 is his), 1004 carl (client, asked for task 1),
    // 1002 mike (manager). Task 2 is mike's, task 3 is in the pool.
    let table: [(i64, &str, bool, u64, &str, Value); 9] = [
        (1003, "/status 1 in_progress", true, 1, "status", json!("in_progress")),
        (1003, "/status 2 done", false, 2, "status", json!("new")),
        (1004, "/status 1 done", false, 1, "status", json!("in_progress")),
        (1004, "/take 3", false, 3, "assigned_to", Value::Null),
        (1003, "/assign 2 boris", false, 2, "assigned_to", json!(2)),
        (1003, "/take 3", true, 3, "assigned_to", json!(3)),
        (1003, "/take 2", false, 2, "assigned_to", json!(2)),
        (1002, "/assign 2 vera", true, 2, "assigned_to", json!(7)),
        (1003, "/done 2", false, 2, "status", json!("new")),
    ];
    for (chat, command, allowed, task, field, want) in table {
        let reply = text_of(&say(&fake, chat, None, command).await);
        let (_, now) = call(&app, "GET", &format!("/api/tasks/{task}"), Some(&anna), None).await;
        assert_eq!(now[field], want, "{chat} {command:?} (allowed: {allowed}); the bot said {reply:?}");
        if !allowed {
            assert!(
                // A task a client may not read is, for them, one that does not exist.
                ["Not allowed", "not yours", "may not", "does not exist", "someone else"]
                    .iter()
                    .any(|w| reply.contains(w)),
                "{chat} {command:?} is refused in words: {reply:?}"
            );
        }
    }
    // A client's request from the chat takes only what a client's create may set.
    let reply = text_of(&say(&fake, 1004, None, "/new Boiler leaks").await);
    let (_, list) = call(&app, "GET", "/api/tasks?title=Boiler%20leaks", Some(&anna), None).await;
    let made = &list["items"][0];
    assert_eq!(made["created_by"], 4, "{reply}");
    assert_eq!(made["assigned_to"], Value::Null);
    app.stop().await;
}

/// The board offers what the server allows: for each role and field, `can.edit` of
/// `GET /api/auth/me` names the task's situation exactly when a PATCH of that field
/// succeeds (the board holds no matrix of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_me_says_the_caller_can_is_what_the_server_then_allows() {
    let app = secured_app_with(fields).await;
    let mike = token(&app, "mike").await;
    let samples = [
        ("title", json!("Renamed")),
        ("description", json!("More")),
        ("status", json!("in_progress")),
        ("priority", json!("low")),
        ("due_date", json!("2030-01-01")),
        ("assigned_to", json!(2)),
        ("address", json!("Mira 5")),
        ("techtype", json!("fridge")),
        ("notes", json!("bring the kit")),
    ];
    // (who, how the task stands to them, whether mike assigns it to boris (user 4)).
    for (who, situation, assign) in
        [("boris", "assigned:first", true), ("carl", "created:first", false), ("mike", "other:first", true)]
    {
        let t = token(&app, who).await;
        let (_, me) = call(&app, "GET", "/api/auth/me", Some(&t), None).await;
        let can = &me["can"];
        assert!(can["edit"].is_object(), "{me}");
        for (field, value) in &samples {
            let creator = if who == "carl" { &t } else { &mike };
            let (s, task) = call(&app, "POST", "/api/tasks", Some(creator), Some(json!({"title": "Washer"}))).await;
            assert_eq!(s, 201, "{task}");
            let path = format!("/api/tasks/{}", task["id"]);
            if assign {
                let (s, _) = call(&app, "PATCH", &path, Some(&mike), Some(json!({"assigned_to": 4}))).await;
                assert_eq!(s, 200);
            }
            let offered = can["edit"][field].as_array().unwrap().iter().any(|s| s == situation);
            let (s, answer) = call(&app, "PATCH", &path, Some(&t), Some(json!({ *field: value }))).await;
            assert_eq!(offered, s == 200, "{who} {field} ({situation}): offered {offered}, server said {s} {answer}");
        }
    }
    let boris = token(&app, "boris").await;
    let (_, me) = call(&app, "GET", "/api/auth/me", Some(&boris), None).await;
    assert_eq!(me["can"]["take"], true);
    assert_eq!(me["can"]["delete"], json!([]));
    assert_eq!(me["can"]["areas"]["system"]["read"], "none");
    let carl = token(&app, "carl").await;
    let (_, me) = call(&app, "GET", "/api/auth/me", Some(&carl), None).await;
    assert_eq!(me["can"]["take"], false);
    assert_eq!(me["can"]["create_fields"], json!(["title", "description", "due_date", "address"]));
    app.stop().await;
}
