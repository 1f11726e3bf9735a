//! Named fail points for fault tests: make a job fail (or the process abort) at an exact step, e.g.
//! after its objects are written and before its checkpoint advances. Set in code by tests, or with
//! `COMPLIANCE_LAKE_FAILPOINTS="after_write:activities=abort"` for whole-process crash tests.
//! Syntax: `point:stream=action[,…]`, action `error` (default) or `abort`, optionally `*N` to fire
//! on the N-th hit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Error,
    Abort,
    /// Unwinding panic (tests that one job's panic fails only its own message).
    Panic,
}

#[derive(Debug, Clone, Default)]
pub struct FailPoints {
    inner: Arc<Mutex<HashMap<String, (Action, u32)>>>,
}

impl FailPoints {
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses the env-var syntax; unknown actions are an error so a typo cannot silently disable a test.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let fp = FailPoints::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, action) = item.split_once('=').unwrap_or((item, "error"));
            let (action, nth) =
                action.split_once('*').map(|(a, n)| (a, n.parse::<u32>().unwrap_or(1))).unwrap_or((action, 1));
            let a = match action {
                "error" => Action::Error,
                "abort" => Action::Abort,
                "panic" => Action::Panic,
                other => return Err(format!("fail point {name}: unknown action {other:?} (error|abort|panic)")),
            };
            fp.set(name, a, nth);
        }
        Ok(fp)
    }

    /// Only builds with the `failpoints` feature (tests) read the variable: a deployed Lambda or a
    /// release CLI cannot be made to fail on purpose.
    pub fn from_env() -> Result<Self, String> {
        if !cfg!(feature = "failpoints") {
            return Ok(Self::none());
        }
        match std::env::var("COMPLIANCE_LAKE_FAILPOINTS") {
            Ok(s) => Self::parse(&s),
            Err(_) => Ok(Self::none()),
        }
    }

    /// Arms `name` (e.g. `after_write:activities`) to fire on its `nth` hit.
    pub fn set(&self, name: &str, action: Action, nth: u32) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), (action, nth.max(1)));
    }

    pub fn clear(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Called at each named step. Returns `Err` (or aborts the process) when armed and due.
    pub fn hit(&self, point: &str, stream: &str) -> Result<(), super::SyncError> {
        if !cfg!(feature = "failpoints") {
            return Ok(());
        }
        let name = format!("{point}:{stream}");
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some((action, n)) = g.get_mut(&name) else {
            return Ok(());
        };
        if *n > 1 {
            *n -= 1;
            return Ok(());
        }
        let action = *action;
        g.remove(&name);
        drop(g);
        match action {
            Action::Abort => {
                eprintln!("fail point {name}: aborting the process");
                std::process::abort();
            }
            Action::Error => Err(super::SyncError::Injected(name)),
            Action::Panic => panic!("fail point {name}: injected panic"),
        }
    }
}
