//! The shipped configuration is a fixture: it must pass check-config and say exactly the built-in
//! defaults. Every invalid example under tests/configs/invalid gives its expected messages. What is
//! valid but likely not meant is a warning: check-config passes and says where.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::BIN;
use flowpi::config::Config;

fn check(path: &Path) -> (i32, String, String) {
    let out = Command::new(BIN).arg("check-config").arg("--config").arg(path).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn shipped_config_passes_and_equals_the_defaults() {
    let (code, stdout, stderr) = check(Path::new("etc/flowpi.toml"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("etc/flowpi.toml: OK: "), "{stdout}");
    let shipped = Config::parse(&std::fs::read_to_string("etc/flowpi.toml").unwrap(), "shipped").unwrap();
    // Every key is shown with its default: the parsed file and the built-in defaults agree.
    assert_eq!(format!("{shipped:?}"), format!("{:?}", Config::defaults()));
}

/// Every (section, key) the configuration reader asks for, read from its source: each
/// `self.section(&mut root, "S")` or `Table::new("S", …)` opens a section, each
/// `self.get(&mut t, "K")` reads a key of it. (A stopgap until the keys have one table.)
fn keys_read() -> Vec<(String, String)> {
    let src = std::fs::read_to_string("src/config.rs").unwrap();
    let quoted = |s: &str, after: &str| -> Vec<String> {
        s.match_indices(after).filter_map(|(i, _)| s[i + after.len()..].split('"').next().map(str::to_string)).collect()
    };
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in src.lines() {
        if let Some(s) = quoted(line, "section(&mut root, \"").into_iter().next() {
            section = format!("[{s}]");
        }
        if let Some(s) = quoted(line, "Table::new(\"").into_iter().next() {
            section = format!("[[{s}]]");
        }
        for k in quoted(line, "get(&mut t, \"") {
            keys.push((section.clone(), k));
        }
    }
    keys
}

#[test]
fn shipped_config_shows_every_key_in_its_section() {
    let keys = keys_read();
    // The reader's sections and keys were found (the parse above is not silently empty).
    assert!(keys.len() > 60, "{keys:?}");
    for want in [("[collector]", "allow"), ("[time]", "zone"), ("[history]", "recent"), ("[[host]]", "mac")] {
        assert!(keys.contains(&(want.0.into(), want.1.into())), "{want:?} not found in {keys:?}");
    }
    // Each section of the shipped file, as written or commented out: its lines up to the next.
    let text = std::fs::read_to_string("etc/flowpi.toml").unwrap();
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let bare = line.trim_start_matches('#').trim();
        if bare.starts_with('[') && bare.ends_with(']') && !bare.contains('=') {
            sections.push((bare.to_string(), Vec::new()));
        } else if let Some((_, lines)) = sections.last_mut() {
            lines.push(bare.to_string());
        }
    }
    let mut missing = Vec::new();
    for (section, key) in &keys {
        let shown = sections
            .iter()
            .filter(|(s, _)| s == section)
            .any(|(_, lines)| lines.iter().any(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key)));
        if !shown {
            missing.push(format!("{section} {key}"));
        }
    }
    assert!(missing.is_empty(), "etc/flowpi.toml does not show: {missing:?}");
}

#[test]
fn valid_examples_pass() {
    for entry in std::fs::read_dir("tests/configs/valid").unwrap() {
        let path = entry.unwrap().path();
        let (code, stdout, stderr) = check(&path);
        assert_eq!(code, 0, "{}: {stderr}", path.display());
        assert!(stdout.contains(": OK: "));
    }
}

