//! Keeps the checked-in introspection XML (`dbus-policy/<interface>.xml`) and the served
//! interface from drifting apart.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

/// Path of the checked-in XML of `interface`.
pub fn xml_path(interface: &str) -> PathBuf {
    crate::bus::repo_root()
        .join("dbus-policy")
        .join(format!("{interface}.xml"))
}

/// Cut the `<interface name="…">…</interface>` element of `interface` out of an
/// `Introspect()` answer, with the indentation removed.
pub fn extract_interface(xml: &str, interface: &str) -> Option<String> {
    let open = format!("<interface name=\"{interface}\">");
    let start = xml.find(&open)?;
    let rest = xml.get(start..)?;
    let end = rest.find("</interface>")? + "</interface>".len();
    let element = rest.get(..end)?;
    Some(
        element
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
    )
}

/// Introspect `path` at `name` on `conn` and compare its `interface` with the checked-in XML.
/// With `SECURA_BLESS=1` in the environment the file is (re)written instead.
pub async fn check_interface_xml(
    conn: &zbus::Connection,
    name: &str,
    path: &str,
    interface: &str,
) -> Result<()> {
    let proxy = zbus::fdo::IntrospectableProxy::builder(conn)
        .destination(name.to_string())
        .path(path.to_string())
        .build()
        .await?;
    let xml = proxy.introspect().await?;
    let served = extract_interface(&xml, interface)
        .with_context(|| format!("{name} {path} does not serve {interface}"))?;
    let file = xml_path(interface);
    let header = format!(
        "<!-- {interface}: checked-in introspection, compared with the served interface by a \
         test.\n     Regenerate with SECURA_BLESS=1 when the interface changes on purpose. -->\n"
    );
    if std::env::var_os("SECURA_BLESS").is_some() {
        std::fs::write(&file, format!("{header}{served}"))?;
        return Ok(());
    }
    let checked_in =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let checked_in = checked_in
        .strip_prefix(&header)
        .unwrap_or(&checked_in)
        .to_string();
    if checked_in != served {
        bail!(
            "{interface} as served differs from {}:\n--- served ---\n{served}--- checked in \
             ---\n{checked_in}",
            file.display()
        );
    }
    Ok(())
}
