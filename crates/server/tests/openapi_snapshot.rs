//! The committed OpenAPI document must match what the server serves. To regenerate after an API
//! change: `HIVE_UPDATE_OPENAPI=1 cargo test -p hivesched-server --test openapi_snapshot`.

use std::path::Path;

#[test]
fn committed_openapi_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let current = hivesched_server::openapi_json();
    if std::env::var("HIVE_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(&path, &current).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "crates/server/openapi.json is out of date; regenerate it with \
         `HIVE_UPDATE_OPENAPI=1 cargo test -p hivesched-server --test openapi_snapshot` \
         and commit the result"
    );
}
