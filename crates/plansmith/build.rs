//! Records the commit the binary is built from, for `plansmith --version` (and "unknown"
//! outside a git checkout, e.g. a source archive).

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_COMMIT");
    // An image build has no .git: the build passes the commit in SOURCE_COMMIT.
    let given = std::env::var("SOURCE_COMMIT").ok().filter(|c| !c.trim().is_empty());
    let commit = given
        .map(|c| c.trim().chars().take(12).collect())
        .or_else(|| {
            std::process::Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PLANSMITH_COMMIT={commit}");
    // A new commit or checkout changes HEAD (or the branch it names).
    for head in ["../../.git/HEAD", "../../.git/refs/heads"] {
        if std::path::Path::new(head).exists() {
            println!("cargo:rerun-if-changed={head}");
        }
    }
}
