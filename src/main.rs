//! flowpi's entry point: parse the command line, load the configuration, start logging, run, and
//! map the outcome to an exit code.

use std::process::ExitCode;

use flowpi::cli::{self, Command};
use flowpi::config::{Config, Source};
use simplelog::{ColorChoice, ConfigBuilder, LevelFilter, TermLogger, TerminalMode};

fn main() -> ExitCode {
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
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
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
            init_logging(cfg.log.level);
            log::info!("configuration: {}", source_name(&source));
            match flowpi::app::run(cfg) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    log::error!("{e}");
                    ExitCode::from(3)
                }
            }
        }
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
