//! Rebuild when a migration is added: `sqlx::migrate!` embeds the folders' files at compile
//! time but does not itself tell cargo to watch the folders.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
