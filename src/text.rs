//! Names from outside made safe to show: interface names from exporters' options data, host names
//! from reverse lookups, and the names in the config lose control characters and bidi controls.
//!
//! Applied where names enter what every output reads (the collector's snapshot for interface and
//! exporter names, `names::Names` for host names), so the page, the JSON API, CSV, `/metrics` and
//! graph titles cannot differ in what they let through.

/// Characters a name loses: control characters (C0, DEL, C1; ESC starts terminal sequences, CR
/// rewrites a line in a terminal or a log), the line and paragraph separators, and the bidi
/// controls (embeddings and overrides U+202A–U+202E, isolates U+2066–U+2069, the marks U+200E,
/// U+200F and U+061C) that make text read in another order than it is stored (CVE-2021-42574):
/// `abc\u{202E}gpj.exe` shows as `abcexe.jpg`.
fn dropped(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// `name` without what [`dropped`] lists, trimmed; `None` when nothing is left.
pub fn clean_name(name: &str) -> Option<String> {
    let clean: String =
        if name.chars().any(dropped) { name.chars().filter(|c| !dropped(*c)).collect() } else { name.to_string() };
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_string())
}

/// Does `name` hold anything [`clean_name`] would drop?
pub fn is_clean(name: &str) -> bool {
    !name.chars().any(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_dropped() {
        assert_eq!(clean_name("wan").as_deref(), Some("wan"));
        assert_eq!(clean_name("Wohnzimmer-TV ▶ 電視").as_deref(), Some("Wohnzimmer-TV ▶ 電視"));
        assert_eq!(clean_name("\x1b[2J\x1b[31mwan\r").as_deref(), Some("[2J[31mwan"));
        assert_eq!(clean_name("a\u{202E}gpj.exe").as_deref(), Some("agpj.exe"));
        for bidi in ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'] {
            assert_eq!(clean_name(&format!("x{bidi}y")).as_deref(), Some("xy"), "{:?}", bidi);
        }
        for mark in ['\u{200E}', '\u{200F}', '\u{061C}', '\u{2028}', '\u{2029}', '\u{85}', '\u{7f}', '\n', '\t'] {
            assert_eq!(clean_name(&format!("x{mark}y")).as_deref(), Some("xy"), "{:?}", mark);
        }
        assert_eq!(clean_name("\u{202E}\r\n"), None, "nothing left");
        assert_eq!(clean_name(" \x1b lan "), Some("lan".into()));
        assert!(is_clean("tv.lan") && !is_clean("tv\u{2066}.lan"));
    }
}
