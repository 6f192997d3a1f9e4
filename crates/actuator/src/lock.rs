//! Locking a std mutex without panicking on poison.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking over a poisoned lock: every critical section in this crate is a few
/// assignments that leave the data consistent, so a panic elsewhere must not cascade here.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
