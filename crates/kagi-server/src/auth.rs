//! Authentication: a request's SigV4 signature becomes a [`Caller`] (principal + region),
//! or an AWS authentication error.
//!
//! Signing keys are cached per access key, date, region and service. The caller's access
//! key is looked up (cached in the domain) before the signing key, so a disabled or deleted
//! access key stops working at once even though its signing keys remain cached. Temporary
//! credentials (AssumeRole) carry `X-Amz-Security-Token`: the token is the sealed session,
//! checked by the domain (issued by this installation for this access key id, unexpired,
//! role still there).

use crate::error::ApiError;
use crate::{Operation, Server};
use http::request::Parts;
use kagi_kms::ops::roles::SessionCheck;
use kagi_kms::{Caller, Region};
use std::time::{Duration, UNIX_EPOCH};

pub fn authenticate(
    server: &Server,
    parts: &Parts,
    body: &[u8],
    op: Option<Operation>,
    peer: std::net::SocketAddr,
) -> Result<Caller, ApiError> {
    let now = UNIX_EPOCH + Duration::from_millis(server.auth_clock.now().millis().max(0) as u64);
    let signed = sigv4::parse_request(parts, now, server.config.max_clock_skew)?;
    let expected = op.map_or("kms", Operation::signing_service);
    if signed.service() != expected {
        return Err(ApiError::WrongService { expected });
    }
    let region = Region::parse(signed.region()).ok_or(ApiError::InvalidRegion)?;
    let access_key_id = signed.access_key_id();
    if server.config.dangerous_dev_mode {
        // Dev mode: any well-formed signature is accepted; the secret is never checked.
        return Ok(Caller {
            region,
            principal: server.kms.principal_for("dev", access_key_id, true),
            source_ip: Some(peer.ip().to_string()),
            secure_transport: false,
        });
    }
    let credential = match parts
        .headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
    {
        // Temporary credentials from AssumeRole: the token is the session.
        Some(token) => match server.kms.session_credential(access_key_id, token)? {
            SessionCheck::Valid(c) => c,
            SessionCheck::Invalid => return Err(ApiError::UnrecognizedClient),
            SessionCheck::Expired => return Err(ApiError::ExpiredToken),
        },
        None => server
            .kms
            .credential(access_key_id)?
            .ok_or(ApiError::UnrecognizedClient)?,
    };
    let key = server.signing_keys.get_or_derive(
        access_key_id,
        signed.date(),
        signed.region(),
        signed.service(),
        || Ok::<_, ApiError>(credential.secret.clone()),
    )?;
    signed.verify(&key, parts, body)?;
    Ok(Caller {
        region,
        principal: credential.principal.clone(),
        source_ip: Some(peer.ip().to_string()),
        // Kagi serves plain HTTP; TLS, where used, ends in front of it.
        secure_transport: false,
    })
}

/// The access key id and region a request's `Authorization` header claims, read without
/// checking anything: for the audit record of a call that fails before (or during)
/// authentication. The region is kept only if it looks like one.
pub fn claimed_scope(headers: &http::HeaderMap) -> (Option<String>, Option<String>) {
    let Some(auth) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return (None, None);
    };
    let Some(credential) = auth
        .split([' ', ','])
        .find_map(|part| part.strip_prefix("Credential="))
    else {
        return (None, None);
    };
    let mut scope = credential.split('/');
    let access_key = scope.next().filter(|k| !k.is_empty()).map(str::to_string);
    let region = scope.nth(1).and_then(Region::parse).map(|r| r.to_string());
    (access_key, region)
}
