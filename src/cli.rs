//! The command line: `flowpi [run] [--config PATH]`, `check-config`, the password commands,
//! `replay`, `--version`, `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::replay::ReplayArgs;

#[derive(Debug, Clone)]
pub enum Command {
    Run {
        config: Option<PathBuf>,
    },
    CheckConfig {
        config: Option<PathBuf>,
    },
    /// Read a password on stdin, print its argon2 hash (for http.password_hash).
    HashPassword,
    /// Read a password on stdin, store its hash in archive.dir.
    SetPassword {
        config: Option<PathBuf>,
    },
    /// Make the first-start password now if there is none (what the daemon does at start).
    InitPassword {
        config: Option<PathBuf>,
    },
    Replay(ReplayArgs),
    Version,
    Help,
}

pub const HELP: &str = "\
flowpi: NetFlow collector with per-host and per-interface RRD graphs over HTTP

Usage:
  flowpi [run] [--config PATH]      run the daemon (default config /etc/flowpi.toml;
                                    built-in defaults if that file does not exist)
  flowpi check-config [--config PATH]
                                    validate the configuration, print every problem
  flowpi hash-password              read a password on stdin, print its argon2 hash
                                    for http.password_hash
  flowpi set-password [--config PATH]
                                    read a new web page password on stdin and store
                                    its hash in archive.dir (restart flowpi to use it)
  flowpi init-password [--config PATH]
                                    if no password exists yet, make one as the first
                                    start does; say where it is
  flowpi replay FILE... --to ADDR [--rate N] [--repeat N] [--port P]
                                    send the NetFlow/IPFIX datagrams of pcap or raw
                                    files to a collector (N datagrams/s, 0 = no pacing)
  flowpi --version | --help

Exit codes: 0 ok, 1 bad configuration, 2 bad command line, 3 start-up or run failure.
";

/// Parse `std::env::args()` minus the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut it = args.iter().peekable();
    let sub = match it.peek().map(|s| s.as_str()) {
        Some("run" | "check-config" | "replay" | "hash-password" | "set-password" | "init-password") => {
            it.next().map(|s| s.as_str())
        }
        _ => None,
    };
    let mut config = None;
    let mut files = Vec::new();
    let mut to = None;
    let mut rate = 10_000u64;
    let mut repeat = 1u64;
    let mut port = None;
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-c" | "--config" if !matches!(sub, Some("replay" | "hash-password")) => {
                config = Some(PathBuf::from(value(a)?))
            }
            "--to" if sub == Some("replay") => {
                let v = value(a)?;
                to = Some(v.parse::<SocketAddr>().map_err(|_| format!("--to {v:?} is not an address:port"))?)
            }
            "--rate" if sub == Some("replay") => rate = number(a, &value(a)?)?,
            "--repeat" if sub == Some("replay") => repeat = number(a, &value(a)?)?,
            "--port" if sub == Some("replay") => port = Some(number(a, &value(a)?)? as u16),
            s if sub == Some("replay") && !s.starts_with('-') => files.push(PathBuf::from(s)),
            s => return Err(format!("unexpected argument {s:?} (see flowpi --help)")),
        }
    }
    match sub {
        None | Some("run") => Ok(Command::Run { config }),
        Some("check-config") => Ok(Command::CheckConfig { config }),
        Some("hash-password") => Ok(Command::HashPassword),
        Some("set-password") => Ok(Command::SetPassword { config }),
        Some("init-password") => Ok(Command::InitPassword { config }),
        _ => {
            if files.is_empty() {
                return Err("replay needs at least one file".into());
            }
            let to = to.ok_or("replay needs --to ADDR:PORT")?;
            Ok(Command::Replay(ReplayArgs { files, to, rate, repeat, port }))
        }
    }
}

fn number(flag: &str, v: &str) -> Result<u64, String> {
    v.parse().map_err(|_| format!("{flag} {v:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, String> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn commands() {
        assert!(matches!(p(""), Ok(Command::Run { config: None })));
        assert!(matches!(p("--config /x.toml"), Ok(Command::Run { config: Some(_) })));
        assert!(matches!(p("run -c /x.toml"), Ok(Command::Run { config: Some(_) })));
        assert!(matches!(p("check-config"), Ok(Command::CheckConfig { config: None })));
        assert!(matches!(p("--version"), Ok(Command::Version)));
        assert!(matches!(p("hash-password"), Ok(Command::HashPassword)));
        assert!(matches!(p("set-password -c /x.toml"), Ok(Command::SetPassword { config: Some(_) })));
        assert!(matches!(p("init-password"), Ok(Command::InitPassword { config: None })));
        assert!(p("hash-password --config /x.toml").is_err());
        let Ok(Command::Replay(r)) = p("replay a.pcap b.dat --to 127.0.0.1:2055 --rate 0") else { panic!() };
        assert_eq!(r.files.len(), 2);
        assert_eq!(r.rate, 0);
        assert!(p("--bogus").is_err());
        assert!(p("--config").is_err());
        assert!(p("replay a.pcap").is_err());
    }
}
