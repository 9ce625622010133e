//! XEP-0363 HTTP File Upload, asked by the component: the service found
//! (the configured JID, or the first of the XMPP server's disco#items whose
//! disco#info has `urn:xmpp:http:upload:0`, with its `max-file-size`), a
//! slot requested from the component's domain, the bytes PUT with the
//! slot's headers, the GET URL given back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt as _;
use sha2::{Digest, Sha256};

use tokio::sync::oneshot;
use tracing::{info, warn};
use xmpp_parsers::disco::{DiscoInfoQuery, DiscoInfoResult, DiscoItemsQuery, DiscoItemsResult};
use xmpp_parsers::http_upload::{SlotRequest, SlotResult};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

use super::fetch::Body;
use crate::config::UploadService;
use crate::gateway::Gateway;

/// The XEP-0363 namespace (disco feature, form type, payloads).
pub(super) const NS_UPLOAD: &str = "urn:xmpp:http:upload:0";

/// How long the server has to answer an iq.
const ANSWER: Duration = Duration::from_secs(30);

/// An upload service and its own size limit.
#[derive(Debug, Clone)]
pub(super) struct Service {
    pub jid: Jid,
    pub max: Option<u64>,
}

/// Why an upload (or another question to the XMPP server) failed.
#[derive(Debug, thiserror::Error)]
pub(in crate::gateway) enum UploadError {
    #[error("no answer from {0}")]
    NoAnswer(Jid),
    #[error("{0} refused: {1}")]
    Refused(Jid, String),
    #[error("the PUT failed: {0}")]
    Put(String),
}

/// The iqs the component waits on, and the upload service once known.
pub(crate) struct Uploads {
    setting: UploadService,
    /// The service found (`Some(None)`: there is none); asked once, again
    /// only after the server did not answer.
    service: tokio::sync::Mutex<Option<Option<Service>>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Iq>>>,
    next: AtomicU64,
    /// For the PUT to the XMPP server's own HTTP service (made at the first upload).
    http: std::sync::OnceLock<reqwest::Client>,
}

impl Uploads {
    pub(crate) fn new(setting: UploadService) -> Self {
        Self {
            setting,
            service: tokio::sync::Mutex::new(None),
            waiting: Mutex::default(),
            next: AtomicU64::new(0),
            http: std::sync::OnceLock::new(),
        }
    }

    /// Whether uploads are switched off.
    pub(super) fn off(&self) -> bool {
        self.setting == UploadService::Off
    }

    /// An iq result or error the component waited for; `None` when it was
    /// (handed over), the iq back otherwise.
    pub(crate) fn answered(&self, iq: Iq) -> Option<Iq> {
        if !matches!(iq, Iq::Result { .. } | Iq::Error { .. }) {
            return Some(iq);
        }
        let waiter = self.waiting.lock().unwrap().remove(iq.id());
        match waiter {
            Some(tx) => {
                let _ = tx.send(iq);
                None
            }
            None => Some(iq),
        }
    }
}

impl Gateway {
    /// Sends a get from the component's domain and waits for the answer's
    /// payload (an error's text as `Refused`).
    pub(in crate::gateway) async fn ask(
        &self,
        to: &Jid,
        payload: Element,
    ) -> Result<Option<Element>, UploadError> {
        let uploads = &self.files.uploads;
        let id = format!("sb-up-{}", uploads.next.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        uploads.waiting.lock().unwrap().insert(id.clone(), tx);
        let iq = Iq::Get {
            from: Some(Jid::from(self.domain.clone())),
            to: Some(to.clone()),
            id: id.clone(),
            payload,
        };
        self.send(iq).await;
        match tokio::time::timeout(ANSWER, rx).await {
            Ok(Ok(Iq::Result { payload, .. })) => Ok(payload),
            Ok(Ok(Iq::Error { error, .. })) => Err(UploadError::Refused(
                to.clone(),
                error
                    .texts
                    .values()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| format!("{:?}", error.defined_condition)),
            )),
            Ok(Ok(_)) | Ok(Err(_)) | Err(_) => {
                uploads.waiting.lock().unwrap().remove(&id);
                Err(UploadError::NoAnswer(to.clone()))
            }
        }
    }

    /// The upload service: configured, or found on the XMPP server once.
    pub(super) async fn upload_service(&self) -> Option<Service> {
        let mut known = self.files.uploads.service.lock().await;
        if let Some(service) = &*known {
            return service.clone();
        }
        let found = match &self.files.uploads.setting {
            UploadService::Off => Ok(None),
            UploadService::At(jid) => {
                let jid = Jid::from(jid.clone());
                let max = match self.upload_info(&jid).await {
                    Ok(Some(max)) => max,
                    _ => None,
                };
                Ok(Some(Service { jid, max }))
            }
            UploadService::Discover => self.discover_upload().await,
        };
        match found {
            Ok(service) => {
                match &service {
                    Some(s) => info!(service = %s.jid, max = ?s.max, "XEP-0363 upload service"),
                    None => {
                        info!("no XEP-0363 upload service: network file URLs are passed through")
                    }
                }
                *known = Some(service.clone());
                service
            }
            Err(e) => {
                warn!(error = %e, "could not ask the XMPP server for its upload service");
                None
            }
        }
    }

