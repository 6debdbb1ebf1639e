//! The closed vocabulary of errors the console shows. The web layer renders
//! each as a JSON body (`{"error", "detail"}`) for the API or as a page or
//! fragment for the browser; the underlying cause of an internal error is
//! kept for the log, never shown.

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A request that could not be read at all (malformed JSON, wrong type).
    #[error("{0}")]
    BadRequest(String),
    /// Input that cannot be accepted; nothing was changed.
    #[error("{message}")]
    Invalid {
        field: Option<&'static str>,
        message: String,
    },
    /// No valid credentials were presented.
    #[error("{0}")]
    Unauthenticated(String),
    /// The user is known but their role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (already set up, name
    /// taken, last admin).
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    Throttled {
        message: String,
        retry_after_seconds: u64,
    },
    /// A dependency is down (the database, the agent).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; the cause goes to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: Some(field),
            message: message.into(),
        }
    }

    /// The stable code scripts can match on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Invalid { .. } => "invalid_input",
            AppError::Unauthenticated(_) => "unauthenticated",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::Throttled { .. } => "too_many_requests",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Invalid { .. } => 422,
            AppError::Unauthenticated(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::Throttled { .. } => 429,
            AppError::Unavailable(_) => 503,
            AppError::Internal(_) => 500,
        }
    }

    /// What the user is told: for internal errors, nothing of the cause.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => {
                "something went wrong inside the console; the log has the details".into()
            }
            other => other.to_string(),
        }
    }
}

/// True when a statement failed because a unique constraint (or primary key)
/// already held the value: the loser of a race.
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
