//! Logging in on the board through the bot: the browser asks
//! (`POST /api/auth/telegram/login`), the person opens the deep link in Telegram, the
//! bot asks their bound account "Log in to taskboard?", naming the browser and address
//! that asked, with three numbers (the board's among two others) and Cancel; the right
//! number turns the browser's pending request into a session, once.
//!
//! Number matching is the point: a login request someone relays to a victim cannot be
//! confirmed by a reflex tap, since the victim does not see the attacker's board. A
//! wrong number cancels the request.
//!
//! Requests live in an auxiliary file changed in one step (`Storage::update_aux`), so
//! a browser served by one server and a bot polled by another agree on them. Only the
//! SHA-256 of the code is kept.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::values::hex;
use crate::store::StoreError;

/// Where pending board logins wait.
const FILE: &str = ".taskboard/telegram_logins.json";
/// How long a request may be confirmed.
pub const TTL_MINUTES: i64 = 5;
/// Requests kept at most (expired ones are dropped first): the route is public.
const MAX_REQUESTS: usize = 1000;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Asked by the browser; nobody opened it in Telegram yet.
    Pending,
    /// Opened in Telegram by `user_id`: the numbers are on their screen.
    Opened,
    /// The right number was pressed: the browser may take its session, once.
    Approved,
    /// Cancelled, or a wrong number pressed.
    Refused,
    /// The session was handed out.
    Used,
}

/// One login request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub request_id: String,
    code_sha256: String,
    /// The number the board shows.
    pub matching: u8,
    /// The three numbers the bot offers, the board's among them.
    pub choices: [u8; 3],
    /// The browser that asked (its User-Agent, cut) and its address.
    pub agent: String,
    pub address: String,
    pub expires_at: DateTime<Utc>,
    pub state: State,
    /// The user who opened it in Telegram.
    pub user_id: Option<u64>,
}

/// What `POST /api/auth/telegram/login` answers (the code is shown this once).
#[derive(Debug, Clone, Serialize)]
pub struct Started {
    pub request_id: String,
    pub code: String,
    /// `https://t.me/<bot>?start=login-<code>`, once the bot knows its name.
    pub deep_link: Option<String>,
    pub expires_at: String,
    #[serde(rename = "match")]
    pub matching: u8,
}

/// What a poll of a request finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Not confirmed yet (202).
    Pending,
    /// Confirmed by this user: a session is due (200), now marked used.
    Approved(u64),
    /// Cancelled or a wrong number (403).
    Refused,
    /// Expired, or its session was already handed out (410).
    Gone,
    /// No such request (404).
    Unknown,
}

/// What opening a code in the bot found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// Ask the person: here is the request.
    Ask(Request),
    /// Unknown, expired or already decided.
    Gone,
}

/// What a press decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pressed {
    Approved,
    /// A wrong number, or Cancel: the request is refused.
    Refused,
    /// Not this person's request, or no longer open.
    Gone,
}

fn digest(code: &str) -> String {
    hex(&Sha256::digest(code.as_bytes()))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| StoreError::Io)?;
    Ok(bytes)
}

/// Three distinct two-digit numbers, in random order, the first of `order` being the
/// board's: (the board's, the three as the bot shows them).
fn numbers() -> Result<(u8, [u8; 3]), StoreError> {
    let bytes = random_bytes::<8>()?;
    let mut picked: Vec<u8> = Vec::with_capacity(3);
    let mut i = 0;
    let mut extra = 0u8;
    while picked.len() < 3 {
        let raw = bytes.get(i).copied().unwrap_or_else(|| {
            extra = extra.wrapping_add(37);
            extra
        });
        i += 1;
        let n = 10 + raw % 90;
        if !picked.contains(&n) {
            picked.push(n);
        }
    }
    let matching = picked[0];
    // The board's number takes a random place among the three.
    let place = (bytes[7] % 3) as usize;
    picked.swap(0, place);
    Ok((matching, [picked[0], picked[1], picked[2]]))
}

fn read(bytes: Option<&[u8]>) -> Vec<Request> {
    bytes.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default()
}

fn write(requests: &[Request]) -> Vec<u8> {
    serde_json::to_vec(requests).unwrap_or_default()
}

