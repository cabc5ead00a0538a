//! `ssf_demo::run` end to end on loopback (real HTTP, embedded stores in temp dirs).

use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_of_the_demo_behaves_as_expected() {
    let report = ssf_demo::run(ssf_demo::DemoOptions::new(Arc::new(ssf_types::SystemClock)))
        .await
        .unwrap();
    let timeline = report.render();
    println!("{timeline}");
    assert!(report.passed(), "{timeline}");
    assert_eq!(report.steps.len(), 15);
    let names: Vec<&str> = report.steps.iter().map(|s| s.name.as_str()).collect();
    assert!(names.iter().any(|n| n.contains("assigned")));
    assert!(names.iter().any(|n| n.contains("revokes")));
    assert!(
        names.iter().any(|n| n.contains("incident-responders")),
        "the dynamic-group model is shown"
    );
}
