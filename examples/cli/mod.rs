//! The one command-line helper the small examples share: `--name value`
//! flags with defaults. (`mnist_mlp` has its own parser: it takes several
//! values after `--hidden` and refuses unknown flags.)

/// The value after `name` on the command line, parsed as `T`, or `default`
/// when the flag is absent. A flag with no value, or a value that does not
/// parse, ends the program with an error naming the flag (exit status 2).
pub fn flag<T: std::str::FromStr>(name: &str, default: T) -> T {
    let argv: Vec<String> = std::env::args().collect();
    let Some(i) = argv.iter().position(|a| a == name) else {
        return default;
    };
    let error = match argv.get(i + 1) {
        Some(v) => match v.parse() {
            Ok(value) => return value,
            Err(_) => format!("{name} cannot take {v:?}"),
        },
        None => format!("{name} needs a value"),
    };
    eprintln!("error: {error}");
    std::process::exit(2)
}
