//! The KMS domain.
