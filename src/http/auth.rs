//! Who may read: the argon2 password (from the config, or generated at first start), signed
//! session cookies, HTTP Basic for scripts, read-only tokens, and the per-address login rate limit.

use argon2::password_hash::PasswordHash;

/// Accept only argon2 PHC strings (`$argon2id$v=19$m=...`), as `flowpi hash-password` prints.
pub fn check_hash(phc: &str) -> Result<(), String> {
    let h =
        PasswordHash::new(phc).map_err(|e| format!("not an argon2 hash ({e}); make one with: flowpi hash-password"))?;
    match h.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => Ok(()),
        other => Err(format!("{other:?} is not argon2; make a hash with: flowpi hash-password")),
    }
}
