pub mod aws;
pub mod check_key;
pub mod console;
pub mod demo;
pub mod dlp;
pub mod fake_api;
pub mod sync;
pub mod verify;
