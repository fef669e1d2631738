//! The scheduler:
//! - `GET /api/system/scheduler`: jobs with trigger, schedule, enabled, last run, last
//!   result, next run
//! - `GET /api/system/scheduler/status`: running, paused or disabled; time zone; job store
//! - `GET, PUT /api/system/scheduler/jobs/{id}`: one job; change its schedule or interval,
//!   enabled, description (a bad schedule is a 422 naming where)
//! - `POST /api/system/scheduler/jobs/{id}/run`: run now (202)
//! - `POST /api/system/scheduler/pause`, `/resume`

use std::sync::Arc;

use serde_json::json;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::domain::FieldError;
use crate::service::access::Principal;
use crate::service::jobs::{JobChange, JobError, Jobs};

use super::catalog::{Catalog, Shape};
use super::gate::principal;
use super::problem::ApiError;
use super::records::json_body;
use super::reply::{json_response, respond};

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            JobError::Invalid { field, message } => ApiError::invalid(vec![FieldError::new(field, message)]),
            JobError::Denied(e) => e.into(),
        }
    }
}

pub fn routes(jobs: Jobs, limit: u64, cat: &mut Catalog) -> BoxedFilter<(Response,)> {
    let other = |response| Shape::Other { body: None, response };
    cat.add("GET", "/api/system/scheduler", "system", "The scheduled jobs", None, other("Jobs"));
    cat.add("GET", "/api/system/scheduler/status", "system", "The scheduler's state", None, other("SchedulerStatus"));
    cat.add("GET", "/api/system/scheduler/jobs/{id}", "system", "One job", None, other("Job"));
    cat.add(
        "PUT",
        "/api/system/scheduler/jobs/{id}",
        "system",
        "Change a job: schedule or interval, enabled, description",
        None,
        Shape::Other { body: Some("job"), response: "Job" },
    );
    cat.add("POST", "/api/system/scheduler/jobs/{id}/run", "system", "Run a job now", None, other("Job"));
    cat.add("POST", "/api/system/scheduler/pause", "system", "Pause every job", None, other("SchedulerStatus"));
    cat.add("POST", "/api/system/scheduler/resume", "system", "Resume", None, other("SchedulerStatus"));
    let j = move || {
        let jobs = jobs.clone();
        warp::any().map(move || jobs.clone()).and(principal())
    };
    let ok = |v: serde_json::Value| json_response(StatusCode::OK, &v, None);
    let list =
        warp::path!("api" / "system" / "scheduler").and(warp::get()).and(j()).map(move |s: Jobs, p: Arc<Principal>| {
            respond(s.list(&p).map(|items| ok(json!({"items": items}))).map_err(ApiError::from))
        });
    let status = warp::path!("api" / "system" / "scheduler" / "status")
        .and(warp::get())
        .and(j())
        .map(move |s: Jobs, p: Arc<Principal>| respond(s.status(&p).map(ok).map_err(ApiError::from)));
    let get = warp::path!("api" / "system" / "scheduler" / "jobs" / String).and(warp::get()).and(j()).map(
        move |id: String, s: Jobs, p: Arc<Principal>| {
            respond(s.get(&p, &id).map(|v| ok(json!(v))).map_err(ApiError::from))
        },
    );
    let put = warp::path!("api" / "system" / "scheduler" / "jobs" / String)
        .and(warp::put())
        .and(json_body(limit))
        .and(j())
        .map(move |id: String, body: bytes::Bytes, s: Jobs, p: Arc<Principal>| {
            respond((|| {
                let change: JobChange = super::reply::typed_body(&body)?;
                Ok(ok(json!(s.update(&p, &id, change)?)))
            })())
        });
    let run = warp::path!("api" / "system" / "scheduler" / "jobs" / String / "run").and(warp::post()).and(j()).map(
        move |id: String, s: Jobs, p: Arc<Principal>| {
            respond(
                s.run_now(&p, &id)
                    .map(|v| json_response(StatusCode::ACCEPTED, &json!(v), None))
                    .map_err(ApiError::from),
            )
        },
    );
    let pause = warp::path!("api" / "system" / "scheduler" / "pause")
        .and(warp::post())
        .and(j())
        .map(move |s: Jobs, p: Arc<Principal>| respond(s.set_paused(&p, true).map(ok).map_err(ApiError::from)));
    let resume = warp::path!("api" / "system" / "scheduler" / "resume")
        .and(warp::post())
        .and(j())
        .map(move |s: Jobs, p: Arc<Principal>| respond(s.set_paused(&p, false).map(ok).map_err(ApiError::from)));
    list.or(status).unify().or(get).unify().or(put).unify().or(run).unify().or(pause).unify().or(resume).unify().boxed()
}
