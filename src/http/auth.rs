//! Who may read: the argon2 password (from the config, or generated at first start), signed
//! session cookies and the list of those logged out, HTTP Basic for scripts, read-only tokens, the
//! per-address login rate limit, and the `Host:` check that stops DNS rebinding.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use blake2::digest::consts::U32;
use blake2::digest::Mac;
use blake2::Blake2bMac;

use crate::config::{Auth, Config};
use crate::stats::{self, Stats};

/// The user name HTTP Basic expects (there is one user).
pub const USER: &str = "flowpi";
/// Where the password hash lives when the config has none, under archive.dir.
pub const HASH_FILE: &str = "password.hash";
/// The generated password in clear, for the user to read once (and the card script to copy).
pub const INITIAL_FILE: &str = "initial-password";
/// The key that signs session cookies; kept so sessions survive a restart.
pub const KEY_FILE: &str = "session.key";
/// Sessions ended by logging out, kept beside the key so that a restart does not bring them back.
pub const REVOKED_FILE: &str = "session.revoked";
/// The session cookie's name and lifetime.
pub const COOKIE: &str = "flowpi_session";
pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 86_400);

/// Logged-out sessions remembered at most (each until its cookie expires). At one more, a new
/// session key is made instead, which ends every session and empties the list: correct, only
/// less kind (other devices log in again); counted in `flowpi_sessions_total{event="all_ended"}`.
const MAX_REVOKED: usize = 256;

/// Argon2 costs above these would let a hash (config or file) take the Pi's memory or minutes of
/// CPU per login; `flowpi hash-password` uses argon2's defaults (19 MiB, 2 passes).
const MAX_M_COST_KIB: u32 = 65_536;
const MAX_T_COST: u32 = 10;

/// Accept only argon2 PHC strings (`$argon2id$v=19$m=...`) with costs a Pi can afford.
pub fn check_hash(phc: &str) -> Result<(), String> {
    let h =
        PasswordHash::new(phc).map_err(|e| format!("not an argon2 hash ({e}); make one with: flowpi hash-password"))?;
    match h.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => {}
        other => return Err(format!("{other:?} is not argon2; make a hash with: flowpi hash-password")),
    }
    let params = argon2::Params::try_from(&h).map_err(|e| format!("argon2 parameters: {e}"))?;
    if params.m_cost() > MAX_M_COST_KIB || params.t_cost() > MAX_T_COST {
        return Err(format!(
            "argon2 cost m={} KiB, t={} is more than a Raspberry Pi should spend per login (at most m={MAX_M_COST_KIB}, t={MAX_T_COST})",
            params.m_cost(),
            params.t_cost()
        ));
    }
    if h.hash.is_none() {
        return Err("the hash has no output part; make one with: flowpi hash-password".into());
    }
    Ok(())
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).expect("the kernel's random source works");
    b
}

/// An argon2id PHC string for `password` with a fresh salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes is a valid salt");
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("argon2 with default parameters").to_string()
}

fn verify(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A password a person can read off a card and type: 16 characters from an alphabet without
/// look-alikes (0/o, 1/l/i), 80 bits.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let bytes = random_bytes::<16>();
    let mut s = String::with_capacity(19);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        // 256 % 31 leaves a slight bias to the first symbols: a sliver of the 79 bits.
        s.push(ALPHABET[*b as usize % ALPHABET.len()] as char);
    }
    s
}

/// Write `data` to `path` with mode 0600, atomically (temporary file, fsync, rename). Run as root
/// (`sudo flowpi set-password`), the file is given to the directory's owner: the daemon runs as
/// that user and could not read a root-owned 0600 file.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        if let Some(dir) = path.parent() {
            let owner = std::fs::metadata(dir)?;
            std::os::unix::fs::chown(&tmp, Some(owner.uid()), Some(owner.gid()))?;
        }
    }
    std::fs::rename(&tmp, path)
}

/// What `init_password` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Init {
    /// `http.auth = "none"`: nothing to do.
    Disabled,
    /// The config carries `http.password_hash`.
    FromConfig,
    /// `archive.dir/password.hash` exists.
    FromFile,
    /// A new password was made; its clear text is in `archive.dir/initial-password`.
    Generated { password: String, file: PathBuf },
}

