//! Tests of the audit mapping: golden events shaped like AWS's documented CloudTrail
//! examples for KMS (same fields, nesting, names, value forms and omissions; our own ids
//! and times), and a property test that no secret of any request or response reaches an
//! event's canonical bytes.

use super::*;
use base64::Engine;
use proptest::prelude::*;
use serde_json::json;

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-west-2";
const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY_ARN: &str = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER_KEY_ARN: &str =
    "arn:aws:kms:us-west-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321";
const ALIAS_ARN: &str = "arn:aws:kms:us-west-2:111122223333:alias/ExampleAlias";
const ACCESS_KEY: &str = "AKIAKAGIEXAMPLE00001";
const REQUEST_ID: &str = "7f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b";
const EVENT_ID: &str = "c2d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e6f";
/// 2026-11-23T08:47:12.345Z.
const TIME: Timestamp = Timestamp(1_795_423_632_345);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn account() -> AccountId {
    AccountId::parse(ACCOUNT).unwrap()
}

fn alice() -> Principal {
    Principal {
        account: account(),
        arn: format!("arn:aws:iam::{ACCOUNT}:user/Alice"),
        user_name: "Alice".into(),
        access_key_id: ACCESS_KEY.into(),
        admin: false,
    }
}

/// The event for one call by Alice, as parsed JSON of its canonical bytes.
fn event_json(
    op: Option<Operation>,
    target: Option<&str>,
    principal: Option<&Principal>,
    request: &Value,
    outcome: Outcome<'_>,
    resources: &[&str],
) -> Value {
    let account = account();
    let body = serde_json::to_vec(request).unwrap();
    let resources: Vec<String> = resources.iter().map(|r| r.to_string()).collect();
    let event = api_call_event(&ApiCall {
        operation: op,
        target,
        principal,
        claimed_access_key_id: Some(ACCESS_KEY),
        account: &account,
        region: REGION,
        source_ip: "192.0.2.0",
        user_agent: "aws-cli/2.22.0",
        request_id: REQUEST_ID,
        event_id: EVENT_ID,
        time: TIME,
        request_body: &body,
        outcome,
        resources: &resources,
    });
    serde_json::from_slice(&event.canonical_bytes()).unwrap()
}

fn success(op: Operation, request: Value, response: Value, resources: &[&str]) -> Value {
    let response = serde_json::to_vec(&response).unwrap();
    event_json(
        Some(op),
        None,
        Some(&alice()),
        &request,
        Outcome::Success {
            response: &response,
        },
        resources,
    )
}

fn key_resource(arn: &str) -> Value {
    json!({"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": arn})
}

/// The envelope every API-call entry in AWS's KMS examples has, for a call by an IAM user.
fn expected(
    name: &str,
    read_only: bool,
    request_parameters: Value,
    response_elements: Value,
    resources: Vec<Value>,
) -> Value {
    json!({
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "Alice",
            "arn": "arn:aws:iam::111122223333:user/Alice",
            "accountId": ACCOUNT,
            "accessKeyId": ACCESS_KEY,
            "userName": "Alice"
        },
        "eventTime": "2026-11-23T08:47:12Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "192.0.2.0",
        "userAgent": "aws-cli/2.22.0",
        "requestParameters": request_parameters,
        "responseElements": response_elements,
        "requestID": REQUEST_ID,
        "eventID": EVENT_ID,
        "readOnly": read_only,
        "resources": resources,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"
    })
}

/// Like AWS's Encrypt example: the plaintext is gone, the context is kept, no response.
#[test]
fn encrypt_matches_aws_example() {
    let actual = success(
        Operation::Encrypt,
        json!({
            "KeyId": KEY_ARN,
            "Plaintext": b64(b"attack at dawn"),
            "EncryptionContext": {"Department": "Engineering"},
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"
        }),
        json!({
            "CiphertextBlob": b64(b"ciphertext bytes"),
            "KeyId": KEY_ARN,
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"
        }),
        &[KEY_ARN],
    );
    let want = expected(
        "Encrypt",
        true,
        json!({
            "encryptionContext": {"Department": "Engineering"},
            "keyId": KEY_ARN,
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT"
        }),
        Value::Null,
        vec![key_resource(KEY_ARN)],
    );
    assert_eq!(actual, want);
}