#[test]
fn invalid_examples_give_the_expected_messages() {
    let mut seen = 0;
    for entry in std::fs::read_dir("tests/configs/invalid").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let expected = std::fs::read_to_string(path.with_extension("expected")).unwrap();
        let (code, stdout, stderr) = check(&path);
        assert_eq!(code, 1, "{}", path.display());
        assert_eq!(stdout, "");
        assert_eq!(stderr, expected, "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 10);
}

/// `flowpi check-config --config PATH` that must finish within a few seconds.
fn check_quickly(path: &Path) -> (i32, String) {
    let mut child = Command::new(BIN)
        .arg("check-config")
        .arg("--config")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(5) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("check-config --config {} still running after 5 s", path.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn endless_or_huge_files_are_refused_quickly() {
    // Devices are refused before a byte is read.
    let (code, stderr) = check_quickly(Path::new("/dev/zero"));
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr, "/dev/zero: cannot read: not a regular file (a character device)\n");

    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    // Valid TOML (comments), so only the size can be what is refused.
    let line = "# a comment line of a configuration that has grown far too large to be one\n";
    std::fs::write(&big, line.repeat((2 << 20) / line.len() + 1)).unwrap();
    let (code, stderr) = check_quickly(&big);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.ends_with(": larger than 1 MiB: not a flowpi configuration (that is a few KiB)\n"), "{stderr}");

    // The limit itself is allowed.
    let limit = dir.path().join("limit.toml");
    let mut text = "[archive]\nstep = \"60s\"\n".to_string();
    text.push_str(&"#".repeat(flowpi::config::MAX_SIZE as usize - text.len()));
    std::fs::write(&limit, text).unwrap();
    let (code, stderr) = check_quickly(&limit);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    // A plain open of a FIFO waits for a writer: check-config (and the daemon's start) hung.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("flowpi.toml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (code, stderr) = check_quickly(&fifo);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr, format!("{}: cannot read: not a regular file (a FIFO)\n", fifo.display()));
    // A symlink to a device is the device.
    let zero = dir.path().join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let (code, stderr) = check_quickly(&zero);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr, format!("{}: cannot read: not a regular file (a character device)\n", zero.display()));
}

#[test]
fn missing_explicit_file_is_an_error_and_run_refuses_bad_config() {
    let (code, _, stderr) = check(Path::new("tests/configs/does-not-exist.toml"));
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot read"), "{stderr}");
    let (code, _, stderr) = check(Path::new("tests/configs"));
    assert_eq!(code, 1);
    assert_eq!(stderr, "tests/configs: cannot read: Is a directory (os error 21)\n");
    let out = Command::new(BIN).arg("--config").arg("tests/configs/invalid/unknown_key.toml").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("archive.max_host"));
}

#[test]
fn command_line() {
    let v = Command::new(BIN).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8(v.stdout).unwrap(), format!("flowpi {}\n", env!("CARGO_PKG_VERSION")));
    let h = Command::new(BIN).arg("--help").output().unwrap();
    assert!(h.status.success() && String::from_utf8(h.stdout).unwrap().contains("check-config"));
    let bad = Command::new(BIN).arg("--frobnicate").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_host_outside_network_local_and_a_replaced_application_list_are_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("flowpi.toml");
    std::fs::write(
        &path,
        "[network]\nlocal = [\"192.168.1.0/24\", \"fd00::/8\"]\n\n\
         [[host]]\naddress = \"192.168.1.13\"\nname = \"TV\"\n\n\
         [[host]]\naddress = [\"fd00::20\", \"203.0.113.5\"]\nname = \"Game server\"\n\n\
         [applications]\nweb = \"80/tcp|443\"\nmine = \"5555/udp\"\n",
    )
    .unwrap();
    let (code, stdout, stderr) = check(&path);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(": OK: "), "{stdout}");
    let p = path.display();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with(&format!("{p}:9: warning: host.address: 203.0.113.5 is outside network.local")),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&format!("{p}:12: warning: applications: this section replaces the shipped list")),
        "{stderr}"
    );
    for class in ["dns", "ntp", "p2p"] {
        assert!(lines[1].contains(class), "{class} is left out: {stderr}");
    }
    assert!(!lines[1].contains("web,"), "web is kept: {stderr}");
    // The shipped file, which lists every shipped class, warns of nothing.
    let (code, _, stderr) = check(Path::new("etc/flowpi.toml"));
    assert_eq!((code, stderr.as_str()), (0, ""));
}
