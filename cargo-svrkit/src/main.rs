//! `cargo svrkit`: the command-line front end (placeholder: the codegen issue fills this in).

fn main() {
    eprintln!("cargo svrkit: not built yet; see the project's issues");
    std::process::exit(2);
}