const GRANT_ID: &str = "f020fe75197b93991dc8491d6f19dd3cebb24ee62277a05914386724f3d48758";

/// Like AWS's CreateGrant example: the grant's parameters, then `grantId` and the key's
/// ARN; neither the grant token of the response nor the grant tokens of the request.
#[test]
fn create_grant_matches_aws_example_and_records_no_token() {
    let actual = success(
        Operation::CreateGrant,
        json!({
            "KeyId": KEY_ARN,
            "GranteePrincipal": "arn:aws:iam::111122223333:user/app",
            "Operations": ["Encrypt", "RetireGrant"],
            "Constraints": {"EncryptionContextSubset": {"ContextKey1": "Value1"}},
            "GrantTokens": ["a-secret-grant-token"]
        }),
        json!({"GrantId": GRANT_ID, "GrantToken": "another-secret-grant-token"}),
        &[KEY_ARN],
    );
    let want = expected(
        "CreateGrant",
        false,
        json!({
            "keyId": KEY_ARN,
            "constraints": {"encryptionContextSubset": {"ContextKey1": "Value1"}},
            "operations": ["Encrypt", "RetireGrant"],
            "granteePrincipal": "arn:aws:iam::111122223333:user/app"
        }),
        json!({"grantId": GRANT_ID, "keyId": KEY_ARN}),
        vec![key_resource(KEY_ARN)],
    );
    assert_eq!(actual, want);
    assert!(!actual.to_string().contains("secret-grant-token"));
}

