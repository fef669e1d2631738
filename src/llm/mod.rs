//! The language model, as an outside service: a client for the OpenAI-compatible chat
//! completions API (OpenAI, Ollama, vLLM, LM Studio) that asks for one JSON object of a
//! given schema, and the text hygiene for what goes in and comes out. What to ask and
//! what an answer means is the service's business (`service::analysis`).

pub mod client;
pub mod text;

pub use client::{ChatClient, LlmError, LlmSettings};
