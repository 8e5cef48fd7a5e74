//! Replays the fuzz seed corpora and kept regression inputs (`fuzz/corpus/<target>`,
//! `fuzz/regressions/<target>`) through the functions the `cargo fuzz` targets call, on
//! stable Rust without libFuzzer: any panic fails, naming the input. All six targets replay
//! here, the pki crate's included: this crate sees both.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) {
            files.extend(entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    files
}

fn replay(target: &str, f: fn(&[u8])) {
    let files = inputs(target);
    assert!(files.len() >= 10, "the {target} corpus is missing or nearly empty");
    let failed: Vec<String> = files
        .iter()
        .filter(|p| {
            let data = std::fs::read(p).unwrap();
            catch_unwind(AssertUnwindSafe(|| f(&data))).is_err()
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target} panicked on: {failed:?}");
}

#[test]
fn params_decode_corpus() {
    replay("params_decode", opencas_wire::fuzzing::params_decode);
}

#[test]
fn signature_header_corpus() {
    replay("signature_header", opencas_wire::fuzzing::signature_header);
}

#[test]
fn csr_parse_corpus() {
    replay("csr_parse", opencas_pki::fuzzing::csr_parse);
}

#[test]
fn cert_parse_corpus() {
    replay("cert_parse", opencas_pki::fuzzing::cert_parse);
}

#[test]
fn key_parse_corpus() {
    replay("key_parse", opencas_pki::fuzzing::key_parse);
}

#[test]
fn pkcs12_jks_import_corpus() {
    replay("pkcs12_jks_import", opencas_pki::fuzzing::keystore_import);
}