    /// The first of the server's items (or the server itself) that is an
    /// upload service. The server is the component domain's parent.
    async fn discover_upload(&self) -> Result<Option<Service>, UploadError> {
        let domain = self.domain.domain().as_str();
        let server = domain.split_once('.').map_or(domain, |(_, parent)| parent);
        let Ok(server) = server.parse::<BareJid>() else {
            return Ok(None);
        };
        let server = Jid::from(server);
        let items = self
            .ask(
                &server,
                DiscoItemsQuery {
                    node: None,
                    rsm: None,
                }
                .into(),
            )
            .await?;
        let items = items
            .and_then(|p| DiscoItemsResult::try_from(p).ok())
            .map(|r| r.items)
            .unwrap_or_default();
        let own = Jid::from(self.domain.clone());
        let items = items.into_iter().map(|i| i.jid).filter(|j| *j != own);
        for jid in std::iter::once(server).chain(items.take(32)) {
            if let Ok(Some(max)) = self.upload_info(&jid).await {
                return Ok(Some(Service { jid, max }));
            }
        }
        Ok(None)
    }

    /// `Some(max file size)` when `jid` is an upload service.
    async fn upload_info(&self, jid: &Jid) -> Result<Option<Option<u64>>, UploadError> {
        let info = self.ask(jid, DiscoInfoQuery { node: None }.into()).await?;
        let Some(info) = info.and_then(|p| DiscoInfoResult::try_from(p).ok()) else {
            return Ok(None);
        };
        if !info.features.iter().any(|f| f == NS_UPLOAD) {
            return Ok(None);
        }
        let max = info
            .extensions
            .iter()
            .filter(|form| form.form_type() == Some(NS_UPLOAD))
            .flat_map(|form| &form.fields)
            .filter(|field| field.var.as_deref() == Some("max-file-size"))
            .find_map(|field| field.values.first()?.parse().ok());
        Ok(Some(max))
    }

    /// Asks `service` for a slot and PUTs the body (hashed as it goes);
    /// the GET URL and the SHA-256 (base64).
    pub(super) async fn upload(
        &self,
        service: &Service,
        name: &str,
        media_type: &str,
        body: Body,
    ) -> Result<(String, String), UploadError> {
        let size = body.size();
        let request = SlotRequest {
            filename: name.to_owned(),
            size,
            content_type: Some(media_type.to_owned()),
        };
        let answer = self.ask(&service.jid, request.into()).await?;
        let slot = answer
            .and_then(|p| SlotResult::try_from(p).ok())
            .ok_or_else(|| UploadError::Refused(service.jid.clone(), "no slot".into()))?;
        let mut put = self
            .files
            .uploads
            .http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .timeout(Duration::from_secs(300))
                    .build()
                    .expect("the HTTP client's TLS set-up")
            })
            .put(&slot.put.url)
            .header(reqwest::header::CONTENT_TYPE, media_type)
            .header(reqwest::header::CONTENT_LENGTH, size);
        for header in &slot.put.headers {
            put = put.header(header.name.as_str(), &header.value);
        }
        let hashing = Arc::new(Mutex::new((Sha256::new(), 0u64)));
        let put_body = match body {
            Body::Whole(bytes) => {
                let mut state = hashing.lock().unwrap();
                state.0.update(&bytes);
                state.1 = size;
                reqwest::Body::from(bytes)
            }
            Body::Stream { response, .. } => hashed(response, size, Arc::clone(&hashing)),
        };
        put.body(put_body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| UploadError::Put(super::fetch::words(e)))?;
        let (hasher, read) = std::mem::take(&mut *hashing.lock().unwrap());
        if read != size {
            return Err(UploadError::Put(format!("{read} bytes of {size} came")));
        }
        let sha256 = base64::engine::general_purpose::STANDARD.encode(hasher.finalize());
        Ok((slot.get.url, sha256))
    }
}

/// A response's chunks as the PUT's body, each hashed and counted as
/// it passes; more than `size` bytes is an error.
fn hashed(
    response: reqwest::Response,
    size: u64,
    hashing: Arc<Mutex<(Sha256, u64)>>,
) -> reqwest::Body {
    let stream = futures::stream::unfold(Some(response), |response| async move {
        let mut response = response?;
        match response.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(response))),
            Ok(None) => None,
            Err(e) => Some((Err(BoxError::from(super::fetch::words(e))), None)),
        }
    })
    .map(move |chunk| {
        let chunk = chunk?;
        let mut state = hashing.lock().unwrap();
        state.0.update(&chunk);
        state.1 += chunk.len() as u64;
        if state.1 > size {
            return Err(BoxError::from("the file is longer than its length"));
        }
        Ok(chunk)
    });
    reqwest::Body::wrap_stream(stream)
}

/// An error in the PUT's body stream.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_result_or_error_answers_a_question() {
        let uploads = Uploads::new(UploadService::Discover);
        let (tx, mut rx) = oneshot::channel();
        uploads.waiting.lock().unwrap().insert("sb-up-0".into(), tx);
        // The component's own question coming back to it (disco of its
        // own domain) is a get with the same id: not an answer.
        let get = Iq::Get {
            from: None,
            to: None,
            id: "sb-up-0".into(),
            payload: DiscoInfoQuery { node: None }.into(),
        };
        assert!(uploads.answered(get).is_some());
        assert!(rx.try_recv().is_err());
        let result = Iq::Result {
            from: None,
            to: None,
            id: "sb-up-0".into(),
            payload: None,
        };
        assert!(uploads.answered(result).is_none());
        assert!(matches!(rx.try_recv(), Ok(Iq::Result { .. })));
        let stranger = Iq::Result {
            from: None,
            to: None,
            id: "other".into(),
            payload: None,
        };
        assert!(uploads.answered(stranger).is_some());
    }
}
