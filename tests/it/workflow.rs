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
