//! Grants at the wire, through the AWS SDK for Rust: an administrator grants a user with no
//! policy the use of a key under an encryption-context constraint; the user encrypts with
//! the grant token, is refused another context, and loses access when the grant is retired
//! or revoked. The audit log never holds a grant token.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantConstraints, GrantOperation};
use test_support::{new_key, TestServer};

const ACCOUNT: &str = "111122223333";
const APP: &str = "arn:aws:iam::111122223333:user/app";

fn code<T, E>(r: Result<T, aws_sdk_kms::error::SdkError<E>>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match r {
        Ok(_) => "OK".into(),
        Err(e) => e
            .as_service_error()
            .and_then(|s| s.code())
            .unwrap_or("?")
            .to_string(),
    }
}

fn constraint(k: &str, v: &str) -> GrantConstraints {
    GrantConstraints::builder()
        .encryption_context_subset(k, v)
        .build()
}

async fn encrypt(
    kms: &aws_sdk_kms::Client,
    key: &str,
    context: Option<(&str, &str)>,
    token: Option<&str>,
) -> Result<Blob, String> {
    let mut req = kms.encrypt().key_id(key).plaintext(Blob::new("payload"));
    if let Some((k, v)) = context {
        req = req.encryption_context(k, v);
    }
    if let Some(t) = token {
        req = req.grant_tokens(t);
    }
    match req.send().await {
        Ok(out) => Ok(out.ciphertext_blob.expect("a ciphertext")),
        Err(e) => Err(code::<(), _>(Err(e))),
    }
}

#[tokio::test]
async fn a_grant_lets_a_user_without_policy_use_a_key_until_retired() {
    let server = TestServer::builder().account_id(ACCOUNT).build().await;
    let admin = server.client("us-east-1");
    let key = new_key(&admin).await;
    let app = server.user("app", None).await;
    let ctx = Some(("tenant", "blue"));
    assert_eq!(
        encrypt(&app, &key, ctx, None).await.unwrap_err(),
        "AccessDeniedException"
    );

    let created = admin
        .create_grant()
        .key_id(&key)
        .grantee_principal(APP)
        .retiring_principal(APP)
        .operations(GrantOperation::Encrypt)
        .operations(GrantOperation::Decrypt)
        .constraints(constraint("tenant", "blue"))
        .name("app-blue")
        .send()
        .await
        .unwrap();
    let token = created.grant_token().unwrap().to_string();
    let grant_id = created.grant_id().unwrap().to_string();

    // Usable at once, with or without the token.
    let blob = encrypt(&app, &key, ctx, Some(&token)).await.unwrap();
    encrypt(&app, &key, ctx, None).await.unwrap();
    let plain = app
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("tenant", "blue")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext.unwrap().as_ref(), b"payload");
    // Another context, or none: refused.
    for other in [Some(("tenant", "red")), None] {
        assert_eq!(
            encrypt(&app, &key, other, Some(&token)).await.unwrap_err(),
            "AccessDeniedException"
        );
    }
    // A malformed token: InvalidGrantTokenException.
    assert_eq!(
        encrypt(&app, &key, ctx, Some("not-a-token"))
            .await
            .unwrap_err(),
        "InvalidGrantTokenException"
    );

    // Listed with what it allows.
    let listed = admin.list_grants().key_id(&key).send().await.unwrap();
    let grants = listed.grants();
    assert_eq!(grants.len(), 1);
    let g = &grants[0];
    assert_eq!(g.grant_id(), Some(grant_id.as_str()));
    assert_eq!(g.grantee_principal(), Some(APP));
    assert_eq!(g.retiring_principal(), Some(APP));
    assert_eq!(g.name(), Some("app-blue"));
    assert_eq!(
        g.issuing_account(),
        Some(format!("arn:aws:iam::{ACCOUNT}:root").as_str())
    );
    assert_eq!(
        g.operations(),
        [GrantOperation::Decrypt, GrantOperation::Encrypt]
    );
    assert_eq!(
        g.constraints()
            .and_then(|c| c.encryption_context_subset())
            .and_then(|m| m.get("tenant"))
            .map(String::as_str),
        Some("blue")
    );
    assert!(g.key_id().unwrap().ends_with(&key));
    assert!(!listed.truncated());
    // The same named request again: the same grant.
    let again = admin
        .create_grant()
        .key_id(&key)
        .grantee_principal(APP)
        .retiring_principal(APP)
        .operations(GrantOperation::Decrypt)
        .operations(GrantOperation::Encrypt)
        .constraints(constraint("tenant", "blue"))
        .name("app-blue")
        .send()
        .await
        .unwrap();
    assert_eq!(again.grant_id(), Some(grant_id.as_str()));

    // The app (its retiring principal) retires it: refused at once afterwards.
    app.retire_grant().grant_token(&token).send().await.unwrap();
    assert_eq!(
        encrypt(&app, &key, ctx, None).await.unwrap_err(),
        "AccessDeniedException"
    );
    assert!(admin
        .list_grants()
        .key_id(&key)
        .send()
        .await
        .unwrap()
        .grants()
        .is_empty());

    // No grant token reached the audit log.
    let log = kagi_audit::trail::log_dir(&server.data_dir.join("audit"));
    let events = kagi_audit::log::read_dir_from(&log, 0).unwrap();
    assert!(!events.is_empty());
    let mut names = Vec::new();
    for (_, payload) in &events {
        let text = String::from_utf8_lossy(payload);
        assert!(!text.contains(&token), "a grant token was recorded");
        let event: serde_json::Value = serde_json::from_slice(payload).unwrap();
        names.push(event["eventName"].as_str().unwrap_or("").to_string());
        if event["eventName"] == "CreateGrant" && event["errorCode"].is_null() {
            assert_eq!(event["responseElements"]["grantId"], grant_id.as_str());
            assert!(event["requestParameters"].get("grantTokens").is_none());
        }
        if event["eventName"] == "RetireGrant" {
            assert_eq!(event["additionalEventData"]["grantId"], grant_id.as_str());
            assert!(event["requestParameters"].is_null());
        }
    }
    assert!(names.iter().any(|n| n == "CreateGrant"));
    assert!(names.iter().any(|n| n == "RetireGrant"));
}

