//! Passwords: the policy (at least 8 characters with upper case, lower case, a digit
//! and a special character) and argon2id hashes in credentials.csv. Hashing is slow on
//! purpose, so servers run it with `spawn_blocking`, never on the async workers.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// A password older than this must be changed before anything else.
pub const MAX_AGE_DAYS: i64 = 90;

/// Every rule the password breaks, in words (empty when it is acceptable).
pub fn policy_problems(password: &str) -> Vec<&'static str> {
    let mut problems = Vec::new();
    if password.chars().count() < 8 {
        problems.push("at least 8 characters");
    }
    if !password.chars().any(|c| c.is_uppercase()) {
        problems.push("an upper-case letter");
    }
    if !password.chars().any(|c| c.is_lowercase()) {
        problems.push("a lower-case letter");
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        problems.push("a digit");
    }
    if !password.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
        problems.push("a special character");
    }
    problems
}

/// The argon2id PHC string of a password (a fresh random salt each time).
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| format!("cannot hash: {e}"))
}

/// Whether `password` matches a stored PHC string; a malformed hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), stored).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_every_rule_broken() {
        assert_eq!(
            policy_problems("abc"),
            ["at least 8 characters", "an upper-case letter", "a digit", "a special character"]
        );
        assert!(policy_problems("Correct-Horse-7").is_empty());
        assert!(policy_problems("Пароль-2026").is_empty(), "letters of any script count");
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("Correct-Horse-7").unwrap();
        let b = hash("Correct-Horse-7").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify("Correct-Horse-7", &a));
        assert!(!verify("correct-horse-7", &a));
        assert!(!verify("Correct-Horse-7", "not a hash"));
    }
}
