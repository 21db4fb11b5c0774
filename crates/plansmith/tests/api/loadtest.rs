//! The load generator as a smoke test: ~50 planning sessions for a few seconds against the real
//! server with a mock provider, with generous thresholds.

use crate::helpers::spawn_with;
use plansmith_mock_llm::MockOptions;
use plansmith_server::Overrides;
use plansmith_server::config::{ProviderKind, ProviderSettings};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sessions_plan_to_completion_without_errors() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mock_url = format!("http://{}/v1", listener.local_addr().unwrap());
    let options = MockOptions {
        time_to_first_token: Duration::from_millis(100),
        tokens_per_second: 200.0,
        reply_tokens: 60,
        ..Default::default()
    };
    let (router, _) = plansmith_mock_llm::router(options);
    tokio::spawn(async move { axum::serve(listener, router).await });
    let app = spawn_with(
        move |s| {
            s.llm.providers = vec![ProviderSettings {
                name: "mock".into(),
                kind: ProviderKind::OpenAi,
                base_url: Some(mock_url),
                api_key_env: None,
                model: Some("gpt-4o-mini".into()),
                requests_per_minute: None,
                tokens_per_minute: None,
                max_concurrency: None,
                connect_timeout_ms: 2000,
                first_token_timeout_ms: 5000,
                stall_timeout_ms: 5000,
                total_timeout_ms: 30_000,
            }];
            s.llm.route = vec!["mock".into(), "offline".into()];
        },
        Overrides::default(),
    )
    .await;
    let out = tempfile::TempDir::new().unwrap();
    let bin = env!("CARGO_BIN_EXE_plansmith");
    let output = tokio::process::Command::new(bin)
        .args([
            "loadtest",
            "--url",
            &app.base,
            "--sessions",
            "50",
            "--duration",
            "10s",
            "--ramp-up",
            "2s",
            "--metrics-token",
            crate::helpers::METRICS_TOKEN,
        ])
        .args([
            "--think-time",
            "100ms..300ms",
            "--messages",
            "2",
            "--p99-ms",
            "2000",
            "--max-error-rate",
            "0",
        ])
        .arg("--out")
        .arg(out.path())
        .env_clear()
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["sessions_completed"], 50, "{report}");
    assert_eq!(report["error_rate"], 0.0);
    let post = &report["endpoints"]["POST /sessions/{id}/messages"];
    // 50 sessions × 2 messages; a call slower than the think time adds the samples coordinated
    // omission hid (corrected histograms), so a busy machine counts a few more.
    let posted = post["count"].as_u64().unwrap();
    assert!((100..=150).contains(&posted), "{post}");
    for key in ["p50", "p95", "p99", "max", "throughput"] {
        assert!(post[key].is_number(), "{key} in {post}");
    }
    assert!(
        report["time_to_first_token"]["p50"].as_f64().unwrap() >= 100.0,
        "includes the provider's 100 ms"
    );
    assert!(
        report["server_cpu_seconds"].is_number(),
        "server CPU read from /metrics"
    );
    assert!(
        std::fs::read_to_string(out.path().join("report.md"))
            .unwrap()
            .contains("| POST /sessions/{id}/messages |")
    );

    // A threshold nobody can meet fails the run.
    let strict = tokio::process::Command::new(bin)
        .args([
            "loadtest",
            "--url",
            &app.base,
            "--sessions",
            "2",
            "--duration",
            "5s",
            "--ramp-up",
            "0s",
        ])
        .args(["--think-time", "0ms", "--messages", "1", "--p95-ms", "0.001"])
        .arg("--out")
        .arg(out.path())
        .env_clear()
        .output()
        .await
        .unwrap();
    assert!(!strict.status.success());
    assert!(String::from_utf8_lossy(&strict.stderr).contains("thresholds crossed"));
}
