//! The console's one error type, answered as an HTML page in one place ([`IntoResponse`]).

use askama::Template;
use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};

/// Why a console request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The form lacks the session's CSRF token, or the request came from another origin.
    #[error("this form is stale or came from another site; reload the page and try again")]
    Forbidden,
    /// No such stream, grant or page.
    #[error("{0}")]
    NotFound(String),
    /// The form was filled in wrong; the text says what to fix.
    #[error("{0}")]
    BadRequest(String),
    /// The server does not run the role this page needs.
    #[error("{0}")]
    RoleMissing(&'static str),
    /// A store could not be read or written.
    #[error("the store failed")]
    Store(#[from] ssf_store::StoreError),
    /// The ticket bridge refused or failed.
    #[error("the ticket bridge refused or failed")]
    Jit(#[from] ssf_jit::JitError),
    /// The enforcement engine failed (reading the audit entry of a decision).
    #[error("the enforcement engine failed")]
    Enforce(#[from] ssf_enforce::EnforceError),
    /// The transmitter could not sign or queue a SET.
    #[error("the transmitter failed")]
    Transmitter(#[from] ssf_transmitter::ApiError),
    /// The signing keys could not be read.
    #[error("the signing keys could not be read")]
    Keys(#[from] ssf_jose::JoseError),
    /// A page could not be rendered.
    #[error("the page could not be rendered")]
    Render(#[from] askama::Error),
}

impl ConsoleError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::RoleMissing(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Jit(ssf_jit::JitError::UnknownGrant(_)) => StatusCode::NOT_FOUND,
            Self::Jit(ssf_jit::JitError::Invalid(_)) => StatusCode::BAD_REQUEST,
            Self::Jit(ssf_jit::JitError::GrantNotActive { .. }) => StatusCode::CONFLICT,
            Self::Store(_)
            | Self::Transmitter(_)
            | Self::Jit(_)
            | Self::Enforce(_)
            | Self::Keys(_)
            | Self::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, cause = ?std::error::Error::source(&self), "console request failed");
        }
        // The cause of a server error is logged, not shown: it may name internals. A refusal
        // (4xx) shows its cause: it says what to fix.
        let text = match std::error::Error::source(&self) {
            Some(cause) if status.is_client_error() => format!("{self}: {cause}"),
            _ => self.to_string(),
        };
        let page = ErrorPage {
            status: status.to_string(),
            text,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, page.text).into_response(),
        }
    }
}

/// The page of a failed request (`templates/error.html`, escaped by askama).
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: String,
    text: String,
}
