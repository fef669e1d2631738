fn main() -> std::process::ExitCode {
    taskboard::cli::run()
}
