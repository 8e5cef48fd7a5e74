#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| opencas_pki::fuzzing::cert_parse(data));
