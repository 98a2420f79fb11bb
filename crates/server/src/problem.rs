//! RFC 9457 problem details: every 4xx/5xx the service sends.
//!
//! `type` is a stable URN per problem kind so clients can branch on it;
//! `detail` is for humans and never contains a secret or a value the client
//! sent except a field name.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Media type of problem bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The problem kinds the API can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The body or query is malformed or fails validation (400/422).
    InvalidRequest,
    /// Login failed: one answer for every reason.
    InvalidCredentials,
    /// No valid access token (401).
    Unauthorized,
    /// The token is valid but lacks the scope (403).
    Forbidden,
    /// The password has expired: only the change-password call is allowed.
    PasswordExpired,
    /// The role requires MFA and the user has not enrolled: only the
    /// enrollment endpoints are allowed.
    MfaEnrollmentRequired,
    /// The action needs a second factor completed within the last minutes.
    MfaStepUpRequired,
    /// The vault's signing policy refuses the exchange request (403;
    /// `urn:cryptobot:problem:signing-refused`, with `class`,
    /// `permissions` and `reason`).
    SigningRefused,
    /// A second-factor code that is wrong, expired or already used.
    InvalidMfa,
    /// The new password breaks the policy (422).
    PasswordPolicy,
    /// A refresh token that is unknown, expired, or already used.
    InvalidRefreshToken,
    /// A password-reset token that is unknown, expired, used or superseded.
    InvalidResetToken,
    /// No such resource (404).
    NotFound,
    /// Method not allowed on this path (405).
    MethodNotAllowed,
    /// The resource already exists (409).
    Conflict,
    /// A configured limit (e.g. API keys per user) is reached (409).
    LimitReached,
    /// Too many attempts from this client (429).
    TooManyRequests,
    /// Body larger than the limit (413).
    PayloadTooLarge,
    /// Wrong Content-Type (415).
    UnsupportedMediaType,
    /// The request took too long (408).
    Timeout,
    /// The service is saturated; retry later (503).
    Busy,
    /// Something failed on our side (500); details are in the service log.
    Internal,
}

impl Kind {
    /// Stable machine-readable code (the last part of `type`).
    pub fn code(self) -> &'static str {
        match self {
            Kind::InvalidRequest => "invalid-request",
            Kind::InvalidCredentials => "invalid-credentials",
            Kind::Unauthorized => "unauthorized",
            Kind::Forbidden => "forbidden",
            Kind::PasswordExpired => "password-expired",
            Kind::MfaEnrollmentRequired => "mfa-enrollment-required",
            Kind::MfaStepUpRequired => "mfa-step-up-required",
            Kind::SigningRefused => "signing-refused",
            Kind::InvalidMfa => "invalid-mfa",
            Kind::PasswordPolicy => "password-policy",
            Kind::InvalidRefreshToken => "invalid-refresh-token",
            Kind::InvalidResetToken => "invalid-reset-token",
            Kind::NotFound => "not-found",
            Kind::MethodNotAllowed => "method-not-allowed",
            Kind::Conflict => "conflict",
            Kind::LimitReached => "limit-reached",
            Kind::TooManyRequests => "too-many-requests",
            Kind::PayloadTooLarge => "payload-too-large",
            Kind::UnsupportedMediaType => "unsupported-media-type",
            Kind::Timeout => "timeout",
            Kind::Busy => "busy",
            Kind::Internal => "internal",
        }
    }

    /// HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Kind::InvalidRequest => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::InvalidCredentials
            | Kind::Unauthorized
            | Kind::InvalidRefreshToken
            | Kind::InvalidResetToken => StatusCode::UNAUTHORIZED,
            Kind::Forbidden
            | Kind::PasswordExpired
            | Kind::MfaEnrollmentRequired
            | Kind::MfaStepUpRequired
            | Kind::SigningRefused => StatusCode::FORBIDDEN,
            Kind::InvalidMfa => StatusCode::UNAUTHORIZED,
            Kind::PasswordPolicy => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::Conflict | Kind::LimitReached => StatusCode::CONFLICT,
            Kind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::Timeout => StatusCode::REQUEST_TIMEOUT,
            Kind::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Short human title, fixed per kind.
    pub fn title(self) -> &'static str {
        match self {
            Kind::InvalidRequest => "The request is not valid",
            Kind::InvalidCredentials => "Invalid credentials",
            Kind::Unauthorized => "Authentication required",
            Kind::Forbidden => "Not allowed",
            Kind::PasswordExpired => "Password expired",
            Kind::MfaEnrollmentRequired => "Multi-factor enrollment required",
            Kind::MfaStepUpRequired => "Recent multi-factor authentication required",
            Kind::SigningRefused => "The signing policy refuses this request",
            Kind::InvalidMfa => "Invalid second-factor code",
            Kind::PasswordPolicy => "The password does not meet the policy",
            Kind::InvalidRefreshToken => "Invalid refresh token",
            Kind::InvalidResetToken => "Invalid password-reset token",
            Kind::NotFound => "Not found",
            Kind::MethodNotAllowed => "Method not allowed",
            Kind::Conflict => "Already exists",
            Kind::LimitReached => "Limit reached",
            Kind::TooManyRequests => "Too many requests",
            Kind::PayloadTooLarge => "Request body too large",
            Kind::UnsupportedMediaType => "Unsupported media type",
            Kind::Timeout => "Request timed out",
            Kind::Busy => "Service busy",
            Kind::Internal => "Internal error",
        }
    }
}

