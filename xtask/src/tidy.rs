//! Architecture checks, run as tests (`cargo test -p xtask`): the dependency rules of
//! ARCHITECTURE.md, read straight from the crates' manifests, so a change that breaks
//! them fails CI instead of eroding the design.

#[cfg(test)]
mod tests {
    use crate::workspace_root;
    use std::collections::BTreeMap;

    /// Normal (not dev) dependencies of every crate under `crates/`.
    fn dependencies() -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        let crates = workspace_root().join("crates");
        for entry in std::fs::read_dir(&crates).expect("crates/ exists") {
            let dir = entry.expect("readable entry").path();
            let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
                continue;
            };
            let mut in_deps = false;
            let mut deps = Vec::new();
            for line in manifest.lines().map(str::trim) {
                if line.starts_with('[') {
                    in_deps = line == "[dependencies]";
                    continue;
                }
                if in_deps && !line.is_empty() && !line.starts_with('#') {
                    let name = line.split(['.', '=', ' ']).next().unwrap_or_default();
                    deps.push(name.to_string());
                }
            }
            let name = dir.file_name().expect("crate dir has a name");
            out.insert(name.to_string_lossy().into_owned(), deps);
        }
        out
    }

    fn users_of(deps: &BTreeMap<String, Vec<String>>, dependency: &str) -> Vec<String> {
        deps.iter()
            .filter(|(_, d)| d.iter().any(|x| x == dependency))
            .map(|(c, _)| c.clone())
            .collect()
    }

    #[test]
    fn only_kagi_crypto_touches_the_crypto_library() {
        assert_eq!(users_of(&dependencies(), "aws-lc-rs"), ["kagi-crypto"]);
    }

    #[test]
    fn the_domain_has_no_io_dependencies() {
        let deps = dependencies();
        let domain = &deps["kagi-kms"];
        for forbidden in [
            "hyper",
            "http",
            "tokio",
            "serde",
            "serde_json",
            "rusqlite",
            "postgres",
            "axum",
            "sqlx",
        ] {
            assert!(
                !domain.iter().any(|d| d == forbidden),
                "kagi-kms depends on {forbidden}"
            );
        }
    }

    #[test]
    fn only_the_edge_and_the_benchmark_speak_http() {
        let deps = dependencies();
        for http_crate in ["hyper", "hyper-util", "http-body-util"] {
            assert_eq!(
                users_of(&deps, http_crate),
                ["kagi-bench", "kagi-server"],
                "{http_crate}"
            );
        }
    }

    /// SQL belongs to the store. (The audit trail's lookup index, `kagi-audit/src/index.rs`,
    /// is its own segment format, not a database.)
    #[test]
    fn only_the_store_knows_sql() {
        let deps = dependencies();
        assert_eq!(
            users_of(&deps, "rusqlite"),
            ["kagi-store"],
            "rusqlite: only kagi-store may use it"
        );
        // The test support and the benchmark only create and drop their own databases.
        assert_eq!(
            users_of(&deps, "postgres"),
            ["kagi-bench", "kagi-store", "test-support"],
            "postgres: only kagi-store, and the database set-up of tests and benchmarks"
        );
    }
}
