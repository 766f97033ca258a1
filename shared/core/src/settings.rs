//! Settings from the environment, read once when a function or the CLI
//! starts. A value that is set but cannot be used stops the start with the
//! variable's name, its value and what it should be: a typo in a deployment
//! fails the deployment, it does not run with a default nobody asked for.
//! An unset or empty variable means "the default".

use std::str::FromStr;

/// A setting the process cannot start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A required variable is not set.
    #[error("{name} is not set: {expected}")]
    Missing {
        /// The variable.
        name: &'static str,
        /// What it should hold.
        expected: &'static str,
    },
    /// A variable's value cannot be used.
    #[error("{name}={value:?} is not {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
}

/// The variable's value, trimmed; `None` when unset or empty.
pub fn text(name: &'static str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// A required variable.
pub fn required(name: &'static str, expected: &'static str) -> Result<String, EnvError> {
    text(name).ok_or(EnvError::Missing { name, expected })
}

/// A variable parsed as `T`; `None` when unset or empty.
pub fn parsed<T: FromStr>(name: &'static str, expected: &'static str) -> Result<Option<T>, EnvError> {
    text(name).map(|v| v.parse().map_err(|_| EnvError::Invalid { name, value: v, expected })).transpose()
}

/// A variable checked by `check` (which says why a value is refused, or
/// converts it).
pub fn checked<T>(
    name: &'static str,
    expected: &'static str,
    check: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, EnvError> {
    text(name).map(|v| check(&v).ok_or(EnvError::Invalid { name, value: v, expected })).transpose()
}