/// The body of a problem response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemBody {
    /// Stable identifier of the problem kind, e.g. `urn:cryptobot:problem:forbidden`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary, fixed per `type`.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong and how to fix it.
    pub detail: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Extra machine-readable facts (e.g. the violated password rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemItem>>,
    /// `signing-refused`: the request's class (`read`, `trade`,
    /// `withdraw`, `account-admin`, or `unknown` when it was refused before
    /// it was classified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// `signing-refused`: the key's declared permissions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    /// `signing-refused`: the stable reason code (e.g. `not-permitted`,
    /// `unknown-endpoint`, `dot-segment`, `timestamp-outside-window`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The request's id (also the `X-Request-Id` header); quote it when
    /// reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One item of a multi-part problem (e.g. one violated password rule).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemItem {
    /// Stable code.
    pub code: String,
    /// Human text.
    pub message: String,
}

/// The extension members of a `signing-refused` problem.
#[derive(Debug, Clone)]
struct Refused {
    class: String,
    permissions: Vec<String>,
    reason: String,
}

/// An error the API answers with.
#[derive(Debug, Clone)]
pub struct ApiError {
    kind: Kind,
    detail: String,
    field: Option<String>,
    errors: Option<Vec<ProblemItem>>,
    refusal: Option<Box<Refused>>,
    retry_after: Option<u64>,
    www_authenticate: bool,
}

impl ApiError {
    /// A problem of `kind` with a human `detail`.
    pub fn new(kind: Kind, detail: impl Into<String>) -> Self {
        ApiError {
            kind,
            detail: detail.into(),
            field: None,
            errors: None,
            refusal: None,
            retry_after: None,
            www_authenticate: matches!(kind, Kind::Unauthorized),
        }
    }

