//! `serve_from_env` and `SPECTRUM_DUMP_DIR`. One test: the environment is process-wide.
#![cfg(unix)]

use std::io::ErrorKind;

use spectrum_diag::{fetch, serve, serve_from_env, socket_path, Format, ENV_DIR, ENV_ENABLE};
use spectrum_rt::Runtime;

#[test]
fn the_environment_turns_the_endpoint_on_and_places_it() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let dir = std::env::temp_dir().join(format!("spectrum-diag-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A directory that does not exist yet is created.
    let nested = dir.join("a/b");
    std::env::set_var(ENV_DIR, &nested);
    for off in [None, Some(""), Some("0"), Some("false"), Some("off")] {
        match off {
            None => std::env::remove_var(ENV_ENABLE),
            Some(v) => std::env::set_var(ENV_ENABLE, v),
        }
        assert!(serve_from_env(rt.handle()).unwrap().is_none(), "{off:?}");
    }
    std::env::set_var(ENV_ENABLE, "maybe");
    let e = serve_from_env(rt.handle()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        e.to_string(),
        "SPECTRUM_DUMP=\"maybe\": expected 1 (serve task dumps) or 0"
    );

    std::env::set_var(ENV_ENABLE, "1");
    let endpoint = serve_from_env(rt.handle()).unwrap().unwrap();
    let pid = std::process::id();
    assert_eq!(endpoint.path(), nested.join(format!("{pid}.sock")));
    assert_eq!(socket_path(pid), endpoint.path());
    assert!(fetch(pid, Format::Text)
        .unwrap()
        .starts_with("Spectrum runtime:"));
    drop(endpoint);

    // A path that is a file, not a directory.
    let file = dir.join("file");
    std::fs::write(&file, "").unwrap();
    std::env::set_var(ENV_DIR, &file);
    let e = serve(rt.handle()).unwrap_err();
    assert!(e.to_string().contains("is not a directory"), "{e}");

    // A socket path past the OS limit (about 100 bytes) says what to do.
    let long = dir.join("x".repeat(120));
    std::env::set_var(ENV_DIR, &long);
    let e = serve(rt.handle()).unwrap_err();
    assert!(
        e.to_string()
            .contains("set SPECTRUM_DUMP_DIR to a shorter directory"),
        "{e}"
    );

    std::env::remove_var(ENV_DIR);
    std::env::remove_var(ENV_ENABLE);
    std::fs::remove_dir_all(&dir).unwrap();
}
