//! `taskboard user add|passwd|list`: the same use cases as the REST API, as the
//! command line's admin, on the configured store (a folder, which must not have a
//! server on it, or PostgreSQL, which may).

use std::process::ExitCode;

use super::UserAction;
use crate::config::Config;

/// The first line of standard input, without its line end.
fn read_password_line() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub(super) fn run(config: &Config, action: UserAction) -> ExitCode {
    let fail = |message: String| {
        eprintln!("taskboard user: {message}");
        ExitCode::FAILURE
    };
    // On a folder the list is read from the files (safe while a server runs); on
    // PostgreSQL from the database.
    if let (UserAction::List, false) = (&action, config.db_postgresql.enabled) {
        let store_config = crate::store::StoreConfig::from_config(config);
        let report = crate::store::csv::check::open_folder(&store_config.data_dir, &store_config.vocabulary);
        let Some(users) = report.tables.get(&crate::domain::TableKind::Users) else {
            return fail("users.csv does not load; run taskboard check".into());
        };
        let credentials = report.tables.get(&crate::domain::TableKind::Credentials).map(|c| &c.data);
        print_users(&users.data, credentials);
        return ExitCode::SUCCESS;
    }
    let password = match &action {
        UserAction::Add { password_stdin: true, .. } | UserAction::Passwd { .. } => match read_password_line() {
            Ok(p) => {
                let problems = crate::auth::password::policy_problems(&p);
                if !problems.is_empty() {
                    return fail(format!("the password needs {}", problems.join(", ")));
                }
                Some(p)
            }
            Err(e) => return fail(e),
        },
        _ => None,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    runtime.block_on(async {
        let store = match crate::app::open_store(config).await {
            Ok(s) => s,
            Err(e) => {
                return fail(format!(
                    "{e:#} (with a server running on the folder, an admin adds users with POST /api/users and sets passwords with PUT /api/users/{{id}}/password)"
                ));
            }
        };
        // The same use cases as the REST API, as the command line's admin.
        let p = crate::service::access::Principal::system(crate::store::Source::Cli);
        let result: Result<String, String> = async {
            let services = crate::service::Services::new(std::sync::Arc::new(config.clone()), store.clone())?;
            let records = &services.records;
            let explain = |e: crate::service::access::ServiceError| match e {
                crate::service::access::ServiceError::Store(crate::store::StoreError::Invalid(errors)) => {
                    errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ")
                }
                other => other.to_string(),
            };
            match &action {
                UserAction::Add { username, role, telegram_id, .. } => {
                    if records.user_named(username).map_err(explain)?.is_some() {
                        return Err(format!("a user named {username:?} exists already"));
                    }
                    let mut fields = crate::store::Fields::new();
                    fields.insert("username".into(), username.clone());
                    fields.insert("role".into(), role.clone());
                    fields.insert("is_active".into(), "true".into());
                    fields.insert("telegram_id".into(), telegram_id.clone().unwrap_or_default());
                    let committed = records.add_user(&p, fields, password.as_deref()).await.map_err(explain)?;
                    Ok(format!("added user {} ({username}, {role})", committed.id))
                }
                UserAction::Passwd { username } => {
                    let id = records.user_named(username).map_err(explain)?.ok_or_else(|| format!("no user named {username:?}"))?;
                    let password = password.as_deref().ok_or("no password was read")?;
                    services.reset_password(&p, id, password).await.map_err(explain)?;
                    Ok(format!("password set for {username}"))
                }
                UserAction::List => {
                    let users = store.table(crate::domain::TableKind::Users).map_err(|e| e.to_string())?;
                    let credentials = store.table(crate::domain::TableKind::Credentials).ok();
                    print_users(&users, credentials.as_deref());
                    Ok(String::new())
                }
            }
        }
        .await;
        store.shutdown().await;
        match result {
            Ok(message) => {
                if !message.is_empty() {
                    println!("{message}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    })
}

/// `taskboard user list`'s table.
fn print_users(users: &crate::store::TableData, credentials: Option<&crate::store::TableData>) {
    println!("id\tusername\trole\tactive\ttelegram_id\tpassword");
    for (id, row) in users.rows.iter() {
        println!(
            "{id}\t{}\t{}\t{}\t{}\t{}",
            users.value(row, "username"),
            users.value(row, "role"),
            users.value(row, "is_active"),
            users.value(row, "telegram_id"),
            if credentials.is_some_and(|c| c.get(*id).is_some()) { "set" } else { "-" }
        );
    }
}