/// Like AWS's RetireGrant example: retired by token, nothing of the request is recorded;
/// the grant id goes to `additionalEventData`.
#[test]
fn retire_grant_by_token_records_the_grant_id_only() {
    // A token of Kagi's form naming GRANT_ID (the tag need not verify for the record).
    let token = format!(
        "01{:02x}{}{}{}{}{}",
        REGION.len(),
        hex_of(REGION.as_bytes()),
        "00".repeat(16),
        GRANT_ID,
        "11".repeat(16),
        "22".repeat(16)
    );
    let mut actual = success(
        Operation::RetireGrant,
        json!({"GrantToken": token}),
        json!({}),
        &[KEY_ARN],
    );
    assert!(!actual.to_string().contains(&token));
    assert_eq!(actual["requestParameters"], Value::Null);
    assert_eq!(actual["responseElements"], Value::Null);
    assert_eq!(actual["additionalEventData"], json!({"grantId": GRANT_ID}));
    actual
        .as_object_mut()
        .unwrap()
        .remove("additionalEventData");
    assert_eq!(
        actual,
        expected(
            "RetireGrant",
            false,
            Value::Null,
            Value::Null,
            vec![key_resource(KEY_ARN)]
        )
    );
    // Revoked by key and grant id: both recorded, as in AWS's RevokeGrant example.
    let revoked = success(
        Operation::RevokeGrant,
        json!({"KeyId": KEY_ID, "GrantId": GRANT_ID}),
        json!({}),
        &[KEY_ARN],
    );
    assert_eq!(
        revoked["requestParameters"],
        json!({"keyId": KEY_ID, "grantId": GRANT_ID})
    );
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Like AWS's Decrypt example: no ciphertext, no plaintext, and `encryptionAlgorithm`
/// present although the request did not name one.
#[test]
fn decrypt_matches_aws_example() {
    let actual = success(
        Operation::Decrypt,
        json!({
            "CiphertextBlob": b64(b"ciphertext bytes"),
            "KeyId": KEY_ARN,
            "EncryptionContext": {"Department": "Engineering", "Project": "Alpha"}
        }),
        json!({
            "KeyId": KEY_ARN,
            "Plaintext": b64(b"attack at dawn"),
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"
        }),
        &[KEY_ARN],
    );
    let want = expected(
        "Decrypt",
        true,
        json!({
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "keyId": KEY_ARN,
            "encryptionContext": {"Department": "Engineering", "Project": "Alpha"}
        }),
        Value::Null,
        vec![key_resource(KEY_ARN)],
    );
    assert_eq!(actual, want);
}

/// Like AWS's failed-Decrypt example: errorCode and errorMessage after userAgent, the
/// request parameters still recorded, no response elements.
#[test]
fn failed_call_matches_aws_example() {
    let request = json!({
        "CiphertextBlob": b64(b"ciphertext bytes"),
        "KeyId": KEY_ARN,
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"
    });
    let actual = event_json(
        Some(Operation::Decrypt),
        Some("TrentService.Decrypt"),
        Some(&alice()),
        &request,
        Outcome::Failure {
            error_code: "DisabledException",
            error_message: "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab is disabled.",
        },
        &[KEY_ARN],
    );
    let mut want = expected(
        "Decrypt",
        true,
        json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": KEY_ARN}),
        Value::Null,
        vec![key_resource(KEY_ARN)],
    );
    want["errorCode"] = json!("DisabledException");
    want["errorMessage"] = json!(format!("{KEY_ARN} is disabled."));
    assert_eq!(actual, want);
}

/// Like AWS's GenerateDataKey example: keySpec and context recorded, neither the data key
/// nor its encrypted copy.
#[test]
fn generate_data_key_matches_aws_example() {
    let actual = success(
        Operation::GenerateDataKey,
        json!({
            "KeyId": KEY_ID,
            "KeySpec": "AES_256",
            "EncryptionContext": {"Department": "Engineering", "Project": "Alpha"}
        }),
        json!({
            "CiphertextBlob": b64(b"encrypted data key"),
            "Plaintext": b64(&[7u8; 32]),
            "KeyId": KEY_ARN
        }),
        &[KEY_ARN],
    );
    let want = expected(
        "GenerateDataKey",
        true,
        json!({
            "keyId": KEY_ID,
            "keySpec": "AES_256",
            "encryptionContext": {"Department": "Engineering", "Project": "Alpha"}
        }),
        Value::Null,
        vec![key_resource(KEY_ARN)],
    );
    assert_eq!(actual, want);
}

/// Like AWS's CreateKey example: the policy is recorded verbatim, `keyMetadata` in
/// lowerCamelCase (but `AWSAccountId`) with the creation date in CloudTrail's date form.
#[test]
fn create_key_matches_aws_example() {
    let policy = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:root\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}";
    let actual = success(
        Operation::CreateKey,
        json!({
            "Policy": policy,
            "Description": "",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "Origin": "AWS_KMS",
            "BypassPolicyLockoutSafetyCheck": false,
            "Tags": [{"TagKey": "Department", "TagValue": "IT"}]
        }),
        // Kagi's own CreateKey response (ops/keys.rs).
        json!({"KeyMetadata": {
            "AWSAccountId": ACCOUNT,
            "KeyId": KEY_ID,
            "Arn": KEY_ARN,
            "CreationDate": 1_660_171_107.482,
            "Enabled": true,
            "Description": "",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": "Enabled",
            "Origin": "AWS_KMS",
            "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": false
        }}),
        &[KEY_ARN],
    );
    let want = expected(
        "CreateKey",
        false,
        json!({
            "policy": policy,
            "description": "",
            "keyUsage": "ENCRYPT_DECRYPT",
            "keySpec": "SYMMETRIC_DEFAULT",
            "origin": "AWS_KMS",
            "bypassPolicyLockoutSafetyCheck": false,
            "tags": [{"tagKey": "Department", "tagValue": "IT"}]
        }),
        json!({"keyMetadata": {
            "AWSAccountId": ACCOUNT,
            "keyId": KEY_ID,
            "arn": KEY_ARN,
            "creationDate": "Aug 10, 2022, 10:38:27 PM",
            "enabled": true,
            "description": "",
            "keyUsage": "ENCRYPT_DECRYPT",
            "keyState": "Enabled",
            "origin": "AWS_KMS",
            "keyManager": "CUSTOMER",
            "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "keySpec": "SYMMETRIC_DEFAULT",
            "encryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "multiRegion": false
        }}),
        vec![key_resource(KEY_ARN)],
    );
    assert_eq!(actual, want);
}

