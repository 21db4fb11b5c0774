//! Release builds embed the web app (`web/dist`). When it is missing or older than its sources,
//! build it here with npm, so that a plain `cargo build --release` gives a complete binary.
//! Debug builds read `web/dist` from disk at run time and never run npm.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

const INPUTS: &[&str] = &[
    "src",
    "sw",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
];

fn main() {
    let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web");
    // Cargo treats a missing path as always changed, which would rebuild this crate every time.
    for input in INPUTS.iter().map(|i| web.join(i)).filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", input.display());
    }
    println!("cargo:rerun-if-env-changed=PLANSMITH_SKIP_WEB_BUILD");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    if !release || std::env::var_os("PLANSMITH_SKIP_WEB_BUILD").is_some() || !web.join("package.json").exists() {
        return;
    }
    let built = web.join("dist/index.html");
    if modified(&built).is_some_and(|dist| INPUTS.iter().all(|i| newest(&web.join(i)).is_none_or(|t| t <= dist))) {
        return;
    }
    if Command::new("npm").arg("--version").output().is_err() {
        println!(
            "cargo:warning=npm is not installed: this binary serves the API without the web app (install Node.js 20.19+ and rebuild)"
        );
        return;
    }
    run(&web, &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    run(&web, &["run", "build"]);
}

fn run(dir: &Path, args: &[&str]) {
    let status = Command::new("npm")
        .args(args)
        .current_dir(dir)
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .status();
    match status {
        Ok(status) if status.success() => {}
        other => panic!(
            "building the web app failed (npm {}): {other:?}; set PLANSMITH_SKIP_WEB_BUILD=1 to build without it",
            args.join(" ")
        ),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file or of anything under a folder.
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| newest(&e.path()))
        .max()
}
