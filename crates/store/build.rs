// `sqlx::migrate!` embeds the migration files when the crate compiles; without this, cargo
// would not rebuild the crate when a migration is added or edited.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