/// Like AWS's ScheduleKeyDeletion example: keyId, keyState and deletionDate.
#[test]
fn schedule_key_deletion_matches_aws_example() {
    let actual = success(
        Operation::ScheduleKeyDeletion,
        json!({"KeyId": KEY_ID, "PendingWindowInDays": 20}),
        json!({
            "KeyId": KEY_ARN,
            "DeletionDate": 1_797_151_632.0,
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": 20
        }),
        &[KEY_ARN],
    );
    let want = expected(
        "ScheduleKeyDeletion",
        false,
        json!({"pendingWindowInDays": 20, "keyId": KEY_ID}),
        json!({
            "keyId": KEY_ARN,
            "keyState": "PendingDeletion",
            "deletionDate": "Dec 13, 2026, 8:47:12 AM"
        }),
        vec![key_resource(KEY_ARN)],
    );
    assert_eq!(actual, want);
}

/// Like AWS's CreateAlias example (entries since December 2022): the key's ARN in
/// `responseElements.keyId`, key and alias in `resources`, both typed `AWS::KMS::Key`.
#[test]
fn create_alias_matches_aws_example() {
    let actual = success(
        Operation::CreateAlias,
        json!({"AliasName": "alias/ExampleAlias", "TargetKeyId": KEY_ID}),
        json!({}),
        &[KEY_ARN, ALIAS_ARN],
    );
    let want = expected(
        "CreateAlias",
        false,
        json!({"aliasName": "alias/ExampleAlias", "targetKeyId": KEY_ID}),
        json!({"keyId": KEY_ARN}),
        vec![key_resource(KEY_ARN), key_resource(ALIAS_ARN)],
    );
    assert_eq!(actual, want);
}

/// Like AWS's ReEncrypt example: source and destination keys in that order, both
/// contexts recorded, the ciphertext not.
#[test]
fn re_encrypt_lists_source_and_destination() {
    let actual = success(
        Operation::ReEncrypt,
        json!({
            "CiphertextBlob": b64(b"old ciphertext"),
            "SourceEncryptionContext": {"Project": "Alpha"},
            "DestinationKeyId": OTHER_KEY_ARN,
            "DestinationEncryptionContext": {"Level": "3A"},
            "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT"
        }),
        json!({
            "CiphertextBlob": b64(b"new ciphertext"),
            "SourceKeyId": KEY_ARN,
            "KeyId": OTHER_KEY_ARN
        }),
        &[KEY_ARN, OTHER_KEY_ARN],
    );
    let want = expected(
        "ReEncrypt",
        true,
        json!({
            "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "sourceEncryptionContext": {"Project": "Alpha"},
            "destinationKeyId": OTHER_KEY_ARN,
            "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "destinationEncryptionContext": {"Level": "3A"}
        }),
        Value::Null,
        vec![key_resource(KEY_ARN), key_resource(OTHER_KEY_ARN)],
    );
    assert_eq!(actual, want);
}

