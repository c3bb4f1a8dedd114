//! The project's own documents checked against the repository, so a moved section or file
//! cannot leave a reader at a dead link: every relative link in every Markdown file (and every
//! "see FILE, "Section"" pointer in the example configuration) must name a file that exists
//! and, with an anchor, a heading in it; and the README's busctl list names every Alarm1
//! method an operator may call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use secura_testbed::bus::repo_root;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every Markdown file of the repository, outside build output and fuzz corpora.
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if !name.starts_with('.') && !["target", "corpus", "artifacts"].contains(&&*name) {
                    walk(&path, out);
                }
            } else if name.ends_with(".md") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo_root(), &mut out);
    out.sort();
    out
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (code blocks skipped).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of the inline links `[text](target)` of a Markdown text, outside code.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

/// Why `target`, linked from `from`, does not resolve; None when it does.
fn broken(from: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (file, anchor) = match target.split_once('#') {
        Some((f, a)) => (f, Some(a)),
        None => (target, None),
    };
    let path = if file.is_empty() {
        from.to_path_buf()
    } else {
        from.parent().unwrap().join(file)
    };
    if !path.exists() {
        return Some(format!("{} does not exist", path.display()));
    }
    let anchor = anchor?;
    let heading_file = if path.is_dir() {
        path.join("README.md")
    } else {
        path
    };
    let text = std::fs::read_to_string(&heading_file).ok()?;
    (!anchors(&text).contains(anchor))
        .then(|| format!("{} has no heading #{anchor}", heading_file.display()))
}

#[test]
fn every_relative_link_in_the_documents_reaches_a_file_and_heading() {
    let files = markdown_files();
    assert!(files.len() > 5, "found only {files:?}");
    let mut dead = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for target in links(&text) {
            if let Some(why) = broken(file, &target) {
                dead.push(format!("{}: ({target}): {why}", file.display()));
            }
        }
    }
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
}

#[test]
fn the_example_configurations_pointers_name_existing_sections() {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("config/config.toml")).unwrap();
    let mut seen = 0;
    for (n, line) in text.lines().enumerate() {
        // A pointer reads: (see some/FILE.md, "Heading").
        let Some(i) = line.find("see ") else { continue };
        let rest = &line[i + 4..];
        let Some((file, heading)) = rest.split_once(", \"") else {
            continue;
        };
        if !file.ends_with(".md") {
            continue;
        }
        seen += 1;
        let heading = heading.split('"').next().unwrap();
        let doc = std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("config.toml:{}: {file}: {e}", n + 1));
        assert!(
            anchors(&doc).iter().any(|a| a.starts_with(&slug(heading))),
            "config.toml:{}: {file} has no section \"{heading}\"",
            n + 1
        );
    }
    assert!(seen > 0, "config.toml points to no document any more");
}

#[test]
fn the_readme_lists_every_alarm_method_an_operator_may_call() {
    let root = repo_root();
    let xml = std::fs::read_to_string(root.join("dbus-policy/org.securapicam.Alarm1.xml")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let methods: Vec<&str> = xml
        .split("<method name=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        // `…As` methods are the relays of botd and mqttd (they name the person for whom they
        // call); Snapshot and LastAlert hand back a photo as a file descriptor, which busctl
        // cannot keep (the README says to use /photo or Home Assistant for them).
        .filter(|m| !m.ends_with("As") && !["Snapshot", "LastAlert"].contains(m))
        .collect();
    assert!(
        methods.contains(&"Arm") && methods.contains(&"Enable"),
        "{methods:?}"
    );
    let missing: Vec<&&str> = methods
        .iter()
        .filter(|m| !readme.contains(&format!("org.securapicam.Alarm1 {m}")))
        .collect();
    assert!(
        missing.is_empty(),
        "README's busctl commands lack {missing:?}"
    );
}

#[test]
fn slugs_follow_githubs_rules() {
    assert_eq!(
        slug(" Finding the phones (private Wi-Fi addresses)"),
        "finding-the-phones-private-wi-fi-addresses"
    );
    assert_eq!(slug("The demo, step by step"), "the-demo-step-by-step");
    assert_eq!(slug("`make lab`"), "make-lab");
}
