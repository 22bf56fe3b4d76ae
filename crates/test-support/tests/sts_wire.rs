//! Roles and STS at the wire: a role assumed through the STS query protocol, its session
//! credentials used with the AWS SDK for Rust (`X-Amz-Security-Token`), expiry, tampering
//! and trust-policy refusals.

use aws_sdk_kms::primitives::Blob;
use serde_json::json;
use test_support::{error_code as code, new_key, TestServer};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";

/// The text of the first `<name>` element of an XML answer.
fn xml_text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(&xml[start..end])
}

struct Session {
    access_key_id: String,
    secret: String,
    token: String,
}

/// AssumeRole as the server's administrator.
async fn assume(server: &TestServer, role: &str, session: &str) -> Result<Session, (u16, String)> {
    let client = server.admin();
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/{role}");
    let (status, xml) = client
        .call_sts(
            "AssumeRole",
            &[
                ("RoleArn", &arn),
                ("RoleSessionName", session),
                ("DurationSeconds", "900"),
            ],
        )
        .await
        .unwrap();
    if status != 200 {
        return Err((status, xml));
    }
    Ok(Session {
        access_key_id: xml_text(&xml, "AccessKeyId").unwrap().to_string(),
        secret: xml_text(&xml, "SecretAccessKey").unwrap().to_string(),
        token: xml_text(&xml, "SessionToken").unwrap().to_string(),
    })
}

fn kms_as(server: &TestServer, s: &Session, token: &str) -> aws_sdk_kms::Client {
    use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&server.endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            &s.access_key_id,
            &s.secret,
            Some(token.to_string()),
            None,
            "sts",
        ))
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

async fn put_role(server: &TestServer, role: &str, trust_principal: &str, actions: &[&str]) {
    let admin = server.admin();
    admin
        .call(
            "PutRole",
            json!({
                "RoleName": role,
                "AssumeRolePolicyDocument": json!({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"AWS": trust_principal},
                                   "Action": "sts:AssumeRole"}]
                }).to_string(),
            }),
        )
        .await
        .unwrap();
    admin
        .call(
            "PutRolePolicy",
            json!({
                "RoleName": role,
                "PolicyName": "kms",
                "PolicyDocument": json!({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]
                }).to_string(),
            }),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_role_assumed_via_sts_is_allowed_what_its_policy_allows() {
    let clock = test_support::manual_clock_now();
    let server = TestServer::builder()
        .account_id(ACCOUNT)
        .manual_clock(clock.clone())
        .build()
        .await;
    let key = new_key(&server.client(REGION)).await;
    put_role(
        &server,
        "app",
        &format!("arn:aws:iam::{ACCOUNT}:root"),
        &["kms:Encrypt", "kms:Decrypt"],
    )
    .await;
    let session = assume(&server, "app", "batch-1").await.unwrap();
    assert!(session.access_key_id.starts_with("ASIA"));
    let kms = kms_as(&server, &session, &session.token);
    let sealed = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("payroll"))
        .send()
        .await
        .unwrap();
    let opened = kms
        .decrypt()
        .ciphertext_blob(sealed.ciphertext_blob.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext.unwrap().as_ref(), b"payroll");
    // Only what the role's policy allows.
    assert_eq!(
        code(kms.describe_key().key_id(&key).send().await),
        "AccessDeniedException"
    );

    // GetCallerIdentity names the session.
    let as_session = kagi_server::admin_client::AdminClient {
        endpoint: server.endpoint.clone(),
        region: REGION.into(),
        credentials: sigv4::Credentials::new(
            session.access_key_id.clone(),
            kagi_crypto::SecretBytes::from_slice(session.secret.as_bytes()),
        ),
    };
    // (Signed without the token: the access key id alone is not a credential.)
    let (status, _) = as_session.call_sts("GetCallerIdentity", &[]).await.unwrap();
    assert_eq!(status, 403);

    // A tampered token is refused; so is the token after the session expires.
    let mut tampered = session.token.clone();
    let last = if tampered.ends_with('0') { "1" } else { "0" };
    tampered.replace_range(tampered.len() - 1.., last);
    assert_eq!(
        code(
            kms_as(&server, &session, &tampered)
                .list_keys()
                .send()
                .await
        ),
        "UnrecognizedClientException"
    );
    clock.advance_millis(901_000);
    assert_eq!(
        code(
            kms.encrypt()
                .key_id(&key)
                .plaintext(Blob::new("x"))
                .send()
                .await
        ),
        "ExpiredTokenException"
    );
}