/// An unauthenticated call: identity `Unknown` with only the access key the request
/// named; the request's safe parameters are still recorded, its plaintext is not.
#[test]
fn unauthenticated_call() {
    let request = json!({"KeyId": KEY_ID, "Plaintext": b64(b"attack at dawn")});
    let actual = event_json(
        Some(Operation::Encrypt),
        Some("TrentService.Encrypt"),
        None,
        &request,
        Outcome::Failure {
            error_code: "UnrecognizedClientException",
            error_message: "The security token included in the request is invalid.",
        },
        &[],
    );
    let mut want = expected(
        "Encrypt",
        true,
        json!({"keyId": KEY_ID}),
        Value::Null,
        vec![],
    );
    want["userIdentity"] = json!({"type": "Unknown", "accessKeyId": ACCESS_KEY});
    want["errorCode"] = json!("UnrecognizedClientException");
    want["errorMessage"] = json!("The security token included in the request is invalid.");
    assert_eq!(actual, want);
}

/// An operation Kagi does not serve: named from the target, nothing of its body recorded
/// (there is no allow-list for it).
#[test]
fn unknown_operation_records_no_parameters() {
    let actual = event_json(
        None,
        Some("TrentService.Sign"),
        Some(&alice()),
        &json!({"KeyId": KEY_ID, "Message": b64(b"to be signed")}),
        Outcome::Failure {
            error_code: "UnknownOperationException",
            error_message: "The operation TrentService.Sign is not supported.",
        },
        &[],
    );
    assert_eq!(actual["eventName"], "Sign");
    assert_eq!(actual["requestParameters"], Value::Null);
    assert_eq!(actual["readOnly"], false);
    assert_eq!(actual["errorCode"], "UnknownOperationException");

    let long = format!("Custom.{}", "x".repeat(500));
    assert_eq!(event_name(None, Some(&long)).chars().count(), 128);
    assert_eq!(event_name(None, None), "");
}