    /// Validation failure naming the field at fault.
    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut e = ApiError::new(Kind::InvalidRequest, detail);
        e.field = Some(field.into());
        e
    }

    /// The one login failure answer: identical bytes whatever the cause.
    pub fn invalid_credentials() -> Self {
        ApiError::new(
            Kind::InvalidCredentials,
            "the username or password is wrong, or the account cannot sign in now",
        )
    }

    /// 401 for a missing or refused access token.
    pub fn unauthorized() -> Self {
        ApiError::new(
            Kind::Unauthorized,
            "send a valid access token: Authorization: Bearer <token>",
        )
    }

    /// 500 with nothing internal in the body; log the cause separately.
    pub fn internal() -> Self {
        ApiError::new(
            Kind::Internal,
            "the service could not complete the request; the service log has details",
        )
    }

    /// 503 `busy` with `Retry-After: 1`: the database cannot be reached (or
    /// is full or restarting) at the moment; a retry may succeed.
    pub fn unavailable() -> Self {
        ApiError::new(
            Kind::Busy,
            "the service's database cannot be reached at the moment; retry shortly",
        )
        .retry_after(1)
    }

    /// The 403 of a request the vault's signing policy refuses: the detail
    /// names the class and the key's permissions (never a secret or the
    /// payload; untrusted path text is already escaped and cut short).
    pub fn signing_refused(refusal: &cryptobot_vault::policy::Refusal) -> Self {
        let mut e = ApiError::new(Kind::SigningRefused, refusal.to_string());
        e.refusal = Some(Box::new(Refused {
            class: refusal.class.as_str().to_string(),
            permissions: refusal
                .permissions
                .names()
                .into_iter()
                .map(str::to_string)
                .collect(),
            reason: refusal.reason.code().to_string(),
        }));
        e
    }

    /// Adds a `Retry-After` header.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// Adds items (e.g. violated rules).
    pub fn with_errors(mut self, errors: Vec<ProblemItem>) -> Self {
        self.errors = Some(errors);
        self
    }

    /// The problem kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The body as it is sent.
    pub fn body(&self) -> ProblemBody {
        let request_id = cryptobot_service::request_id::current().map(|id| id.to_string());
        let detail = match (&request_id, self.kind) {
            (Some(id), Kind::Internal) => {
                format!("{}; quote request id {id} when you report it", self.detail)
            }
            _ => self.detail.clone(),
        };
        ProblemBody {
            request_id,
            kind: format!("urn:cryptobot:problem:{}", self.kind.code()),
            title: self.kind.title().to_string(),
            status: self.kind.status().as_u16(),
            detail,
            field: self.field.clone(),
            errors: self.errors.clone(),
            class: self.refusal.as_ref().map(|r| r.class.clone()),
            permissions: self.refusal.as_ref().map(|r| r.permissions.clone()),
            reason: self.refusal.as_ref().map(|r| r.reason.clone()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = (self.kind.status(), body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            h.insert(header::RETRY_AFTER, v);
        }
        if self.www_authenticate {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cryptobot\""),
            );
        }
        resp
    }
}

impl From<cryptobot_store::StoreError> for ApiError {
    fn from(e: cryptobot_store::StoreError) -> Self {
        if e.is_unavailable() {
            // Away for a moment (restarting, unreachable, full): the client
            // may retry, and the operator sees a warning, not an error.
            tracing::warn!(error = %e, "database unavailable");
            return ApiError::unavailable();
        }
        tracing::error!(error = %e, "storage failure");
        ApiError::internal()
    }
}

/// The 401 and 403 every scoped endpoint can answer, described once.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ScopeErrors {
    /// No valid access token, or its session has ended
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(#[to_schema] ProblemBody),
    /// The token lacks the endpoint's scope
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(#[to_schema] ProblemBody),
}

/// The answers every endpoint with a JSON body can give before it runs.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum BodyErrors {
    /// The body is larger than `server.max_body_bytes`
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(#[to_schema] ProblemBody),
    /// The body is not `application/json`
    #[response(status = 415, content_type = "application/problem+json")]
    MediaType(#[to_schema] ProblemBody),
    /// The body is not valid JSON, has unknown fields, or a field breaks its rules (`field` names it)
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(#[to_schema] ProblemBody),
}

/// The 401 and 403 of every endpoint that needs a signed-in session (an
/// access token) and no particular scope: a service API key is refused.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum SessionErrors {
    /// No valid access token, or its session has ended
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(#[to_schema] ProblemBody),
    /// A service API key: this endpoint needs a signed-in session (`Authorization: Bearer`)
    #[response(status = 403, content_type = "application/problem+json")]
    ServiceKey(#[to_schema] ProblemBody),
}

/// The 401 of every endpoint that needs a token but no particular scope.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum AuthErrors {
    /// No valid access token, or its session has ended
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(#[to_schema] ProblemBody),
}