/// Starts a request for the browser at `address` with `agent`.
pub fn start(
    store: &dyn crate::store::Storage,
    agent: &str,
    address: &str,
    bot: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Started, StoreError> {
    let code = hex(&random_bytes::<16>()?);
    let request_id = hex(&random_bytes::<16>()?);
    let (matching, choices) = numbers()?;
    let request = Request {
        request_id: request_id.clone(),
        code_sha256: digest(&code),
        matching,
        choices,
        agent: agent.chars().filter(|c| !c.is_control()).take(120).collect(),
        address: address.to_string(),
        expires_at: now + chrono::Duration::minutes(TTL_MINUTES),
        state: State::Pending,
        user_id: None,
    };
    let mut full = false;
    store.update_aux(FILE, &mut |bytes| {
        let mut all = read(bytes);
        // Expired and finished requests go first; a full file refuses new ones.
        all.retain(|r| r.expires_at > now && r.state != State::Used);
        full = all.len() >= MAX_REQUESTS;
        if !full {
            all.push(request.clone());
        }
        write(&all)
    })?;
    if full {
        return Err(StoreError::Unavailable("too many Telegram logins are waiting; try again in a few minutes".into()));
    }
    Ok(Started {
        request_id,
        deep_link: bot.map(|b| format!("https://t.me/{b}?start=login-{code}")),
        code,
        expires_at: request.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        matching,
    })
}

/// The bot's `/start login-CODE` from bound user `user_id`: the request to ask about.
/// A request is opened by one account only; opening it again from that account
/// shows it again.
pub fn open(
    store: &dyn crate::store::Storage,
    code: &str,
    user_id: u64,
    now: DateTime<Utc>,
) -> Result<Opened, StoreError> {
    let wanted = digest(code.trim());
    let mut found = None;
    store.update_aux(FILE, &mut |bytes| {
        let mut all = read(bytes);
        found = None;
        if let Some(r) = all.iter_mut().find(|r| r.code_sha256 == wanted) {
            let open = r.expires_at > now
                && (r.state == State::Pending || (r.state == State::Opened && r.user_id == Some(user_id)));
            if open {
                r.state = State::Opened;
                r.user_id = Some(user_id);
                found = Some(r.clone());
            }
        }
        write(&all)
    })?;
    Ok(found.map_or(Opened::Gone, Opened::Ask))
}

/// A press in the bot by `user_id`: `choice` a number, or None for Cancel.
pub fn press(
    store: &dyn crate::store::Storage,
    request_id: &str,
    user_id: u64,
    choice: Option<u8>,
    now: DateTime<Utc>,
) -> Result<Pressed, StoreError> {
    let mut outcome = Pressed::Gone;
    store.update_aux(FILE, &mut |bytes| {
        let mut all = read(bytes);
        outcome = Pressed::Gone;
        if let Some(r) = all.iter_mut().find(|r| r.request_id == request_id)
            && r.state == State::Opened
            && r.user_id == Some(user_id)
            && r.expires_at > now
        {
            if choice == Some(r.matching) {
                r.state = State::Approved;
                outcome = Pressed::Approved;
            } else {
                r.state = State::Refused;
                outcome = Pressed::Refused;
            }
        }
        write(&all)
    })?;
    Ok(outcome)
}

/// The browser's poll: an approved request is handed out once (then gone).
pub fn poll(store: &dyn crate::store::Storage, request_id: &str, now: DateTime<Utc>) -> Result<Poll, StoreError> {
    let mut outcome = Poll::Unknown;
    store.update_aux(FILE, &mut |bytes| {
        let mut all = read(bytes);
        outcome = Poll::Unknown;
        if let Some(r) = all.iter_mut().find(|r| r.request_id == request_id) {
            outcome = match r.state {
                State::Used => Poll::Gone,
                State::Refused => Poll::Refused,
                _ if r.expires_at <= now => Poll::Gone,
                State::Approved => {
                    r.state = State::Used;
                    r.user_id.map_or(Poll::Refused, Poll::Approved)
                }
                State::Pending | State::Opened => Poll::Pending,
            };
        }
        write(&all)
    })?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boards_number_is_one_of_three_distinct_two_digit_numbers() {
        for _ in 0..200 {
            let (matching, choices) = numbers().unwrap();
            assert!(choices.contains(&matching));
            assert!(choices.iter().all(|n| (10..=99).contains(n)));
            assert!(choices[0] != choices[1] && choices[1] != choices[2] && choices[0] != choices[2]);
        }
    }
}