/// Make sure a password exists: at first start (no hash in the config, none in archive.dir) make
/// one, store its hash, and leave the clear password for the user. Idempotent.
pub fn init_password(cfg: &Config) -> std::io::Result<Init> {
    let Auth::Password { hash, .. } = &cfg.http.auth else { return Ok(Init::Disabled) };
    if hash.is_some() {
        return Ok(Init::FromConfig);
    }
    let dir = &cfg.archive.dir;
    if dir.join(HASH_FILE).exists() {
        return Ok(Init::FromFile);
    }
    std::fs::create_dir_all(dir)?;
    let password = generate_password();
    let file = dir.join(INITIAL_FILE);
    write_private(&file, format!("{password}\n").as_bytes())?;
    write_private(&dir.join(HASH_FILE), format!("{}\n", hash_password(&password)).as_bytes())?;
    Ok(Init::Generated { password, file })
}

/// `flowpi set-password`: store a new password's hash in archive.dir and forget the initial one.
pub fn set_password(cfg: &Config, password: &str) -> Result<PathBuf, String> {
    if password.chars().count() < 8 {
        return Err("the password must have at least 8 characters".into());
    }
    let dir = &cfg.archive.dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(HASH_FILE);
    write_private(&path, format!("{}\n", hash_password(password)).as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let _ = std::fs::remove_file(dir.join(INITIAL_FILE));
    Ok(path)
}

/// The hash the daemon checks passwords against: the config's, else archive.dir's.
fn load_hash(cfg: &Config, configured: &Option<String>) -> Result<String, String> {
    if let Some(h) = configured {
        return Ok(h.clone());
    }
    let path = cfg.archive.dir.join(HASH_FILE);
    let text = crate::file::read_regular(&path, SMALL_FILE).map_err(|e| format!("{}: {e}", path.display()))?;
    let h = String::from_utf8_lossy(&text).trim().to_string();
    check_hash(&h).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(h)
}

/// The session key from archive.dir, made on first use.
fn load_key(dir: &Path) -> Result<[u8; 32], String> {
    let path = dir.join(KEY_FILE);
    match crate::file::read_regular(&path, SMALL_FILE) {
        Ok(b) if b.len() == 32 => Ok(b.try_into().expect("32 bytes")),
        Ok(_) | Err(_) => {
            let key = random_bytes::<32>();
            write_private(&path, &key).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(key)
        }
    }
}

/// The password hash, the session key and the list of ended sessions are small: a file larger
/// than this (or not a regular file) in their place is not read.
const SMALL_FILE: u64 = 64 << 10;

/// The key that signs session cookies and the sessions logged out, which a cookie's signature
/// alone cannot tell: a cookie is stateless, and clearing it in the browser does not stop a copy.
///
/// A list of ended sessions rather than an epoch in every cookie: bumping an epoch at logout would
/// end every session (logging out on the phone would log the laptop out); the list ends one, and
/// stays small as entries leave when their cookie would have expired anyway.
struct Sessions {
    key: [u8; 32],
    /// Nonce -> the session's expiry (Unix seconds).
    revoked: HashMap<[u8; 16], u64>,
}

impl Sessions {
    /// The key and the list from `dir`. A list that cannot be read leaves no way to know which
    /// sessions ended: a new key ends them all.
    fn load(dir: &Path) -> Result<Sessions, String> {
        let key = load_key(dir)?;
        let path = dir.join(REVOKED_FILE);
        let revoked = match crate::file::read_regular(&path, SMALL_FILE) {
            Ok(text) => std::str::from_utf8(&text).ok().and_then(|t| parse_revoked(t, now_secs())),
            Err(e) if e.not_found() => Some(HashMap::new()),
            Err(_) => None,
        };
        match revoked {
            Some(revoked) => Ok(Sessions { key, revoked }),
            None => {
                log::warn!("http: {} is damaged; every session ends (log in again)", path.display());
                let key = random_bytes::<32>();
                write_private(&dir.join(KEY_FILE), &key).map_err(|e| format!("{}: {e}", dir.display()))?;
                write_private(&path, b"").map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(Sessions { key, revoked: HashMap::new() })
            }
        }
    }

    fn valid(&self, hash: &str, value: &str, now: u64) -> bool {
        session_of(&self.key, hash, value, now).is_some_and(|(_, nonce)| !self.revoked.contains_key(&nonce))
    }

    fn text(&self) -> String {
        let mut out = String::with_capacity(self.revoked.len() * 45);
        for (nonce, expiry) in &self.revoked {
            out.push_str(&format!("{expiry} {}\n", hex(nonce)));
        }
        out
    }
}

/// `EXPIRY NONCE` lines; those past their expiry are dropped. `None` when a line does not read or
/// there are more than [`MAX_REVOKED`].
fn parse_revoked(text: &str, now: u64) -> Option<HashMap<[u8; 16], u64>> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let (e, n) = line.split_once(' ')?;
        let (expiry, nonce) = (e.parse::<u64>().ok()?, unhex::<16>(n)?);
        if expiry > now {
            out.insert(nonce, expiry);
        }
    }
    (out.len() <= MAX_REVOKED).then_some(out)
}