#[tokio::test]
async fn the_trust_policy_decides_who_may_assume_a_role() {
    let server = TestServer::builder().account_id(ACCOUNT).build().await;
    // Trusts only a user called "ci", not the account: the admin may not assume it.
    put_role(
        &server,
        "deploy",
        &format!("arn:aws:iam::{ACCOUNT}:user/ci"),
        &["kms:*"],
    )
    .await;
    let (status, xml) = assume(&server, "deploy", "sess").await.err().unwrap();
    assert_eq!(status, 403);
    assert_eq!(xml_text(&xml, "Code"), Some("AccessDenied"));
    assert!(xml.contains("is not authorized to perform: sts:AssumeRole"));
    // AWS's validation: a session name has 2–64 characters.
    let (status, xml) = assume(&server, "deploy", "s").await.err().unwrap();
    assert_eq!(
        (status, xml_text(&xml, "Code")),
        (400, Some("ValidationError"))
    );
    // No such role: the same refusal.
    let (status, _) = assume(&server, "nope", "sess").await.err().unwrap();
    assert_eq!(status, 403);

    // Deleting a role ends its sessions.
    put_role(
        &server,
        "short",
        &format!("arn:aws:iam::{ACCOUNT}:root"),
        &["kms:ListKeys"],
    )
    .await;
    let session = assume(&server, "short", "sess").await.unwrap();
    let kms = kms_as(&server, &session, &session.token);
    kms.list_keys().send().await.unwrap();
    server
        .admin()
        .call("DeleteRole", json!({"RoleName": "short"}))
        .await
        .unwrap();
    assert_eq!(
        code(kms.list_keys().send().await),
        "UnrecognizedClientException"
    );
}

#[tokio::test]
async fn a_session_carries_its_roles_tags() {
    let server = TestServer::builder().account_id(ACCOUNT).build().await;
    let key = new_key(&server.client(REGION)).await;
    let admin = server.admin();
    admin
        .call(
            "PutRole",
            json!({
                "RoleName": "tagged",
                "AssumeRolePolicyDocument": json!({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow",
                                   "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                                   "Action": "sts:AssumeRole"}]
                }).to_string(),
            }),
        )
        .await
        .unwrap();
    admin
        .call(
            "PutRolePolicy",
            json!({
                "RoleName": "tagged",
                "PolicyName": "prod-only",
                "PolicyDocument": json!({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
                                   "Condition": {"StringEquals": {"aws:PrincipalTag/env": "prod"}}}]
                }).to_string(),
            }),
        )
        .await
        .unwrap();
    let session = assume(&server, "tagged", "job").await.unwrap();
    let kms = kms_as(&server, &session, &session.token);
    let encrypt = || kms.encrypt().key_id(&key).plaintext(Blob::new("x")).send();
    assert_eq!(code(encrypt().await), "AccessDeniedException");
    admin
        .call(
            "TagRole",
            json!({"RoleName": "tagged", "Tags": [{"Key": "env", "Value": "prod"}]}),
        )
        .await
        .unwrap();
    encrypt().await.unwrap();
    let listed = admin
        .call("ListRoleTags", json!({"RoleName": "tagged"}))
        .await
        .unwrap();
    assert_eq!(listed["Tags"], json!([{"Key": "env", "Value": "prod"}]));
    admin
        .call(
            "UntagRole",
            json!({"RoleName": "tagged", "TagKeys": ["env"]}),
        )
        .await
        .unwrap();
    assert_eq!(code(encrypt().await), "AccessDeniedException");
}
