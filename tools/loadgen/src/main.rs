//! `orders-load`: traders over HTTP against the local stack (issue 7), the bare-SDK
//! floor, and the soak of `make reliability` (issue 6).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("orders-load: not built yet")
}