/// What a request proved about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Granted,
    /// No or wrong credentials.
    Denied,
    /// Too many wrong passwords from this client lately: refused without checking.
    Limited {
        retry_after: u64,
    },
}

/// The checks, built once at start from the config and archive.dir.
pub struct Guard {
    mode: Mode,
    /// Names `Host:` may carry besides IP literals.
    hosts: Vec<String>,
    limiter: Mutex<Limiter>,
    /// One argon2 run at a time: each takes about 19 MiB and, on a Pi, a good part of a second.
    argon: Arc<tokio::sync::Semaphore>,
    stats: Arc<Stats>,
}

// One per process: the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Mode {
    Open,
    Password {
        hash: String,
        /// The tokens' MACs under `secret`: compared MAC to MAC, so the time taken tells nothing
        /// of a token's length or contents.
        tokens: Vec<[u8; 32]>,
        /// This process's own key for those MACs and the Basic cache's.
        secret: [u8; 32],
        sessions: Mutex<Sessions>,
        /// Held while the list of ended sessions is written, so that writes land in the order the
        /// list changed, without holding `sessions` (every request reads it) during an fsync.
        saving: Mutex<()>,
        dir: PathBuf,
        /// Basic credentials already verified (their MAC), so scripts polling every few seconds
        /// do not pay argon2 each time; bounded, each for a while.
        basic_ok: Mutex<Vec<([u8; 32], Instant)>>,
    },
}

const BASIC_CACHE: usize = 16;
const BASIC_CACHE_FOR: Duration = Duration::from_secs(600);

impl Guard {
    /// `http.auth = "none"`: everything open (used by tests of other parts, and chosen explicitly).
    pub fn open(hosts: Vec<String>, stats: Arc<Stats>) -> Guard {
        Guard::build(Mode::Open, hosts, stats)
    }

    /// Read the password hash and session key. Run `init_password` first.
    pub fn load(cfg: &Config, stats: Arc<Stats>) -> Result<Guard, String> {
        let hosts = allowed_hosts(&cfg.http.hosts);
        match &cfg.http.auth {
            Auth::None => Ok(Guard::open(hosts, stats)),
            Auth::Password { hash, tokens } => {
                let hash = load_hash(cfg, hash)?;
                let sessions = Sessions::load(&cfg.archive.dir)?;
                let secret = random_bytes::<32>();
                let tokens = tokens.iter().map(|t| mac(&secret, &[b"token\0", t.as_bytes()])).collect();
                Ok(Guard::build(
                    Mode::Password {
                        hash,
                        tokens,
                        secret,
                        sessions: Mutex::new(sessions),
                        saving: Mutex::new(()),
                        dir: cfg.archive.dir.clone(),
                        basic_ok: Mutex::new(Vec::new()),
                    },
                    hosts,
                    stats,
                ))
            }
        }
    }

    fn build(mode: Mode, hosts: Vec<String>, stats: Arc<Stats>) -> Guard {
        Guard {
            mode,
            hosts,
            limiter: Mutex::new(Limiter::default()),
            argon: Arc::new(tokio::sync::Semaphore::new(1)),
            stats,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.mode, Mode::Open)
    }

    /// Is `host` (the `Host:` header) one of ours? IP literals, localhost, this machine's names
    /// and `http.hosts`; anything else may be a foreign name pointed at us (DNS rebinding).
    pub fn host_ok(&self, host: &str) -> bool {
        host_allowed(host, &self.hosts)
    }

    /// Check a request's cookie or Authorization header.
    pub async fn check(&self, client: IpAddr, cookie: Option<&str>, authorization: Option<&str>) -> Access {
        let Mode::Password { secret, basic_ok, .. } = &self.mode else { return Access::Granted };
        if cookie.is_some_and(|c| self.session_ok(c)) {
            return Access::Granted;
        }
        let Some(authz) = authorization else { return Access::Denied };
        if let Some(t) = authz.strip_prefix("Bearer ") {
            return self.verify_token(client, t.trim());
        }
        let Some(b64) = authz.strip_prefix("Basic ") else { return Access::Denied };
        let Some(password) = basic_password(b64.trim()) else { return Access::Denied };
        let tag = mac(secret, &[b"basic\0", password.as_bytes()]);
        if self.basic_cached(&tag) {
            return Access::Granted;
        }
        match self.verify_password(client, &password).await {
            Access::Granted => {
                let mut cache = basic_ok.lock().expect("basic cache");
                if cache.len() >= BASIC_CACHE {
                    cache.remove(0);
                }
                cache.push((tag, Instant::now()));
                Access::Granted
            }
            other => other,
        }
    }

