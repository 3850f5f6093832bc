//! DESIGN.md: the server cannot decrypt because it does not contain the
//! code to do so. `sotto-server` must not depend, directly or
//! transitively, on sotto-crypto, openmls or any SFrame implementation.

use std::process::Command;

#[test]
fn the_server_does_not_link_mls_or_sframe() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "sotto-server",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).expect("utf-8");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"sotto-server"), "{tree}");
    assert!(
        crates.contains(&"sotto-proto"),
        "the tree is complete: {tree}"
    );
    for name in crates {
        let lower = name.to_ascii_lowercase();
        assert!(
            lower != "sotto-crypto" && !lower.contains("openmls") && !lower.contains("sframe"),
            "sotto-server depends on {name}"
        );
    }
}
