//! The `marketseries` command (being built).

fn main() {}
