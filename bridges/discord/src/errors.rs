//! serenity's errors in words fit for logs and users: never a URL (a
//! webhook's URL holds its token, and reqwest's errors name the URL).

use serenity::http::HttpError;

/// The HTTP status Discord answered with, if it answered.
pub(crate) fn status(error: &serenity::Error) -> Option<u16> {
    match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(e)) => Some(e.status_code.as_u16()),
        _ => None,
    }
}

/// What went wrong, without the request's URL.
pub(crate) fn describe(error: &serenity::Error) -> String {
    match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(e)) => {
            format!("{} ({})", e.error.message, e.status_code.as_u16())
        }
        serenity::Error::Http(HttpError::Request(e)) => {
            if e.is_timeout() {
                "Discord did not answer in time".to_owned()
            } else {
                "Discord could not be reached".to_owned()
            }
        }
        serenity::Error::Http(_) => "an HTTP error".to_owned(),
        other => other.to_string(),
    }
}
