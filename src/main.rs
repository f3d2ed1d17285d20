//! flowpi's entry point: parse the command line, load the configuration, start logging, run, and
//! map the outcome to an exit code.

use std::process::ExitCode;

use flowpi::cli::{self, Command};
use flowpi::config::{Config, Source};
use simplelog::{ColorChoice, ConfigBuilder, LevelFilter, TermLogger, TerminalMode};

fn main() -> ExitCode {
    limit_heap_growth();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flowpi: {e}");
            return ExitCode::from(2);
        }
    };
    match cmd {
        Command::Help => {
            print!("{}", cli::HELP);
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("flowpi {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::CheckConfig { config } => match Config::load(config.as_deref()) {
            Ok((cfg, source)) => {
                println!("{}: OK: {}", source_name(&source), cfg.summary());
                // Valid, so not a failure (the exit code stays 0), but said where it is.
                for w in cfg.warning_lines(&source_name(&source)) {
                    eprintln!("{w}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Command::HashPassword => match read_password() {
            Ok(pw) => {
                println!("{}", flowpi::http::auth::hash_password(&pw));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("flowpi: {e}");
                ExitCode::from(2)
            }
        },
        Command::SetPassword { config } => {
            let Some(cfg) = load_quiet(config.as_deref()) else { return ExitCode::from(1) };
            match read_password().and_then(|pw| flowpi::http::auth::set_password(&cfg, &pw)) {
                Ok(path) => {
                    println!("password stored in {}; restart flowpi to use it", path.display());
                    if cfg.http.auth == flowpi::config::Auth::None || has_config_hash(&cfg) {
                        eprintln!("note: the configuration sets http.auth = \"none\" or http.password_hash, which take precedence");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("flowpi: {e}");
                    ExitCode::from(3)
                }
            }
        }
        Command::InitPassword { config } => {
            use flowpi::http::auth::Init;
            let Some(cfg) = load_quiet(config.as_deref()) else { return ExitCode::from(1) };
            match flowpi::http::auth::init_password(&cfg) {
                // Printed so that it reaches the journal when the image's boot script runs this.
                Ok(Init::Generated { password, file }) => println!(
                    "password generated for the web page (user flowpi): {password}; it is also in {}",
                    file.display()
                ),
                Ok(Init::FromConfig) => println!("the password is set by http.password_hash"),
                Ok(Init::FromFile) => println!("a password exists already"),
                Ok(Init::Disabled) => println!("http.auth = \"none\": no password"),
                Err(e) => {
                    eprintln!("flowpi: cannot make a password in {}: {e}", cfg.archive.dir.display());
                    return ExitCode::from(3);
                }
            }
            ExitCode::SUCCESS
        }
        Command::Replay(r) => match flowpi::replay::run(&r) {
            Ok(n) => {
                println!("sent {n} datagrams to {}", r.to);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("flowpi replay: {e}");
                ExitCode::from(3)
            }
        },
        Command::Run { config } => {
            let (cfg, source) = match Config::load(config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            // librrd draws graph axes with localtime(): in the configured zone through TZ, set
            // while this is the only thread.
            std::env::set_var("TZ", cfg.calendar.zone_name());
            init_logging(cfg.log.level);
            log::info!("configuration: {}", source_name(&source));
            for w in cfg.warning_lines(&source_name(&source)) {
                log::warn!("{w}");
            }
            // The SD image's unit says so: there the card's flowpi.toml is the configuration.
            let image = std::env::var_os(flowpi::doctor::IMAGE_ENV).is_some_and(|v| v == "1");
            let place = flowpi::doctor::ConfigPlace::of(image, &source);
            match flowpi::app::run(cfg, place) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    log::error!("{e}");
                    ExitCode::from(3)
                }
            }
        }
    }
}

fn load_quiet(path: Option<&std::path::Path>) -> Option<Config> {
    match Config::load(path) {
        Ok((cfg, _)) => Some(cfg),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

fn has_config_hash(cfg: &Config) -> bool {
    matches!(&cfg.http.auth, flowpi::config::Auth::Password { hash: Some(_), .. })
}

/// One line from stdin; on a terminal asked for twice without echo.
fn read_password() -> Result<String, String> {
    let tty = unsafe { libc::isatty(0) } == 1;
    let read = |prompt: &str| -> Result<String, String> {
        if tty {
            eprint!("{prompt}");
        }
        let echo = tty.then(no_echo);
        let mut line = String::new();
        let r = std::io::stdin().read_line(&mut line);
        if let Some(Some(old)) = echo {
            // SAFETY: restores the terminal settings read by no_echo.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &old) };
            eprintln!();
        }
        r.map_err(|e| format!("cannot read the password: {e}"))?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    };
    let pw = read("Password: ")?;
    if pw.is_empty() {
        return Err("no password given (one line on standard input)".into());
    }
    if tty && read("Again: ")? != pw {
        return Err("the two passwords differ".into());
    }
    Ok(pw)
}

/// Turn terminal echo off; the old settings to restore.
fn no_echo() -> Option<libc::termios> {
    // SAFETY: termios is plain data; tcgetattr fills it for fd 0.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) != 0 {
            return None;
        }
        let old = t;
        t.c_lflag &= !libc::ECHO;
        libc::tcsetattr(0, libc::TCSANOW, &t);
        Some(old)
    }
}

/// glibc raises its mmap threshold after the first large block is freed, after which freed
/// argon2 buffers (19 MiB per login) and big graph images stay in the heap for good: a flood of
/// wrong passwords left RSS at 250 MB. A fixed threshold keeps large blocks mapped, so freeing
/// them returns the memory.
fn limit_heap_growth() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn source_name(s: &Source) -> String {
    match s {
        Source::File(p) => p.display().to_string(),
        Source::Defaults => format!("built-in defaults ({} not found)", flowpi::config::DEFAULT_PATH),
    }
}

fn init_logging(level: LevelFilter) {
    let mut b = ConfigBuilder::new();
    // journald stamps every line itself; a second timestamp is noise.
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        b.set_time_level(LevelFilter::Off);
    }
    b.set_target_level(LevelFilter::Off).set_thread_level(LevelFilter::Off);
    let _ = TermLogger::init(level, b.build(), TerminalMode::Stderr, ColorChoice::Never);
}
