//! A client for `POST {base_url}/chat/completions` of any OpenAI-compatible server
//! that asks for one JSON object of a schema and hands back only an answer that passed
//! the caller's check.
//!
//! - Structured output, as far as the server goes: `response_format: json_schema`
//!   (strict), else `json_object`, else the schema in the prompt alone. A server that
//!   answers 400 or 422 to one is asked the next way, and the client remembers the way
//!   that worked for later calls.
//! - 429 and 5xx (and a connection that fails) are retried with backoff, honouring
//!   `Retry-After`; any other 4xx is final. An answer that is not JSON or fails the
//!   check is asked for once more. Everything, retries included, ends within
//!   `timeout`.
//! - At most `max_concurrent` calls are upstream at once; the rest wait their turn.
//! - The key goes only into the `Authorization` header; an error text that would
//!   carry it (some servers echo it) has it blanked.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

/// What the client needs from `llm.*`.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// `https://api.openai.com/v1`; `/chat/completions` is appended.
    pub base_url: String,
    pub api_key: String,
    pub model: String,
    pub max_tokens: u32,
    /// The whole call, retries included.
    pub timeout: Duration,
    pub max_concurrent: usize,
}

/// Why there is no answer, in words fit for `llm_error`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("the model did not answer within {0} s")]
    Timeout(u64),
    #[error("the model's server could not be reached ({0})")]
    Unreachable(String),
    #[error("the model's server answered {status}: {detail}")]
    Status { status: u16, detail: String },
    #[error("the model's answer did not validate: {0}")]
    Invalid(String),
}

/// The ways of asking for JSON, strictest first.
const JSON_SCHEMA: u8 = 0;
const JSON_OBJECT: u8 = 1;
const PROMPT_ONLY: u8 = 2;

/// Attempts for 429, 5xx and failed connections.
const ATTEMPTS: u32 = 3;
/// Answers that fail the check before giving up.
const INVALID_ANSWERS: u32 = 2;

/// A cheap-to-clone handle.
#[derive(Clone)]
pub struct ChatClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    settings: LlmSettings,
    slots: tokio::sync::Semaphore,
    /// The way of asking for JSON that this server takes (see the module's doc).
    mode: AtomicU8,
    /// Requests sent upstream, for tests and metrics.
    calls: AtomicU64,
}

