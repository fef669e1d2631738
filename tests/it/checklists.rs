//! A task's checklist over REST: added in order, ticked, reworded, moved, deleted, and
//! gone with its task; written by whoever may change the task's status, read by
//! whoever reads the task, on every door (the feed's `checklists` topic included).

use serde_json::{Value, json};

use crate::security::{call, secured_app, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_person_doing_the_job_keeps_its_checklist_and_nobody_else_changes_it() {
    let app = secured_app().await;
    let (mike, boris, carl, sue) =
        (token(&app, "mike").await, token(&app, "boris").await, token(&app, "carl").await, token(&app, "sue").await);
    let anna = token(&app, "anna").await;
    let body = json!({"username": "petr", "role": "member", "password": crate::security::PASSWORD});
    assert_eq!(call(&app, "POST", "/api/users", Some(&anna), Some(body)).await.0, 201);
    let petr = token(&app, "petr").await;
    // The client's request, handed to boris (user 4).
    let (s, task) = call(&app, "POST", "/api/tasks", Some(&carl), Some(json!({"title": "Boiler check"}))).await;
    assert_eq!(s, 201, "{task}");
    let id = task["id"].as_u64().unwrap();
    assert_eq!(
        call(&app, "PATCH", &format!("/api/tasks/{id}"), Some(&mike), Some(json!({"assigned_to": 4}))).await.0,
        200
    );
    let list = format!("/api/tasks/{id}/checklist");

    for text in ["Shut off the gas", "Check the pressure", "Clean the burner"] {
        let (s, item) = call(&app, "POST", &list, Some(&boris), Some(json!({"text": text}))).await;
        assert_eq!(s, 201, "{item}");
        assert_eq!(item["done"], false);
    }
    let (s, page) = call(&app, "GET", &list, Some(&boris), None).await;
    assert_eq!(s, 200);
    let items = page["items"].as_array().unwrap().clone();
    let texts: Vec<&str> = items.iter().map(|i| i["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Shut off the gas", "Check the pressure", "Clean the burner"]);
    assert_eq!(items.iter().map(|i| i["position"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    let first = format!("/api/checklist/{}", items[0]["id"]);
    let last = format!("/api/checklist/{}", items[2]["id"]);

    // Tick, move the last to the front.
    let (s, answer) = call(&app, "PATCH", &first, Some(&boris), Some(json!({"done": true}))).await;
    assert_eq!(s, 200, "{answer}");
    assert_eq!(call(&app, "PATCH", &last, Some(&boris), Some(json!({"position": 0}))).await.0, 200);
    let (_, page) = call(&app, "GET", &list, Some(&carl), None).await;
    let order: Vec<(&str, bool)> =
        page["items"].as_array().unwrap().iter().map(|i| (i["text"].as_str().unwrap(), i["done"] == true)).collect();
    assert_eq!(order, [("Clean the burner", false), ("Shut off the gas", true), ("Check the pressure", false)]);

    // Others: the client reads but does not tick; another member, the supervisor: no.
    for (who, t) in [("carl", &carl), ("petr", &petr), ("sue", &sue)] {
        let (s, answer) = call(&app, "PATCH", &first, Some(t), Some(json!({"done": false}))).await;
        assert_eq!(s, 403, "{who}: {answer}");
        assert!(answer["detail"].as_str().unwrap().contains("checklist"), "{answer}");
        let (s, _) = call(&app, "POST", &list, Some(t), Some(json!({"text": "mine"}))).await;
        assert_eq!(s, 403, "{who} adds");
        assert_eq!(call(&app, "DELETE", &first, Some(t), None).await.0, 403, "{who} deletes");
    }
    // A bad item is refused with the field named; an item cannot move to another task.
    let (s, answer) = call(&app, "POST", &list, Some(&boris), Some(json!({"text": "   "}))).await;
    assert_eq!(s, 422, "{answer}");
    let (s, other) = call(&app, "POST", "/api/tasks", Some(&mike), Some(json!({"title": "Other"}))).await;
    assert_eq!(s, 201);
    let (s, answer) = call(&app, "PATCH", &first, Some(&mike), Some(json!({"task_id": other["id"]}))).await;
    assert!(s == 422 || s == 403, "{s} {answer}");

    // Delete one; deleting the task takes the rest with it.
    assert_eq!(call(&app, "DELETE", &last, Some(&boris), None).await.0, 204);
    assert_eq!(call(&app, "DELETE", &format!("/api/tasks/{id}"), Some(&mike), None).await.0, 204);
    assert_eq!(call(&app, "GET", &first, Some(&mike), None).await.0, 404);
    let (_, all) = call(&app, "GET", "/api/live/checklists", Some(&anna), None).await;
    assert_eq!(all["items"], json!([]), "{all}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sees_only_the_checklists_of_their_own_requests() {
    let app = secured_app().await;
    let (mike, carl) = (token(&app, "mike").await, token(&app, "carl").await);
    let (_, theirs) = call(&app, "POST", "/api/tasks", Some(&carl), Some(json!({"title": "Mine"}))).await;
    let (_, internal) = call(&app, "POST", "/api/tasks", Some(&mike), Some(json!({"title": "Internal"}))).await;
    for task in [&theirs, &internal] {
        let path = format!("/api/tasks/{}/checklist", task["id"]);
        assert_eq!(call(&app, "POST", &path, Some(&mike), Some(json!({"text": "step"}))).await.0, 201);
    }
    let (s, _) = call(&app, "GET", &format!("/api/tasks/{}/checklist", internal["id"]), Some(&carl), None).await;
    assert_eq!(s, 404, "another's task is not there for a client");
    let (s, live) = call(&app, "GET", "/api/live/checklists?fields=task_id,done", Some(&carl), None).await;
    assert_eq!(s, 200, "{live}");
    let tasks: Vec<&Value> = live["items"].as_array().unwrap().iter().map(|i| &i["task_id"]).collect();
    assert_eq!(tasks, [&theirs["id"]], "{live}");
    app.stop().await;
}
