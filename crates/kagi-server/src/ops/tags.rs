//! TagResource, UntagResource, ListResourceTags.

use super::keys::{tags_from_dto, TagDto};
use super::{empty, required, to_body};
use crate::error::ApiError;
use crate::wire::parse;
use kagi_kms::{Caller, Kms};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagResourceInput {
    key_id: Option<String>,
    tags: Option<Vec<TagDto>>,
}

pub fn tag_resource(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: TagResourceInput = parse(body)?;
    let key_id = required(&input.key_id, "keyId")?;
    if input.tags.is_none() {
        return Err(super::null_field("tags"));
    }
    kms.tag_resource(caller, key_id, tags_from_dto(input.tags)?)?;
    empty()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagResourceInput {
    key_id: Option<String>,
    tag_keys: Option<Vec<String>>,
}

pub fn untag_resource(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: UntagResourceInput = parse(body)?;
    let key_id = required(&input.key_id, "keyId")?;
    let keys = input.tag_keys.ok_or_else(|| super::null_field("tagKeys"))?;
    kms.untag_resource(caller, key_id, keys)?;
    empty()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResourceTagsInput {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagOut {
    tag_key: String,
    tag_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListResourceTagsOutput {
    tags: Vec<TagOut>,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

pub fn list_resource_tags(kms: &Kms, caller: &Caller, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let input: ListResourceTagsInput = parse(body)?;
    let out = kms.list_resource_tags(
        caller,
        required(&input.key_id, "keyId")?,
        input.limit,
        input.marker.as_deref(),
    )?;
    to_body(&ListResourceTagsOutput {
        tags: out
            .tags
            .into_iter()
            .map(|t| TagOut {
                tag_key: t.key,
                tag_value: t.value,
            })
            .collect(),
        truncated: out.next_marker.is_some(),
        next_marker: out.next_marker,
    })
}