impl ChatClient {
    pub fn new(settings: LlmSettings) -> Result<ChatClient, String> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| format!("the LLM client cannot start: {e}"))?;
        let slots = tokio::sync::Semaphore::new(settings.max_concurrent.max(1));
        Ok(ChatClient {
            inner: Arc::new(Inner {
                http,
                settings,
                slots,
                mode: AtomicU8::new(JSON_SCHEMA),
                calls: AtomicU64::new(0),
            }),
        })
    }

    pub fn model(&self) -> &str {
        &self.inner.settings.model
    }

    /// Requests sent upstream so far.
    pub fn upstream_calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// Asks for one JSON object of `schema` and returns what `check` makes of it, with
    /// the model the server says answered.
    pub async fn ask_json<T>(
        &self,
        system: &str,
        user: &str,
        schema_name: &str,
        schema: &Value,
        check: impl Fn(Value) -> Result<T, String>,
    ) -> Result<(T, String), LlmError> {
        let timeout = self.inner.settings.timeout;
        let work = async {
            let _slot = self.inner.slots.acquire().await.map_err(|_| LlmError::Unreachable("shutting down".into()))?;
            let url = format!("{}/chat/completions", self.inner.settings.base_url.trim_end_matches('/'));
            let (mut failures, mut invalid) = (0u32, 0u32);
            loop {
                let mode = self.inner.mode.load(Ordering::Relaxed);
                let body = self.request_body(mode, system, user, schema_name, schema);
                self.inner.calls.fetch_add(1, Ordering::Relaxed);
                let mut request = self.inner.http.post(&url).json(&body);
                if !self.inner.settings.api_key.is_empty() {
                    request = request.bearer_auth(&self.inner.settings.api_key);
                }
                let response = match request.send().await {
                    Ok(r) => r,
                    Err(e) => {
                        failures += 1;
                        if failures >= ATTEMPTS {
                            return Err(LlmError::Unreachable(self.blank_key(&describe(&e))));
                        }
                        tokio::time::sleep(backoff(failures)).await;
                        continue;
                    }
                };
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let bytes = response.bytes().await.unwrap_or_default();
                match status {
                    200..=299 => match extract(&bytes).and_then(|(value, model)| Ok((check(value)?, model))) {
                        Ok((answer, model)) => {
                            return Ok((answer, model.unwrap_or_else(|| self.model().to_string())));
                        }
                        Err(why) => {
                            invalid += 1;
                            if invalid >= INVALID_ANSWERS {
                                return Err(LlmError::Invalid(why));
                            }
                        }
                    },
                    // A server without this way of asking for JSON: ask the next way.
                    400 | 422 if mode < PROMPT_ONLY => {
                        let _ = self.inner.mode.compare_exchange(mode, mode + 1, Ordering::Relaxed, Ordering::Relaxed);
                        tracing::info!(
                            status,
                            from = mode,
                            "the LLM server refused a structured-output request; asking more simply"
                        );
                    }
                    429 | 500..=599 => {
                        failures += 1;
                        if failures >= ATTEMPTS {
                            return Err(LlmError::Status { status, detail: self.error_detail(&bytes) });
                        }
                        tokio::time::sleep(retry_after.unwrap_or_else(|| backoff(failures))).await;
                    }
                    _ => return Err(LlmError::Status { status, detail: self.error_detail(&bytes) }),
                }
            }
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(LlmError::Timeout(timeout.as_secs())),
        }
    }

    fn request_body(&self, mode: u8, system: &str, user: &str, schema_name: &str, schema: &Value) -> Value {
        let settings = &self.inner.settings;
        // Without a schema in response_format, the schema goes into the instructions.
        let system = if mode == JSON_SCHEMA {
            format!("{system}\nAnswer with one JSON object.")
        } else {
            format!("{system}\nAnswer with one JSON object, and nothing else, that matches this JSON schema:\n{schema}")
        };
        let mut body = json!({
            "model": settings.model,
            "max_tokens": settings.max_tokens,
            "temperature": 0.2,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        });
        match mode {
            JSON_SCHEMA => {
                body["response_format"] = json!({"type": "json_schema",
                    "json_schema": {"name": schema_name, "strict": true, "schema": schema}});
            }
            JSON_OBJECT => body["response_format"] = json!({"type": "json_object"}),
            _ => {}
        }
        body
    }

    /// An upstream error's message, short, clean and without the key.
    fn error_detail(&self, bytes: &[u8]) -> String {
        let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
        let message = parsed
            .as_ref()
            .and_then(|v| {
                v["error"]["message"].as_str().or_else(|| v["error"].as_str()).or_else(|| v["message"].as_str())
            })
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned());
        self.blank_key(&super::text::clean(&message, 200))
    }

    fn blank_key(&self, text: &str) -> String {
        let key = &self.inner.settings.api_key;
        if key.len() >= 4 { text.replace(key.as_str(), "[key]") } else { text.to_string() }
    }
}

/// 0.5 s, 1 s, 2 s…
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64 << failures.min(6))
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        "the connection failed".into()
    }
}

/// The JSON object in a chat completion's first choice, and the model named.
fn extract(bytes: &[u8]) -> Result<(Value, Option<String>), String> {
    let body: Value = serde_json::from_slice(bytes).map_err(|_| "the server's answer is not JSON".to_string())?;
    let model = body["model"].as_str().map(str::to_string);
    let content = body["choices"][0]["message"]["content"]
        .as_str()
        .ok_or_else(|| "the answer has no choices[0].message.content".to_string())?;
    // Models without structured output like to wrap JSON in prose or ``` fences.
    let start = content.find('{').ok_or_else(|| "the answer holds no JSON object".to_string())?;
    let end = content.rfind('}').filter(|e| *e > start).ok_or_else(|| "the answer holds no JSON object".to_string())?;
    let value: Value =
        serde_json::from_str(&content[start..=end]).map_err(|e| format!("the answer's JSON does not parse: {e}"))?;
    Ok((value, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_found_inside_fences_and_prose() {
        let body = json!({"model": "m1", "choices": [{"message": {"content": "Sure!\n```json\n{\"a\": 1}\n```"}}]});
        let (value, model) = extract(body.to_string().as_bytes()).unwrap();
        assert_eq!((value, model.as_deref()), (json!({"a": 1}), Some("m1")));
        let none = json!({"choices": [{"message": {"content": "no json here"}}]});
        assert!(extract(none.to_string().as_bytes()).is_err());
        assert!(extract(b"<html>").is_err());
    }
}
