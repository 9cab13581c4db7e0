//! The `check-config` and `migrate` subcommands.

use std::process::Command;

fn wattline(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wattline"));
    cmd.args(args)
        .env_remove("WATTLINE_CONFIG")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

#[test]
fn check_config_accepts_the_defaults_and_lists_regions() {
    let out = wattline(&["check-config"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Configuration is valid."));
    assert!(text.contains("germany") && text.contains("simulated"));
}

#[test]
fn a_wrong_value_stops_the_start_naming_the_key() {
    let out = wattline(
        &["check-config"],
        &[("WATTLINE_PRICES__WRITER_BATCH_SIZE", "many")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("prices.writer_batch_size"), "{err}");
    let out = wattline(&["serve"], &[("WATTLINE_SERVER__BIND", "not-an-address")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.bind"));
    let out = wattline(
        &["check-config", "--config", "/nonexistent/wattline.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_config_file_layers_over_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.toml");
    std::fs::write(&file, "[regions]\nenabled = [\"uk\", \"japan\"]\n").unwrap();
    let out = wattline(&["check-config", "--config", file.to_str().unwrap()], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("japan") && !text.contains("germany"),
        "{text}"
    );
}

#[test]
fn migrate_creates_the_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested").join("w.sqlite3");
    let url = format!("sqlite://{}", db.display());
    let out = wattline(&["migrate"], &[("WATTLINE_STORAGE__DATABASE_URL", &url)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists());
    // Idempotent.
    assert!(
        wattline(&["migrate"], &[("WATTLINE_STORAGE__DATABASE_URL", &url)])
            .status
            .success()
    );
}

#[test]
fn a_source_without_its_key_is_left_out_or_refused_when_nothing_is_left() {
    let out = wattline(
        &["check-config"],
        &[(
            "WATTLINE_REGIONS__SOURCES__GERMANY",
            "[\"entsoe\", \"simulated\"]",
        )],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let germany = text
        .lines()
        .find(|l| l.trim_start().starts_with("germany"))
        .unwrap();
    assert!(
        germany.contains("simulated") && !germany.contains("entsoe"),
        "{germany}"
    );
    let out = wattline(
        &["check-config"],
        &[("WATTLINE_REGIONS__SOURCES__GERMANY", "[\"entsoe\"]")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("regions.sources.germany")
            && err.contains("WATTLINE_PROVIDERS__ENTSOE__API_KEY"),
        "{err}"
    );
    let out = wattline(
        &["check-config"],
        &[
            ("WATTLINE_REGIONS__SOURCES__GERMANY", "[\"entsoe\"]"),
            ("WATTLINE_PROVIDERS__ENTSOE__API_KEY", "t0ken"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("t0ken"),
        "secrets are never printed"
    );
    let out = wattline(
        &["check-config"],
        &[
            ("WATTLINE_REGIONS__SOURCES__UK", "[\"entsoe\"]"),
            ("WATTLINE_PROVIDERS__ENTSOE__API_KEY", "t"),
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("ENTSO-E covers only the EU regions"));
}

#[test]
fn provider_keys_in_a_file_and_broken_replay_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.toml");
    std::fs::write(&file, "[providers.entsoe]\napi_key = \"in-a-file\"\n").unwrap();
    let out = wattline(&["check-config", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WATTLINE_PROVIDERS__ENTSOE__API_KEY"));
    let out = wattline(
        &["check-config"],
        &[(
            "WATTLINE_PROVIDERS__REPLAY__FILES__GERMANY",
            "/nonexistent.csv",
        )],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("providers.replay.files.germany"));
    let out = wattline(
        &["check-config"],
        &[("WATTLINE_REGIONS__PUBLICATION__GERMANY", "25:00")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("regions.publication.germany"));
}
