//! The Athena definitions in `infra/athena/tables.json` cover exactly the tables the code writes.
//! (The full check — every field the demo writes is a typed column or deliberately excluded, and every
//! named query answers correctly over the demo output — is `bash scripts/validate-infra.sh`.)

use shared::store::Table;
use std::collections::BTreeSet;

#[test]
fn every_lake_table_has_an_athena_definition() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/infra/athena/tables.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let spec: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let defined: BTreeSet<String> = spec["tables"]
        .as_array()
        .expect("tables.json: \"tables\" is an array")
        .iter()
        .map(|t| t["name"].as_str().expect("every table has a name").to_string())
        .collect();
    let mut written: BTreeSet<String> = Table::ALL.iter().map(|t| t.as_str().to_string()).collect();
    // the commit protocol's evidence (`_manifests/`), queryable next to the data
    written.insert("manifests".to_string());
    assert_eq!(
        defined, written,
        "infra/athena/tables.json must define one Athena table per lake table (shared::store::Table::ALL); \
         after changing it run `python3 scripts/athena_check.py gen` and `bash scripts/validate-infra.sh`"
    );
}
