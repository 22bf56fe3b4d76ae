//! The cost of authorization: GenerateDataKey by a user whose access goes through a
//! 20-statement key policy and a 10-statement identity policy, next to the same by a user
//! with a one-statement identity policy on a key with the default key policy. One fresh
//! server (audit events discarded, so authorization is a larger share of each request),
//! phases interleaved like the audit comparison.
//!
//! Users and policies are made with the `kagi admin` CLI, as an operator would.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use kagi_crypto::SecretBytes;
use serde_json::{json, Value};

use crate::load::{Endpoint, Fixed};
use crate::report::Row;
use crate::{json_body, kagi_with_key, timed_phase, Options, AUDIT_DISCARD_FLAG};

/// The two workloads at one connection count.
#[derive(Debug)]
pub struct PolicyCost {
    pub connections: usize,
    /// Default key policy, one-statement identity policy.
    pub simple: Row,
    /// 20-statement key policy, 10-statement identity policy.
    pub large: Row,
}

/// The target: the large policies keep this share of the simple case's req/s.
pub const TARGET_RATIO: f64 = 0.90;

impl PolicyCost {
    pub fn ratio(&self) -> f64 {
        self.large.result.per_second() / self.simple.result.per_second()
    }

    pub fn render(&self) -> String {
        let (s, l) = (&self.simple.result, &self.large.result);
        let cpu = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
        let ms = |v: Option<u64>| v.map_or("-".into(), |v| format!("{:.2} ms", v as f64 / 1000.0));
        format!(
            "\n**Authorization cost (GenerateDataKey, audit events discarded)**: one fresh server; \
             \"simple\" is a user with a one-statement identity policy on a key with the default key \
             policy, \"large\" a user with a 10-statement identity policy on a key with a 20-statement \
             key policy (conditions on encryption context, source IP, user name), one phase after the \
             other, {} connections.\n\n\
             | policies | req/s | p50 | p99 | server CPU µs/req |\n|---|---:|---:|---:|---:|\n\
             | simple | {} | {} | {} | {} |\n| large | {} | {} | {} | {} |\n\n\
             | target | this run | |\n|---|---:|---|\n\
             | large policies ≥ {:.0}% of the simple case's req/s | {:.0}% | {} |\n",
            self.connections,
            s.per_second().round(),
            ms(s.latency.quantile(0.5)),
            ms(s.latency.quantile(0.99)),
            cpu(s.server_cpu_per_request()),
            l.per_second().round(),
            ms(l.latency.quantile(0.5)),
            ms(l.latency.quantile(0.99)),
            cpu(l.server_cpu_per_request()),
            TARGET_RATIO * 100.0,
            self.ratio() * 100.0,
            if self.ratio() >= TARGET_RATIO {
                "met"
            } else {
                "**MISSED**"
            },
        )
    }
}

fn policy(statements: Vec<Value>) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// 20 statements; only the account statement and the last one apply to the request.
fn large_key_policy(account: &str, admin_arn: &str) -> String {
    let mut statements = vec![
        json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
               "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
               "Action": "kms:*", "Resource": "*"}),
        json!({"Sid": "KeyAdministrators", "Effect": "Allow",
               "Principal": {"AWS": admin_arn},
               "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                          "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                          "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                          "kms:CancelKeyDeletion"],
               "Resource": "*"}),
    ];
    for i in 0..16 {
        statements.push(json!({
            "Sid": format!("App{i}"), "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:user/app-{i}")},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:app": format!("app-{i}")}}
        }));
    }
    statements.push(json!({
        "Sid": "DenyOutsideLoopback", "Effect": "Deny", "Principal": "*", "Action": "kms:*",
        "Resource": "*",
        "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}
    }));
    statements.push(json!({
        "Sid": "DenyPlaintextExport", "Effect": "Deny", "Principal": "*",
        "Action": "kms:GenerateDataKeyWithoutPlaintext", "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "true"}}
    }));
    policy(statements)
}

/// 10 statements; the last one allows the request.
fn large_identity_policy(account: &str) -> String {
    let mut statements = Vec::new();
    for i in 0..8 {
        statements.push(json!({
            "Sid": format!("Other{i}"), "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": format!("arn:aws:kms:*:{account}:key/00000000-0000-4000-8000-00000000000{i}"),
        }));
    }
    statements.push(json!({
        "Sid": "NoDeletion", "Effect": "Deny",
        "Action": ["kms:ScheduleKeyDeletion", "kms:DisableKey"], "Resource": "*"
    }));
    statements.push(json!({
        "Sid": "DataKeys", "Effect": "Allow", "Action": "kms:GenerateDataKey",
        "Resource": format!("arn:aws:kms:*:{account}:key/*"),
        "Condition": {"StringEquals": {"kms:EncryptionContext:app": "bench"},
                      "StringLike": {"aws:username": "bench-*"}}
    }));
    policy(statements)
}

