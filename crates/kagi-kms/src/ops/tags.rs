//! TagResource, UntagResource and ListResourceTags, with AWS's tag rules: keys of 1–128
//! characters, values of 0–256, at most 50 tags per key, the `aws:` prefix reserved.

use super::{page_limit, parse_marker, require_not_pending_deletion, Access, Aliases};
use crate::model::Tag;
use crate::{Caller, Kms, KmsError};

pub const MAX_TAGS_PER_KEY: usize = 50;

#[derive(Debug, Clone)]
pub struct ListTagsResponse {
    pub tags: Vec<Tag>,
    pub next_marker: Option<String>,
}

fn tag_error(message: impl Into<String>) -> KmsError {
    KmsError::Tag {
        message: message.into(),
    }
}

/// Merges `new` into `existing` (same key: value replaced), validating AWS's rules.
pub(crate) fn validated_tags(new: Vec<Tag>, existing: &[Tag]) -> Result<Vec<Tag>, KmsError> {
    let mut tags = existing.to_vec();
    for t in new {
        let klen = t.key.chars().count();
        if klen == 0 || klen > 128 {
            return Err(super::constraint(
                "tagKey",
                &t.key,
                "have length between 1 and 128",
            ));
        }
        if t.value.chars().count() > 256 {
            return Err(super::constraint(
                "tagValue",
                &t.value,
                "have length less than or equal to 256",
            ));
        }
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(tag_error(format!(
                "Tag keys beginning with 'aws:' are reserved for AWS use: {}",
                t.key
            )));
        }
        match tags.iter_mut().find(|x| x.key == t.key) {
            Some(x) => x.value = t.value,
            None => tags.push(t),
        }
    }
    if tags.len() > MAX_TAGS_PER_KEY {
        return Err(KmsError::LimitExceeded {
            message: format!("A KMS key can have at most {MAX_TAGS_PER_KEY} tags."),
        });
    }
    Ok(tags)
}

/// `aws:RequestTag/<key>` for each tag of a request and `aws:TagKeys` (if there are tags).
pub(crate) fn request_tag_values(tags: &[Tag]) -> Vec<(String, Vec<String>)> {
    let mut values: Vec<(String, Vec<String>)> = tags
        .iter()
        .map(|t| (format!("aws:RequestTag/{}", t.key), vec![t.value.clone()]))
        .collect();
    if !tags.is_empty() {
        values.push((
            "aws:TagKeys".to_string(),
            tags.iter().map(|t| t.key.clone()).collect(),
        ));
    }
    values
}

impl Kms {
    pub fn tag_resource(
        &self,
        caller: &Caller,
        key_id: &str,
        tags: Vec<Tag>,
    ) -> Result<(), KmsError> {
        let access = Access::to("kms:TagResource").with_all(request_tag_values(&tags));
        self.mutate_key(caller, key_id, Aliases::Refused, access, |e, meta| {
            require_not_pending_deletion(e)?;
            meta.tags = validated_tags(tags.clone(), &meta.tags)?;
            Ok(())
        })
        .map(drop)
    }

    pub fn untag_resource(
        &self,
        caller: &Caller,
        key_id: &str,
        keys: Vec<String>,
    ) -> Result<(), KmsError> {
        let access = Access::to("kms:UntagResource").with("aws:TagKeys", keys.clone());
        self.mutate_key(caller, key_id, Aliases::Refused, access, |e, meta| {
            require_not_pending_deletion(e)?;
            meta.tags.retain(|t| !keys.contains(&t.key));
            Ok(())
        })
        .map(drop)
    }

    pub fn list_resource_tags(
        &self,
        caller: &Caller,
        key_id: &str,
        limit: Option<i64>,
        marker: Option<&str>,
    ) -> Result<ListTagsResponse, KmsError> {
        let limit = page_limit(limit, 50, 50)?;
        let access = Access::to("kms:ListResourceTags");
        let key = self.resolve_authorized(caller, key_id, Aliases::Refused, access)?;
        let all = &key.meta.tags;
        // A marker is an offset this operation handed out; one past the end is not one.
        let ours = |m: &str| m.parse::<usize>().ok().filter(|&s| s <= all.len());
        let start = parse_marker(marker, ours)?.unwrap_or(0);
        let end = (start + limit).min(all.len());
        let page = all.get(start..end).map(<[Tag]>::to_vec).unwrap_or_default();
        Ok(ListTagsResponse {
            tags: page,
            next_marker: (end < all.len()).then(|| end.to_string()),
        })
    }
}