    /// Do these headers carry credentials that hold, judged without argon2, the rate limit or
    /// counting (a valid session, a token, Basic credentials verified lately)? For the connection
    /// registry, which reads them off a newcomer's first bytes to know whom to keep.
    pub fn proves(&self, cookie: Option<&str>, authorization: Option<&str>) -> bool {
        let Mode::Password { secret, .. } = &self.mode else { return true };
        if cookie.is_some_and(|c| self.session_ok(c)) {
            return true;
        }
        let Some(authz) = authorization else { return false };
        if let Some(t) = authz.strip_prefix("Bearer ") {
            return self.token_ok(t.trim());
        }
        let password = authz.strip_prefix("Basic ").and_then(|b| basic_password(b.trim()));
        password.is_some_and(|p| self.basic_cached(&mac(secret, &[b"basic\0", p.as_bytes()])))
    }

    /// Does the `Cookie:` header hold a valid session, not logged out?
    fn session_ok(&self, cookie_header: &str) -> bool {
        let Mode::Password { hash, sessions, .. } = &self.mode else { return true };
        session_cookie(cookie_header).is_some_and(|c| sessions.lock().expect("sessions").valid(hash, c, now_secs()))
    }

    /// Is `token` one of `http.tokens`? Every token is compared, MAC to MAC.
    fn token_ok(&self, token: &str) -> bool {
        let Mode::Password { tokens, secret, .. } = &self.mode else { return true };
        let tag = mac(secret, &[b"token\0", token.as_bytes()]);
        tokens.iter().fold(false, |found, k| found | ct_eq(k, &tag))
    }

    /// A bearer token, through the same rate limit as passwords: a wrong token is a wrong guess.
    /// A right one does not clear the client's failures (a read-only token must not buy more
    /// password guesses).
    fn verify_token(&self, client: IpAddr, token: &str) -> Access {
        let mut l = self.limiter.lock().expect("limiter");
        let now = Instant::now();
        if let Some(retry_after) = l.blocked(client, now) {
            stats::inc(&self.stats.login_limited);
            return Access::Limited { retry_after };
        }
        if self.token_ok(token) {
            return Access::Granted;
        }
        l.failed(client, now, &self.stats);
        stats::inc(&self.stats.token_failed);
        Access::Denied
    }

    /// Were these Basic credentials (their MAC) verified lately?
    fn basic_cached(&self, tag: &[u8; 32]) -> bool {
        let Mode::Password { basic_ok, .. } = &self.mode else { return true };
        let mut cache = basic_ok.lock().expect("basic cache");
        cache.retain(|(_, at)| at.elapsed() < BASIC_CACHE_FOR);
        cache.iter().any(|(t, _)| ct_eq(t, tag))
    }

    /// A password from the login form or HTTP Basic, through the rate limit; counted.
    pub async fn verify_password(&self, client: IpAddr, password: &str) -> Access {
        let Mode::Password { hash, .. } = &self.mode else { return Access::Granted };
        {
            // The attempt counts as a failure before it is checked, so that many at once from
            // one client cannot all slip past the limit while the first are still running.
            let mut l = self.limiter.lock().expect("limiter");
            if let Some(retry_after) = l.blocked(client, Instant::now()) {
                stats::inc(&self.stats.login_limited);
                return Access::Limited { retry_after };
            }
            l.failed(client, Instant::now(), &self.stats);
        }
        let ok = {
            let permit = self.argon.clone().acquire_owned().await.expect("semaphore never closed");
            let (hash, password) = (hash.clone(), password.to_string());
            // The permit goes with the run: a client that hangs up must not free the slot while
            // its argon2 run goes on, or runs would pile up.
            tokio::task::spawn_blocking(move || {
                let ok = verify(&hash, &password);
                drop(permit);
                ok
            })
            .await
            .unwrap_or(false)
        };
        if ok {
            self.limiter.lock().expect("limiter").forget(client);
            stats::inc(&self.stats.login_ok);
            Access::Granted
        } else {
            stats::inc(&self.stats.login_failed);
            Access::Denied
        }
    }

