//! Install size: the arm64 Debian package `make deb` built (file size and the installed size
//! it declares) and each daemon's stripped release binary, arm64 and host.

use crate::report::{Row, Section};
use crate::stats::Summary;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The daemons, as their binaries are named.
pub const DAEMONS: [&str; 5] = [
    "secura-alarmd",
    "secura-sniffer",
    "secura-sensord",
    "secura-camd",
    "secura-botd",
];
const ARM_TARGET: &str = "aarch64-unknown-linux-gnu";

fn one(v: f64) -> Option<Summary> {
    Summary::of(&[v])
}

/// The newest `secura-pi-cam_*_arm64.deb` in `dir`.
fn newest_deb(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("secura-pi-cam_") && n.ends_with("_arm64.deb"))
        })
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
}

/// `Installed-Size` (KiB) of a package, from `dpkg-deb`.
fn installed_kib(deb: &Path) -> Option<f64> {
    let out = std::process::Command::new("dpkg-deb")
        .args(["-f"])
        .arg(deb)
        .arg("Installed-Size")
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// Whether a 64-bit little-endian ELF file still has a symbol table (a section of type
/// `SHT_SYMTAB`); `false` for anything that is not such a file.
fn has_symtab(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| elf_has_symtab(&b))
}

fn elf_has_symtab(b: &[u8]) -> bool {
    const SHT_SYMTAB: u32 = 2;
    let field = |o: usize, n: usize| b.get(o..o.checked_add(n)?);
    let u16_at = |o| {
        field(o, 2)
            .and_then(|s| s.try_into().ok())
            .map(u16::from_le_bytes)
    };
    let u32_at = |o| {
        field(o, 4)
            .and_then(|s| s.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let u64_at = |o| {
        field(o, 8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_le_bytes)
    };
    // ELFCLASS64, little-endian.
    if b.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        return false;
    }
    let (Some(shoff), Some(entsize), Some(count)) = (u64_at(0x28), u16_at(0x3a), u16_at(0x3c))
    else {
        return false;
    };
    let Ok(shoff) = usize::try_from(shoff) else {
        return false;
    };
    (0..usize::from(count)).any(|i| {
        shoff
            .checked_add(i * usize::from(entsize))
            .and_then(|o| o.checked_add(4))
            .and_then(u32_at)
            == Some(SHT_SYMTAB)
    })
}

/// Sizes under the cargo target directory `target`.
pub fn run(target: &Path) -> Result<Section> {
    let mut sec = Section::new("Install size");
    match newest_deb(&target.join("debian")) {
        Some(deb) => {
            let bytes = std::fs::metadata(&deb)?.len() as f64;
            if let Some(s) = one(bytes / 1024.0) {
                sec.rows
                    .push(Row::measured("arm64 package (.deb file)", "KiB", s));
            }
            if let Some(s) = installed_kib(&deb).and_then(one) {
                sec.rows
                    .push(Row::measured("arm64 package, installed", "KiB", s));
            }
            sec.notes.push(format!(
                "Package: {}.",
                deb.file_name().and_then(|n| n.to_str()).unwrap_or("?")
            ));
        }
        None => sec.rows.push(Row::skipped(
            "arm64 package",
            "no target/debian/secura-pi-cam_*_arm64.deb (`make deb` failed or was not run)",
        )),
    }
    let mut unstripped = Vec::new();
    for (label, dir) in [
        ("arm64", target.join(ARM_TARGET).join("release")),
        (std::env::consts::ARCH, target.join("release")),
    ] {
        for name in DAEMONS {
            let path = dir.join(name);
            let Ok(meta) = std::fs::metadata(&path) else {
                sec.rows
                    .push(Row::skipped(format!("{name} ({label})"), "not built"));
                continue;
            };
            if has_symtab(&path) {
                unstripped.push(format!("{name} ({label})"));
            }
            if let Some(s) = one(meta.len() as f64 / 1024.0) {
                sec.rows
                    .push(Row::measured(format!("{name} ({label})"), "KiB", s));
            }
        }
    }
    if unstripped.is_empty() {
        sec.notes.push(
            "Binaries as the release profile builds them (opt-level \"s\", fat LTO, one \
             codegen unit, panic = abort, strip = true); none has a symbol table left."
                .into(),
        );
    } else {
        sec.notes.push(format!(
            "Not stripped (a symbol table is left): {}.",
            unstripped.join(", ")
        ));
    }
    Ok(sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_arm64_package_is_found_and_others_ignored() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(newest_deb(dir.path()), None);
        std::fs::write(dir.path().join("secura-pi-cam_0.1.0-1_amd64.deb"), b"x").unwrap();
        std::fs::write(dir.path().join("other_0.1.0-1_arm64.deb"), b"x").unwrap();
        assert_eq!(newest_deb(dir.path()), None);
        let arm = dir.path().join("secura-pi-cam_0.1.0-1_arm64.deb");
        std::fs::write(&arm, b"x").unwrap();
        assert_eq!(newest_deb(dir.path()), Some(arm));
    }

    #[test]
    fn a_symbol_table_is_found_from_the_section_headers() {
        // A 64-bit ELF header with two section headers at 0x40: NULL, then `symtab_type`.
        let elf = |symtab_type: u32| {
            let mut b = vec![0u8; 0x40 + 2 * 64];
            b[..6].copy_from_slice(b"\x7fELF\x02\x01");
            b[0x28..0x30].copy_from_slice(&0x40u64.to_le_bytes());
            b[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
            b[0x3c..0x3e].copy_from_slice(&2u16.to_le_bytes());
            b[0x40 + 64 + 4..0x40 + 64 + 8].copy_from_slice(&symtab_type.to_le_bytes());
            b
        };
        assert!(elf_has_symtab(&elf(2)));
        assert!(!elf_has_symtab(&elf(3)));
        assert!(!elf_has_symtab(b"not an elf"));
        let mut short = elf(2);
        short.truncate(0x50);
        assert!(!elf_has_symtab(&short));
    }

    #[test]
    fn the_test_binary_itself_is_recognised_as_elf() {
        // Test binaries keep their symbols (only the release profile strips).
        let me = std::env::current_exe().unwrap();
        assert!(has_symtab(&me));
    }
}