/// `kagi admin <args>` against `endpoint` as the server's bootstrap admin.
fn kagi_admin(kagi: &Path, endpoint: &Endpoint, data_dir: &Path, args: &[&str]) -> Result<Value> {
    let output = Command::new(kagi)
        .args(["admin", "--endpoint", &format!("http://{}", endpoint.addr)])
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .context("running kagi admin")?;
    if !output.status.success() {
        bail!(
            "kagi admin {}: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("kagi admin printed no JSON")
}

/// A user with `identity_policy`; returns the endpoint that signs as that user.
fn user(
    kagi: &Path,
    admin: &Endpoint,
    data_dir: &Path,
    name: &str,
    identity_policy: &str,
) -> Result<Endpoint> {
    let created = kagi_admin(
        kagi,
        admin,
        data_dir,
        &["create-access-key", "--user", name],
    )?;
    kagi_admin(
        kagi,
        admin,
        data_dir,
        &[
            "put-user-policy",
            "--user",
            name,
            "--policy-name",
            "bench",
            "--policy-document",
            identity_policy,
        ],
    )?;
    let key = &created["AccessKey"];
    Ok(Endpoint {
        addr: admin.addr,
        credentials: sigv4::Credentials::new(
            key["AccessKeyId"].as_str().context("AccessKeyId")?,
            SecretBytes::from_slice(
                key["SecretAccessKey"]
                    .as_str()
                    .context("secret")?
                    .as_bytes(),
            ),
        ),
        region: admin.region.clone(),
    })
}

pub fn measure(
    runtime: &tokio::runtime::Runtime,
    options: &Options,
    kagi: &Path,
    work: &Path,
) -> Result<PolicyCost> {
    let data_dir = work.join("policy-cost");
    let (server, admin, simple_key) = kagi_with_key(
        runtime,
        "kagi serve (authorization cost)",
        kagi,
        &data_dir,
        &[AUDIT_DISCARD_FLAG],
        work.join("kagi-policy-cost.log"),
    )?;
    let described = runtime.block_on(crate::load::call(
        &admin,
        "DescribeKey",
        &json!({"KeyId": simple_key}),
    ))?;
    let account = described["KeyMetadata"]["AWSAccountId"]
        .as_str()
        .context("DescribeKey without AWSAccountId")?
        .to_string();
    let listed = kagi_admin(kagi, &admin, &data_dir, &["list-access-keys"])?;
    let admin_user = listed["AccessKeys"][0]["UserName"]
        .as_str()
        .context("no bootstrap admin listed")?
        .to_string();
    let admin_arn = format!("arn:aws:iam::{account}:user/{admin_user}");
    let large_key = runtime.block_on(crate::load::call(
        &admin,
        "CreateKey",
        &json!({"Policy": large_key_policy(&account, &admin_arn),
                "Tags": [{"TagKey": "team", "TagValue": "bench"}]}),
    ))?["KeyMetadata"]["KeyId"]
        .as_str()
        .context("CreateKey without KeyId")?
        .to_string();

    let simple_user = user(
        kagi,
        &admin,
        &data_dir,
        "bench-simple",
        &policy(vec![
            json!({"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": "*"}),
        ]),
    )?;
    let large_user = user(
        kagi,
        &admin,
        &data_dir,
        "bench-large",
        &large_identity_policy(&account),
    )?;
    let body = |key: &str| {
        json_body(json!({"KeyId": key, "KeySpec": "AES_256",
                         "EncryptionContext": {"app": "bench"}}))
    };
    let simple_work = Arc::new(Fixed {
        operation: "GenerateDataKey",
        body: body(&simple_key),
    });
    let large_work = Arc::new(Fixed {
        operation: "GenerateDataKey",
        body: body(&large_key),
    });
    let connections = options.connections;
    let simple = timed_phase(
        runtime,
        options,
        "GenerateDataKey, simple policies",
        &simple_user,
        simple_work,
        server.pid(),
        connections,
    )?;
    let large = timed_phase(
        runtime,
        options,
        "GenerateDataKey, 20-statement key policy and 10-statement identity policy",
        &large_user,
        large_work,
        server.pid(),
        connections,
    )?;
    Ok(PolicyCost {
        connections,
        simple,
        large,
    })
}
