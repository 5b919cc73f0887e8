//! `orders-bench`: the in-process parts of `make bench` (issue 7).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("orders-bench: not built yet")
}
