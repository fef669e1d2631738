//! The secret that signs tokens: `SECRET_KEY` (or `FLASK_SECRET_KEY`, which
//! configurations written for the older system use). Security refuses to start without
//! one, or with an obvious placeholder.

use crate::config::{Config, Secret};

const PLACEHOLDERS: [&str; 10] = [
    "your-secure-secret-key-here",
    "your-secret-key",
    "your-secret-key-here",
    "change-me",
    "changeme",
    "change-this",
    "secret",
    "secret-key",
    "please-change-me",
    "dev",
];

/// The minimum length of a secret key.
pub const MIN_LENGTH: usize = 16;

/// With security on, the secret key from the configuration or else the environment;
/// an error says why there is none usable.
pub fn resolve(config: &mut Config) -> Result<(), String> {
    if config.security.enabled && !config.secret_key.is_set() {
        config.secret_key = from_env()?;
    }
    Ok(())
}

/// Reads the secret from the environment (`SECRET_KEY`, then `FLASK_SECRET_KEY`).
pub fn from_env() -> Result<Secret, String> {
    let value = std::env::var("SECRET_KEY")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| std::env::var("FLASK_SECRET_KEY").ok().filter(|v| !v.trim().is_empty()));
    check(value.as_deref().unwrap_or("")).map(|()| Secret(value.unwrap_or_default()))
}

/// Whether a value can sign tokens; the error says why not (never the value).
pub fn check(value: &str) -> Result<(), String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(
            "SECRET_KEY is not set: with security enabled, set it (or FLASK_SECRET_KEY) in the environment or .env"
                .into(),
        );
    }
    let lowered = v.to_ascii_lowercase();
    if PLACEHOLDERS.contains(&lowered.as_str())
        || lowered.contains("change-me")
        || lowered.contains("your-secure-secret")
    {
        return Err("SECRET_KEY is a placeholder from an example; set a long random value".into());
    }
    if v.chars().count() < MIN_LENGTH {
        return Err(format!("SECRET_KEY is shorter than {MIN_LENGTH} characters; set a long random value"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn empty_short_and_placeholder_secrets_are_refused() {
        assert!(check("").unwrap_err().contains("not set"));
        assert!(check("your-secure-secret-key-here").unwrap_err().contains("placeholder"));
        assert!(check("CHANGE-ME").unwrap_err().contains("placeholder"));
        assert!(check("please-change-me-now-1234").unwrap_err().contains("placeholder"));
        assert!(check("short").unwrap_err().contains("shorter"));
        assert!(check("k3v9-Qw7s-Zt2p-Lm8x-Rb4n").is_ok());
    }

    #[test]
    fn the_error_never_shows_the_value() {
        let err = check("tiny-secret").unwrap_err();
        assert!(!err.contains("tiny-secret"));
    }
}
