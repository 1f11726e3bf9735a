pub mod check_key;
pub mod demo;
pub mod fake_api;
pub mod sync;
