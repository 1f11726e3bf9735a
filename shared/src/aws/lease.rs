//! Job leases: at most one worker runs a job at a time.
//!
//! Item: `pk = "lease#<job key>"`, `sk = "lease"`, `owner` (S), `expires_at` (N, epoch seconds, also
//! the table's TTL attribute), `fence` (N, incremented by every successful acquire: a fencing token).
//!
//! - [`LeaseManager::acquire`] is one conditional UpdateItem that succeeds if the lease is absent,
//!   expired (`expires_at <= now`), or already ours:
//!   `attribute_not_exists(pk) OR expires_at <= :now OR owner = :owner`. DynamoDB evaluates the
//!   condition and the write atomically, so two workers can never both hold it.
//! - [`LeaseManager::renew`] extends it only while `owner` and `fence` are still ours.
//! - [`LeaseManager::release`] deletes it only while `owner` and `fence` are still ours.
//!
//! Expiry is decided by the condition on `expires_at`, never by TTL deletion (DynamoDB deletes expired
//! items up to days later, emulators never); reads filter expired leases in code. `expires_at` is
//! rounded **up** to the next second, so a lease is never considered expired early. Workers' clocks
//! are assumed synchronised (NTP, as on Lambda); skew between workers shortens or lengthens the
//! takeover delay by that much, so choose a TTL well above any plausible skew.

use crate::aws::dynamodb::{PK, SK, TTL_ATTR};
use crate::aws::error::store_backend;
use crate::store::StoreError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const LEASE_PREFIX: &str = "lease#";
pub const LEASE_SK: &str = "lease";

/// A held lease. Keep it to renew or release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job_key: String,
    pub owner: String,
    /// Epoch seconds after which others may take the lease over.
    pub expires_at: u64,
    /// Fencing token: strictly increases with every acquisition of this job's lease.
    pub fence: u64,
}

impl Lease {
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at <= epoch_secs_floor(now)
    }
}

fn epoch_secs_floor(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn epoch_secs_ceil(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0)).unwrap_or(0)
}

#[derive(Debug, Clone)]
pub struct LeaseManager {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl LeaseManager {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        LeaseManager { client, table: table.into() }
    }

    fn pk(job_key: &str) -> String {
        format!("{LEASE_PREFIX}{job_key}")
    }

    fn where_(&self, job_key: &str) -> String {
        format!("dynamodb://{}/{}{}", self.table, LEASE_PREFIX, job_key)
    }

    /// Takes the lease for `ttl` if it is free, expired, or already `owner`'s. `Ok(None)` = held by
    /// someone else.
    pub async fn acquire(&self, job_key: &str, owner: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let now = SystemTime::now();
        let expires_at = epoch_secs_ceil(now + ttl);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(Self::pk(job_key)))
            .key(SK, AttributeValue::S(LEASE_SK.into()))
            .update_expression("SET #o = :owner, #exp = :exp, acquired_at = :now ADD fence :one")
            .condition_expression("attribute_not_exists(pk) OR #exp <= :now OR #o = :owner")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_names("#exp", TTL_ATTR)
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N(expires_at.to_string()))
            .expression_attribute_values(":now", AttributeValue::N(epoch_secs_floor(now).to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => {
                let fence = out
                    .attributes()
                    .and_then(|a| a.get("fence"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                Ok(Some(Lease { job_key: job_key.to_string(), owner: owner.to_string(), expires_at, fence }))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(None),
            Err(e) => Err(store_backend("UpdateItem (acquire lease)", &self.where_(job_key), &e)),
        }
    }

    /// Extends a held lease to `now + ttl`. `Ok(None)` = the lease was lost (taken over or released):
    /// stop working on the job.
    pub async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let expires_at = epoch_secs_ceil(SystemTime::now() + ttl);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(Self::pk(&lease.job_key)))
            .key(SK, AttributeValue::S(LEASE_SK.into()))
            .update_expression("SET #exp = :exp")
            .condition_expression("#o = :owner AND fence = :fence")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_names("#exp", TTL_ATTR)
            .expression_attribute_values(":owner", AttributeValue::S(lease.owner.clone()))
            .expression_attribute_values(":fence", AttributeValue::N(lease.fence.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N(expires_at.to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(Some(Lease { expires_at, ..lease.clone() })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(None),
            Err(e) => Err(store_backend("UpdateItem (renew lease)", &self.where_(&lease.job_key), &e)),
        }
    }

    /// Gives the lease up. `Ok(false)` = it was not ours any more (nothing was deleted).
    pub async fn release(&self, lease: &Lease) -> Result<bool, StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(Self::pk(&lease.job_key)))
            .key(SK, AttributeValue::S(LEASE_SK.into()))
            .condition_expression("#o = :owner AND fence = :fence")
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(lease.owner.clone()))
            .expression_attribute_values(":fence", AttributeValue::N(lease.fence.to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(store_backend("DeleteItem (release lease)", &self.where_(&lease.job_key), &e)),
        }
    }

    /// The current unexpired holder, if any (expired items are filtered here, not by TTL).
    pub async fn current(&self, job_key: &str) -> Result<Option<Lease>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(Self::pk(job_key)))
            .key(SK, AttributeValue::S(LEASE_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_backend("GetItem (lease)", &self.where_(job_key), &e))?;
        let Some(item) = out.item() else { return Ok(None) };
        let num = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok());
        let lease = Lease {
            job_key: job_key.to_string(),
            owner: item.get("owner").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default(),
            expires_at: num(TTL_ATTR).unwrap_or(0),
            fence: num("fence").unwrap_or(0),
        };
        Ok((!lease.is_expired_at(SystemTime::now())).then_some(lease))
    }
}