    /// A `Set-Cookie` value for a new session.
    pub fn new_session(&self) -> Option<String> {
        let Mode::Password { hash, sessions, .. } = &self.mode else { return None };
        let expiry = now_secs() + SESSION_LIFETIME.as_secs();
        let key = sessions.lock().expect("sessions").key;
        let value = make_session(&key, hash, expiry, &random_bytes::<16>());
        Some(format!("{COOKIE}={value}; Max-Age={}; Path=/; HttpOnly; SameSite=Strict", SESSION_LIFETIME.as_secs()))
    }

    /// Log out: the session in the `Cookie:` header (if it is a valid one) is remembered as ended,
    /// in archive.dir as well, until it would have expired. At [`MAX_REVOKED`] a new key ends
    /// every session instead. Writes (and fsyncs) a small file; logouts are rare.
    pub fn end_session(&self, cookie_header: &str) {
        let Mode::Password { hash, sessions, saving, dir, .. } = &self.mode else { return };
        let Some(value) = session_cookie(cookie_header) else { return };
        let now = now_secs();
        let _order = saving.lock().expect("saving");
        let (text, new_key) = {
            let mut s = sessions.lock().expect("sessions");
            let Some((expiry, nonce)) = session_of(&s.key, hash, value, now) else { return };
            if s.revoked.contains_key(&nonce) {
                return;
            }
            s.revoked.retain(|_, e| *e > now);
            if s.revoked.len() >= MAX_REVOKED {
                s.key = random_bytes::<32>();
                s.revoked.clear();
                stats::inc(&self.stats.sessions_all_ended);
                (s.text(), Some(s.key))
            } else {
                s.revoked.insert(nonce, expiry);
                stats::inc(&self.stats.sessions_revoked);
                (s.text(), None)
            }
        };
        // The key first: a crash between the two writes leaves a new key with an old list, which
        // ends no session that should live.
        let written = new_key
            .map_or(Ok(()), |k| write_private(&dir.join(KEY_FILE), &k))
            .and_then(|()| write_private(&dir.join(REVOKED_FILE), text.as_bytes()));
        if let Err(e) = written {
            log::warn!("http: cannot keep the logout in {}: {e}; it holds until flowpi restarts", dir.display());
        }
    }
}

