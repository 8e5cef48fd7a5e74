#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| opencas_pki::fuzzing::keystore_import(data));
