//! Feedback on finished work: only the task's creator rates it, only when it is done,
//! only once, 1 to 5; whoever reads the task reads the rating; stats give the mean per
//! assignee; the rating is kept in data/feedback.csv.

use serde_json::json;

use crate::security::{call, secured_app, token};

#[tokio::test]
async fn only_the_creator_rates_finished_work_once_from_one_to_five() {
    let app = secured_app().await;
    let (carl, boris, mike, anna) =
        (token(&app, "carl").await, token(&app, "boris").await, token(&app, "mike").await, token(&app, "anna").await);
    let (s, task) = call(&app, "POST", "/api/tasks", Some(&carl), Some(json!({"title": "fix my washer"}))).await;
    assert_eq!(s, 201);
    let id = task["id"].as_u64().unwrap();
    let path = format!("/api/tasks/{id}/feedback");
    let (s, _) = call(&app, "PATCH", &format!("/api/tasks/{id}"), Some(&mike), Some(json!({"assigned_to": 4}))).await;
    assert_eq!(s, 200);

    // Not done yet: a conflict that says so.
    let (s, body) = call(&app, "POST", &path, Some(&carl), Some(json!({"rating": 5}))).await;
    assert_eq!(s, 409, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("once it is finished (done)"), "{body}");
    let (s, _) = call(&app, "PATCH", &format!("/api/tasks/{id}"), Some(&mike), Some(json!({"status": "done"}))).await;
    assert_eq!(s, 200);

    // Only the creator.
    for (who, token) in [("the assignee", &boris), ("a manager", &mike), ("the admin", &anna)] {
        let (s, body) = call(&app, "POST", &path, Some(token), Some(json!({"rating": 4}))).await;
        assert_eq!(s, 403, "{who}: {body}");
    }
    // 1 to 5, a whole number; nothing stored for a bad one.
    for bad in [
        json!({"rating": 0}),
        json!({"rating": 6}),
        json!({"rating": "5"}),
        json!({"rating": 4.5}),
        json!({"comment": "no rating"}),
    ] {
        let (s, body) = call(&app, "POST", &path, Some(&carl), Some(bad.clone())).await;
        assert_eq!(s, 422, "{bad}: {body}");
        assert_eq!(body["errors"][0]["field"], "rating", "{body}");
    }
    let (s, body) = call(&app, "POST", &path, Some(&carl), Some(json!({"rating": 4, "extra": 1}))).await;
    assert_eq!(s, 422, "an unknown field: {body}");
    let (s, body) =
        call(&app, "POST", &path, Some(&carl), Some(json!({"rating": 4, "comment": "=HYPERLINK(1)"}))).await;
    assert_eq!(s, 422, "a formula: {body}");

    let (s, rated) =
        call(&app, "POST", &path, Some(&carl), Some(json!({"rating": 4, "comment": "Быстро и аккуратно"}))).await;
    assert_eq!(s, 201, "{rated}");
    assert_eq!(rated["rating"], 4);
    assert_eq!(rated["user_id"], 5);
    let (s, body) = call(&app, "POST", &path, Some(&carl), Some(json!({"rating": 1}))).await;
    assert_eq!(s, 409, "only once: {body}");

    // Whoever reads the task reads its rating.
    for token in [&carl, &boris, &mike] {
        let (s, body) = call(&app, "GET", &path, Some(token), None).await;
        assert_eq!(s, 200);
        assert_eq!(body["items"][0]["comment"], "Быстро и аккуратно", "{body}");
    }
    // The assignee's mean rating in the statistics.
    let (s, stats) = call(&app, "GET", "/api/stats", Some(&anna), None).await;
    assert_eq!(s, 200);
    assert_eq!(stats["rating_by_assignee"]["4"], json!({"mean": 4.0, "count": 1}), "{stats}");

    let dir = app.stop().await;
    let file = std::fs::read_to_string(dir.path().join("data/feedback.csv")).unwrap();
    assert!(file.starts_with("id,task_id,user_id,rating,comment,created_at\n"), "{file}");
    assert!(file.contains(&format!("1,{id},5,4,Быстро и аккуратно,")), "{file}");
}

#[tokio::test]
async fn another_client_does_not_see_the_rating_and_a_deleted_task_takes_it_along() {
    let app = secured_app().await;
    let (carl, mike) = (token(&app, "carl").await, token(&app, "mike").await);
    let (_, task) = call(&app, "POST", "/api/tasks", Some(&mike), Some(json!({"title": "not carl's"}))).await;
    let id = task["id"].as_u64().unwrap();
    let (s, _) = call(&app, "GET", &format!("/api/tasks/{id}/feedback"), Some(&carl), None).await;
    assert_eq!(s, 404, "a task a client may not read is not there for them");
    let (s, _) =
        call(&app, "POST", &format!("/api/tasks/{id}/feedback"), Some(&carl), Some(json!({"rating": 5}))).await;
    assert_eq!(s, 404);
    // The manager made it, so the manager may rate it once done; then delete the task.
    let (s, _) = call(&app, "PATCH", &format!("/api/tasks/{id}"), Some(&mike), Some(json!({"status": "done"}))).await;
    assert_eq!(s, 200);
    let (s, _) =
        call(&app, "POST", &format!("/api/tasks/{id}/feedback"), Some(&mike), Some(json!({"rating": 3}))).await;
    assert_eq!(s, 201);
    let (s, body) = call(&app, "DELETE", &format!("/api/tasks/{id}"), Some(&mike), None).await;
    assert_eq!(s, 204, "{body}");
    let (s, body) = call(&app, "GET", "/api/events?entity=feedback", Some(&mike), None).await;
    assert_eq!(s, 200);
    let types: Vec<&str> = body["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["feedback.created", "feedback.deleted"], "{body}");
    app.stop().await;
}

#[test]
fn the_feedback_form_must_be_a_web_address() {
    let ok = taskboard::config::Config::from_yaml("feedback:\n  form_url: https://forms.example/rate\n", "config.yaml")
        .unwrap();
    assert_eq!(ok.feedback.form_url, "https://forms.example/rate");
    let err = taskboard::config::Config::from_yaml("feedback:\n  form_url: javascript:alert(1)\n", "config.yaml")
        .unwrap_err();
    assert!(err.to_string().contains("feedback.form_url"), "{err}");
}
