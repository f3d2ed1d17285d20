//! The documentation's links and its map of the source: every relative link in README.md,
//! docs/ and image/README.md leads to a file that exists (and to a heading there, when it names
//! one), and the design page names every source file.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<PathBuf> {
    let mut v = vec![root().join("README.md"), root().join("image/README.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 5, "docs/ has its pages: {docs:?}");
    v.extend(docs);
    v
}

/// The text outside code blocks and code spans: links are not looked for there.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            // Drop `code spans`.
            let mut inside = false;
            for part in line.split('`') {
                if !inside {
                    out.push_str(part);
                }
                inside = !inside;
            }
            out.push('\n');
        }
    }
    out
}

/// Link targets: `](target)` and `src="target"`.
fn targets(text: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            v.push(rest[..end].to_string());
        }
    }
    let mut rest = text;
    while let Some(at) = rest.find("src=\"") {
        rest = &rest[at + 5..];
        if let Some(end) = rest.find('"') {
            v.push(rest[..end].to_string());
        }
    }
    v
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(page: &Path) -> BTreeSet<String> {
    let text = fs::read_to_string(page).unwrap();
    let mut fenced = false;
    let mut set = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            set.insert(slug(line.trim_start_matches('#')));
        }
    }
    set
}

#[test]
fn every_relative_link_leads_somewhere() {
    let mut dead = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = fs::read_to_string(&page).unwrap();
        for t in targets(&prose(&text)) {
            if t.starts_with("http://") || t.starts_with("https://") || t.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = t.split_once('#').map_or((t.as_str(), None), |(f, a)| (f, Some(a)));
            let target = if file.is_empty() { page.clone() } else { page.parent().unwrap().join(file) };
            if !target.exists() {
                dead.push(format!("{}: {t} (no such file)", page.display()));
                continue;
            }
            if let Some(a) = anchor {
                if target.extension().is_some_and(|e| e == "md") && !anchors(&target).contains(a) {
                    dead.push(format!("{}: {t} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} links found: the link finder is broken");
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
}

#[test]
fn the_link_checker_sees_a_dead_link() {
    let text = "see [x](no/such/file.md) and [y](#nowhere) but `[z](ignored)`\n```\n[w](fenced)\n```\n";
    assert_eq!(targets(&prose(text)), vec!["no/such/file.md", "#nowhere"]);
    assert_eq!(slug("The web page's password"), "the-web-pages-password");
    assert_eq!(slug("Heavy hitters: peers, conversations, ports"), "heavy-hitters-peers-conversations-ports");
}

#[test]
fn the_design_page_names_every_source_file() {
    let design = fs::read_to_string(root().join("docs/10-design.md")).unwrap();
    let mut missing = Vec::new();
    let mut seen = 0;
    let mut dirs = vec![root().join("src")];
    while let Some(dir) = dirs.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            if p.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            seen += 1;
            let rel = p.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/");
            let (parent, name) = rel.rsplit_once('/').unwrap();
            // Top-level files by path; a directory's files by name under the directory's entry.
            let named = design.contains(&rel)
                || (parent != "src" && design.contains(&format!("{parent}/")) && design.contains(name));
            if !named {
                missing.push(rel);
            }
        }
    }
    assert!(seen > 40, "only {seen} source files found");
    assert!(missing.is_empty(), "docs/10-design.md does not name: {missing:?}");
}
