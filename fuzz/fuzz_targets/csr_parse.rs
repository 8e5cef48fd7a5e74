#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| opencas_pki::fuzzing::csr_parse(data));
