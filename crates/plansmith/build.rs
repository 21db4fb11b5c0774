//! Records the commit the binary is built from, for `plansmith --version` (and "unknown"
//! outside a git checkout, e.g. a source archive).

fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PLANSMITH_COMMIT={commit}");
    // A new commit or checkout changes HEAD (or the branch it names).
    for head in ["../../.git/HEAD", "../../.git/refs/heads"] {
        if std::path::Path::new(head).exists() {
            println!("cargo:rerun-if-changed={head}");
        }
    }
}