#[tokio::test]
async fn an_administrator_revokes_a_grant_and_others_may_not() {
    let server = TestServer::builder().account_id(ACCOUNT).build().await;
    let admin = server.client("us-east-1");
    let key = new_key(&admin).await;
    let app = server.user("app", None).await;
    let created = admin
        .create_grant()
        .key_id(&key)
        .grantee_principal(APP)
        .operations(GrantOperation::GenerateDataKey)
        .send()
        .await
        .unwrap();
    let grant_id = created.grant_id().unwrap();
    let data_key = app
        .generate_data_key()
        .key_id(&key)
        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
        .send()
        .await;
    assert_eq!(code(data_key), "OK");
    // GenerateDataKey does not cover GenerateDataKeyWithoutPlaintext or Encrypt.
    let without = app
        .generate_data_key_without_plaintext()
        .key_id(&key)
        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
        .send()
        .await;
    assert_eq!(code(without), "AccessDeniedException");
    // The grantee may neither revoke nor retire (no RetireGrant in the grant).
    assert_eq!(
        code(
            app.revoke_grant()
                .key_id(&key)
                .grant_id(grant_id)
                .send()
                .await
        ),
        "AccessDeniedException"
    );
    assert_eq!(
        code(
            app.retire_grant()
                .key_id(&key)
                .grant_id(grant_id)
                .send()
                .await
        ),
        "AccessDeniedException"
    );
    admin
        .revoke_grant()
        .key_id(&key)
        .grant_id(grant_id)
        .send()
        .await
        .unwrap();
    let after = app
        .generate_data_key()
        .key_id(&key)
        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
        .send()
        .await;
    assert_eq!(code(after), "AccessDeniedException");
    assert_eq!(
        code(
            admin
                .revoke_grant()
                .key_id(&key)
                .grant_id(grant_id)
                .send()
                .await
        ),
        "NotFoundException"
    );
    assert_eq!(
        code(
            admin
                .create_grant()
                .key_id(&key)
                .grantee_principal("not a principal!")
                .operations(GrantOperation::Encrypt)
                .send()
                .await
        ),
        "ValidationException"
    );
}

#[tokio::test]
async fn list_retirable_grants_across_keys() {
    let server = TestServer::builder().account_id(ACCOUNT).build().await;
    let admin = server.client("us-east-1");
    let ops = "arn:aws:iam::111122223333:user/ops";
    for _ in 0..2 {
        let key = new_key(&admin).await;
        admin
            .create_grant()
            .key_id(&key)
            .grantee_principal(APP)
            .retiring_principal(ops)
            .operations(GrantOperation::Decrypt)
            .send()
            .await
            .unwrap();
    }
    let page = admin
        .list_retirable_grants()
        .retiring_principal(ops)
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.grants().len(), 1);
    assert!(page.truncated());
    let rest = admin
        .list_retirable_grants()
        .retiring_principal(ops)
        .marker(page.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.grants().len(), 1);
    assert!(!rest.truncated());
}
