//! DLP scanner benchmarks: the same as `shared/benches/dlp_scan.rs` (targets and figures are
//! documented there), built inside the workspace crate. Prefer the `shared` one, which does not
//! build the AWS SDK: `cargo bench -p shared --no-default-features --bench dlp_scan`.

include!("../shared/benches/common/dlp.rs");
