//! Where the console keeps a key registered through its page: a 0600 file in the store for the
//! local backend (pass it to `sync --api-key-file`), the Secrets Manager secret on AWS. The key is
//! written once and never read back into a page.

use super::ConsoleError;
use crate::api::ApiKey;
use crate::aws::SecretKeySource;
use async_trait::async_trait;
use std::path::PathBuf;

#[async_trait]
pub trait KeyVault: Send + Sync {
    async fn put(&self, key: &ApiKey) -> Result<(), ConsoleError>;
    /// Removes the key; absent is fine.
    async fn delete(&self) -> Result<(), ConsoleError>;
    /// Where it is kept, for the page ("the Secrets Manager secret cl/key").
    fn describe(&self) -> String;
}

pub struct LocalKeyFile(pub PathBuf);

impl LocalKeyFile {
    fn err(&self, e: std::io::Error) -> ConsoleError {
        ConsoleError::Vault { target: self.describe(), reason: e.to_string(), retryable: false }
    }
}

#[async_trait]
impl KeyVault for LocalKeyFile {
    async fn put(&self, key: &ApiKey) -> Result<(), ConsoleError> {
        if let Some(dir) = self.0.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        }
        let tmp = self.0.with_extension("tmp");
        {
            use std::io::Write;
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                o.mode(0o600);
            }
            let mut f = o.open(&tmp).map_err(|e| self.err(e))?;
            f.write_all(key.expose().as_bytes()).map_err(|e| self.err(e))?;
            f.sync_all().map_err(|e| self.err(e))?;
        }
        std::fs::rename(&tmp, &self.0).map_err(|e| self.err(e))
    }
    async fn delete(&self) -> Result<(), ConsoleError> {
        match std::fs::remove_file(&self.0) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }
    fn describe(&self) -> String {
        format!("the key file {} (use it with sync --api-key-file)", self.0.display())
    }
}

pub struct SecretsManagerVault {
    pub source: SecretKeySource,
    pub secret_id: String,
    pub kms_key_id: Option<String>,
}

#[async_trait]
impl KeyVault for SecretsManagerVault {
    async fn put(&self, key: &ApiKey) -> Result<(), ConsoleError> {
        self.source.put(key, self.kms_key_id.as_deref()).await.map_err(|e| ConsoleError::Vault {
            target: self.describe(),
            retryable: e.is_retryable(),
            reason: e.to_string(),
        })
    }
    async fn delete(&self) -> Result<(), ConsoleError> {
        match self.source.delete(false).await {
            Ok(()) | Err(crate::aws::AwsError::NotFound { .. }) => Ok(()),
            Err(e) => {
                Err(ConsoleError::Vault { target: self.describe(), retryable: e.is_retryable(), reason: e.to_string() })
            }
        }
    }
    fn describe(&self) -> String {
        format!("the Secrets Manager secret {:?}", self.secret_id)
    }
}
