//! Access control at the wire: the AWS SDK for Rust as users with and without permission,
//! key policies set with PutKeyPolicy, and the audit record of a denial.

use aws_sdk_kms::primitives::Blob;
use serde_json::json;
use test_support::{error_code as code, new_key, TestServer};

const ACCOUNT: &str = "111122223333";

fn message<T, E>(r: Result<T, aws_sdk_kms::error::SdkError<E>>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug,
    T: std::fmt::Debug,
{
    let e = r.unwrap_err();
    e.as_service_error()
        .and_then(|s| s.message())
        .unwrap_or("?")
        .to_string()
}

async fn server() -> TestServer {
    TestServer::builder().account_id(ACCOUNT).build().await
}

#[tokio::test]
async fn a_user_without_permission_is_denied_with_awss_message() {
    let server = server().await;
    let admin = server.client("us-east-1");
    let key = new_key(&admin).await;
    let nobody = server.user("nobody", None).await;
    let denied = nobody
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await;
    assert_eq!(
        message(denied),
        format!(
            "User: arn:aws:iam::{ACCOUNT}:user/nobody is not authorized to perform: kms:Encrypt \
             on resource: arn:aws:kms:us-east-1:{ACCOUNT}:key/{key} because no identity-based \
             policy allows the kms:Encrypt action"
        )
    );
    assert_eq!(
        code(nobody.list_keys().send().await),
        "AccessDeniedException"
    );
    assert_eq!(
        code(nobody.create_key().send().await),
        "AccessDeniedException"
    );
}

#[tokio::test]
async fn an_encryption_context_condition_admits_one_context_and_refuses_another() {
    let server = server().await;
    let admin = server.client("us-east-1");
    let key = new_key(&admin).await;
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}"),
            "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "${aws:username}"}}
        }]
    })
    .to_string();
    let alice = server.user("alice", Some(&policy)).await;
    let sealed = alice
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("alice's data"))
        .encryption_context("tenant", "alice")
        .send()
        .await
        .unwrap();
    alice
        .decrypt()
        .ciphertext_blob(sealed.ciphertext_blob.unwrap())
        .encryption_context("tenant", "alice")
        .send()
        .await
        .unwrap();
    let other_tenant = alice
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .encryption_context("tenant", "bob")
        .send()
        .await;
    assert_eq!(code(other_tenant), "AccessDeniedException");
}

#[tokio::test]
async fn key_policies_are_put_read_and_enforced() {
    let server = server().await;
    let admin = server.client("us-east-1");
    let key = new_key(&admin).await;

    let default = admin.get_key_policy().key_id(&key).send().await.unwrap();
    assert_eq!(default.policy_name(), Some("default"));
    let parsed: serde_json::Value = serde_json::from_str(default.policy().unwrap()).unwrap();
    assert_eq!(
        parsed["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
    let names = admin.list_key_policies().key_id(&key).send().await.unwrap();
    assert_eq!(names.policy_names(), ["default"]);

    // Name bob in the key policy: no identity policy needed.
    let bob = server.user("bob", None).await;
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "account", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "bob", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/bob")},
             "Action": ["kms:Encrypt", "kms:DescribeKey"], "Resource": "*"}
        ]
    })
    .to_string();
    assert_eq!(
        code(bob.describe_key().key_id(&key).send().await),
        "AccessDeniedException"
    );
    admin
        .put_key_policy()
        .key_id(&key)
        .policy(&policy)
        .send()
        .await
        .unwrap();
    bob.describe_key().key_id(&key).send().await.unwrap();
    bob.encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        admin
            .get_key_policy()
            .key_id(&key)
            .send()
            .await
            .unwrap()
            .policy(),
        Some(policy.as_str())
    );

    // Malformed documents and lockouts are refused.
    let malformed = admin
        .put_key_policy()
        .key_id(&key)
        .policy("{\"Statement\": 7}")
        .send()
        .await;
    assert_eq!(code(malformed), "MalformedPolicyDocumentException");
    let bob_only = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/bob")},
            "Action": "kms:*", "Resource": "*"}]
    })
    .to_string();
    let lockout = admin
        .put_key_policy()
        .key_id(&key)
        .policy(&bob_only)
        .send()
        .await;
    assert_eq!(
        message(lockout),
        "The new key policy will not allow you to update the key policy in the future."
    );
}

#[tokio::test]
async fn a_denial_is_audited() {
    let server = server().await;
    let admin = server.client("us-east-1");
    let key = new_key(&admin).await;
    let carol = server.user("carol", None).await;
    let denied = carol.describe_key().key_id(&key).send().await.unwrap_err();
    let raw = denied.raw_response().expect("a response");
    let index: u64 = raw
        .headers()
        .get("x-kagi-audit-log-index")
        .expect("event header")
        .parse()
        .unwrap();
    // Durable before the response: the log on disk already holds it.
    let log = kagi_audit::trail::log_dir(&server.data_dir.join("audit"));
    let (_, payload) = kagi_audit::log::read_dir_from(&log, index)
        .unwrap()
        .into_iter()
        .next()
        .expect("the denial's record");
    let event: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(event["eventName"], "DescribeKey");
    assert_eq!(event["errorCode"], "AccessDenied");
    assert_eq!(
        event["userIdentity"]["arn"],
        format!("arn:aws:iam::{ACCOUNT}:user/carol")
    );
    assert!(event["errorMessage"]
        .as_str()
        .unwrap()
        .contains("is not authorized to perform: kms:DescribeKey"));
}

#[tokio::test]
async fn a_second_account_uses_a_key_only_when_both_sides_allow() {
    const OTHER: &str = "222222222222";
    let server = server().await;
    let admin = server.client("us-east-1");
    let key = new_key(&admin).await;
    let key_arn = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}");
    let api = server.admin();
    let created = api
        .call(
            "CreateAccessKey",
            json!({"UserName": "bob", "AccountId": OTHER}),
        )
        .await
        .unwrap();
    assert_eq!(created["AccessKey"]["AccountId"], OTHER);
    let bob = server.client_with(
        "us-east-1",
        created["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        created["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
    );
    let encrypt = || {
        bob.encrypt()
            .key_id(&key_arn)
            .plaintext(Blob::new("shared"))
            .send()
    };
    // Bob's account allows him; the key (default policy) trusts only its own account.
    api.call(
        "PutUserPolicy",
        json!({"UserName": "bob", "PolicyName": "use-shared-key",
               "PolicyDocument": json!({"Version": "2012-10-17", "Statement": [
                   {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": &key_arn}]}).to_string()}),
    )
    .await
    .unwrap();
    assert_eq!(code(encrypt().await), "AccessDeniedException");
    // The key's policy now trusts account 222222222222 too: both sides allow.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{OTHER}:root")},
             "Action": "kms:Encrypt", "Resource": "*"}
        ]
    })
    .to_string();
    admin
        .put_key_policy()
        .key_id(&key)
        .policy(&policy)
        .send()
        .await
        .unwrap();
    encrypt().await.unwrap();
    // Bob's account withdraws: denied again, although the key still trusts it.
    api.call(
        "DeleteUserPolicy",
        json!({"UserName": "bob", "PolicyName": "use-shared-key"}),
    )
    .await
    .unwrap();
    assert_eq!(code(encrypt().await), "AccessDeniedException");
    // Keys of account 222222222222 are not here.
    assert_eq!(code(bob.list_keys().send().await), "AccessDeniedException");
}
