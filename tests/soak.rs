//! The soak binary: a clean run passes on both backends, deliberately broken invariants are
//! caught and reported with their seed, and a seed fixes the fault schedule.

use std::process::Command;

fn soak(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringloop-soak"))
        .args(args)
        .env_remove("RINGLOOP_BACKEND")
        .output()
        .expect("run ringloop-soak");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_short_clean_soak_passes_on_both_backends_and_writes_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("soak.json");
    let (ok, text) = soak(&[
        "--duration",
        "3",
        "--status-every",
        "1",
        "--seed",
        "1234",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("soak on io_uring (seed 1234") && text.contains("soak on epoll (seed 1234"),
        "{text}"
    );
    let json = std::fs::read_to_string(&report).unwrap();
    assert_eq!(json.matches("\"pass\": true").count(), 2, "{json}");
    assert!(
        json.contains("\"left_at_shutdown\": {\"tasks\": 0, \"ops\": 0, \"timers\": 0}"),
        "{json}"
    );
}

#[test]
fn a_dropped_byte_is_caught_and_reported_with_the_seed() {
    let (ok, text) = soak(&[
        "--duration",
        "2",
        "--status-every",
        "1",
        "--seed",
        "777",
        "--break",
        "drop-byte",
        "--backend",
        "epoll",
    ]);
    assert!(!ok, "a lost byte must fail the soak:\n{text}");
    assert!(
        text.contains("FIRST FAILURE") && text.contains("bytes lost"),
        "{text}"
    );
    assert!(
        text.contains("--seed 777"),
        "the report names the seed:\n{text}"
    );
}

/// Runs a one-second soak on both backends with `--break what` and checks that each
/// backend's run failed first on `failure`.
fn breakage_fails_both_backends(what: &str, failure: &str) {
    let (ok, text) = soak(&[
        "--duration",
        "1",
        "--status-every",
        "1",
        "--seed",
        "5",
        "--break",
        what,
    ]);
    assert!(!ok, "{text}");
    let first = format!("FIRST FAILURE: {failure}");
    assert_eq!(text.matches(&first).count(), 2, "{text}");
}

#[test]
fn a_leaked_descriptor_is_caught_on_both_backends() {
    breakage_fails_both_backends("leak-fd", "descriptors leaked");
}

/// The stall limit allows for pauses of the whole process (see the soak's watchdog), but
/// not for a poll that blocks the loop alone.
#[test]
fn a_blocked_loop_is_caught_on_both_backends() {
    breakage_fails_both_backends("block-loop", "the loop stalled for");
}

#[test]
fn the_seed_fixes_the_fault_schedule() {
    let (_, a) = soak(&["--print-plan", "20", "--seed", "42"]);
    let (_, b) = soak(&["--seed", "42", "--print-plan", "20"]);
    let (_, c) = soak(&["--print-plan", "20", "--seed", "43"]);
    assert_eq!(a, b, "same seed, same schedule");
    assert_ne!(a, c, "another seed, another schedule");
    assert!(
        a.contains("reset_after: Some"),
        "the schedule includes resets:\n{a}"
    );
}
