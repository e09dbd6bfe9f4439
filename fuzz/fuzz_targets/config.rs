//! Config files are user input: loading must report errors, never panic.
#![no_main]

use std::collections::HashMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env: HashMap<String, String> = HashMap::new();
    let _ = signalbox_config::load_str_with(text, Path::new("fuzz.yaml"), &env);
});
