#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| opencas_wire::fuzzing::signature_header(data));