#[test]
fn malformed_or_non_object_bodies_record_null() {
    let account = account();
    for body in [
        &b"{\"KeyId\": \"k\""[..],
        b"[1, 2]",
        b"\"KeyId\"",
        b"{\"KeyId\": \"k\"} trailing",
        b"\xff\xfe",
    ] {
        let event = api_call_event(&ApiCall {
            operation: Some(Operation::DescribeKey),
            target: None,
            principal: None,
            claimed_access_key_id: None,
            account: &account,
            region: REGION,
            source_ip: "192.0.2.0",
            user_agent: "",
            request_id: REQUEST_ID,
            event_id: EVENT_ID,
            time: TIME,
            request_body: body,
            outcome: Outcome::Failure {
                error_code: "SerializationException",
                error_message: "Malformed JSON",
            },
            resources: &[],
        });
        assert_eq!(event.request_parameters, None, "{body:?}");
        assert_eq!(
            event.user_identity,
            UserIdentity {
                identity_type: Some(IdentityType::Unknown),
                ..UserIdentity::default()
            }
        );
    }
    // An empty body is `{}`: nothing to record, except Decrypt's algorithm.
    assert_eq!(request_parameters(Operation::ListKeys, b" \n"), None);
    assert_eq!(
        request_parameters(Operation::Decrypt, b""),
        Some(object(json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT"})))
    );
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// A member of the wrong JSON type is dropped, not recorded (and not copied).
#[test]
fn members_of_the_wrong_shape_are_dropped() {
    let recorded = request_parameters(
        Operation::CreateKey,
        json!({
            "Description": {"nested": "object"},
            "Policy": 17,
            "BypassPolicyLockoutSafetyCheck": "yes",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "Tags": [{"TagKey": "a", "TagValue": 1, "Extra": "x"}, "not an object", {"TagKey": "b", "TagValue": "c"}]
        })
        .to_string()
        .as_bytes(),
    );
    assert_eq!(
        recorded,
        Some(object(json!({
            "keyUsage": "ENCRYPT_DECRYPT",
            "tags": [{"tagKey": "a"}, {"tagKey": "b", "tagValue": "c"}]
        })))
    );
    let recorded = request_parameters(
        Operation::Encrypt,
        br#"{"EncryptionContext": {"a": "1", "b": 2, "c": {"d": "e"}}, "KeyId": null}"#,
    );
    assert_eq!(
        recorded,
        Some(object(json!({"encryptionContext": {"a": "1"}})))
    );
}

#[test]
fn operations_that_report_the_affected_key() {
    for op in [
        Operation::EnableKey,
        Operation::DisableKey,
        Operation::UpdateAlias,
        Operation::DeleteAlias,
        Operation::EnableKeyRotation,
    ] {
        let actual = success(
            op,
            json!({"KeyId": KEY_ID}),
            json!({}),
            &[ALIAS_ARN, KEY_ARN],
        );
        assert_eq!(
            actual["responseElements"],
            json!({"keyId": KEY_ARN}),
            "{op:?}"
        );
    }
    for op in [
        Operation::DisableKeyRotation,
        Operation::UpdateKeyDescription,
        Operation::TagResource,
        Operation::DescribeKey,
    ] {
        let actual = success(
            op,
            json!({"KeyId": KEY_ID}),
            json!({"KeyMetadata": {}}),
            &[KEY_ARN],
        );
        assert_eq!(actual["responseElements"], Value::Null, "{op:?}");
    }
    let actual = success(
        Operation::CancelKeyDeletion,
        json!({"KeyId": KEY_ID}),
        json!({"KeyId": KEY_ARN}),
        &[KEY_ARN],
    );
    assert_eq!(actual["responseElements"], json!({"keyId": KEY_ARN}));
}

#[test]
fn admin_create_access_key_records_the_key_but_not_its_secret() {
    let account = account();
    let mut admin = alice();
    admin.admin = true;
    let response = json!({"AccessKey": {
        "AccessKeyId": "AKIAKAGIEXAMPLE00002",
        "UserName": "bob",
        "Status": "Active",
        "CreateDate": 1_795_423_632.0,
        "Admin": false,
        "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    }})
    .to_string();
    let event = api_call_event(&ApiCall {
        operation: Some(Operation::AdminCreateAccessKey),
        target: Some("KagiAdmin.CreateAccessKey"),
        principal: Some(&admin),
        claimed_access_key_id: None,
        account: &account,
        region: REGION,
        source_ip: "127.0.0.1",
        user_agent: "kagi-admin",
        request_id: REQUEST_ID,
        event_id: EVENT_ID,
        time: TIME,
        request_body: br#"{"UserName": "bob", "Admin": false}"#,
        outcome: Outcome::Success {
            response: response.as_bytes(),
        },
        resources: &[],
    });
    assert_eq!(event.event_name, "CreateAccessKey");
    assert_eq!(
        event.request_parameters,
        Some(object(json!({"userName": "bob", "admin": false})))
    );
    assert_eq!(
        event.response_elements,
        Some(object(json!({"accessKey": {
            "accessKeyId": "AKIAKAGIEXAMPLE00002",
            "userName": "bob",
            "status": "Active",
            "createDate": "Nov 23, 2026, 8:47:12 AM",
            "admin": false
        }})))
    );
    let bytes = String::from_utf8(event.canonical_bytes()).unwrap();
    assert!(!bytes.contains("wJalrXUtnFEMI"));
}

/// Like AWS's RotateKey example: a service event with no request id and an internal
/// caller.
#[test]
fn service_event_matches_aws_rotate_key_example() {
    let account = account();
    let event = service_event(&ServiceCall {
        action: ServiceAction::RotateKey,
        account: &account,
        region: REGION,
        key_id: KEY_ID,
        key_arn: KEY_ARN,
        event_id: EVENT_ID,
        time: TIME,
    });
    let actual: Value = serde_json::from_slice(&event.canonical_bytes()).unwrap();
    let want = json!({
        "eventVersion": "1.11",
        "userIdentity": {"accountId": ACCOUNT, "invokedBy": "AWS Internal"},
        "eventTime": "2026-11-23T08:47:12Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "RotateKey",
        "awsRegion": REGION,
        "sourceIPAddress": "AWS Internal",
        "userAgent": "AWS Internal",
        "requestParameters": null,
        "responseElements": null,
        "eventID": EVENT_ID,
        "readOnly": false,
        "resources": [key_resource(KEY_ARN)],
        "eventType": "AwsServiceEvent",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "serviceEventDetails": {"rotationType": "AUTOMATIC", "keyId": KEY_ID},
        "eventCategory": "Management"
    });
    assert_eq!(actual, want);

    let deleted = service_event(&ServiceCall {
        action: ServiceAction::DeleteKey,
        ..ServiceCall {
            action: ServiceAction::RotateKey,
            account: &account,
            region: REGION,
            key_id: KEY_ID,
            key_arn: KEY_ARN,
            event_id: EVENT_ID,
            time: TIME,
        }
    });
    assert_eq!(deleted.event_name, "DeleteKey");
    assert_eq!(
        deleted.service_event_details,
        Some(object(json!({"keyId": KEY_ID})))
    );
}

/// Every operation Kagi serves (`Operation::ALL` is checked against the enum).
fn all_operations() -> Vec<Operation> {
    Operation::ALL.to_vec()
}

#[test]
fn event_names_are_the_targets_operation_names() {
    for op in all_operations() {
        let target = format!("{}{}", op.target_prefix(), aws_name(op));
        assert_eq!(Operation::from_target(&target), Some(op), "{target}");
    }
}

#[test]
fn read_only_follows_aws() {
    for op in all_operations() {
        let name = aws_name(op);
        let by_prefix = ["Describe", "List", "Get", "Lookup"]
            .iter()
            .any(|p| name.starts_with(p));
        let cryptographic = matches!(
            op,
            Operation::Encrypt
                | Operation::Decrypt
                | Operation::ReEncrypt
                | Operation::GenerateDataKey
                | Operation::GenerateDataKeyWithoutPlaintext
                | Operation::GenerateRandom
        );
        assert_eq!(read_only(op), by_prefix || cryptographic, "{name}");
    }
}

#[test]
fn identity_types_from_arns() {
    assert_eq!(
        identity_type_of("arn:aws:iam::111122223333:user/Alice"),
        IdentityType::IamUser
    );
    assert_eq!(
        identity_type_of("arn:aws:iam::111122223333:root"),
        IdentityType::Root
    );
    assert_eq!(
        identity_type_of("arn:aws:sts::111122223333:assumed-role/Admin/session"),
        IdentityType::AssumedRole
    );
    assert_eq!(identity_type_of("not an arn"), IdentityType::Unknown);
}

#[test]
fn debug_output_redacts_bodies() {
    let account = account();
    let call = ApiCall {
        operation: Some(Operation::Encrypt),
        target: None,
        principal: None,
        claimed_access_key_id: None,
        account: &account,
        region: REGION,
        source_ip: "",
        user_agent: "",
        request_id: REQUEST_ID,
        event_id: EVENT_ID,
        time: TIME,
        request_body: br#"{"Plaintext": "c2VjcmV0"}"#,
        outcome: Outcome::Success {
            response: br#"{"CiphertextBlob": "Y2lwaGVy"}"#,
        },
        resources: &[],
    };
    let text = format!("{call:?}");
    assert!(
        !text.contains("c2VjcmV0") && !text.contains("Y2lwaGVy"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// No secret reaches the event.

/// Every member, in any KMS (or Kagi admin) request or response, whose value is secret or
/// key material: plaintexts, ciphertexts, data keys, random bytes, signatures, MACs,
/// messages to sign, import tokens and key material, private keys, shared secrets,
/// access-key secrets, and the attestation document of a Recipient.
const SECRET_MEMBERS: &[&str] = &[
    "Plaintext",
    "CiphertextBlob",
    "SourceCiphertextBlob",
    "CiphertextForRecipient",
    "Signature",
    "Mac",
    "Message",
    "ImportToken",
    "EncryptedKeyMaterial",
    "PrivateKeyPlaintext",
    "PrivateKeyCiphertextBlob",
    "SharedSecret",
    "SecretAccessKey",
    "GrantTokens",
    "GrantToken",
];

/// A body that has every secret member (at the top level and nested where an allow-listed
/// object could hide one), next to the realistic non-secret members of the operations.
fn body_with_secrets(secret: &str) -> Value {
    let mut body = json!({
        "KeyId": KEY_ARN,
        "SourceKeyId": KEY_ARN,
        "DestinationKeyId": OTHER_KEY_ARN,
        "TargetKeyId": KEY_ID,
        "AliasName": "alias/ExampleAlias",
        "EncryptionContext": {"Department": "Engineering"},
        "SourceEncryptionContext": {"Project": "Alpha"},
        "DestinationEncryptionContext": {"Level": "3A"},
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "NumberOfBytes": 32,
        "KeySpec": "AES_256",
        "Description": "payments",
        "Policy": "{\"Version\":\"2012-10-17\"}",
        "Tags": [{"TagKey": "Department", "TagValue": "IT", "Plaintext": secret}],
        "TagKeys": ["Department"],
        "PendingWindowInDays": 7,
        "RotationPeriodInDays": 90,
        "Limit": 10,
        "Marker": "next",
        "UserName": "bob",
        "Status": "Active",
        "AccessKeyId": "AKIAKAGIEXAMPLE00002",
        "Recipient": {"AttestationDocument": secret, "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"},
        "KeyMetadata": {
            "KeyId": KEY_ID,
            "Arn": KEY_ARN,
            "CreationDate": 1_795_423_632.0,
            "KeyState": "Enabled",
            "Plaintext": secret,
            "CiphertextBlob": secret
        },
        "AccessKey": {
            "AccessKeyId": "AKIAKAGIEXAMPLE00002",
            "UserName": "bob",
            "SecretAccessKey": secret
        },
        "DeletionDate": 1_797_151_632.0,
        "KeyState": "PendingDeletion"
    });
    for member in SECRET_MEMBERS {
        body[*member] = if *member == "GrantTokens" {
            json!([secret])
        } else {
            json!(secret)
        };
    }
    body
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For every operation, successful or failed, authenticated or not: neither the
    /// secret's base64 text (as on the wire), nor its raw bytes, nor their hex form
    /// appears in the event's canonical bytes.
    #[test]
    fn no_secret_reaches_the_event(
        secret in proptest::collection::vec(any::<u8>(), 16..64),
        authenticated in any::<bool>(),
        failed in any::<bool>(),
    ) {
        let account = account();
        let principal = alice();
        let encoded = b64(&secret);
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let body = serde_json::to_vec(&body_with_secrets(&encoded)).unwrap();
        // A cut-off body, too: the recorder must not salvage a prefix.
        let truncated = &body[..body.len() / 2];
        let resources = [KEY_ARN.to_string(), OTHER_KEY_ARN.to_string()];
        for op in all_operations() {
            for request_body in [&body[..], truncated] {
                let outcome = if failed {
                    Outcome::Failure { error_code: "DisabledException", error_message: "disabled" }
                } else {
                    Outcome::Success { response: &body }
                };
                let event = api_call_event(&ApiCall {
                    operation: Some(op),
                    target: None,
                    principal: authenticated.then_some(&principal),
                    claimed_access_key_id: Some(ACCESS_KEY),
                    account: &account,
                    region: REGION,
                    source_ip: "192.0.2.0",
                    user_agent: "proptest",
                    request_id: REQUEST_ID,
                    event_id: EVENT_ID,
                    time: TIME,
                    request_body,
                    outcome,
                    resources: &resources,
                });
                let bytes = event.canonical_bytes();
                prop_assert!(!contains(&bytes, encoded.as_bytes()), "{:?}: base64 leaked", op);
                prop_assert!(!contains(&bytes, &secret), "{:?}: raw bytes leaked", op);
                prop_assert!(!contains(&bytes, hex.as_bytes()), "{:?}: hex leaked", op);
            }
        }
    }
}