/// The `Set-Cookie` value that ends a session.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict")
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Blake2bMac<U32> as Mac>::new_from_slice(key).expect("a 32-byte key fits blake2b");
    for p in parts {
        m.update(&(p.len() as u64).to_le_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// `v1.EXPIRY.NONCE.MAC`: the MAC covers the expiry, the nonce and the password hash, so changing
/// the password ends every session.
fn make_session(key: &[u8; 32], hash: &str, expiry: u64, nonce: &[u8; 16]) -> String {
    let e = expiry.to_string();
    let tag = mac(key, &[b"session\0", e.as_bytes(), nonce, hash.as_bytes()]);
    format!("v1.{e}.{}.{}", hex(nonce), hex(&tag))
}

/// The expiry and nonce of a session cookie signed with `key` that has not expired.
fn session_of(key: &[u8; 32], hash: &str, value: &str, now: u64) -> Option<(u64, [u8; 16])> {
    let mut it = value.split('.');
    let (Some("v1"), Some(e), Some(n), Some(t), None) = (it.next(), it.next(), it.next(), it.next(), it.next()) else {
        return None;
    };
    let (Ok(expiry), Some(nonce), Some(tag)) = (e.parse::<u64>(), unhex::<16>(n), unhex::<32>(t)) else {
        return None;
    };
    if expiry <= now || expiry > now + SESSION_LIFETIME.as_secs() + 86_400 {
        return None;
    }
    let want = mac(key, &[b"session\0", e.as_bytes(), &nonce, hash.as_bytes()]);
    ct_eq(&want, &tag).then_some((expiry, nonce))
}

/// The session cookie's value from a `Cookie:` header.
fn session_cookie(header: &str) -> Option<&str> {
    header.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == COOKIE).map(|(_, v)| v)
}

/// The password of `Basic base64(flowpi:password)`; another user name is refused.
fn basic_password(b64: &str) -> Option<String> {
    if b64.len() > 1024 {
        return None;
    }
    use base64ct::Encoding;
    let raw = base64ct::Base64::decode_vec(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    (user == USER).then(|| password.to_string())
}

/// A comparison whose time does not depend on where the inputs differ. It returns at once on a
/// length difference, so it is used on MACs only (always 32 bytes).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The names besides IP literals a `Host:` may carry: localhost, the Pi's own (the image calls
/// itself flowpi and answers mDNS as flowpi.local), this machine's host name, and `http.hosts`.
fn allowed_hosts(configured: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "flowpi", "flowpi.local"].iter().map(|s| s.to_string()).collect();
    if let Some(name) = system_hostname() {
        hosts.push(format!("{name}.local"));
        hosts.push(name);
    }
    hosts.extend(configured.iter().cloned());
    hosts.sort();
    hosts.dedup();
    hosts
}

fn system_hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?.trim().to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

fn host_allowed(host: &str, names: &[String]) -> bool {
    let host = host.trim();
    // `[v6]` or `[v6]:port`
    if let Some(rest) = host.strip_prefix('[') {
        let Some((addr, tail)) = rest.split_once(']') else { return false };
        return addr.parse::<std::net::Ipv6Addr>().is_ok() && (tail.is_empty() || port_ok(tail));
    }
    let name = match host.rsplit_once(':') {
        Some((n, p)) if port_ok(&format!(":{p}")) => n,
        Some(_) => return false,
        None => host,
    };
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    names.contains(&name)
}

fn port_ok(tail: &str) -> bool {
    tail.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Wrong passwords and tokens per client address: the first few are free, then each costs a
/// doubling wait (up to five minutes), even for the right password.
///
/// IPv6 clients are single addresses, not /64s: every device on a home LAN has its addresses in
/// the same /64, so a limit per /64 let a guest's five wrong guesses lock the owner out. A device
/// can take any number of addresses in its /64, though. So a /64 holds at most
/// [`MAX_PER_PREFIX`] entries (a new one forgets that /64's own oldest, never another client's),
/// and once [`PREFIX_FREE`] of its addresses failed lately, a new address of it gets no free
/// failures: its first wrong guess already waits. Neither touches an address that has not failed,
/// so the owner typing the right password gets in whatever a guest in the same /64 does; a guest
/// rotating addresses is left about one guess per address, with argon2 one run at a time.
#[derive(Default)]
struct Limiter {
    clients: HashMap<IpAddr, Failures>,
}

struct Failures {
    count: u32,
    last: Instant,
    until: Instant,
}

const FREE_FAILURES: u32 = 5;
const MAX_WAIT: Duration = Duration::from_secs(300);
const FORGET_AFTER: Duration = Duration::from_secs(3600);
/// Entries at most (`flowpi_login_limiter_total{event="evicted"}` counts those forgotten early).
const MAX_CLIENTS: usize = 4096;
/// Entries of one IPv6 /64 at most.
const MAX_PER_PREFIX: usize = 64;
/// Addresses of one /64 with recent failures past which a new one gets no free failures
/// (`flowpi_login_limiter_total{event="prefix_crowded"}`).
const PREFIX_FREE: usize = 8;

/// The /64 of an IPv6 address (`None` for IPv4).
fn prefix64(ip: IpAddr) -> Option<u64> {
    match ip {
        IpAddr::V6(v6) => Some((u128::from(v6) >> 64) as u64),
        IpAddr::V4(_) => None,
    }
}

impl Limiter {
    fn blocked(&mut self, ip: IpAddr, now: Instant) -> Option<u64> {
        let f = self.clients.get(&crate::net::normalize(ip))?;
        (f.until > now).then(|| (f.until - now).as_secs().max(1))
    }

    fn failed(&mut self, ip: IpAddr, now: Instant, stats: &Stats) {
        let ip = crate::net::normalize(ip);
        let mut count = 0;
        if !self.clients.contains_key(&ip) {
            let recent = |f: &Failures| now.duration_since(f.last) < FORGET_AFTER;
            if let Some(p) = prefix64(ip) {
                let mut same: Vec<(Instant, IpAddr, bool)> = self
                    .clients
                    .iter()
                    .filter(|(k, _)| prefix64(**k) == Some(p))
                    .map(|(k, f)| (f.last, *k, recent(f)))
                    .collect();
                if same.iter().filter(|(_, _, r)| *r).count() >= PREFIX_FREE {
                    count = FREE_FAILURES - 1;
                    stats::inc(&stats.login_limiter_prefix_crowded);
                }
                if same.len() >= MAX_PER_PREFIX {
                    same.sort_unstable();
                    for (_, k, _) in &same[..=same.len() - MAX_PER_PREFIX] {
                        self.clients.remove(k);
                        stats::inc(&stats.login_limiter_evicted);
                    }
                }
            }
            if self.clients.len() >= MAX_CLIENTS {
                self.clients.retain(|_, f| recent(f));
                if self.clients.len() >= MAX_CLIENTS {
                    // Still full of recent failures: forget the oldest, the table must stay bounded.
                    if let Some(oldest) = self.clients.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| *k) {
                        self.clients.remove(&oldest);
                        stats::inc(&stats.login_limiter_evicted);
                    }
                }
            }
        }
        let f = self.clients.entry(ip).or_insert(Failures { count, last: now, until: now });
        if now.duration_since(f.last) >= FORGET_AFTER {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
        if f.count >= FREE_FAILURES {
            let wait = Duration::from_secs(1u64 << (f.count - FREE_FAILURES).min(16)).min(MAX_WAIT);
            f.until = now + wait;
        }
    }

    fn forget(&mut self, ip: IpAddr) {
        self.clients.remove(&crate::net::normalize(ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_checked() {
        let h = hash_password("correct horse");
        assert!(check_hash(&h).is_ok(), "{h}");
        assert!(verify(&h, "correct horse"));
        assert!(!verify(&h, "correct horsf"));
        assert!(check_hash("hunter2").is_err());
        assert!(check_hash("$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA").is_err());
    }

    #[test]
    fn sessions_are_signed_and_expire() {
        let key = [7u8; 32];
        let s = make_session(&key, "H", 1_000, &[1; 16]);
        assert_eq!(session_of(&key, "H", &s, 999), Some((1_000, [1; 16])));
        assert_eq!(session_of(&key, "H", &s, 1_000), None, "expired");
        assert_eq!(session_of(&key, "H2", &s, 999), None, "password changed");
        assert_eq!(session_of(&[8u8; 32], "H", &s, 999), None, "other key");
        let forged = s.replace("v1.1000.", "v1.1001.");
        assert_eq!(session_of(&key, "H", &forged, 999), None);
        assert_eq!(session_cookie("a=b; flowpi_session=xyz; c=d"), Some("xyz"));
        assert_eq!(session_cookie("flowpi_sessionx=1"), None);
    }

    fn guard(dir: &Path) -> Guard {
        let secret = [3u8; 32];
        let mode = Mode::Password {
            hash: "H".into(),
            tokens: vec![mac(&secret, &[b"token\0", b"a-token-of-twenty-chars"])],
            secret,
            sessions: Mutex::new(Sessions::load(dir).unwrap()),
            saving: Mutex::new(()),
            dir: dir.to_path_buf(),
            basic_ok: Mutex::new(Vec::new()),
        };
        Guard::build(mode, Vec::new(), Arc::new(Stats::default()))
    }

    fn cookie_of(set_cookie: &str) -> String {
        set_cookie.split(';').next().unwrap().to_string()
    }

    #[test]
    fn logged_out_sessions_stay_ended_and_the_list_is_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let g = guard(tmp.path());
        let (phone, laptop) = (cookie_of(&g.new_session().unwrap()), cookie_of(&g.new_session().unwrap()));
        assert!(g.session_ok(&phone) && g.session_ok(&laptop));
        g.end_session(&format!("other=1; {phone}"));
        assert!(!g.session_ok(&phone), "ended");
        assert!(g.session_ok(&laptop), "only that one");
        assert!(!g.proves(Some(&phone), None));
        assert_eq!(stats::get(&g.stats.sessions_revoked), 1);
        // Read back as a restart would.
        let again = guard(tmp.path());
        assert!(!again.session_ok(&phone) && again.session_ok(&laptop));
        // A damaged list cannot say which sessions ended: all of them do.
        std::fs::write(tmp.path().join(REVOKED_FILE), "12 not-hex\n").unwrap();
        let damaged = guard(tmp.path());
        assert!(!damaged.session_ok(&laptop));
        // Full: a new key ends every session and the list starts again.
        let g = guard(tmp.path());
        let keep = cookie_of(&g.new_session().unwrap());
        for _ in 0..MAX_REVOKED {
            g.end_session(&cookie_of(&g.new_session().unwrap()));
        }
        assert!(g.session_ok(&keep));
        assert_eq!(stats::get(&g.stats.sessions_all_ended), 0);
        g.end_session(&cookie_of(&g.new_session().unwrap()));
        assert_eq!(stats::get(&g.stats.sessions_all_ended), 1);
        assert!(!g.session_ok(&keep), "a new key ends every session");
        assert!(std::fs::read_to_string(tmp.path().join(REVOKED_FILE)).unwrap().is_empty());
        let fresh = cookie_of(&g.new_session().unwrap());
        assert!(guard(tmp.path()).session_ok(&fresh), "the new key was kept");
    }

    #[test]
    fn tokens_compare_by_mac() {
        let tmp = tempfile::tempdir().unwrap();
        let g = guard(tmp.path());
        assert!(g.token_ok("a-token-of-twenty-chars"));
        assert!(!g.token_ok("a-token-of-twenty-char"));
        assert!(!g.token_ok(""));
        let ip: IpAddr = "192.168.1.9".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            assert_eq!(g.verify_token(ip, "wrong"), Access::Denied);
        }
        assert!(matches!(g.verify_token(ip, "a-token-of-twenty-chars"), Access::Limited { .. }));
        assert_eq!(stats::get(&g.stats.token_failed), u64::from(FREE_FAILURES));
    }

    #[test]
    fn basic_needs_the_flowpi_user() {
        assert_eq!(basic_password("Zmxvd3BpOnNlY3JldA=="), Some("secret".into())); // flowpi:secret
        assert_eq!(basic_password("YWRtaW46c2VjcmV0"), None); // admin:secret
        assert_eq!(basic_password("!!!"), None);
    }

    #[test]
    fn hosts() {
        let names = allowed_hosts(&["nas.home.arpa".into()]);
        for ok in [
            "127.0.0.1",
            "192.168.1.5:3000",
            "[::1]:3000",
            "[fe80::1]",
            "localhost:3000",
            "flowpi.local",
            "FLOWPI",
            "nas.home.arpa.:80",
        ] {
            assert!(host_allowed(ok, &names), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:3000",
            "127.0.0.1:x",
            "[::1",
            "",
            "flowpi.local.evil.example",
            "localhost:99999999",
        ] {
            assert!(!host_allowed(bad, &names), "{bad}");
        }
    }

    #[test]
    fn limiter_backs_off_per_client() {
        let mut l = Limiter::default();
        let st = Stats::default();
        let t = Instant::now();
        let a: IpAddr = "192.168.1.9".parse().unwrap();
        for _ in 0..FREE_FAILURES - 1 {
            l.failed(a, t, &st);
            assert_eq!(l.blocked(a, t), None);
        }
        l.failed(a, t, &st);
        assert_eq!(l.blocked(a, t), Some(1));
        assert_eq!(l.blocked("192.168.1.10".parse().unwrap(), t), None, "another client is not blocked");
        assert_eq!(l.blocked("::ffff:192.168.1.9".parse().unwrap(), t), Some(1), "one client, however written");
        l.failed(a, t, &st);
        assert_eq!(l.blocked(a, t), Some(2));
        assert_eq!(l.blocked(a, t + Duration::from_secs(3)), None);
        l.forget(a);
        assert_eq!(l.blocked(a, t), None);
    }

    #[test]
    fn a_guest_in_the_owners_64_cannot_lock_the_owner_out() {
        let mut l = Limiter::default();
        let st = Stats::default();
        let t = Instant::now();
        let v6 = |i: u32| -> IpAddr { format!("2001:db8:1:2::{i:x}").parse().unwrap() };
        let owner = v6(0xffff);
        // A guest guessing from one address, then from many.
        for _ in 0..20 {
            l.failed(v6(1), t, &st);
        }
        assert!(l.blocked(v6(1), t).is_some());
        assert_eq!(l.blocked(owner, t), None, "the owner's address is its own client");
        for i in 2..=PREFIX_FREE as u32 {
            l.failed(v6(i), t, &st);
            assert_eq!(l.blocked(v6(i), t), None, "free failures while the /64 is quiet");
        }
        // Crowded: a new address of that /64 waits after its first wrong guess.
        l.failed(v6(100), t, &st);
        assert_eq!(l.blocked(v6(100), t), Some(1));
        assert_eq!(stats::get(&st.login_limiter_prefix_crowded), 1);
        assert_eq!(l.blocked(owner, t), None, "still not the owner");
        // However many addresses, the /64 holds at most MAX_PER_PREFIX entries, its own oldest
        // forgotten; other networks' entries stay.
        let other: IpAddr = "2001:db8:9:9::1".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            l.failed(other, t, &st);
        }
        for i in 1000..1000 + 3 * MAX_PER_PREFIX as u32 {
            l.failed(v6(i), t + Duration::from_millis(u64::from(i)), &st);
        }
        let in_prefix = l.clients.keys().filter(|k| prefix64(**k) == prefix64(owner)).count();
        assert_eq!(in_prefix, MAX_PER_PREFIX);
        assert!(l.blocked(other, t).is_some(), "another network's failures are kept");
        assert!(stats::get(&st.login_limiter_evicted) > 0);
    }

    #[test]
    fn generated_passwords_are_readable() {
        let p = generate_password();
        assert_eq!(p.len(), 19);
        assert!(p.chars().all(|c| c == '-' || (c.is_ascii_alphanumeric() && !"01oil".contains(c))), "{p}");
        assert_ne!(p, generate_password());
    }
}
